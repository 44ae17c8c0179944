"""Azure Functions entry point (Python v2 model): triggers only; logic lives in ``shared/``.

* ``http_app_func`` (ASGI): the management and run API under ``/api`` (FastAPI app from
  :mod:`shared.api`), function-key auth plus App Service Authentication in Azure.
* ``snapchat_oauth_callback``: Snap redirects the browser here with ``?code=&state=``.
  It is ANONYMOUS because the Functions host reads a ``code`` query parameter as a function
  key; the single-use ``state`` bound to the admin who started the sign-in protects it.
* ``scheduled_refresh``: timer on ``%REFRESH_SCHEDULE%`` (6-field NCRONTAB, UTC).
* ``run_step`` / ``upload_batch``: queue triggers on ``%RUN_QUEUE_NAME%`` / ``%BATCH_QUEUE_NAME%``.
* ``run_step_poison`` / ``upload_batch_poison``: record messages that kept failing.
"""

import azure.functions as func

from shared import triggers
from shared.api import create_api, oauth_callback_response

api = create_api()
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="oauth/snapchat/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def snapchat_oauth_callback(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_callback_response(req)


@app.timer_trigger(
    schedule="%REFRESH_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True
)
def scheduled_refresh(timer: func.TimerRequest) -> None:
    triggers.on_schedule(timer)


@app.queue_trigger(
    arg_name="message", queue_name="%RUN_QUEUE_NAME%", connection="AzureWebJobsStorage"
)
def run_step(message: func.QueueMessage) -> None:
    triggers.on_run_message(message)


@app.queue_trigger(
    arg_name="message", queue_name="%BATCH_QUEUE_NAME%", connection="AzureWebJobsStorage"
)
def upload_batch(message: func.QueueMessage) -> None:
    triggers.on_batch_message(message)


@app.queue_trigger(
    arg_name="message", queue_name="%RUN_QUEUE_NAME%-poison", connection="AzureWebJobsStorage"
)
def run_step_poison(message: func.QueueMessage) -> None:
    triggers.on_poison_message(message, "run")


@app.queue_trigger(
    arg_name="message", queue_name="%BATCH_QUEUE_NAME%-poison", connection="AzureWebJobsStorage"
)
def upload_batch_poison(message: func.QueueMessage) -> None:
    triggers.on_poison_message(message, "batch")
