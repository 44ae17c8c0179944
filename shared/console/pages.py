"""Routes of the console: its pages, their static files, and the API reference.

* ``GET /api/console``: 303 to the first page (``/api/console/exports``).
* ``GET /api/console/<page>``: the page shell (``static/shell.html``) for a known page
  (:data:`PAGES`), only for a caller with an app role, authenticated as every API request is
  (:func:`shared.api.access.principal_from`). Otherwise a small HTML page says what to do:
  sign in again (Azure: App Service Authentication's ``/.auth/login/aad``), set
  ``LOCAL_DEV_ROLES`` (local mode), or ask for an app role.
* ``GET /api/console/static/<file>``: the console's CSS and JavaScript (and Swagger UI's files
  under ``vendor/``). They hold no data and are the same for everyone (as in the public
  repository), so they are served without a role check: the sign-in and role pages use the
  stylesheet too. In Azure, App Service Authentication still requires a signed-in user first.
* ``GET /api/docs``: Swagger UI over ``/api/openapi.json`` (the API reference), behind the
  same identity as the pages.

None of these is part of the OpenAPI document (they are pages, not API operations). Every
answer carries a Content Security Policy that allows this origin's scripts and styles only
(https://developer.mozilla.org/docs/Web/HTTP/CSP), so nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import mimetypes
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from shared.api.access import principal_from
from shared.api.errors import ApiError
from shared.config import AUTH_MODE_LOCAL, ConfigError
from shared.services import get_services

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"
#: The console's first page.
HOME = "/api/console/exports"
_ID = r"[A-Za-z0-9_-]{1,100}"
#: Pages of the console, below ``/api/console/``.
PAGES = re.compile(rf"connections(/new|/{_ID})?|exports(/new|/{_ID}(/edit)?)?|runs/{_ID}|erasure")
_STATIC_FILE = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_.-]+\.(?:js|css|svg|png|woff2)")
#: Swagger UI's files, copied by ``make deps`` from npm ``swagger-ui-dist``.
VENDOR_FILES = ("vendor/swagger-ui-bundle.js", "vendor/swagger-ui.css")

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'{inline}; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP.format(inline=""),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _page(body: str, status: int = 200, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**_HEADERS, **(headers or {})})


def _auth_mode() -> str:
    try:
        return get_services().settings.auth_mode
    except ConfigError:
        return "entra"


def _problem_page(request: Request, error: ApiError) -> HTMLResponse:
    """An HTML page saying why the console cannot be shown to this caller, and what to do."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    local = _auth_mode() == AUTH_MODE_LOCAL
    if error.status == 401 and local:
        title = "No local user"
        text = (
            "<p>The app runs in local development mode (<code>AUTH_MODE=local</code>) and this "
            "request carries no identity. Set <code>LOCAL_DEV_ROLES</code> to "
            "<code>Admin</code> (or <code>Contributor</code>, <code>Viewer</code>) in "
            "<code>local.settings.json</code> and restart, or start the app with "
            "<code>make serve</code>, which does it for you.</p>"
        )
    elif error.status == 401:
        title = "Sign in"
        login = "/.auth/login/aad?post_login_redirect_uri=" + quote(here, safe="")
        text = (
            "<p>You are not signed in, or your session has ended.</p>"
            f'<p><a class="button primary" href="{html.escape(login)}">Sign in</a></p>'
        )
    elif error.status == 403:
        title = "No access"
        text = (
            "<p>Your account has none of this app's roles (Admin, Contributor, Viewer). Ask "
            "an administrator of your Microsoft Entra ID tenant to assign you one: "
            "Enterprise applications, this app, Users and groups.</p>"
        )
    else:
        title = "The console is not available"
        text = f"<p>{html.escape(error.message)}</p>"
    detail = f'<p class="hint">{html.escape(error.message)}</p>' if error.status != 500 else ""
    return _page(_frame(title, text + detail), error.status)


def _frame(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - Snap audience sync</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/api/console/static/console.css"></head>'
        '<body class="plain"><main class="problem">'
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


def _shell() -> str:
    return (STATIC / "shell.html").read_text(encoding="utf-8")


@router.get("/api/console")
def console_home() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/api/console/static/{name:path}")
def console_static(name: str) -> Response:
    """A file of ``static/`` by its relative name (lowercase letters, digits, ``_-.``)."""
    path = (STATIC / name).resolve()
    if (
        not _STATIC_FILE.fullmatch(name)
        or not path.is_relative_to(STATIC)
        or not path.is_file()
        or path.name == "shell.html"
    ):
        return _page(_frame("Not found", "<p>No such file.</p>"), 404)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media_type = "text/javascript"
    headers = {**_HEADERS, "Cache-Control": "no-cache"}
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/api/console/{page:path}")
def console_page(page: str, request: Request) -> Response:
    """The shell of a console page; its scripts render the page from the JSON API."""
    if not PAGES.fullmatch(page):
        return _page(
            _frame("Not found", f'<p>No such page. <a href="{HOME}">Go to Exports</a>.</p>'), 404
        )
    try:
        principal_from(request.headers)
    except ApiError as exc:
        return _problem_page(request, exc)
    return _page(_shell().replace("%AUTH_MODE%", html.escape(_auth_mode())))


@router.get("/api/docs")
def api_reference(request: Request) -> Response:
    """Swagger UI (the API reference), from the app's own copy of its files."""
    try:
        principal_from(request.headers)
    except ApiError as exc:
        return _problem_page(request, exc)
    missing = [name for name in VENDOR_FILES if not (STATIC / name).is_file()]
    if missing:
        return _page(
            _frame(
                "API reference",
                "<p>Swagger UI's files are missing from this copy of the app "
                f"({html.escape(', '.join(missing))} under shared/console/static/). Run "
                "<code>make deps</code>: it copies them from npm <code>swagger-ui-dist</code>. "
                'The OpenAPI document itself is at <a href="/api/openapi.json">'
                "/api/openapi.json</a>.</p>",
            ),
            503,
        )
    body = (STATIC / "docs.html").read_text(encoding="utf-8")
    # Swagger UI sets style attributes of its own elements.
    csp = _CSP.format(inline=" 'unsafe-inline'")
    return _page(body, headers={"Content-Security-Policy": csp})
