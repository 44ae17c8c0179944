"""In-memory state of the Snap sandbox: config, OAuth grants, directory, segments, faults, log.

Everything here is plain Python guarded by one re-entrant lock per :class:`SandboxState`, so
the HTTP layer (``_app.py``) and the test helpers (``_server.py``) can both call it from any
thread. Sources are cited by tag (``[auth]``, ``[lists]``...): the tags are listed in
:mod:`devtools.snap_sandbox`.
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# --------------------------------------------------------------------------- constants

#: Fixed ids of the seeded organization and ad account (ids are UUIDs, [patterns]).
DEFAULT_ORGANIZATION_ID = "5d1c2f6e-3a4b-4c8d-9e0f-1a2b3c4d5e6f"
DEFAULT_AD_ACCOUNT_ID = "8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"
DEFAULT_AD_ACCOUNT_NAME = "Sandbox Ad Account"
DEFAULT_ORGANIZATION_NAME = "Sandbox Organization"
#: The seeded user (Admin on the seeded ad account).
DEFAULT_USER_ID = "sandbox-admin"
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - public sandbox credential
DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:7071/api/oauth/snapchat/callback",
    "http://localhost:7071/api/oauth/snapchat/callback",
)
#: The only scope the sandbox grants ([auth]).
SCOPE = "snapchat-marketing-api"
#: Identifier schemas accepted by the users endpoints ([lists]).
SCHEMAS: tuple[str, ...] = ("EMAIL_SHA256", "PHONE_SHA256", "MOBILE_AD_ID_SHA256")
#: Maximum rows in one users request ([lists]).
MAX_ROWS_PER_REQUEST = 100_000
#: Maximum live segments per ad account ([lists]).
MAX_SEGMENTS_PER_AD_ACCOUNT = 1000
#: Maximum segment name length ([lists]).
MAX_NAME_LENGTH = 375
#: Lifetime retention, also the default ([lists]).
LIFETIME_RETENTION_DAYS = 9999
#: Segment ids are numeric strings like the docs example ([patterns]); the first one.
FIRST_SEGMENT_ID = 5677923948298240
#: Authorization codes are single-use and live this long (RFC 6749 4.1.2: 10 minutes at most).
CODE_TTL_SECONDS = 600
#: Minimum matched users before a list is targetable ([lists]).
MIN_TARGETABLE_USERS = 1000
#: Page size limits for list endpoints ([patterns], "Pagination").
MIN_PAGE_LIMIT, MAX_PAGE_LIMIT = 50, 1000
#: Roles a sandbox user can hold on an ad account; the first two may manage audiences ([patterns]).
ROLES: tuple[str, ...] = ("admin", "data_manager", "none")
MANAGING_ROLES = frozenset({"admin", "data_manager"})
#: Request-log entries kept (oldest dropped first).
MAX_LOG_ENTRIES = 100_000
TOKEN_PATH = "/login/oauth2/access_token"  # noqa: S105 - a URL path
AUTHORIZE_PATH = "/login/oauth2/authorize"

#: Error codes used by the sandbox. Snap publishes no list ([clients]); E3002/E3003 are
#: seen in the wild, the rest follow the inferred pattern (E1xxx request validation, E2xxx
#: entity validation, E3xxx permission / not found) and are sandbox inventions.
E_INVALID_REQUEST = "E1001"
E_INVALID_QUERY = "E1008"
E_SEGMENT_LIMIT = "E2001"
E_PERMISSION = "E3002"
E_NOT_FOUND = "E3003"
E_RATE_LIMITED = "E4029"
E_SERVER = "E5000"

HEX64 = re.compile(r"[0-9a-f]{64}")
_SEED_TIME = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC).timestamp()
_MEMBER_NS = uuid.UUID("0b7e2d2a-6f0c-4f55-9a47-5a9d8b1c0e21")

T = TypeVar("T")


def iso(ts: float) -> str:
    """Format an epoch time as ISO-8601 UTC with milliseconds and ``Z`` ([lists])."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def new_request_id() -> str:
    """A request id; recent real responses use UUIDs ([lists], envelope)."""
    return str(uuid.uuid4())


def member_id_for(user_id: str) -> str:
    """The stable UUID shown as ``me.id`` for a sandbox user id (ids are UUIDs, [patterns])."""
    return str(uuid.uuid5(_MEMBER_NS, user_id))


# --------------------------------------------------------------------------- errors


class SnapError(Exception):
    """An API error rendered as Snap's envelope ([clients]).

    Body: ``{"request_status":"ERROR","request_id","debug_message","display_message",
    "error_code"}`` with HTTP status :attr:`http_status`.
    """

    def __init__(
        self,
        http_status: int,
        error_code: str,
        debug_message: str,
        display_message: str | None = None,
    ) -> None:
        super().__init__(debug_message)
        self.http_status = http_status
        self.error_code = error_code
        self.debug_message = debug_message
        self.display_message = display_message or _default_display(http_status)

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return error_envelope(self.error_code, self.debug_message, self.display_message)


def _default_display(status: int) -> str:
    return {
        400: "The request is invalid.",
        401: "Unauthorized.",
        403: "You do not have permission to perform this action.",
        404: "The requested resource was not found.",
        429: "Too many requests. Please slow down.",
    }.get(status, "Something went wrong. Please try again later.")


def error_envelope(error_code: str, debug_message: str, display_message: str) -> dict[str, Any]:
    """Snap's top-level error body ([clients])."""
    return {
        "request_status": "ERROR",
        "request_id": new_request_id(),
        "debug_message": debug_message,
        "display_message": display_message,
        "error_code": error_code,
    }


class OAuthError(Exception):
    """An OAuth token-endpoint error: ``{"error","error_description"}`` ([auth]).

    400 ``invalid_request``/``invalid_grant``/``unsupported_grant_type``, 401
    ``invalid_client`` (RFC 6749 5.2; Snap's exact strings are unconfirmed).
    """

    def __init__(self, http_status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.http_status = http_status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """The JSON body of this error."""
        return {"error": self.error, "error_description": self.description}


class AuthorizeRedirectError(Exception):
    """An authorize error reported by redirecting back to ``redirect_uri`` (RFC 6749 4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class ControlError(ValueError):
    """A bad call of the ``/_sandbox`` control API (HTTP 400 or 404 with ``{"detail"}``)."""

    def __init__(self, detail: str, http_status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.http_status = http_status


# --------------------------------------------------------------------------- config


class SandboxConfig(BaseModel):
    """Sandbox settings; JSON shape of ``GET/POST /_sandbox/config``.

    ``expires_in`` defaults to 1800 s, as the clients' token fixtures show ([clients]);
    refresh tokens do not rotate by default, as singer-io/tap-snapchat-ads observes
    ([clients]); the rate limits are 10/s per token and 20/s per app ([rates]);
    ``processing_seconds`` simulates the ``upload_status`` PROCESSING -> COMPLETE delay
    ([lists]).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: str = Field(DEFAULT_CLIENT_ID, min_length=1)
    client_secret: str = Field(DEFAULT_CLIENT_SECRET, min_length=1)
    redirect_uris: list[str] = Field(default_factory=lambda: list(DEFAULT_REDIRECT_URIS))
    expires_in: int = Field(1800, ge=1)
    rotate_refresh_tokens: bool = False
    enforce_rate_limits: bool = True
    rate_limit_per_token: int = Field(10, ge=1)
    rate_limit_per_app: int = Field(20, ge=1)
    processing_seconds: float = Field(0.0, ge=0)


def build_config(base: SandboxConfig | None, patch: Mapping[str, Any] | None) -> SandboxConfig:
    """Merge ``patch`` over ``base`` (or the defaults); raises :class:`ControlError` if invalid."""
    data = base.model_dump() if base is not None else {}
    data.update(dict(patch or {}))
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ControlError(f"invalid config: {problems}") from exc


# --------------------------------------------------------------------------- entities


@dataclass
class User:
    user_id: str
    roles: dict[str, str]
    created_at: float

    @property
    def member_id(self) -> str:
        return member_id_for(self.user_id)


@dataclass
class Organization:
    id: str
    name: str
    seq: int
    created_at: float


@dataclass
class AdAccount:
    id: str
    organization_id: str
    name: str
    status: str
    seq: int
    created_at: float
    currency: str = "USD"
    timezone: str = "America/Los_Angeles"


@dataclass
class Segment:
    id: str
    seq: int
    ad_account_id: str
    organization_id: str
    name: str
    description: str
    source_type: str
    retention_in_days: int
    created_at: float
    updated_at: float
    members: dict[str, set[bytes]] = field(default_factory=lambda: {s: set() for s in SCHEMAS})
    processing_until: float | None = None
    first_complete_at: float | None = None
    #: When an ``all_users`` removal still being processed takes effect (sandbox clock).
    clear_at: float | None = None

    def size(self) -> int:
        return sum(len(v) for v in self.members.values())

    def settle(self, now: float) -> None:
        """Apply a pending ``all_users`` removal once its processing time has passed.

        Until then the members (and ``approximate_number_users``) are unchanged, and users
        added meanwhile are dropped with the rest when it lands: a client must wait for the
        audience to show empty before adding.
        """
        if self.clear_at is not None and now >= self.clear_at:
            self.members = {s: set() for s in SCHEMAS}
            self.clear_at = None


@dataclass
class AuthCode:
    code: str
    user_id: str
    client_id: str
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    user_id: str
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    short_id: str
    user_id: str
    expires_at: float
    refresh_token: str | None


@dataclass(frozen=True)
class Principal:
    """Who made a ``/v1`` call: the sandbox user and the short id of the access token."""

    user_id: str
    token_id: str


# --------------------------------------------------------------------------- faults

FAULT_KINDS: tuple[str, ...] = (
    "status",
    "drop",
    "slow",
    "token_non_json",
    "error_200",
    "sub_request_error_200",
    "expire_tokens",
    "delete_segment",
)
#: Kinds that act on the state and then let the request through.
ACTION_FAULTS = frozenset({"expire_tokens", "delete_segment"})
_COMMON_FAULT_KEYS = {"kind", "method", "path", "after", "times"}
_KIND_KEYS: dict[str, set[str]] = {
    "status": {"status", "body"},
    "drop": {"apply"},
    "slow": {"delay_s"},
    "token_non_json": {"status"},
    "error_200": {"error_code", "debug_message"},
    "sub_request_error_200": {"sub_request_error_reason"},
    "expire_tokens": set(),
    "delete_segment": {"segment_id"},
}


@dataclass
class FaultRule:
    """One fault-injection rule (see the package docstring for the JSON shape)."""

    spec: dict[str, Any]
    kind: str
    method: str | None
    path_re: re.Pattern[str] | None
    after: int
    times: int
    seen: int = 0
    fired: int = 0

    @property
    def remaining(self) -> int:
        """Applications left; -1 means forever."""
        return -1 if self.times == -1 else max(self.times - self.fired, 0)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if self.path_re is not None:
            return self.path_re.search(path) is not None
        if self.kind == "token_non_json":
            return path == TOKEN_PATH
        return True

    def describe(self) -> dict[str, Any]:
        return {**self.spec, "seen": self.seen, "fired": self.fired, "remaining": self.remaining}


def _int_field(rule: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = rule.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ControlError(f"fault field {key!r} must be an integer >= {minimum}")
    return value


def parse_fault(rule: Any) -> FaultRule:
    """Validate one fault rule dict; raises :class:`ControlError` on a bad rule."""
    if not isinstance(rule, dict):
        raise ControlError("each fault must be a JSON object")
    kind = rule.get("kind")
    if kind not in FAULT_KINDS:
        raise ControlError(f"unknown fault kind {kind!r}; expected one of {list(FAULT_KINDS)}")
    unknown = set(rule) - _COMMON_FAULT_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise ControlError(f"unknown field(s) for fault kind {kind!r}: {sorted(unknown)}")
    method = rule.get("method")
    if method is not None and not isinstance(method, str):
        raise ControlError("fault field 'method' must be a string")
    path = rule.get("path")
    path_re: re.Pattern[str] | None = None
    if path is not None:
        if not isinstance(path, str):
            raise ControlError("fault field 'path' must be a regex string")
        try:
            path_re = re.compile(path)
        except re.error as exc:
            raise ControlError(f"fault field 'path' is not a valid regex: {exc}") from exc
    after = _int_field(rule, "after", 0, 0)
    times = _int_field(rule, "times", 1, -1)
    if kind == "status":
        status = rule.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ControlError("fault kind 'status' needs an integer 'status' in 400..599")
        if rule.get("body", "json") not in ("json", "html", "empty"):
            raise ControlError("fault field 'body' must be 'json', 'html' or 'empty'")
    if kind == "token_non_json":
        _int_field(rule, "status", 200, 200)
    if kind == "slow":
        delay = rule.get("delay_s", 1.0)
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ControlError("fault field 'delay_s' must be a number >= 0")
    if kind == "drop" and not isinstance(rule.get("apply", False), bool):
        raise ControlError("fault field 'apply' must be a boolean")
    for key in ("error_code", "debug_message", "sub_request_error_reason", "segment_id"):
        if key in rule and not isinstance(rule[key], str):
            raise ControlError(f"fault field {key!r} must be a string")
    return FaultRule(
        spec=dict(rule),
        kind=kind,
        method=method.upper() if method else None,
        path_re=path_re,
        after=after,
        times=times,
    )


@dataclass
class FaultDecision:
    """Faults chosen for one request: at most one response fault, plus any action faults."""

    response: FaultRule | None = None
    actions: list[FaultRule] = field(default_factory=list)

    def names(self) -> str | None:
        kinds = [a.kind for a in self.actions]
        if self.response is not None:
            kinds.append(self.response.kind)
        return "+".join(kinds) or None


# --------------------------------------------------------------------------- users payload


@dataclass
class UsersEnvelope:
    """The validated outer shape of a users request; ``data`` rows are not checked yet."""

    schema: str
    data: list[Any]


def parse_users_envelope(body: bytes) -> UsersEnvelope:
    """Parse ``{"users":[{"schema":[S],"data":[[hex],...],"id"?}]}`` ([lists]).

    Exactly one users element with exactly one known schema; an ``id`` is accepted and
    ignored ([lists] "id inside the users element"); at most 100,000 rows ([lists]).
    Raises :class:`SnapError` (400, E1001).
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapError(400, E_INVALID_REQUEST, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        raise SnapError(400, E_INVALID_REQUEST, "Request body must be an object with 'users'")
    users = doc["users"]
    if len(users) != 1:
        raise SnapError(
            400, E_INVALID_REQUEST, f"'users' must have exactly one element, got {len(users)}"
        )
    element = users[0]
    if not isinstance(element, dict):
        raise SnapError(400, E_INVALID_REQUEST, "users[0] must be an object")
    schema = element.get("schema")
    if not isinstance(schema, list) or len(schema) != 1:
        raise SnapError(
            400, E_INVALID_REQUEST, "users[0].schema must be a list with exactly one schema"
        )
    if schema[0] not in SCHEMAS:
        raise SnapError(
            400,
            E_INVALID_REQUEST,
            f"Unknown schema {schema[0]!r}; expected one of {', '.join(SCHEMAS)}",
        )
    data = element.get("data")
    if not isinstance(data, list):
        raise SnapError(400, E_INVALID_REQUEST, "users[0].data must be a list of rows")
    if len(data) > MAX_ROWS_PER_REQUEST:
        raise SnapError(
            400,
            E_INVALID_REQUEST,
            f"Too many identifiers in one request: {len(data)} (maximum {MAX_ROWS_PER_REQUEST})",
        )
    return UsersEnvelope(schema=schema[0], data=data)


def parse_users_rows(data: Sequence[Any]) -> set[bytes]:
    """Check every row is ``[<64 lowercase hex>]``, return the 32-byte digests ([lists]).

    Lowercase-only is a strictness choice: Snap asks for lowercase hex ([hashing]). Raises
    :class:`SnapError` (400, E1001) naming the first bad row. Fast path: C-level checks over
    the joined values; the per-row scan runs only to locate an error.
    """
    try:
        values = [row[0] for row in data if type(row) is list and len(row) == 1]
        if len(values) == len(data):
            joined = "".join(values)  # TypeError if a value is not a string
            if (not values or set(map(len, values)) == {64}) and joined == joined.lower():
                # fromhex rejects non-hex; skipped whitespace would shorten the result.
                raw = bytes.fromhex(joined)
                if len(raw) == 32 * len(values):
                    return set(map(bytes.fromhex, values))
    except (TypeError, ValueError):
        pass
    fullmatch = HEX64.fullmatch
    for index, row in enumerate(data):
        if type(row) is not list or len(row) != 1:
            raise SnapError(
                400, E_INVALID_REQUEST, f"users[0].data[{index}] must be a one-element list"
            )
        value = row[0]
        if type(value) is not str or fullmatch(value) is None:
            raise SnapError(
                400,
                E_INVALID_REQUEST,
                f"users[0].data[{index}][0] is not a SHA-256 digest in lowercase hex",
            )
    raise AssertionError("unreachable: fast path rejected valid rows")  # pragma: no cover


# --------------------------------------------------------------------------- pagination


def parse_limit(raw: str | None) -> int | None:
    """Validate ``limit`` (50..1000, [patterns]); raises 400 E1008 otherwise."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not MIN_PAGE_LIMIT <= value <= MAX_PAGE_LIMIT:
        raise SnapError(
            400,
            E_INVALID_QUERY,
            f"limit must be an integer between {MIN_PAGE_LIMIT} and {MAX_PAGE_LIMIT}",
        )
    return value


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "after":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SnapError(400, E_INVALID_QUERY, "cursor is invalid") from exc


@dataclass
class Page:
    """One page of a list and the cursor of the next page (``None`` on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def paginate(
    items: Iterable[T],
    seq_of: Callable[[T], int],
    render: Callable[[T], dict[str, Any]],
    limit: int | None,
    cursor: str | None,
) -> Page:
    """Keyset pagination over ``items`` in ``seq`` order (stable under deletes).

    Without ``limit`` everything from the cursor on is returned in one page.
    """
    ordered = sorted(items, key=seq_of)
    if cursor is not None:
        after = decode_cursor(cursor)
        ordered = [item for item in ordered if seq_of(item) > after]
    if limit is None or len(ordered) <= limit:
        return Page([render(i) for i in ordered], None)
    page = ordered[:limit]
    return Page([render(i) for i in page], encode_cursor(seq_of(page[-1])))


# --------------------------------------------------------------------------- state


class SandboxState:
    """All mutable sandbox state for one app instance; every public method is thread-safe."""

    def __init__(self, config: SandboxConfig) -> None:
        self.lock = threading.RLock()
        #: Set by the standalone server: after each membership change, move what the cyclic
        #: garbage collector tracks into its permanent generation. A full collection would
        #: otherwise walk every member of every audience (ten million entries: ~2 s) each
        #: time a request allocates its 100,000 row lists.
        self.freeze_gc = False
        self._startup_config = config
        self.config = config
        self._clock_offset = 0.0
        self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG_ENTRIES)
        self._log_seq = 0
        self._faults: list[FaultRule] = []
        self._rate_app: deque[float] = deque()
        self._rate_tokens: dict[str, deque[float]] = {}
        self.reset()

    # ------------------------------------------------------------------ basics

    def now(self) -> float:
        """The sandbox clock (wall clock plus :meth:`advance_clock` offsets)."""
        return time.time() + self._clock_offset

    def clock_offset(self) -> float:
        """Seconds the sandbox clock runs ahead of the wall clock."""
        with self.lock:
            return self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward (token/code expiry, processing); returns the offset."""
        with self.lock:
            self._clock_offset += seconds
            return self._clock_offset

    def reset(self, config_patch: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Back to the seeded state; config = startup config merged with ``config_patch``."""
        new_config = build_config(self._startup_config, config_patch)
        with self.lock:
            self.config = new_config
            self._clock_offset = 0.0
            self.users: dict[str, User] = {}
            self.organizations: dict[str, Organization] = {}
            self.ad_accounts: dict[str, AdAccount] = {}
            self.segments: dict[str, Segment] = {}
            self._codes: dict[str, AuthCode] = {}
            self._refresh: dict[str, RefreshToken] = {}
            self._access: dict[str, AccessToken] = {}
            self._entity_seq = 0
            self._token_seq = 0
            self._next_segment_id = FIRST_SEGMENT_ID
            self._faults = []
            self._log.clear()
            self._log_seq = 0
            self._rate_app.clear()
            self._rate_tokens.clear()
            self.add_organization(DEFAULT_ORGANIZATION_ID, DEFAULT_ORGANIZATION_NAME, _SEED_TIME)
            self.add_ad_account(
                ad_account_id=DEFAULT_AD_ACCOUNT_ID,
                organization_id=DEFAULT_ORGANIZATION_ID,
                name=DEFAULT_AD_ACCOUNT_NAME,
                created_at=_SEED_TIME,
            )
            self.users[DEFAULT_USER_ID] = User(
                DEFAULT_USER_ID, {DEFAULT_AD_ACCOUNT_ID: "admin"}, _SEED_TIME
            )
            return self.config.model_dump()

    def _next_seq(self) -> int:
        self._entity_seq += 1
        return self._entity_seq

    # ------------------------------------------------------------------ config

    def get_config(self) -> dict[str, Any]:
        with self.lock:
            return self.config.model_dump()

    def update_config(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into the live config; returns the new config."""
        with self.lock:
            self.config = build_config(self.config, patch)
            return self.config.model_dump()

    # ------------------------------------------------------------------ directory (control)

    def add_user(self, user_id: str, roles: Mapping[str, str]) -> dict[str, Any]:
        """Add or replace a user with ``roles`` {ad_account_id: admin|data_manager|none}."""
        if not isinstance(user_id, str) or not user_id:
            raise ControlError("user_id must be a non-empty string")
        if not isinstance(roles, Mapping):
            raise ControlError("roles must be an object {ad_account_id: role}")
        for account, role in roles.items():
            if role not in ROLES:
                raise ControlError(f"role for {account!r} must be one of {list(ROLES)}")
        with self.lock:
            self.users[user_id] = User(user_id, dict(roles), self.now())
            return self._user_info(self.users[user_id])

    def _user_info(self, user: User) -> dict[str, Any]:
        return {"user_id": user.user_id, "member_id": user.member_id, "roles": dict(user.roles)}

    def add_organization(
        self, org_id: str | None = None, name: str | None = None, created_at: float | None = None
    ) -> dict[str, Any]:
        """Add an organization (or return the existing one with that id)."""
        with self.lock:
            org_id = org_id or str(uuid.uuid4())
            if org_id not in self.organizations:
                self.organizations[org_id] = Organization(
                    org_id,
                    name or f"Sandbox Organization {len(self.organizations) + 1}",
                    self._next_seq(),
                    created_at if created_at is not None else self.now(),
                )
            return {"id": org_id, "name": self.organizations[org_id].name}

    def add_ad_account(
        self,
        ad_account_id: str | None = None,
        organization_id: str = DEFAULT_ORGANIZATION_ID,
        name: str | None = None,
        status: str = "ACTIVE",
        grant: Mapping[str, str] | None = None,
        created_at: float | None = None,
    ) -> dict[str, Any]:
        """Add an ad account (creating its organization if new).

        ``grant`` = {user_id: role}; ``None`` means ``{"sandbox-admin": "admin"}``.
        """
        grants = {DEFAULT_USER_ID: "admin"} if grant is None else dict(grant)
        for user_id, role in grants.items():
            if role not in ROLES:
                raise ControlError(f"role for {user_id!r} must be one of {list(ROLES)}")
        with self.lock:
            ad_account_id = ad_account_id or str(uuid.uuid4())
            if ad_account_id in self.ad_accounts:
                raise ControlError(f"ad account {ad_account_id} already exists")
            missing = [u for u in grants if u not in self.users and u != DEFAULT_USER_ID]
            if missing:
                raise ControlError(f"unknown user(s) {missing}", 404)
            self.add_organization(organization_id)
            self.ad_accounts[ad_account_id] = AdAccount(
                id=ad_account_id,
                organization_id=organization_id,
                name=name or f"Sandbox Ad Account {len(self.ad_accounts) + 1}",
                status=status,
                seq=self._next_seq(),
                created_at=created_at if created_at is not None else self.now(),
            )
            for user_id, role in grants.items():
                if user_id in self.users:
                    self.users[user_id].roles[ad_account_id] = role
            return self._render_ad_account(self.ad_accounts[ad_account_id])

    # ------------------------------------------------------------------ OAuth

    def authorize(
        self,
        client_id: str | None,
        redirect_uri: str | None,
        response_type: str | None,
        scope: str | None,
        state: str | None,
        user_id: str,
        deny: bool = False,
    ) -> str:
        """Check an authorize request and return the redirect URL with ``code`` and ``state``.

        [auth]: ``client_id``, ``redirect_uri`` exact match, ``response_type=code``,
        ``scope`` containing ``snapchat-marketing-api``, ``state`` echoed. A bad client or
        redirect URI raises :class:`OAuthError` (no redirect, RFC 6749 4.1.2.1); other
        problems raise :class:`AuthorizeRedirectError` carrying ``?error=...&state=...``.
        """
        with self.lock:
            cfg = self.config
            if client_id != cfg.client_id:
                raise OAuthError(400, "invalid_client", "Unknown client_id")
            if redirect_uri is None or redirect_uri not in cfg.redirect_uris:
                raise OAuthError(
                    400, "invalid_request", "redirect_uri does not match a registered URI"
                )

            def back(params: dict[str, str]) -> str:
                if state is not None:
                    params["state"] = state
                sep = "&" if "?" in redirect_uri else "?"
                return f"{redirect_uri}{sep}{urlencode(params)}"

            if response_type != "code":
                raise AuthorizeRedirectError(
                    back(
                        {
                            "error": "unsupported_response_type",
                            "error_description": "response_type must be 'code'",
                        }
                    )
                )
            scopes = re.split(r"[\s,]+", scope or "")
            if SCOPE not in scopes:
                raise AuthorizeRedirectError(
                    back(
                        {
                            "error": "invalid_scope",
                            "error_description": f"scope must include {SCOPE}",
                        }
                    )
                )
            if user_id not in self.users:
                raise OAuthError(400, "invalid_request", f"Unknown sandbox_user {user_id!r}")
            if deny:
                raise AuthorizeRedirectError(
                    back({"error": "access_denied", "error_description": "The user denied access"})
                )
            code = secrets.token_urlsafe(24)
            self._codes[code] = AuthCode(
                code, user_id, cfg.client_id, redirect_uri, self.now() + CODE_TTL_SECONDS
            )
            return back({"code": code})

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Handle the token endpoint's form fields and return the token JSON ([auth]).

        Returns ``{"access_token","token_type":"Bearer","expires_in","refresh_token",
        "scope":"snapchat-marketing-api"}``; raises :class:`OAuthError`.
        """
        with self.lock:
            cfg = self.config
            if form.get("client_id") != cfg.client_id or form.get("client_secret") != (
                cfg.client_secret
            ):
                raise OAuthError(401, "invalid_client", "Client authentication failed")
            grant_type = form.get("grant_type")
            now = self.now()
            if grant_type == "authorization_code":
                code_value = form.get("code")
                if not code_value:
                    raise OAuthError(400, "invalid_request", "Missing 'code'")
                code = self._codes.get(code_value)
                if code is None:
                    raise OAuthError(400, "invalid_grant", "Invalid authorization code")
                if code.used:
                    raise OAuthError(400, "invalid_grant", "Authorization code was already used")
                if code.expires_at <= now:
                    raise OAuthError(400, "invalid_grant", "Authorization code expired")
                if code.client_id != cfg.client_id or form.get("redirect_uri") != code.redirect_uri:
                    raise OAuthError(
                        400, "invalid_grant", "redirect_uri does not match the authorize request"
                    )
                code.used = True
                refresh = self._new_refresh_token(code.user_id)
                return self._grant(refresh)
            if grant_type == "refresh_token":
                value = form.get("refresh_token")
                if not value:
                    raise OAuthError(400, "invalid_request", "Missing 'refresh_token'")
                refresh_token = self._refresh.get(value)
                if refresh_token is None or refresh_token.revoked:
                    raise OAuthError(400, "invalid_grant", "Invalid or revoked refresh token")
                if refresh_token.user_id not in self.users:
                    raise OAuthError(400, "invalid_grant", "The authorizing user no longer exists")
                if cfg.rotate_refresh_tokens:
                    refresh_token.revoked = True
                    refresh_token = self._new_refresh_token(refresh_token.user_id)
                return self._grant(refresh_token)
            if not grant_type:
                raise OAuthError(400, "invalid_request", "Missing 'grant_type'")
            raise OAuthError(
                400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}"
            )

    def _new_refresh_token(self, user_id: str) -> RefreshToken:
        token = RefreshToken(secrets.token_urlsafe(32), user_id)
        self._refresh[token.token] = token
        return token

    def _grant(self, refresh: RefreshToken) -> dict[str, Any]:
        self._token_seq += 1
        access = AccessToken(
            token=secrets.token_urlsafe(32),
            short_id=f"tok-{self._token_seq}",
            user_id=refresh.user_id,
            expires_at=self.now() + self.config.expires_in,
            refresh_token=refresh.token,
        )
        self._access[access.token] = access
        return {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": self.config.expires_in,
            "refresh_token": refresh.token,
            "scope": SCOPE,
        }

    def token_short_id(self, access_token: str) -> str | None:
        """The log id (``tok-N``) of an access token, or ``None`` if unknown."""
        with self.lock:
            found = self._access.get(access_token)
            return found.short_id if found else None

    def issue_tokens(self, user_id: str = DEFAULT_USER_ID) -> dict[str, Any]:
        """Tokens for ``user_id`` without the browser flow (same JSON as the token endpoint)."""
        with self.lock:
            if user_id not in self.users:
                raise ControlError(f"unknown user {user_id!r}", 404)
            return self._grant(self._new_refresh_token(user_id))

    def revoke(
        self,
        user_id: str | None = None,
        refresh_token: str | None = None,
        access_tokens: bool = False,
    ) -> int:
        """Revoke all of a user's refresh tokens and/or one refresh token; returns how many.

        With ``access_tokens`` the access tokens minted from them expire too. Models "the user
        removed app access", which Braze names as a cause of revoked sign-ins ([clients]).
        """
        if user_id is None and refresh_token is None:
            raise ControlError("give user_id and/or refresh_token")
        with self.lock:
            revoked: set[str] = set()
            for token in self._refresh.values():
                if (user_id is not None and token.user_id == user_id) or (
                    token.token == refresh_token
                ):
                    if not token.revoked:
                        token.revoked = True
                    revoked.add(token.token)
            if access_tokens:
                now = self.now()
                for access in self._access.values():
                    if access.refresh_token in revoked:
                        access.expires_at = min(access.expires_at, now)
            return len(revoked)

    def expire_access_tokens(self) -> int:
        """Make every current access token expired now; returns how many were live."""
        with self.lock:
            now = self.now()
            live = 0
            for access in self._access.values():
                if access.expires_at > now:
                    live += 1
                    access.expires_at = now
            return live

    def authenticate(self, authorization: str | None) -> Principal | None:
        """Resolve an ``Authorization: Bearer`` header ([auth] "Using the token").

        Returns ``None`` for a missing, unknown or expired token (the caller answers 401).
        """
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        with self.lock:
            access = self._access.get(value.strip())
            if access is None or access.expires_at <= self.now():
                return None
            if access.user_id not in self.users:
                return None
            return Principal(access.user_id, access.short_id)

    # ------------------------------------------------------------------ rate limits

    def rate_limit_allows(self, token_id: str) -> bool:
        """Sliding 1-second window per token and per app ([rates]).

        Only admitted requests count, so a client pacing itself at the limit never sees 429.
        """
        with self.lock:
            cfg = self.config
            if not cfg.enforce_rate_limits:
                return True
            now = time.monotonic()
            cutoff = now - 1.0
            app_window = self._rate_app
            while app_window and app_window[0] <= cutoff:
                app_window.popleft()
            tok_window = self._rate_tokens.setdefault(token_id, deque())
            while tok_window and tok_window[0] <= cutoff:
                tok_window.popleft()
            if len(tok_window) >= cfg.rate_limit_per_token or len(app_window) >= (
                cfg.rate_limit_per_app
            ):
                return False
            tok_window.append(now)
            app_window.append(now)
            if len(self._rate_tokens) > 1000:
                for key in [k for k, v in self._rate_tokens.items() if not v]:
                    del self._rate_tokens[key]
            return True

    # ------------------------------------------------------------------ rendering

    def _render_org(self, org: Organization, user: User, with_ad_accounts: bool) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": org.id,
            "updated_at": iso(org.created_at),
            "created_at": iso(org.created_at),
            "name": org.name,
            "country": "US",
            "postal_code": "90405",
            "locality": "Santa Monica",
            "contact_name": "Sandbox Admin",
            "contact_email": "sandbox-admin@example.invalid",
            "address_line_1": "1 Sandbox Way",
            "administrative_district_level_1": "US-CA",
            "type": "ENTERPRISE",
            "state": "ACTIVE",
            "my_display_name": user.user_id,
            "my_invite_status": "ACCEPTED",
            "my_member_id": user.member_id,
            "roles": ["member"],
        }
        if with_ad_accounts:
            rendered["ad_accounts"] = [
                self._render_ad_account(a)
                for a in sorted(self._visible_ad_accounts(user, org.id), key=lambda a: a.seq)
            ]
        return rendered

    def _render_ad_account(self, account: AdAccount) -> dict[str, Any]:
        return {
            "id": account.id,
            "updated_at": iso(account.created_at),
            "created_at": iso(account.created_at),
            "name": account.name,
            "type": "PARTNER",
            "status": account.status,
            "organization_id": account.organization_id,
            "currency": account.currency,
            "timezone": account.timezone,
            "advertiser_organization_id": account.organization_id,
            "billing_type": "IO",
            "agency_representing_client": False,
            "client_paying_invoices": False,
        }

    def render_segment(self, seg: Segment) -> dict[str, Any]:
        """Snap's segment object ([lists]), statuses evaluated lazily now."""
        now = self.now()
        seg.settle(now)
        if seg.processing_until is None:
            upload_status = "NO_UPLOAD"
        elif now < seg.processing_until:
            upload_status = "PROCESSING"
        else:
            upload_status = "COMPLETE"
        size = seg.size()
        if upload_status == "NO_UPLOAD":
            targetable = "NOT_READY"
        elif size < MIN_TARGETABLE_USERS:
            targetable = "TOO_FEW_USERS"
        else:
            targetable = "READY"
        active = seg.first_complete_at is not None and now >= seg.first_complete_at
        return {
            "id": seg.id,
            "updated_at": iso(seg.updated_at),
            "created_at": iso(seg.created_at),
            "name": seg.name,
            "ad_account_id": seg.ad_account_id,
            "organization_id": seg.organization_id,
            "description": seg.description,
            "status": "ACTIVE" if active else "PENDING",
            "source_type": seg.source_type,
            "retention_in_days": seg.retention_in_days,
            "approximate_number_users": size,
            "upload_status": upload_status,
            "targetable_status": targetable,
            "visible_to": [f"AdAccountEntity_{seg.ad_account_id}"],
        }

    # ------------------------------------------------------------------ permission helpers

    def _user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:  # token outlived its user (removed by reset)
            raise SnapError(401, E_PERMISSION, "Unknown caller")
        return user

    def _visible_ad_accounts(self, user: User, org_id: str | None = None) -> list[AdAccount]:
        return [
            a
            for a in self.ad_accounts.values()
            if user.roles.get(a.id, "none") != "none"
            and (org_id is None or a.organization_id == org_id)
        ]

    def _require_manager(self, user: User, ad_account_id: str) -> None:
        """Admin or Data Manager on the ad account, else 403 E3002 ([patterns], [clients])."""
        if user.roles.get(ad_account_id, "none") not in MANAGING_ROLES:
            raise SnapError(
                403,
                E_PERMISSION,
                "Caller does not have permission",
                "You need the Account Admin or Data Manager role on this ad account.",
            )

    def _ad_account(self, ad_account_id: str) -> AdAccount:
        account = self.ad_accounts.get(ad_account_id)
        if account is None:
            raise SnapError(404, E_NOT_FOUND, f"Ad account {ad_account_id} not found")
        return account

    def _segment(self, segment_id: str) -> Segment:
        seg = self.segments.get(segment_id)
        if seg is None:
            raise SnapError(404, E_NOT_FOUND, f"Segment {segment_id} not found")
        return seg

    # ------------------------------------------------------------------ /v1 directory

    def me(self, user_id: str) -> dict[str, Any]:
        """``GET /v1/me`` body ``{"request_status","request_id","me":{...}}`` ([patterns])."""
        with self.lock:
            user = self._user(user_id)
            return {
                "request_status": "SUCCESS",
                "request_id": new_request_id(),
                "me": {
                    "id": user.member_id,
                    "updated_at": iso(user.created_at),
                    "created_at": iso(user.created_at),
                    "email": f"{user.user_id}@example.invalid",
                    "organization_id": DEFAULT_ORGANIZATION_ID,
                    "display_name": user.user_id,
                    "snapchat_username": user.user_id,
                    "member_status": "MEMBER",
                },
            }

    def organizations_page(
        self, user_id: str, with_ad_accounts: bool, limit: int | None, cursor: str | None
    ) -> Page:
        """Organizations of ``GET /v1/me/organizations`` (every org; ad accounts by role)."""
        with self.lock:
            user = self._user(user_id)
            return paginate(
                self.organizations.values(),
                lambda o: o.seq,
                lambda o: {
                    "sub_request_status": "SUCCESS",
                    "organization": self._render_org(o, user, with_ad_accounts),
                },
                limit,
                cursor,
            )

    def ad_accounts_page(
        self, user_id: str, org_id: str, limit: int | None, cursor: str | None
    ) -> Page:
        """Ad accounts of ``GET /v1/organizations/{id}/adaccounts`` the user holds a role on."""
        with self.lock:
            user = self._user(user_id)
            if org_id not in self.organizations:
                raise SnapError(404, E_NOT_FOUND, f"Organization {org_id} not found")
            return paginate(
                self._visible_ad_accounts(user, org_id),
                lambda a: a.seq,
                lambda a: {
                    "sub_request_status": "SUCCESS",
                    "adaccount": self._render_ad_account(a),
                },
                limit,
                cursor,
            )

    def organization(self, user_id: str, org_id: str) -> dict[str, Any]:
        with self.lock:
            user = self._user(user_id)
            org = self.organizations.get(org_id)
            if org is None:
                raise SnapError(404, E_NOT_FOUND, f"Organization {org_id} not found")
            return self._render_org(org, user, False)

    def ad_account(self, user_id: str, ad_account_id: str) -> dict[str, Any]:
        with self.lock:
            user = self._user(user_id)
            account = self._ad_account(ad_account_id)
            if user.roles.get(ad_account_id, "none") == "none":
                raise SnapError(403, E_PERMISSION, "Caller does not have permission")
            return self._render_ad_account(account)

    # ------------------------------------------------------------------ segments

    def _validate_segment_spec(
        self, spec: Any, ad_account_id: str, index: int
    ) -> tuple[str, str, int]:
        where = f"segments[{index}]"
        if not isinstance(spec, dict):
            raise SnapError(400, E_INVALID_REQUEST, f"{where} must be an object")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SnapError(400, E_INVALID_REQUEST, f"{where}.name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise SnapError(
                400,
                E_INVALID_REQUEST,
                f"{where}.name is longer than {MAX_NAME_LENGTH} characters",
            )
        description = spec.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise SnapError(400, E_INVALID_REQUEST, f"{where}.description must be a string")
        if spec.get("source_type") != "FIRST_PARTY":
            raise SnapError(
                400,
                E_INVALID_REQUEST,
                f"{where}.source_type must be FIRST_PARTY for customer lists",
            )
        retention = spec.get("retention_in_days", LIFETIME_RETENTION_DAYS)
        if (
            not isinstance(retention, int)
            or isinstance(retention, bool)
            or not 1 <= retention <= LIFETIME_RETENTION_DAYS
        ):
            raise SnapError(
                400,
                E_INVALID_REQUEST,
                f"{where}.retention_in_days must be an integer 1..{LIFETIME_RETENTION_DAYS}",
            )
        if spec.get("ad_account_id") != ad_account_id:
            raise SnapError(
                400,
                E_INVALID_REQUEST,
                f"{where}.ad_account_id must equal the ad account in the URL",
            )
        return name, description, retention

    def _insert_segment(
        self, account: AdAccount, name: str, description: str, retention: int
    ) -> Segment:
        now = self.now()
        seg = Segment(
            id=str(self._next_segment_id),
            seq=self._next_seq(),
            ad_account_id=account.id,
            organization_id=account.organization_id,
            name=name,
            description=description,
            source_type="FIRST_PARTY",
            retention_in_days=retention,
            created_at=now,
            updated_at=now,
        )
        self._next_segment_id += 1
        self.segments[seg.id] = seg
        return seg

    def _live_segment_count(self, ad_account_id: str) -> int:
        return sum(1 for s in self.segments.values() if s.ad_account_id == ad_account_id)

    def create_segments(self, user_id: str, ad_account_id: str, doc: Any) -> list[dict[str, Any]]:
        """``POST /v1/adaccounts/{id}/segments`` ([lists] "Create"); all or nothing.

        Validates name <= 375 chars, ``source_type`` FIRST_PARTY, ``retention_in_days``
        1..9999 (default 9999), ``ad_account_id`` equal to the URL's ([lists]) and the 1,000
        segments per ad account limit ([lists]). Returns the created segment objects.
        """
        with self.lock:
            user = self._user(user_id)
            account = self._ad_account(ad_account_id)
            self._require_manager(user, ad_account_id)
            if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
                raise SnapError(400, E_INVALID_REQUEST, "Body must be {'segments': [...]}")
            specs = doc["segments"]
            if not specs:
                raise SnapError(400, E_INVALID_REQUEST, "'segments' must not be empty")
            checked = [
                self._validate_segment_spec(s, ad_account_id, i) for i, s in enumerate(specs)
            ]
            if self._live_segment_count(ad_account_id) + len(checked) > MAX_SEGMENTS_PER_AD_ACCOUNT:
                raise SnapError(
                    400,
                    E_SEGMENT_LIMIT,
                    f"Ad account already has the maximum of {MAX_SEGMENTS_PER_AD_ACCOUNT} segments",
                    "You have reached the maximum number of audiences for this ad account.",
                )
            created = [self._insert_segment(account, *c) for c in checked]
            return [self.render_segment(s) for s in created]

    def update_segments(self, user_id: str, ad_account_id: str, doc: Any) -> list[dict[str, Any]]:
        """``PUT /v1/adaccounts/{id}/segments``: update name/description/retention ([lists])."""
        with self.lock:
            user = self._user(user_id)
            self._ad_account(ad_account_id)
            self._require_manager(user, ad_account_id)
            if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
                raise SnapError(400, E_INVALID_REQUEST, "Body must be {'segments': [...]}")
            updates: list[tuple[Segment, dict[str, Any]]] = []
            for index, spec in enumerate(doc["segments"]):
                if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
                    raise SnapError(400, E_INVALID_REQUEST, f"segments[{index}].id is required")
                seg = self._segment(spec["id"])
                if seg.ad_account_id != ad_account_id:
                    raise SnapError(404, E_NOT_FOUND, f"Segment {seg.id} not found")
                merged = {
                    "name": seg.name,
                    "description": seg.description,
                    "retention_in_days": seg.retention_in_days,
                    "source_type": seg.source_type,
                    "ad_account_id": ad_account_id,
                    **{k: v for k, v in spec.items() if k != "id"},
                }
                updates.append((seg, merged))
            checked = [
                (seg, self._validate_segment_spec(m, ad_account_id, i))
                for i, (seg, m) in enumerate(updates)
            ]
            now = self.now()
            for seg, (name, description, retention) in checked:
                seg.name, seg.description, seg.retention_in_days = name, description, retention
                seg.updated_at = now
            return [self.render_segment(seg) for seg, _ in checked]

    def get_segment(self, user_id: str, segment_id: str) -> dict[str, Any]:
        """``GET /v1/segments/{id}``: 404 E3003 if unknown/deleted, 403 E3002 without role."""
        with self.lock:
            user = self._user(user_id)
            seg = self._segment(segment_id)
            self._require_manager(user, seg.ad_account_id)
            return self.render_segment(seg)

    def segments_page(
        self, user_id: str, ad_account_id: str, limit: int | None, cursor: str | None
    ) -> Page:
        """``GET /v1/adaccounts/{id}/segments`` items ([lists] "List", [patterns] paging)."""
        with self.lock:
            user = self._user(user_id)
            self._ad_account(ad_account_id)
            self._require_manager(user, ad_account_id)
            return paginate(
                [s for s in self.segments.values() if s.ad_account_id == ad_account_id],
                lambda s: s.seq,
                lambda s: {"sub_request_status": "SUCCESS", "segment": self.render_segment(s)},
                limit,
                cursor,
            )

    def delete_segment(self, user_id: str, segment_id: str) -> None:
        """``DELETE /v1/segments/{id}`` ([lists] "Delete segment")."""
        with self.lock:
            user = self._user(user_id)
            seg = self._segment(segment_id)
            self._require_manager(user, seg.ad_account_id)
            del self.segments[segment_id]

    def check_segment_access(self, user_id: str, segment_id: str) -> None:
        """404 E3003 for a missing segment, 403 E3002 without Admin/Data Manager ([clients])."""
        with self.lock:
            user = self._user(user_id)
            seg = self._segment(segment_id)
            self._require_manager(user, seg.ad_account_id)

    def _touch(self, seg: Segment) -> None:
        now = self.now()
        seg.updated_at = now
        seg.processing_until = now + self.config.processing_seconds
        if seg.first_complete_at is None:
            seg.first_complete_at = seg.processing_until

    def apply_users(
        self, user_id: str, segment_id: str, schema: str, values: set[bytes], remove: bool
    ) -> None:
        """Add or remove members of one schema; upload_status becomes PROCESSING ([lists])."""
        with self.lock:
            self.check_segment_access(user_id, segment_id)
            seg = self.segments[segment_id]
            seg.settle(self.now())
            if remove:
                seg.members[schema] -= values
            else:
                seg.members[schema] |= values
            self._touch(seg)
        if self.freeze_gc:
            gc.freeze()

    def clear_users(self, user_id: str, segment_id: str) -> dict[str, Any]:
        """``DELETE /v1/segments/{id}/all_users``: drop every member ([lists])."""
        with self.lock:
            self.check_segment_access(user_id, segment_id)
            seg = self.segments[segment_id]
            # Processed asynchronously, like uploads ([lists]): it lands processing_seconds on
            # (at once when that is 0).
            now = self.now()
            seg.settle(now)
            seg.clear_at = now + self.config.processing_seconds
            seg.settle(now)
            self._touch(seg)
            return self.render_segment(seg)

    # ------------------------------------------------------------------ segments (control)

    def create_segment_direct(
        self,
        ad_account_id: str = DEFAULT_AD_ACCOUNT_ID,
        name: str = "Sandbox segment",
        description: str = "",
        retention_in_days: int = LIFETIME_RETENTION_DAYS,
    ) -> dict[str, Any]:
        """Create a segment bypassing auth, roles and rate limits (still validates fields)."""
        with self.lock:
            if ad_account_id not in self.ad_accounts:
                raise ControlError(f"unknown ad account {ad_account_id}", 404)
            spec = {
                "name": name,
                "description": description,
                "source_type": "FIRST_PARTY",
                "retention_in_days": retention_in_days,
                "ad_account_id": ad_account_id,
            }
            try:
                checked = self._validate_segment_spec(spec, ad_account_id, 0)
            except SnapError as exc:
                raise ControlError(exc.debug_message) from exc
            seg = self._insert_segment(self.ad_accounts[ad_account_id], *checked)
            return self.render_segment(seg)

    def delete_segment_direct(self, segment_id: str) -> bool:
        """Delete a segment bypassing auth; returns whether it existed."""
        with self.lock:
            return self.segments.pop(segment_id, None) is not None

    def add_members_direct(self, segment_id: str, schema: str, hex_values: Iterable[str]) -> int:
        """Add members (lowercase 64-hex strings) bypassing auth; returns the schema's size."""
        if schema not in SCHEMAS:
            raise ControlError(f"unknown schema {schema!r}")
        try:
            values = parse_users_rows([[v] for v in hex_values])
        except SnapError as exc:
            raise ControlError(exc.debug_message) from exc
        with self.lock:
            seg = self.segments.get(segment_id)
            if seg is None:
                raise ControlError(f"unknown segment {segment_id}", 404)
            seg.members[schema] |= values
            self._touch(seg)
            return len(seg.members[schema])

    def member_sets(self, segment_id: str) -> dict[str, set[bytes]]:
        """Copies of the member sets per schema; raises :class:`ControlError` 404 if missing."""
        with self.lock:
            seg = self.segments.get(segment_id)
            if seg is None:
                raise ControlError(f"unknown segment {segment_id}", 404)
            seg.settle(self.now())
            return {schema: set(values) for schema, values in seg.members.items()}

    def member_counts(self, segment_id: str) -> dict[str, int]:
        with self.lock:
            seg = self.segments.get(segment_id)
            if seg is None:
                raise ControlError(f"unknown segment {segment_id}", 404)
            seg.settle(self.now())
            return {schema: len(values) for schema, values in seg.members.items()}

    # ------------------------------------------------------------------ faults

    def set_faults(self, rules: Sequence[Any]) -> list[dict[str, Any]]:
        """Replace the fault list (validated first; nothing changes on a bad rule)."""
        parsed = [parse_fault(r) for r in rules]
        with self.lock:
            self._faults = parsed
            return [f.describe() for f in parsed]

    def get_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.describe() for f in self._faults]

    def select_faults(self, method: str, path: str) -> FaultDecision:
        """Count this request against every matching rule and pick the faults that fire.

        A rule fires once it has let ``after`` matching requests through, ``times`` times
        (-1 = forever). Action kinds always fire when due; of the others only the first due
        rule fires (later due rules stay armed for the next request).
        """
        decision = FaultDecision()
        with self.lock:
            for rule in self._faults:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or rule.remaining == 0:
                    continue
                if rule.kind in ACTION_FAULTS:
                    decision.actions.append(rule)
                elif decision.response is None:
                    decision.response = rule
                else:
                    continue
                rule.fired += 1
        return decision

    def run_action_fault(self, rule: FaultRule, path: str) -> None:
        """Act for ``expire_tokens`` / ``delete_segment`` (segment from the rule or the path)."""
        if rule.kind == "expire_tokens":
            self.expire_access_tokens()
        elif rule.kind == "delete_segment":
            segment_id = rule.spec.get("segment_id")
            if segment_id is None:
                match = re.search(r"/segments/(\d+)", path)
                segment_id = match.group(1) if match else None
            if segment_id is not None:
                self.delete_segment_direct(segment_id)

    # ------------------------------------------------------------------ request log

    def log_start(self, method: str, path: str, query: str) -> dict[str, Any]:
        """Append a log entry (no bodies are ever stored) and return it for later updates."""
        with self.lock:
            self._log_seq += 1
            entry: dict[str, Any] = {
                "seq": self._log_seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "query": query,
                "status": None,
                "token": None,
                "user": None,
                "schema": None,
                "rows": None,
                "fault": None,
            }
            self._log.append(entry)
            return entry

    def log_update(self, entry: dict[str, Any], **values: Any) -> None:
        with self.lock:
            entry.update(values)

    def log_snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._log]

    def log_clear(self) -> None:
        with self.lock:
            self._log.clear()
