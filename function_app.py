"""Azure Functions entry point (Python v2 model): triggers only; logic lives in ``shared/``.

* ``http_app_func`` (ASGI, route ``/{*route}``): the whole HTTP surface under ``/api`` (FastAPI
  app from :mod:`shared.api`), the Snap OAuth callback included. It is ANONYMOUS at the host:
  every request is authenticated by the app itself, which verifies the caller's Microsoft Entra
  ID token (:mod:`shared.api.entra`). A function key would add no identity and would have to
  be handed to every admin for the sign-in link and the console; and at ``FUNCTION`` level the
  host would read Snap's ``?code=`` on the OAuth callback as a function key. With one HTTP
  function no route can shadow another (the host tries functions in name order and the first
  matching template wins: ``tests/test_host_routing.py`` models that rule).
* ``scheduled_refresh``: timer on ``%REFRESH_SCHEDULE%`` (6-field NCRONTAB, UTC).
* ``run_step`` / ``upload_batch``: queue triggers on ``%RUN_QUEUE_NAME%`` / ``%BATCH_QUEUE_NAME%``.
* ``run_step_poison`` / ``upload_batch_poison``: record messages that kept failing.

Importing this module reads no setting and opens no connection, with one exception: it
refuses to load (raises :class:`~shared.config.ConfigError`) when a local-development
authentication setting is set on an Azure host (:func:`shared.config.refuse_local_auth_in_azure`).
"""

import azure.functions as func

from shared import triggers
from shared.api import create_api
from shared.config import refuse_local_auth_in_azure

refuse_local_auth_in_azure()

api = create_api()
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)


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
