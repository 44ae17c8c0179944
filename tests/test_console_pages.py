"""The console's routes (without a browser): pages only for callers the API would serve, an
HTML page saying what to do otherwise, static files from their folder only, the API
reference, and a Content Security Policy that keeps every page on this origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.console import pages
from shared.services import Services, set_services
from tests.entra_double import EntraDouble
from tests.support import ADMIN, NO_ROLE, VIEWER, api_client, services_with

PAGES = [
    "exports",
    "exports/new",
    "exports/abc123",
    "exports/abc123/edit",
    "runs/20261128T030000Z-000000000001",
    "connections",
    "connections/new",
    "connections/abc_-9",
    "erasure",
]


def test_the_console_opens_on_its_first_page() -> None:
    answer = api_client().get("/api/console", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/api/console/exports"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_the_shell_for_a_caller_with_a_role(services: Services, page: str) -> None:
    answer = api_client().get(f"/api/console/{page}", headers=VIEWER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/api/console/static/app.js">' in answer.text
    assert 'data-auth-mode="local"' in answer.text
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "page", ["nothing", "exports/abc/runs", "runs", "exports/a.b", "connections/x/y", "static"]
)
def test_unknown_pages_are_404(services: Services, page: str) -> None:
    answer = api_client().get(f"/api/console/{page}", headers=ADMIN)
    assert answer.status_code == 404
    assert "No such page" in answer.text


def test_without_identity_locally_the_page_says_how_to_get_one(services: Services) -> None:
    answer = api_client().get("/api/console/exports")
    assert answer.status_code == 401
    assert "LOCAL_DEV_ROLES" in answer.text and "make serve" in answer.text
    assert "app.js" not in answer.text
    forbidden = api_client().get("/api/console/exports", headers=NO_ROLE)
    assert forbidden.status_code == 403
    assert "none of this app's roles" in forbidden.text


@pytest.fixture
def entra_services(settings: Settings) -> Iterator[Services]:
    with EntraDouble() as double:
        built = services_with(settings, **double.settings())
        try:
            yield built
        finally:
            set_services(None)


def test_without_a_session_in_azure_the_page_offers_to_sign_in_again(
    entra_services: Services,
) -> None:
    answer = api_client().get("/api/console/runs/r1?x=1")
    assert answer.status_code == 401
    login = "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fconsole%2Fruns%2Fr1%3Fx%3D1"
    assert f'href="{login}"' in answer.text
    # A forged principal header is no identity in Azure (as for the API).
    assert api_client().get("/api/console/exports", headers=ADMIN).status_code == 401


def test_static_files_come_from_their_folder_only(services: Services) -> None:
    client = api_client()
    script = client.get("/api/console/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert (
        client.get("/api/console/static/console.css").headers["content-type"].startswith("text/css")
    )
    assert client.get("/api/console/static/pages/run.js").status_code == 200
    for name in (
        "shell.html",
        "../pages.py",
        "..%2Fpages.py",
        "%2e%2e/pages.py",
        "pages/../../pages.py",
        "nosuch.js",
        "App.js",
        "docs.html",
    ):
        assert client.get(f"/api/console/static/{name}").status_code == 404, name


def test_the_api_reference_is_swagger_ui_from_the_apps_own_files(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = api_client()
    assert client.get("/api/docs").status_code == 401
    answer = client.get("/api/docs", headers=VIEWER)
    if not all((pages.STATIC / name).is_file() for name in pages.VENDOR_FILES):
        pytest.fail("Swagger UI's files are missing: run `make deps`")
    assert answer.status_code == 200
    assert '<script src="/api/console/static/vendor/swagger-ui-bundle.js">' in answer.text
    assert "https://" not in answer.text.replace("https://fluent2", "")
    assert client.get("/api/console/static/vendor/swagger-ui-bundle.js").status_code == 200
    monkeypatch.setattr(pages, "VENDOR_FILES", ("vendor/not-there.js",))
    missing = client.get("/api/docs", headers=VIEWER)
    assert missing.status_code == 503 and "make deps" in missing.text


def test_pages_and_the_reference_are_not_api_operations() -> None:
    paths = api_client().get("/api/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/api/console") or p == "/api/docs"]


def test_no_console_file_loads_anything_from_another_origin() -> None:
    for path in pages.STATIC.rglob("*"):
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            for line in text.splitlines():
                if "http://" in line or "https://" in line:
                    # Comments citing sources, and the SVG namespace, only.
                    assert (
                        "fluent2.microsoft.design" in line
                        or "w3.org/2000/svg" in line
                        or ("developer.mozilla.org" in line)
                        or ("www.w3.org/WAI/" in line and line.lstrip().startswith("//"))
                    ), (path.name, line)


def test_the_published_package_keeps_the_console_and_swagger_ui() -> None:
    root = pages.STATIC.parents[2]
    ignored = [
        line.strip().rstrip("/")
        for line in (root / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for kept in ("shared", "shared/console", "shared/console/static/vendor", "vendor"):
        assert kept not in ignored
    assert not [p for p in ignored if p.startswith("shared")]
