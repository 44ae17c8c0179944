"""Snapchat connections: create, change, sign in with Snapchat, set the export user, delete.

Follows Customer Insights' connection model
(https://learn.microsoft.com/dynamics365/customer-insights/data/connections): only
administrators set a connection up (display name, who may use it, data-privacy consent,
"Sign in with Snapchat", "Add yourself as export user") and may share it with contributors;
deleting it deactivates the exports that use it without deleting them.

Records are JSON blobs (``connections/<id>.json``); every change is a compare-and-swap
(:meth:`~shared.state_store.StateStore.update`). The Snapchat refresh token goes to the
secret store only, under :func:`~shared.secrets.refresh_token_secret_name`.

Sign-in (OAuth 2.0 authorization code, RFC 6749 4.1: https://www.rfc-editor.org/rfc/rfc6749;
Snap's endpoints: https://developers.snap.com/api/marketing-api/Ads-API/authentication):
:func:`begin_sign_in` stores a random ``state`` at ``oauth-states/<state>.json`` with
``{connection_id, caller_id, expires_at}`` and returns Snap's authorize URL;
:func:`complete_sign_in` accepts the state once (deleted with an ETag condition, so two
callbacks cannot both use it), only from the same caller and only before it expires, then
exchanges the code and stores the refresh token.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import layout
from shared.models import Actor, Connection, Export, UsableBy, utc_now
from shared.secrets import refresh_token_secret_name
from shared.services import Services
from shared.snapchat import SnapchatError, SnapchatTransientError
from shared.state_store import StateStore

log = logging.getLogger(__name__)

#: How long a started sign-in may take before its state expires.
OAUTH_STATE_TTL = timedelta(minutes=10)
_STATE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_SNAP_ERROR_PATTERN = re.compile(r"^[a-z_]{1,64}$")


class ConnectionNotFound(LookupError):
    """No connection with that id."""


class InvalidOAuthState(ValueError):
    """The sign-in ``state`` is unknown, already used, expired, or another caller's."""


class SignInRefused(ValueError):
    """Snapchat did not complete the sign-in (denied, or the code was refused)."""


class SignInUnavailable(RuntimeError):
    """Snap's token endpoint could not be reached or kept failing (retry later)."""


# -- records ------------------------------------------------------------------------------
def get_connection(services: Services, connection_id: str) -> Connection | None:
    """The connection, or ``None``."""
    document = services.state.get(layout.connection(connection_id))
    return Connection.model_validate(document) if document is not None else None


def list_connections(services: Services) -> list[Connection]:
    """Every connection, in id order."""
    return [
        Connection.model_validate(document)
        for _, document in services.state.documents(layout.CONNECTIONS_PREFIX)
    ]


def create_connection(
    services: Services, *, display_name: str, usable_by: UsableBy, created_by: Actor
) -> Connection:
    """A new connection with data-privacy consent given by ``created_by`` (who and when).

    The caller has checked consent: a connection never exists without it.
    """
    connection = Connection(
        id=uuid.uuid4().hex,
        display_name=display_name,
        usable_by=usable_by,
        privacy_consent=created_by,
        created=created_by,
    )
    if not services.state.create(
        layout.connection(connection.id), connection.model_dump(mode="json")
    ):
        raise RuntimeError("connection id collision")  # pragma: no cover - uuid4
    log.info("connection %s created", connection.id)
    return connection


def update_connection(services: Services, connection_id: str, **changes: Any) -> Connection:
    """Set fields of a connection (compare-and-swap); :class:`ConnectionNotFound`."""

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        connection = Connection.model_validate(document)
        updated = connection.model_copy(update={**changes, "updated_at": utc_now()})
        return {**document, **updated.model_dump(mode="json")}

    stored = services.state.update(layout.connection(connection_id), mutate)
    if stored is None:
        raise ConnectionNotFound(connection_id)
    return Connection.model_validate(stored)


def set_export_user(services: Services, connection_id: str, user: Actor) -> Connection:
    """Record ``user`` as the connection's export user ("Add yourself as export user")."""
    return update_connection(services, connection_id, export_user=user)


def delete_connection(services: Services, connection_id: str) -> list[str]:
    """Delete a connection: its secrets, then deactivate its exports, then the record.

    Exports that use it get ``status: "inactive"`` and ``inactive_reason`` and are kept
    (Customer Insights: detaching a connection deactivates its exports). Each step can be
    repeated, so a retried DELETE finishes an interrupted one. Returns the export ids
    deactivated. :class:`ConnectionNotFound` when there is no such connection.
    """
    connection = get_connection(services, connection_id)
    if connection is None:
        raise ConnectionNotFound(connection_id)
    services.secrets.delete(refresh_token_secret_name(connection_id))
    services.forget_connection(connection_id)
    reason = f"connection '{connection.display_name}' was deleted"
    deactivated = []
    for name, document in services.state.documents(layout.EXPORTS_PREFIX):
        if document.get("connection_id") != connection_id:
            continue

        def deactivate(current: dict[str, Any]) -> dict[str, Any] | None:
            if current.get("connection_id") != connection_id:
                return None
            current.update(status="inactive", inactive_reason=reason, updated_at=utc_now())
            return current

        stored = services.state.update(name, deactivate)
        if stored is not None and stored.get("connection_id") == connection_id:
            deactivated.append(Export.model_validate(stored).id)
    services.state.delete(layout.connection(connection_id))
    log.info("connection %s deleted; %d export(s) deactivated", connection_id, len(deactivated))
    return deactivated


# -- sign in with Snapchat ------------------------------------------------------------------
def begin_sign_in(
    services: Services, connection_id: str, caller_id: str, return_to: str | None = None
) -> str:
    """Store a new single-use ``state`` for ``caller_id`` and return Snap's authorize URL.

    The redirect URI is ``<PUBLIC_BASE_URL>/api/oauth/snapchat/callback``. ``return_to``
    (a console path the caller has checked) is kept with the state, for the callback to
    send the browser back there (:func:`sign_in_return_to`). Expired states of earlier
    sign-ins are swept. :class:`ConnectionNotFound`; ``ConfigError`` when the Snapchat
    client id or secret is not configured.
    """
    if get_connection(services, connection_id) is None:
        raise ConnectionNotFound(connection_id)
    oauth = services.oauth()
    _sweep_expired_states(services.state)
    state = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + OAUTH_STATE_TTL
    services.state.put(
        layout.oauth_state(state),
        {
            "connection_id": connection_id,
            "caller_id": caller_id,
            "expires_at": expires_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            **({"return_to": return_to} if return_to else {}),
        },
    )
    log.info("sign-in with Snapchat started for connection %s", connection_id)
    return oauth.authorize_url(services.settings.oauth_redirect_uri, state)


def complete_sign_in(
    services: Services,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    caller: Actor,
) -> Connection:
    """Finish a sign-in from Snap's redirect (``?code=&state=`` or ``?error=&state=``).

    Accepts ``state`` once, from the caller who started it, before it expires; exchanges
    ``code`` at the token endpoint (form POST); stores the refresh token in the secret
    store; marks the connection signed in by ``caller`` with the Snapchat member's id and
    display name (never the email). Nothing is stored when any step fails.

    Raises :class:`InvalidOAuthState`, :class:`SignInRefused` (Snap denied or refused the
    code), :class:`SignInUnavailable` (token endpoint failing) or :class:`ConnectionNotFound`.
    """
    pending = _take_state(services.state, state, caller.id)
    connection_id = str(pending["connection_id"])
    if error:
        shown = error if _SNAP_ERROR_PATTERN.fullmatch(error) else "error"
        raise SignInRefused(f"Snapchat sign-in was not completed ({shown})")
    if not code:
        raise SignInRefused("Snapchat sent no authorization code")
    if get_connection(services, connection_id) is None:
        raise ConnectionNotFound(connection_id)
    try:
        tokens = services.oauth().exchange_code(code, services.settings.oauth_redirect_uri)
    except SnapchatTransientError as exc:
        raise SignInUnavailable(f"Snapchat's token endpoint is not answering: {exc}") from None
    except SnapchatError as exc:
        raise SignInRefused(str(exc)) from None
    if not tokens.refresh_token:
        raise SignInRefused("Snapchat answered without a refresh token")
    secret_name = refresh_token_secret_name(connection_id)
    services.secrets.set(secret_name, tokens.refresh_token)
    services.forget_connection(connection_id)
    member = _snapchat_member(services, connection_id)
    try:
        connection = update_connection(
            services, connection_id, signed_in=caller, snapchat_member=member
        )
    except ConnectionNotFound:
        services.secrets.delete(secret_name)
        services.forget_connection(connection_id)
        raise
    log.info("connection %s signed in with Snapchat", connection_id)
    return connection


def sign_in_return_to(services: Services, state: str | None) -> str | None:
    """Where the sign-in of ``state`` asked to return (``None``: nowhere, or no such
    state). Read before :func:`complete_sign_in` consumes the state; the caller checks the
    path again before redirecting to it."""
    if not state or not _STATE_PATTERN.fullmatch(state):
        return None
    pending = services.state.get(layout.oauth_state(state))
    value = pending.get("return_to") if pending else None
    return value if isinstance(value, str) else None


def _take_state(store: StateStore, state: str | None, caller_id: str) -> dict[str, Any]:
    """The pending sign-in of ``state``, deleted so it cannot be used again."""
    if not state or not _STATE_PATTERN.fullmatch(state):
        raise InvalidOAuthState("the sign-in state is missing or malformed")
    name = layout.oauth_state(state)
    found = store.read(name)
    if found is None:
        raise InvalidOAuthState("the sign-in state is unknown or was already used")
    pending, etag = found
    if pending.get("caller_id") != caller_id:
        raise InvalidOAuthState("the sign-in was started by another user")
    if not store.delete(name, etag=etag):
        raise InvalidOAuthState("the sign-in state was already used")
    if _expired(pending):
        raise InvalidOAuthState("the sign-in state has expired; start the sign-in again")
    return pending


def _expired(pending: dict[str, Any], now: datetime | None = None) -> bool:
    try:
        expires = datetime.fromisoformat(str(pending["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return True
    return (now or datetime.now(UTC)) >= expires


def _sweep_expired_states(store: StateStore) -> None:
    now = datetime.now(UTC)
    for name in list(store.names(layout.OAUTH_STATES_PREFIX)):
        found = store.read(name)
        if found is not None and _expired(found[0], now):
            store.delete(name, etag=found[1])


def _snapchat_member(services: Services, connection_id: str) -> dict[str, Any] | None:
    """``{"id", "display_name"}`` of the signed-in Snapchat member, or ``None`` if unknown."""
    try:
        me = services.snapchat(connection_id).me()
    except SnapchatError as exc:
        log.warning("connection %s: could not read the Snapchat member: %s", connection_id, exc)
        return None
    return {"id": me.get("id"), "display_name": me.get("display_name")}
