"""Development tools: never deployed, never imported by ``shared/`` or ``function_app.py``.

``.funcignore`` leaves this whole folder out of the package published to Azure.

* :mod:`devtools.local_host` / :mod:`devtools.local_asgi`: ``python -m devtools serve``, the
  function app on this machine against Azurite, as the Functions host would run it;
* :mod:`devtools.snap_sandbox`: a protocol-faithful double of the Snap Marketing API and Snap
  OAuth (``python -m devtools.snap_sandbox``);
* :mod:`devtools.azurite`: starts Azurite for the tests, ``make demo`` and the benchmarks;
* :mod:`devtools.cdm_model` / :mod:`devtools.sample_export`: Customer Insights export folders
  (CDM ``model.json`` and messy CSV parts) with their ground truth;
* :mod:`devtools.demo`: ``make demo``;
* :mod:`devtools.dev_stack`: ``make serve`` (``python -m devtools up``): Azurite, the
  sandbox, a sample export and the app with its console, in one terminal.
"""
