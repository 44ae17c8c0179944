"""Snap sandbox: a local, protocol-faithful double of the Snap Marketing API and Snap OAuth.

Behaviour follows Snap's public documentation and, where it is silent, what the open-source
Snap clients send and expect; where Snap's behaviour is unconfirmed the sandbox picks the
stricter or the documented-example variant (listed at the end). Docstrings here and in
``_state.py`` and ``_app.py`` cite these sources by tag:

* [auth] Snap, Authentication:
  https://developers.snap.com/api/marketing-api/Ads-API/authentication (and OAuth 2.0,
  RFC 6749, https://www.rfc-editor.org/rfc/rfc6749, cited by section);
* [patterns] Snap, API patterns (hosts, ids, paging, ``/v1/me`` and the directory):
  https://developers.snap.com/api/marketing-api/Ads-API/api-patterns;
* [lists] Snap, Customer lists (segments, their users, statuses, retention):
  https://developers.snap.com/api/marketing-api/Ads-API/customer-lists;
* [rates] Snap, Rate limits: https://developers.snap.com/api/marketing-api/Ads-API/rate-limits;
* [hashing] Snap, normalising and hashing identifiers:
  https://developers.snap.com/api/marketing-api/Conversions-API/BestPractices;
* [clients] the open-source clients, for what the docs leave out (error bodies and codes,
  token lifetime and rotation, revocation): Segment,
  https://github.com/segmentio/action-destinations
  (``packages/destination-actions/src/destinations/snap-audiences``); RudderStack,
  https://github.com/rudderlabs/rudder-transformer
  (``src/v0/destinations/snapchat_custom_audience``); https://github.com/singer-io/tap-snapchat-ads;
  Braze, https://www.braze.com/docs/partners/canvas_audience_sync/snapchat_audience_sync.

Start it
========
Foreground (binds loopback only, prints one line with its URL)::

    .venv/bin/python -m devtools.snap_sandbox [--host 127.0.0.1] [--port 8765] [--expires-in N]
        [--rotate-refresh-tokens] [--no-rate-limits] [--redirect-uri URI ...]
        [--processing-seconds S] [--client-id ID] [--client-secret SECRET]

Point the app at it with ``SNAPCHAT_API_URL=http://127.0.0.1:8765`` and
``SNAPCHAT_ACCOUNTS_URL=http://127.0.0.1:8765`` (one base URL serves both hosts).

In tests::

    from devtools.snap_sandbox import SnapSandbox
    with SnapSandbox() as sb:            # free port on 127.0.0.1, background thread
        token = sb.issue_tokens()["access_token"]      # skip the browser flow
        requests.get(sb.url + "/v1/me", headers={"Authorization": "Bearer " + token})

``create_app(config=None, **overrides)`` returns the bare FastAPI app (state per app instance in
``app.state.sandbox``, guarded by one lock) for other ASGI runners.

Seeded state (restored by reset)
================================
* organization :data:`DEFAULT_ORGANIZATION_ID` and ad account :data:`DEFAULT_AD_ACCOUNT_ID`
  (``ACTIVE``, "Sandbox Ad Account");
* user ``sandbox-admin`` with role ``admin`` on that ad account;
* OAuth client ``sandbox-client-id`` / ``sandbox-client-secret``, redirect URIs
  ``http://127.0.0.1:7071/api/oauth/snapchat/callback`` and
  ``http://localhost:7071/api/oauth/snapchat/callback``;
* segment ids count up from ``5677923948298240``.

Protocol endpoints
==================
OAuth ([auth]):

* ``GET /login/oauth2/authorize?client_id&redirect_uri&response_type=code&scope&state`` -- the
  user given by ``sandbox_user`` (default ``sandbox-admin``) consents automatically; 302 to
  ``redirect_uri?code=...&state=...``. Unknown ``client_id`` -> 400 ``invalid_client``;
  ``redirect_uri`` not exactly registered -> 400 ``invalid_request`` (never redirected);
  ``response_type`` other than ``code`` -> 302 with ``error=unsupported_response_type``; scope
  without ``snapchat-marketing-api`` -> 302 with ``error=invalid_scope``;
  ``sandbox_deny=true`` -> 302 with ``error=access_denied`` (RFC 6749 4.1.2.1). Codes are
  single-use and expire after 10 minutes.
* ``POST /login/oauth2/access_token`` -- ``application/x-www-form-urlencoded`` only (else 400
  ``invalid_request``); ``client_id`` + ``client_secret`` in the form (else 401
  ``invalid_client``); ``grant_type=authorization_code`` (``code``, matching ``redirect_uri``)
  or ``grant_type=refresh_token`` (``refresh_token``). Success: ``{"access_token",
  "token_type":"Bearer","expires_in","refresh_token","scope":"snapchat-marketing-api"}``;
  with ``rotate_refresh_tokens`` a refresh returns a new refresh token and kills the old one,
  otherwise it returns the same one. Bad/used/expired code or bad/rotated/revoked refresh token
  -> 400 ``{"error":"invalid_grant","error_description":...}``.

API ([patterns], [lists]), every ``/v1`` call needs ``Authorization: Bearer <access_token>``;
unknown or expired -> 401 ``{"request_status":"ERROR","request_id","msg":"Unauthorized"}``:

* ``GET /v1/me``; ``GET /v1/me/organizations[?with_ad_accounts=true]``;
  ``GET /v1/organizations/{id}``; ``GET /v1/organizations/{id}/adaccounts``;
  ``GET /v1/adaccounts/{id}``. Lists take ``limit`` (50..1000, else 400 E1008) and ``cursor``;
  a page with more after it has ``paging.next_link`` (full URL with ``cursor``). Without
  ``limit`` a list comes in one page. Users see every organization and the ad accounts on
  which they hold a role other than ``none``.
* ``POST /v1/adaccounts/{id}/segments`` ``{"segments":[{name, description?, source_type,
  retention_in_days?, ad_account_id}]}`` (all or nothing; name 1..375 chars, FIRST_PARTY,
  retention 1..9999 default 9999, ad_account_id = URL's, max 1000 segments per ad account ->
  400 E2001). Answers with lowercase ``"success"`` (Snap's docs example).
* ``GET /v1/adaccounts/{id}/segments`` (paged), ``PUT /v1/adaccounts/{id}/segments``
  (``{"segments":[{id, name?, description?, retention_in_days?}]}``),
  ``GET /v1/segments/{id}``, ``DELETE /v1/segments/{id}`` (answers ``"segments": []``).
  Envelope: ``{"request_status","request_id","segments":[{"sub_request_status","segment"}]}``.
  Segment: id, ad_account_id, organization_id, name, description, source_type,
  retention_in_days, status (``PENDING`` until the first upload completes, then ``ACTIVE``),
  approximate_number_users (members over all schemas), upload_status (``NO_UPLOAD`` ->
  ``PROCESSING`` after each upload/removal -> ``COMPLETE`` after ``processing_seconds``,
  evaluated on read), targetable_status (``NOT_READY`` while NO_UPLOAD, ``TOO_FEW_USERS``
  below 1,000, ``READY``), visible_to, created_at, updated_at (``...T..:..:..mmmZ``).
* ``POST`` / ``DELETE /v1/segments/{id}/users`` ``{"users":[{"schema":["EMAIL_SHA256"],
  "data":[["<64 lowercase hex>"],...], "id"?}]}`` -> ``{"request_status":"SUCCESS",
  "request_id","users":[{"sub_request_status":"SUCCESS","user":{"number_uploaded_users":N}}]}``
  (N = rows received). 400 E1001 for: >100,000 rows, not exactly one users element or one
  schema, schema not in EMAIL_SHA256/PHONE_SHA256/MOBILE_AD_ID_SHA256, a row that is not a
  one-element list, a value that is not 64 lowercase hex. ``DELETE /v1/segments/{id}/all_users``
  (no body) clears all members and answers with the segments envelope; with
  ``processing_seconds`` > 0 the clear lands that long after the call (members and
  ``approximate_number_users`` unchanged until then, users added meanwhile dropped with it).
* Errors: ``{"request_status":"ERROR","request_id","debug_message","display_message",
  "error_code"}``. Unknown/deleted segment or ad account -> 404 E3003; caller without
  ``admin``/``data_manager`` on the segment's ad account -> 403 E3002 "Caller does not have
  permission".
* Rate limits ([rates]): sliding 1-second window over admitted ``/v1`` requests, per access
  token (``rate_limit_per_token``, 10) and per app = all tokens (``rate_limit_per_app``, 20);
  beyond -> 429 with the error envelope (E4029) and no ``Retry-After``. Off with
  ``enforce_rate_limits: false``.

Control API (no auth, never logged, never faulted)
==================================================
* ``POST /_sandbox/reset`` [body: optional config keys, or ``{"config": {...}}``] -- seeded state,
  no tokens/segments/faults/log, clock offset 0, config = startup config + body. -> ``{"config"}``
* ``GET /_sandbox/config``; ``POST /_sandbox/config`` merges -> the config::

    {"client_id","client_secret","redirect_uris":[...],"expires_in":1800,
     "rotate_refresh_tokens":false,"enforce_rate_limits":true,"rate_limit_per_token":10,
     "rate_limit_per_app":20,"processing_seconds":0}

* ``POST /_sandbox/faults`` ``{"faults":[rule,...]}`` replaces the list; ``GET`` shows the rules
  plus ``seen``/``fired``/``remaining``; ``DELETE`` clears. -> ``{"faults":[...]}``
* ``GET /_sandbox/segments/{id}/members`` -> ``{"EMAIL_SHA256":[sorted hex],"PHONE_SHA256":[...],
  "MOBILE_AD_ID_SHA256":[...]}``; ``?counts=true`` -> counts only; ``POST`` with
  ``{"schema","hashes":[hex,...]}`` seeds members directly. 404 for a missing segment.
* ``POST /_sandbox/segments`` ``{"name","ad_account_id"?,"description"?,"retention_in_days"?}``
  -> segment object; ``DELETE /_sandbox/segments/{id}``.
* ``GET /_sandbox/requests`` -> ``[{"seq","time","method","path","query","status","token"
  ("tok-N", never the token),"user","schema","rows","fault"}]`` (last 100,000; no bodies);
  ``DELETE`` clears.
* ``POST /_sandbox/users`` ``{"user_id","roles":{"<ad_account_id>":"admin"|"data_manager"|"none"}}``
  adds/replaces a user -> ``{"user_id","member_id","roles"}``.
* ``POST /_sandbox/adaccounts`` ``{"id"?,"organization_id"?,"name"?,"status"?,"grant"?:{user:
  role}}`` (new organization ids are created; ``grant`` defaults to sandbox-admin=admin).
* ``POST /_sandbox/revoke`` ``{"user_id"?,"refresh_token"?,"access_tokens"?:false}``
  -> ``{"revoked":n}``.
* ``POST /_sandbox/tokens`` ``{"user_id":"sandbox-admin"}`` -> token-endpoint JSON.
* ``POST /_sandbox/expire_tokens`` -> ``{"expired":n}``; ``GET/POST /_sandbox/clock``
  ``{"advance_s":N}`` moves the sandbox clock forward (expiry of codes/tokens, processing).

Faults
======
A rule: ``{"kind", "method"?, "path"? (regex, re.search on the URL path), "after": 0 (matching
requests let through first), "times": 1 (-1 = forever), ...kind fields}``. Applied to every
non-control path, before the bearer check and the rate limiter. A faulted request is not
applied (members unchanged) unless stated. Per request all due action rules fire, and at most
one other rule (the first due; later ones stay armed).

* ``status`` ``{"status": 400..599, "body": "json"|"html"|"empty"}`` -- e.g. 429 bursts or
  500/502/503; JSON is Snap's error envelope (OAuth-style ``error`` on ``/login/...``).
* ``drop`` ``{"apply": false}`` -- sends a 200 head with a Content-Length larger than the body,
  a partial body, then closes: the client sees a transport error (requests:
  ``ChunkedEncodingError``/``ConnectionError``). ``apply: true`` processes the request first
  and truncates the real response (the "did it land?" case).
* ``slow`` ``{"delay_s": 1.0}`` -- waits, then processes normally.
* ``token_non_json`` ``{"status": 200}`` -- HTML body; path defaults to the token endpoint.
* ``error_200`` ``{"error_code"?, "debug_message"?}`` -- HTTP 200 with ``request_status: ERROR``.
* ``sub_request_error_200`` ``{"sub_request_error_reason"?}`` -- HTTP 200, ``request_status:
  SUCCESS``, one item with ``sub_request_status: ERROR`` + ``sub_request_error_reason``.
* ``expire_tokens`` -- every current access token expires, then the request proceeds (-> 401).
* ``delete_segment`` ``{"segment_id"?}`` -- deletes that segment (default: the one in the path),
  then the request proceeds (-> 404 E3003).

Choices where Snap's behaviour is undocumented or unconfirmed
=============================================================
Error codes other than E3002/E3003 are invented (E1001 body, E1008 query, E2001 segment limit,
E4029 rate limit, E5000 injected 5xx). ``number_uploaded_users`` counts rows received,
duplicates included. Revoking a refresh token leaves already-issued access tokens valid unless
``access_tokens`` is true.
"""

from __future__ import annotations

from ._app import SandboxDroppedConnection, create_app
from ._server import SnapSandbox
from ._state import (
    DEFAULT_AD_ACCOUNT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_REDIRECT_URIS,
    DEFAULT_USER_ID,
    FAULT_KINDS,
    FIRST_SEGMENT_ID,
    MAX_ROWS_PER_REQUEST,
    SCHEMAS,
    SCOPE,
    ControlError,
    SandboxConfig,
    SandboxState,
)

__all__ = [
    "DEFAULT_AD_ACCOUNT_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_REDIRECT_URIS",
    "DEFAULT_USER_ID",
    "FAULT_KINDS",
    "FIRST_SEGMENT_ID",
    "MAX_ROWS_PER_REQUEST",
    "SCHEMAS",
    "SCOPE",
    "ControlError",
    "SandboxConfig",
    "SandboxDroppedConnection",
    "SandboxState",
    "SnapSandbox",
    "create_app",
]
