"""The Snap sandbox (``devtools.snap_sandbox``) over real loopback HTTP with ``requests``."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devtools.snap_sandbox import (
    DEFAULT_AD_ACCOUNT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_REDIRECT_URIS,
    FIRST_SEGMENT_ID,
    SnapSandbox,
)

#: A real sandbox server over loopback HTTP (and its command line).
pytestmark = pytest.mark.integration

REDIRECT = DEFAULT_REDIRECT_URIS[0]
TOKEN_FORM = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
REPO_ROOT = Path(__file__).resolve().parents[1]


def hexes(n: int, salt: str = "") -> list[str]:
    """``n`` distinct SHA-256 digests in lowercase hex."""
    return [hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in range(n)]


def users_body(values: list[str], schema: str = "EMAIL_SHA256", **extra: Any) -> dict[str, Any]:
    return {"users": [{"schema": [schema], "data": [[v] for v in values], **extra}]}


@pytest.fixture(scope="module")
def server() -> Iterator[SnapSandbox]:
    with SnapSandbox(enforce_rate_limits=False) as sb:
        yield sb


@pytest.fixture()
def sb(server: SnapSandbox) -> SnapSandbox:
    server.reset()
    return server


class Api:
    """A tiny client: one session, one bearer token."""

    def __init__(self, sb: SnapSandbox, token: str) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.sb.url + path
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, url, **kwargs)


@pytest.fixture()
def api(sb: SnapSandbox) -> Api:
    return Api(sb, sb.issue_tokens()["access_token"])


def create_segment(api: Api, name: str = "Customers", **fields: Any) -> dict[str, Any]:
    spec = {
        "name": name,
        "source_type": "FIRST_PARTY",
        "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
        **fields,
    }
    r = api("POST", f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments", json={"segments": [spec]})
    assert r.status_code == 200, r.text
    return dict(r.json()["segments"][0]["segment"])


def assert_snap_error(r: requests.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["request_status"] == "ERROR"
    assert body["request_id"] and body["debug_message"] and body["display_message"]
    assert body["error_code"].startswith("E")
    if code is not None:
        assert body["error_code"] == code


def authorize(sb: SnapSandbox, **params: str) -> requests.Response:
    query = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "snapchat-marketing-api",
        "state": "xyz 123",
        **params,
    }
    return requests.get(
        sb.url + "/login/oauth2/authorize", params=query, allow_redirects=False, timeout=10
    )


def code_from(r: requests.Response) -> str:
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]


def token_request(sb: SnapSandbox, **form: str) -> requests.Response:
    return requests.post(
        sb.url + "/login/oauth2/access_token", data={**TOKEN_FORM, **form}, timeout=10
    )


# --------------------------------------------------------------------------- OAuth


def test_default_config_and_seed() -> None:
    cfg = SnapSandbox().config()
    assert cfg == {
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "redirect_uris": list(DEFAULT_REDIRECT_URIS),
        "expires_in": 1800,
        "rotate_refresh_tokens": False,
        "enforce_rate_limits": True,
        "rate_limit_per_token": 10,
        "rate_limit_per_app": 20,
        "processing_seconds": 0.0,
    }


def test_authorize_redirects_with_code_and_state(sb: SnapSandbox) -> None:
    r = authorize(sb)
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz 123"]
    assert len(query["code"][0]) >= 20
    assert sb.requests()[-1]["user"] == "sandbox-admin"


def test_authorize_rejections(sb: SnapSandbox) -> None:
    bad_redirect = authorize(sb, redirect_uri=REDIRECT + "/evil")
    assert bad_redirect.status_code == 400 and "Location" not in bad_redirect.headers
    assert bad_redirect.json()["error"] == "invalid_request"
    bad_client = authorize(sb, client_id="nope")
    assert bad_client.status_code == 400 and bad_client.json()["error"] == "invalid_client"
    for params, error in (
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "snapchat-profile-api"}, "invalid_scope"),
        ({"sandbox_deny": "true"}, "access_denied"),
    ):
        r = authorize(sb, **params)
        assert r.status_code == 302
        query = parse_qs(urlsplit(r.headers["Location"]).query)
        assert query["error"] == [error] and query["state"] == ["xyz 123"]
        assert "code" not in query
    assert authorize(sb, sandbox_user="ghost").status_code == 400


def test_code_exchange_is_single_use_and_checks_redirect(sb: SnapSandbox) -> None:
    code = code_from(authorize(sb))
    wrong = token_request(
        sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT[:-1]
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    ok = token_request(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["scope"] == "snapchat-marketing-api"
    assert ok.headers["Cache-Control"] == "no-store"
    again = token_request(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant" and again.json()["error_description"]
    me = Api(sb, body["access_token"])("GET", "/v1/me")
    assert me.status_code == 200


def test_code_expires_after_ten_minutes(sb: SnapSandbox) -> None:
    code = code_from(authorize(sb))
    sb.advance_clock(601)
    r = token_request(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_token_endpoint_rejects_json_and_bad_client(sb: SnapSandbox) -> None:
    refresh = sb.issue_tokens()["refresh_token"]
    as_json = requests.post(
        sb.url + "/login/oauth2/access_token",
        json={**TOKEN_FORM, "grant_type": "refresh_token", "refresh_token": refresh},
        timeout=10,
    )
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    bad_secret = token_request(
        sb, grant_type="refresh_token", refresh_token=refresh, client_secret="wrong"
    )
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    assert token_request(sb, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert token_request(sb, grant_type="refresh_token", refresh_token="nope").status_code == 400


def test_refresh_without_rotation_keeps_refresh_token(sb: SnapSandbox) -> None:
    first = sb.issue_tokens()
    r = token_request(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200
    body = r.json()
    assert body["refresh_token"] == first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    again = token_request(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 200
    assert Api(sb, body["access_token"])("GET", "/v1/me").status_code == 200


def test_refresh_with_rotation_kills_old_refresh_token(sb: SnapSandbox) -> None:
    sb.configure(rotate_refresh_tokens=True, expires_in=60)
    first = sb.issue_tokens()
    r = token_request(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200
    rotated = r.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["expires_in"] == 60
    old = token_request(sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    new = token_request(sb, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert new.status_code == 200


def test_revoked_refresh_token_is_invalid_grant(sb: SnapSandbox) -> None:
    tokens = sb.issue_tokens()
    other = sb.issue_tokens()
    assert sb.revoke(refresh_token=tokens["refresh_token"]) == 1
    r = token_request(sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    ok = token_request(sb, grant_type="refresh_token", refresh_token=other["refresh_token"])
    assert ok.status_code == 200
    assert sb.revoke(user_id="sandbox-admin", access_tokens=True) == 2
    r = token_request(sb, grant_type="refresh_token", refresh_token=other["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert Api(sb, other["access_token"])("GET", "/v1/me").status_code == 401


def test_bearer_check(sb: SnapSandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = requests.get(sb.url + "/v1/me", headers=headers, timeout=10)
        assert r.status_code == 401
        body = r.json()
        assert body["request_status"] == "ERROR" and body["msg"] == "Unauthorized"
        assert body["request_id"]
    sb.configure(expires_in=5)
    api = Api(sb, sb.issue_tokens()["access_token"])
    assert api("GET", "/v1/me").status_code == 200
    sb.advance_clock(6)
    assert api("GET", "/v1/me").status_code == 401


# --------------------------------------------------------------------------- directory


def test_me_organizations_and_ad_accounts(sb: SnapSandbox, api: Api) -> None:
    me = api("GET", "/v1/me").json()
    assert me["request_status"] == "SUCCESS" and me["me"]["organization_id"]
    orgs = api("GET", "/v1/me/organizations", params={"with_ad_accounts": "true"}).json()
    org = orgs["organizations"][0]
    assert org["sub_request_status"] == "SUCCESS"
    assert org["organization"]["id"] == DEFAULT_ORGANIZATION_ID
    accounts = org["organization"]["ad_accounts"]
    assert [a["id"] for a in accounts] == [DEFAULT_AD_ACCOUNT_ID]
    assert accounts[0]["status"] == "ACTIVE" and accounts[0]["name"] == "Sandbox Ad Account"
    plain = api("GET", "/v1/me/organizations").json()
    assert "ad_accounts" not in plain["organizations"][0]["organization"]
    listed = api("GET", f"/v1/organizations/{DEFAULT_ORGANIZATION_ID}/adaccounts").json()
    assert listed["adaccounts"][0]["adaccount"]["id"] == DEFAULT_AD_ACCOUNT_ID
    assert "paging" not in listed


def test_ad_account_paging(sb: SnapSandbox, api: Api) -> None:
    for i in range(60):
        sb.add_ad_account(name=f"Account {i}")
    sb.add_ad_account(name="not mine", grant={"sandbox-admin": "none"})
    path = f"/v1/organizations/{DEFAULT_ORGANIZATION_ID}/adaccounts"
    for bad in ("49", "1001", "abc"):
        assert_snap_error(api("GET", path, params={"limit": bad}), 400)
    first = api("GET", path, params={"limit": "50"}).json()
    assert len(first["adaccounts"]) == 50
    next_link = first["paging"]["next_link"]
    assert next_link.startswith(sb.url + path) and "cursor=" in next_link
    second = api("GET", next_link).json()
    assert len(second["adaccounts"]) == 11 and "paging" not in second
    ids = [a["adaccount"]["id"] for a in first["adaccounts"] + second["adaccounts"]]
    assert len(set(ids)) == 61 and ids[0] == DEFAULT_AD_ACCOUNT_ID
    assert_snap_error(api("GET", path, params={"limit": "50", "cursor": "garbage!"}), 400)


# --------------------------------------------------------------------------- segments


def test_segment_crud_and_envelopes(sb: SnapSandbox, api: Api) -> None:
    path = f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments"
    spec = {
        "name": "VIP",
        "description": "best customers",
        "source_type": "FIRST_PARTY",
        "retention_in_days": 180,
        "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
    }
    r = api("POST", path, json={"segments": [spec]})
    body = r.json()
    assert r.status_code == 200 and body["request_status"] == "success" and body["request_id"]
    item = body["segments"][0]
    assert item["sub_request_status"].upper() == "SUCCESS"
    seg = item["segment"]
    assert seg["id"] == str(FIRST_SEGMENT_ID) and seg["id"].isdigit()
    assert seg["ad_account_id"] == DEFAULT_AD_ACCOUNT_ID
    assert (seg["name"], seg["description"], seg["retention_in_days"]) == (
        "VIP",
        "best customers",
        180,
    )
    assert seg["source_type"] == "FIRST_PARTY" and seg["approximate_number_users"] == 0
    assert seg["upload_status"] == "NO_UPLOAD" and seg["targetable_status"] == "NOT_READY"
    assert seg["status"] in ("PENDING", "ACTIVE")
    assert len(seg["created_at"]) == 24 and seg["created_at"].endswith("Z")
    assert seg["created_at"][19] == "."

    got = api("GET", f"/v1/segments/{seg['id']}").json()
    assert got["request_status"] == "SUCCESS"
    assert got["segments"][0]["segment"]["name"] == "VIP"

    default = create_segment(api, "Default retention")
    assert default["retention_in_days"] == 9999 and int(default["id"]) == FIRST_SEGMENT_ID + 1

    renamed = api("PUT", path, json={"segments": [{"id": seg["id"], "name": "VIP 2"}]}).json()
    assert renamed["segments"][0]["segment"]["name"] == "VIP 2"

    listed = api("GET", path).json()
    assert [s["segment"]["id"] for s in listed["segments"]] == [seg["id"], default["id"]]

    deleted = api("DELETE", f"/v1/segments/{seg['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["request_status"] == "SUCCESS" and deleted.json()["segments"] == []
    assert_snap_error(api("GET", f"/v1/segments/{seg['id']}"), 404, "E3003")
    assert_snap_error(api("DELETE", f"/v1/segments/{seg['id']}"), 404, "E3003")
    assert_snap_error(api("GET", "/v1/segments/123"), 404, "E3003")


def test_segment_list_paging(sb: SnapSandbox, api: Api) -> None:
    ids = [sb.create_segment(name=f"s{i}") for i in range(55)]
    path = f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments"
    seen: list[str] = []
    url: str | None = sb.url + path + "?limit=50"
    while url:
        page = api("GET", url).json()
        seen += [s["segment"]["id"] for s in page["segments"]]
        url = page.get("paging", {}).get("next_link")
    assert seen == ids


@pytest.mark.parametrize(
    "change",
    [
        {"name": "x" * 376},
        {"name": ""},
        {"source_type": "LOOKALIKE"},
        {"retention_in_days": 0},
        {"retention_in_days": 10000},
        {"retention_in_days": "30"},
        {"ad_account_id": "other"},
    ],
)
def test_segment_create_validation(api: Api, change: dict[str, Any]) -> None:
    spec = {"name": "ok", "source_type": "FIRST_PARTY", "ad_account_id": DEFAULT_AD_ACCOUNT_ID}
    r = api(
        "POST",
        f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments",
        json={"segments": [{**spec, **change}]},
    )
    assert_snap_error(r, 400)
    listed = api("GET", f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments").json()
    assert listed["segments"] == []


def test_segment_name_of_375_chars_and_limit_of_1000(sb: SnapSandbox, api: Api) -> None:
    create_segment(api, "n" * 375)
    for i in range(999):
        sb.create_segment(name=f"bulk {i}")
    r = api(
        "POST",
        f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments",
        json={
            "segments": [
                {
                    "name": "one too many",
                    "source_type": "FIRST_PARTY",
                    "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
                }
            ]
        },
    )
    assert_snap_error(r, 400)


# --------------------------------------------------------------------------- users


def test_add_remove_and_clear_users(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    emails, phones = hexes(5, "e"), hexes(3, "p")
    r = api("POST", f"/v1/segments/{seg_id}/users", json=users_body(emails + emails[:2]))
    assert r.status_code == 200
    assert r.json() == {
        "request_status": "SUCCESS",
        "request_id": r.json()["request_id"],
        "users": [{"sub_request_status": "SUCCESS", "user": {"number_uploaded_users": 7}}],
    }
    api("POST", f"/v1/segments/{seg_id}/users", json=users_body(phones, "PHONE_SHA256"))
    assert sb.members(seg_id) == {
        "EMAIL_SHA256": set(emails),
        "PHONE_SHA256": set(phones),
        "MOBILE_AD_ID_SHA256": set(),
    }
    removal = users_body([emails[0], emails[1], hexes(1, "absent")[0]], id=seg_id)
    r = api("DELETE", f"/v1/segments/{seg_id}/users", json=removal)
    assert r.status_code == 200
    assert r.json()["users"][0]["user"]["number_uploaded_users"] == 3
    assert sb.members(seg_id)["EMAIL_SHA256"] == set(emails[2:])
    seg = api("GET", f"/v1/segments/{seg_id}").json()["segments"][0]["segment"]
    assert seg["approximate_number_users"] == 6
    assert seg["upload_status"] == "COMPLETE" and seg["targetable_status"] == "TOO_FEW_USERS"

    cleared = api("DELETE", f"/v1/segments/{seg_id}/all_users")
    assert cleared.status_code == 200
    body = cleared.json()
    assert body["request_status"] == "SUCCESS"
    assert body["segments"][0]["segment"]["approximate_number_users"] == 0
    assert sb.member_counts(seg_id) == {
        "EMAIL_SHA256": 0,
        "PHONE_SHA256": 0,
        "MOBILE_AD_ID_SHA256": 0,
    }


def test_upload_and_targetable_status(sb: SnapSandbox, api: Api) -> None:
    sb.configure(processing_seconds=30)
    seg_id = create_segment(api)["id"]
    api("POST", f"/v1/segments/{seg_id}/users", json=users_body(hexes(1000)))

    def current() -> dict[str, Any]:
        return dict(api("GET", f"/v1/segments/{seg_id}").json()["segments"][0]["segment"])

    seg = current()
    assert (seg["upload_status"], seg["status"]) == ("PROCESSING", "PENDING")
    sb.advance_clock(31)
    seg = current()
    assert (seg["upload_status"], seg["targetable_status"]) == ("COMPLETE", "READY")
    assert seg["status"] == "ACTIVE" and seg["approximate_number_users"] == 1000
    api("DELETE", f"/v1/segments/{seg_id}/users", json=users_body(hexes(1)))
    seg = current()
    assert (seg["upload_status"], seg["targetable_status"]) == ("PROCESSING", "TOO_FEW_USERS")


def test_row_limit_100000(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    values = hexes(100_001)
    too_many = api("POST", f"/v1/segments/{seg_id}/users", json=users_body(values))
    assert_snap_error(too_many, 400)
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 0
    started = time.monotonic()
    ok = api("POST", f"/v1/segments/{seg_id}/users", json=users_body(values[:100_000]))
    assert ok.status_code == 200, ok.text
    assert time.monotonic() - started < 15  # a full request is not pathological
    assert ok.json()["users"][0]["user"]["number_uploaded_users"] == 100_000
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 100_000


@pytest.mark.parametrize(
    "body",
    [
        users_body([hexes(1)[0].upper()]),
        users_body([hexes(1)[0][:63]]),
        users_body(["not hex" * 9 + "a"]),
        users_body(hexes(1), "EMAIL"),
        {"users": [{"schema": ["EMAIL_SHA256", "PHONE_SHA256"], "data": [hexes(2)]}]},
        {"users": [{"schema": ["EMAIL_SHA256"], "data": [[h] for h in hexes(1)]}] * 2},
        {"users": []},
        {"users": [{"schema": ["EMAIL_SHA256"], "data": hexes(2)}]},
        {"users": [{"schema": ["EMAIL_SHA256"], "data": [hexes(2)]}]},
        {"users": [{"schema": ["EMAIL_SHA256"], "data": [[1]]}]},
        {"segments": []},
    ],
    ids=[
        "uppercase",
        "short",
        "not-hex",
        "unknown-schema",
        "two-schemas",
        "two-elements",
        "no-elements",
        "flat-data",
        "two-values-in-row",
        "number",
        "no-users",
    ],
)
def test_users_validation(sb: SnapSandbox, api: Api, body: dict[str, Any]) -> None:
    seg_id = sb.create_segment()
    sb.add_members(seg_id, hexes(2, "keep"))
    for method in ("POST", "DELETE"):
        assert_snap_error(api(method, f"/v1/segments/{seg_id}/users", json=body), 400, "E1001")
    assert sb.members(seg_id)["EMAIL_SHA256"] == set(hexes(2, "keep"))
    bad_json = api("POST", f"/v1/segments/{seg_id}/users", data=b"{not json")
    assert_snap_error(bad_json, 400)


def test_permission_errors(sb: SnapSandbox) -> None:
    seg_id = sb.create_segment()
    sb.add_user("viewer", {DEFAULT_AD_ACCOUNT_ID: "none"})
    sb.add_user("manager", {DEFAULT_AD_ACCOUNT_ID: "data_manager"})
    viewer = Api(sb, sb.issue_tokens("viewer")["access_token"])
    for method, path, body in (
        ("POST", f"/v1/segments/{seg_id}/users", users_body(hexes(1))),
        ("DELETE", f"/v1/segments/{seg_id}/users", users_body(hexes(1))),
        ("DELETE", f"/v1/segments/{seg_id}/all_users", None),
        ("GET", f"/v1/segments/{seg_id}", None),
        ("GET", f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments", None),
        ("POST", f"/v1/adaccounts/{DEFAULT_AD_ACCOUNT_ID}/segments", {"segments": []}),
    ):
        r = viewer(method, path, json=body)
        assert_snap_error(r, 403, "E3002")
        assert r.json()["debug_message"] == "Caller does not have permission"
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 0
    orgs = viewer("GET", "/v1/me/organizations", params={"with_ad_accounts": "true"}).json()
    assert orgs["organizations"][0]["organization"]["ad_accounts"] == []
    manager = Api(sb, sb.issue_tokens("manager")["access_token"])
    assert manager("POST", f"/v1/segments/{seg_id}/users", json=users_body(hexes(1))).ok


def test_deleted_segment_is_e3003(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    assert sb.delete_segment(seg_id)
    for method, path in (
        ("POST", f"/v1/segments/{seg_id}/users"),
        ("DELETE", f"/v1/segments/{seg_id}/users"),
        ("DELETE", f"/v1/segments/{seg_id}/all_users"),
    ):
        assert_snap_error(api(method, path, json=users_body(hexes(1))), 404, "E3003")


# --------------------------------------------------------------------------- rate limits


def test_rate_limit_per_token(sb: SnapSandbox, api: Api) -> None:
    sb.configure(enforce_rate_limits=True)
    statuses = [api("GET", "/v1/me") for _ in range(14)]
    codes = [r.status_code for r in statuses]
    assert codes[:10] == [200] * 10 and codes[10:] == [429] * 4
    limited = statuses[-1]
    assert_snap_error(limited, 429)
    assert "Retry-After" not in limited.headers
    time.sleep(1.05)
    assert api("GET", "/v1/me").status_code == 200


def test_rate_limit_per_app(sb: SnapSandbox) -> None:
    sb.configure(enforce_rate_limits=True)
    clients = [Api(sb, sb.issue_tokens()["access_token"]) for _ in range(3)]
    codes = [c("GET", "/v1/me").status_code for _ in range(8) for c in clients]
    assert codes.count(200) == 20 and codes.count(429) == 4


def test_no_rate_limit_when_disabled(sb: SnapSandbox, api: Api) -> None:
    sb.configure(enforce_rate_limits=False)
    assert all(api("GET", "/v1/me").status_code == 200 for _ in range(30))
    sb.configure(enforce_rate_limits=True, rate_limit_per_token=3)
    assert [api("GET", "/v1/me").status_code for _ in range(4)] == [200, 200, 200, 429]


# --------------------------------------------------------------------------- faults


def test_fault_status_burst_does_not_apply(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    sb.set_faults(
        [
            {
                "kind": "status",
                "status": 503,
                "method": "POST",
                "path": r"/users$",
                "after": 1,
                "times": 2,
            }
        ]
    )
    path = f"/v1/segments/{seg_id}/users"
    codes = [api("POST", path, json=users_body([h])).status_code for h in hexes(4)]
    assert codes == [200, 503, 503, 200]
    assert sb.members(seg_id)["EMAIL_SHA256"] == {hexes(4)[0], hexes(4)[3]}
    assert sb.faults()[0]["remaining"] == 0 and sb.faults()[0]["seen"] == 4
    sb.set_faults([{"kind": "status", "status": 429, "times": -1}])
    r = api("GET", "/v1/me")
    assert_snap_error(r, 429)
    assert "Retry-After" not in r.headers
    sb.set_faults([{"kind": "status", "status": 502, "body": "html"}])
    r = api("GET", "/v1/me")
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")


def test_fault_drop(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    path = f"/v1/segments/{seg_id}/users"
    sb.set_faults([{"kind": "drop", "path": "/users$"}])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api("POST", path, json=users_body(hexes(3)))
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 0
    sb.set_faults([{"kind": "drop", "path": "/users$", "apply": True}])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api("POST", path, json=users_body(hexes(3)))
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 3
    assert api("POST", path, json=users_body(hexes(3))).status_code == 200
    assert [e["fault"] for e in sb.requests()[-3:]] == ["drop", "drop", None]


def test_fault_slow_applies_after_delay(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    sb.set_faults([{"kind": "slow", "delay_s": 0.4}])
    started = time.monotonic()
    r = api("POST", f"/v1/segments/{seg_id}/users", json=users_body(hexes(2)))
    assert r.status_code == 200 and time.monotonic() - started >= 0.4
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 2
    sb.set_faults([{"kind": "slow", "delay_s": 0.5}])
    with pytest.raises(requests.exceptions.Timeout):
        api("GET", "/v1/me", timeout=0.1)


def test_fault_token_non_json(sb: SnapSandbox) -> None:
    refresh = sb.issue_tokens()["refresh_token"]
    sb.set_faults([{"kind": "token_non_json"}, {"kind": "token_non_json", "status": 502}])
    for status in (200, 502):
        r = token_request(sb, grant_type="refresh_token", refresh_token=refresh)
        assert r.status_code == status and r.text.lstrip().startswith("<")
        with pytest.raises(requests.exceptions.JSONDecodeError):
            r.json()
    assert token_request(sb, grant_type="refresh_token", refresh_token=refresh).status_code == 200


def test_fault_status_on_token_endpoint(sb: SnapSandbox) -> None:
    refresh = sb.issue_tokens()["refresh_token"]
    sb.set_faults([{"kind": "status", "status": 429, "path": "access_token"}])
    r = token_request(sb, grant_type="refresh_token", refresh_token=refresh)
    assert r.status_code == 429 and r.json()["error"]


def test_fault_error_200_variants_do_not_apply(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    path = f"/v1/segments/{seg_id}/users"
    sb.set_faults([{"kind": "error_200"}])
    r = api("POST", path, json=users_body(hexes(2)))
    assert r.status_code == 200 and r.json()["request_status"] == "ERROR"
    assert r.json()["error_code"].startswith("E")
    sb.set_faults([{"kind": "sub_request_error_200"}])
    r = api("POST", path, json=users_body(hexes(2)))
    body = r.json()
    assert r.status_code == 200 and body["request_status"] == "SUCCESS"
    assert body["users"][0]["sub_request_status"] == "ERROR"
    assert body["users"][0]["sub_request_error_reason"]
    r = api("GET", f"/v1/segments/{seg_id}")
    assert r.json()["segments"][0]["sub_request_status"] == "SUCCESS"  # times=1 used up
    sb.set_faults([{"kind": "sub_request_error_200"}])
    assert api("GET", f"/v1/segments/{seg_id}").json()["segments"][0]["sub_request_status"] == (
        "ERROR"
    )
    assert sb.member_counts(seg_id)["EMAIL_SHA256"] == 0


def test_fault_expire_tokens_mid_run(sb: SnapSandbox, api: Api) -> None:
    refresh = sb.issue_tokens()["refresh_token"]
    sb.set_faults([{"kind": "expire_tokens", "path": "^/v1/", "after": 2}])
    assert [api("GET", "/v1/me").status_code for _ in range(3)] == [200, 200, 401]
    fresh = token_request(sb, grant_type="refresh_token", refresh_token=refresh).json()
    assert Api(sb, fresh["access_token"])("GET", "/v1/me").status_code == 200


def test_fault_delete_segment_mid_run(sb: SnapSandbox, api: Api) -> None:
    seg_id = create_segment(api)["id"]
    other = sb.create_segment(name="other")
    path = f"/v1/segments/{seg_id}/users"
    sb.set_faults([{"kind": "delete_segment", "path": "/users$", "after": 1}])
    assert api("POST", path, json=users_body(hexes(1))).status_code == 200
    assert_snap_error(api("POST", path, json=users_body(hexes(1))), 404, "E3003")
    sb.set_faults([{"kind": "delete_segment", "segment_id": other}])
    api("GET", "/v1/me")
    assert_snap_error(api("GET", f"/v1/segments/{other}"), 404, "E3003")


def test_bad_fault_rules_are_rejected(sb: SnapSandbox) -> None:
    for rule in (
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 200},
        {"kind": "slow", "delay_s": -1},
        {"kind": "drop", "path": "("},
        {"kind": "status", "status": 500, "colour": "red"},
    ):
        r = requests.post(sb.url + "/_sandbox/faults", json={"faults": [rule]}, timeout=10)
        assert r.status_code == 400, rule
    assert sb.faults() == []


# --------------------------------------------------------------------------- log and control


def test_request_log(sb: SnapSandbox) -> None:
    tokens = sb.issue_tokens()
    api = Api(sb, tokens["access_token"])
    seg_id = sb.create_segment()
    api("POST", f"/v1/segments/{seg_id}/users", json=users_body(hexes(7), "PHONE_SHA256"))
    requests.get(sb.url + "/v1/me", timeout=10)
    requests.get(sb.url + "/_sandbox/config", timeout=10)
    log = sb.requests()
    assert [e["path"] for e in log] == [f"/v1/segments/{seg_id}/users", "/v1/me"]
    upload, anonymous = log
    assert upload["method"] == "POST" and upload["status"] == 200
    assert upload["token"] == "tok-1" and upload["user"] == "sandbox-admin"
    assert (upload["schema"], upload["rows"], upload["fault"]) == ("PHONE_SHA256", 7, None)
    assert isinstance(upload["time"], float) and upload["seq"] < anonymous["seq"]
    assert anonymous["status"] == 401 and anonymous["token"] is None
    assert tokens["access_token"] not in str(log) and hexes(1)[0] not in str(log)
    over_http = requests.get(sb.url + "/_sandbox/requests", timeout=10).json()
    assert [e["seq"] for e in over_http] == [e["seq"] for e in log]
    requests.delete(sb.url + "/_sandbox/requests", timeout=10)
    assert sb.requests() == []


def test_control_api_over_http(sb: SnapSandbox) -> None:
    base = sb.url + "/_sandbox"
    cfg = requests.post(base + "/config", json={"expires_in": 42}, timeout=10).json()
    assert cfg["expires_in"] == 42 and cfg["client_id"] == DEFAULT_CLIENT_ID
    assert requests.post(base + "/config", json={"nope": 1}, timeout=10).status_code == 400
    assert requests.post(base + "/config", json={"expires_in": "x"}, timeout=10).status_code == 400
    tokens = requests.post(base + "/tokens", json={"user_id": "sandbox-admin"}, timeout=10).json()
    assert tokens["expires_in"] == 42
    user = requests.post(
        base + "/users", json={"user_id": "dm", "roles": {DEFAULT_AD_ACCOUNT_ID: "data_manager"}}
    ).json()
    assert user["user_id"] == "dm" and user["member_id"]
    seg = requests.post(base + "/segments", json={"name": "ctl"}, timeout=10).json()
    members_url = f"{base}/segments/{seg['id']}/members"
    values = hexes(3)
    requests.post(members_url, json={"schema": "MOBILE_AD_ID_SHA256", "hashes": values}, timeout=10)
    assert requests.get(members_url, timeout=10).json() == {
        "EMAIL_SHA256": [],
        "PHONE_SHA256": [],
        "MOBILE_AD_ID_SHA256": sorted(values),
    }
    counts = requests.get(members_url, params={"counts": "true"}, timeout=10).json()
    assert counts["MOBILE_AD_ID_SHA256"] == 3
    faults = requests.post(base + "/faults", json={"faults": [{"kind": "slow"}]}, timeout=10)
    assert faults.json()["faults"][0]["remaining"] == 1
    assert requests.get(base + "/faults", timeout=10).json()["faults"][0]["kind"] == "slow"
    assert requests.delete(base + "/faults", timeout=10).json() == {"faults": []}
    revoked = requests.post(base + "/revoke", json={"user_id": "sandbox-admin"}, timeout=10)
    assert revoked.json() == {"revoked": 1}
    reset = requests.post(base + "/reset", json={"rotate_refresh_tokens": True}, timeout=10)
    assert reset.json()["config"]["rotate_refresh_tokens"] is True
    assert reset.json()["config"]["expires_in"] == 1800
    assert requests.get(members_url, timeout=10).status_code == 404
    assert (
        requests.post(base + "/reset", timeout=10).json()["config"]["rotate_refresh_tokens"]
        is False
    )


def test_cli_runs_on_loopback_and_prints_url() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.snap_sandbox",
            "--port",
            "0",
            "--expires-in",
            "77",
            "--no-rate-limits",
            "--redirect-uri",
            "http://127.0.0.1:1/cb",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:")
        cfg = requests.get(url + "/_sandbox/config", timeout=10).json()
        assert cfg["expires_in"] == 77 and cfg["enforce_rate_limits"] is False
        assert cfg["redirect_uris"] == ["http://127.0.0.1:1/cb"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    refused = subprocess.run(
        [sys.executable, "-m", "devtools.snap_sandbox", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "loopback" in refused.stderr
