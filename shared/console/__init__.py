"""The admin console: pages served by the function app under ``/api/console``.

What a Customer Insights administrator uses instead of curl: Snapchat connections, exports,
their runs and audience sizes, erasure, and the API reference (``/api/docs``).

* :mod:`shared.console.pages`: the routes. Each page is one small HTML shell
  (``static/shell.html``) served only to a caller the API would serve (the same
  authentication, :func:`shared.api.access.principal_from`); its JavaScript modules
  (``static/``, no framework, no build step, nothing fetched from the internet) read and
  change everything through the public JSON API, so the server enforces the roles whatever
  a page shows.
* ``static/console.css``: Fluent 2 styles (https://fluent2.microsoft.design/), hand-written.
* ``static/vendor/``: Swagger UI's two files, copied from npm ``swagger-ui-dist`` by
  ``make deps`` (git-ignored; deployed with the app).
"""
