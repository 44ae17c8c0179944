"""The Functions host's HTTP routing, modelled, over the functions ``function_app.py`` declares.

The host's rule (azure-functions-host, which the real host runs and this machine cannot):

* functions are ordered by name, case-insensitively (``FunctionMetadataManager`` returns
  ``OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase)``,
  https://github.com/Azure/azure-functions-host/blob/dev/src/WebJobs.Script/Host/FunctionMetadataManager.cs);
* their routes are mapped in that order (``WebScriptHostHttpRoutesManager``) and the first
  template that matches wins, however specific a later one is (``WebJobsRouteBuilder`` adds
  routes in insertion order,
  https://github.com/Azure/azure-webjobs-sdk-extensions/blob/dev/src/WebJobs.Extensions.Http/Routing/WebJobsRouteBuilder.cs;
  reported in https://github.com/Azure/azure-functions-host/issues/9876 and
  https://github.com/Azure/azure-functions-python-library/issues/213);
* a route is ``<routePrefix>/<route>`` (host.json ``extensions.http.routePrefix``); ``{x}``
  matches one segment, ``{*x}`` / ``{**x}`` the rest, literals compare case-insensitively;
* at ``FUNCTION`` level the host reads a ``code`` query parameter as a function key
  (``AuthenticationLevelHandler``, https://github.com/Azure/azure-functions-host/blob/dev/src/WebJobs.Script.WebHost/Security/Authentication/Keys/AuthenticationLevelHandler.cs):
  Snap's OAuth redirect (``?code=&state=``) must land on an ``ANONYMOUS`` function.

The check runs over every route of the API (the FastAPI app ``http_app_func`` serves) and
the OAuth callback; the negative tests show it catching the shadowed callback of the past
(a ``FUNCTION``-level catch-all named ``http_app_func`` before ``snapchat_oauth_callback``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.function_index import app_functions

ROOT = Path(__file__).resolve().parent.parent
CALLBACK = "/api/oauth/snapchat/callback"


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function as the host sees it."""

    name: str
    route: str
    methods: frozenset[str]
    auth_level: str


@dataclass(frozen=True)
class Request:
    """A request a documented route receives; ``serves`` is the function meant for it."""

    method: str
    path: str
    query: frozenset[str]
    serves: str


def route_prefix() -> str:
    host = json.loads((ROOT / "host.json").read_text())
    return str(host.get("extensions", {}).get("http", {}).get("routePrefix", "api"))


def _template_regex(template: str) -> re.Pattern[str]:
    parts = [p for p in template.strip("/").split("/") if p]
    pattern = ""
    for part in parts:
        catch_all = re.fullmatch(r"\{\*{1,2}[^}]+\}", part)
        if catch_all:
            pattern += r"(?:/.*)?"
            break
        if re.fullmatch(r"\{[^}]+\?\}", part):
            pattern += r"(?:/[^/]+)?"
        elif re.fullmatch(r"\{[^}]+\}", part):
            pattern += r"/[^/]+"
        elif "{" in part:
            raise NotImplementedError(f"route segment {part!r} is not modelled")
        else:
            pattern += "/" + re.escape(part)
    return re.compile(pattern + "/?", re.IGNORECASE)


def host_target(functions: Iterable[HttpFunction], method: str, path: str) -> HttpFunction | None:
    """The function the host gives ``method path`` to: first match in name order."""
    ordered = sorted(functions, key=lambda f: f.name.upper())
    for function in ordered:
        template = f"{route_prefix()}/{function.route.lstrip('/')}"
        if method in function.methods and _template_regex(template).fullmatch(path):
            return function
    return None


def routing_problems(functions: Iterable[HttpFunction], requests: Iterable[Request]) -> list[str]:
    """Requests that reach another function than the one meant, or that carry ``code`` to a
    function that reads it as a key."""
    functions = list(functions)
    problems = []
    for request in requests:
        target = host_target(functions, request.method, request.path)
        if target is None:
            problems.append(f"{request.method} {request.path}: no function matches")
            continue
        if target.name != request.serves:
            problems.append(
                f"{request.method} {request.path}: reaches {target.name}, meant for "
                f"{request.serves}"
            )
        if "code" in request.query and target.auth_level != "ANONYMOUS":
            problems.append(
                f"{request.method} {request.path}?code=...: {target.name} is "
                f"{target.auth_level}, so the host reads Snap's code as a function key (401)"
            )
    return problems


def declared_functions() -> list[HttpFunction]:
    """The HTTP functions of ``function_app.py`` as the library indexes them for the host."""
    found = []
    for function in app_functions():
        trigger = function.get_bindings_dict()["bindings"][0]
        if trigger["type"] != "httpTrigger":
            continue
        level = trigger["authLevel"]
        found.append(
            HttpFunction(
                name=function.get_function_name(),
                route=str(trigger.get("route") or function.get_function_name()),
                methods=frozenset(str(getattr(m, "value", m)).upper() for m in trigger["methods"]),
                auth_level=str(getattr(level, "name", level)).upper(),
            )
        )
    return found


def documented_requests(serves: str = "http_app_func") -> list[Request]:
    """One request per route and method of the OpenAPI document (path parameters filled in),
    Snap's redirect to the OAuth callback carrying ``code`` and ``state``, the document, and
    the console's pages and the API reference."""
    import function_app

    requests = [Request("GET", "/api/openapi.json", frozenset(), serves)]
    # The console's pages, their files and the API reference (not API operations).
    for path in ("/api/console", "/api/console/exports/x1", "/api/console/static/app.js"):
        requests.append(Request("GET", path, frozenset(), serves))
    requests.append(Request("GET", "/api/docs", frozenset(), serves))
    for path, operations in function_app.api.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method, operation in operations.items():
            query = frozenset(
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
            )
            requests.append(Request(method.upper(), concrete, query, serves))
    return requests


def test_every_documented_route_lands_on_the_function_meant_for_it() -> None:
    requests = documented_requests()
    assert any(r.path == CALLBACK and "code" in r.query for r in requests)
    assert len(requests) >= 15
    assert routing_problems(declared_functions(), requests) == []


# -- the model itself, and the bug it guards against -------------------------------------

EVERY_METHOD = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
ASGI = HttpFunction("http_app_func", "/{*route}", EVERY_METHOD, "ANONYMOUS")
CALLBACK_FUNCTION = HttpFunction(
    "snapchat_oauth_callback", "oauth/snapchat/callback", frozenset({"GET"}), "ANONYMOUS"
)


def test_the_shadowed_callback_of_the_past_is_caught() -> None:
    past = [replace(ASGI, auth_level="FUNCTION"), CALLBACK_FUNCTION]
    snap = Request("GET", CALLBACK, frozenset({"code", "state"}), "snapchat_oauth_callback")
    problems = routing_problems(past, [snap])
    assert problems == [
        f"GET {CALLBACK}: reaches http_app_func, meant for snapchat_oauth_callback",
        f"GET {CALLBACK}?code=...: http_app_func is FUNCTION, so the host reads Snap's code "
        "as a function key (401)",
    ]
    # Renamed so that it sorts first (case-insensitively), the callback wins its path.
    renamed = replace(CALLBACK_FUNCTION, name="A_snapchat_oauth_callback")
    assert host_target([past[0], renamed], "GET", CALLBACK) == renamed


def test_a_function_named_to_sort_first_with_a_catch_all_would_shadow_everything() -> None:
    intruder = HttpFunction("Admin_tools", "{*path}", EVERY_METHOD, "FUNCTION")
    problems = routing_problems([ASGI, intruder], documented_requests())
    assert any("reaches Admin_tools" in p for p in problems)
    assert any("reads Snap's code as a function key" in p for p in problems)


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("api/{*route}", "/api", True),
        ("api/{*route}", "/api/a/b/c", True),
        ("api/oauth/snapchat/callback", "/API/OAuth/Snapchat/Callback", True),
        ("api/oauth/snapchat/callback", "/api/oauth/snapchat/callback/x", False),
        ("api/exports/{id}", "/api/exports/7", True),
        ("api/exports/{id}", "/api/exports", False),
        ("api/exports/{id?}", "/api/exports", True),
    ],
)
def test_route_templates_match_as_the_host_matches_them(
    template: str, path: str, matches: bool
) -> None:
    assert bool(_template_regex(template).fullmatch(path)) is matches


def test_functions_are_tried_in_case_insensitive_name_order() -> None:
    lower = HttpFunction("b_second", "{*a}", EVERY_METHOD, "ANONYMOUS")
    upper = HttpFunction("A_first", "{*a}", EVERY_METHOD, "ANONYMOUS")
    assert host_target([lower, upper], "GET", "/api/x") == upper
