"""Microsoft Entra ID tokens, verified by the app itself.

The app does not take a caller's word for who it is: in Azure a request is authenticated only
by a JSON Web Token that the tenant's Entra ID signed, checked here. The token arrives either

* as ``Authorization: Bearer <token>`` (scripts, automation, the post-deploy check): an access
  token for this app's API, audience ``api://<client id>`` or ``<client id>``; or
* from App Service Authentication's token store, which adds ``X-MS-TOKEN-AAD-ID-TOKEN`` (and
  ``X-MS-TOKEN-AAD-ACCESS-TOKEN``) to the requests of a signed-in browser session
  (https://learn.microsoft.com/azure/app-service/configure-authentication-oauth-tokens). The ID
  token's audience is the client id; it carries the user's app roles.

Checks (https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens and
https://learn.microsoft.com/entra/identity-platform/id-tokens): an RS256 signature by one of the
tenant's published keys (``{authority}/{tenant}/discovery/v2.0/keys``, fetched and cached by
PyJWT's :class:`jwt.PyJWKClient`); the issuer is the tenant (v2.0
``{authority}/{tenant}/v2.0`` or v1.0 ``https://sts.windows.net/{tenant}/``); the audience is
this app; ``exp`` and ``nbf`` hold (60 s leeway for clock skew); ``tid`` is the tenant. The
caller's app roles are the ``roles`` claim
(https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps).

The ``X-MS-CLIENT-PRINCIPAL`` header that App Service Authentication also adds is not used:
nothing in it can be checked, and where that layer is not in front any client can write it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from shared.config import ConfigError, Settings

#: Clock skew allowed on ``exp`` and ``nbf``, in seconds.
LEEWAY_S = 60
#: Seconds to wait for the tenant's key endpoint.
KEYS_TIMEOUT_S = 10
#: Seconds the tenant's keys are cached before they are fetched again (a token signed by a key
#: not in the cache makes PyJWT fetch at once; Entra rolls keys over days, not minutes).
KEYS_LIFESPAN_S = 3600
#: Seconds between two fetches that a token with an unknown key id may force: without it,
#: every forged token with a made-up ``kid`` made the app fetch the tenant's keys again
#: (PyJWT before 2.15; ``cooldown_duration`` of ``PyJWKClient``,
#: https://github.com/jpadilla/pyjwt/blob/2.15.1/jwt/jwks_client.py).
KEYS_REFRESH_COOLDOWN_S = 30
#: Headers a token may arrive in, in the order they are tried.
BEARER = "Authorization"
TOKEN_STORE_HEADERS = ("X-MS-TOKEN-AAD-ID-TOKEN", "X-MS-TOKEN-AAD-ACCESS-TOKEN")
#: Microsoft Entra ID's v1.0 token issuer host (public cloud).
V1_ISSUER_HOST = "https://sts.windows.net"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


class InvalidToken(Exception):
    """A token that does not prove an identity; ``str()`` is a safe reason (never the token)."""


class KeysUnavailable(Exception):
    """The tenant's signing keys could not be fetched, so no token can be checked now."""


@dataclass(frozen=True)
class EntraConfig:
    """Which tokens this app accepts: ``tenant_id``, ``client_id`` of its app registration,
    accepted ``audiences`` and the ``authority`` (``https://login.microsoftonline.com`` in the
    public cloud; a local double in tests)."""

    tenant_id: str
    client_id: str
    audiences: tuple[str, ...]
    authority: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EntraConfig:
        """From ``ENTRA_TENANT_ID``, ``ENTRA_CLIENT_ID``, ``ENTRA_AUDIENCES`` (comma-separated;
        default ``api://<client id>`` and ``<client id>``) and ``ENTRA_AUTHORITY``.
        :class:`~shared.config.ConfigError` naming a missing setting."""
        tenant = settings.require("ENTRA_TENANT_ID").strip()
        client = settings.require("ENTRA_CLIENT_ID").strip()
        listed = [a.strip() for a in (settings.get("ENTRA_AUDIENCES") or "").split(",")]
        audiences = tuple(a for a in listed if a) or (f"api://{client}", client)
        authority = (settings.get("ENTRA_AUTHORITY") or PUBLIC_AUTHORITY).rstrip("/")
        if not authority.startswith("https://") and not authority.startswith("http://127.0.0.1"):
            raise ConfigError("app setting ENTRA_AUTHORITY must be an https URL")
        return cls(tenant_id=tenant, client_id=client, audiences=audiences, authority=authority)

    @property
    def keys_url(self) -> str:
        """The tenant's JSON Web Key Set (its ``jwks_uri``)."""
        return f"{self.authority}/{self.tenant_id}/discovery/v2.0/keys"

    @property
    def issuers(self) -> tuple[str, ...]:
        """Accepted ``iss`` values: v2.0 tokens, and v1.0 ones in the public cloud."""
        v2 = f"{self.authority}/{self.tenant_id}/v2.0"
        if self.authority == PUBLIC_AUTHORITY:
            return (v2, f"{V1_ISSUER_HOST}/{self.tenant_id}/")
        return (v2,)


_key_sets: dict[str, jwt.PyJWKClient] = {}
_key_sets_lock = threading.Lock()


def _key_set(url: str) -> jwt.PyJWKClient:
    with _key_sets_lock:
        client = _key_sets.get(url)
        if client is None:
            client = jwt.PyJWKClient(
                url,
                cache_keys=True,
                lifespan=KEYS_LIFESPAN_S,
                timeout=KEYS_TIMEOUT_S,
                cooldown_duration=KEYS_REFRESH_COOLDOWN_S,
            )
            _key_sets[url] = client
        return client


def verify_token(token: str, config: EntraConfig) -> dict[str, Any]:
    """The claims of ``token`` once every check above passes.

    Raises :class:`InvalidToken` with a reason fit for the caller, or :class:`KeysUnavailable`
    when the tenant's keys cannot be fetched.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:  # DecodeError, or a header PyJWT refuses (a kid not a string)
        raise InvalidToken("the token is not a JSON Web Token") from None
    if header.get("alg") != "RS256" or not header.get("kid"):
        raise InvalidToken("the token is not signed with a key of Microsoft Entra ID (RS256)")
    try:
        key = _key_set(config.keys_url).get_signing_key(str(header["kid"]))
    except jwt.PyJWKClientConnectionError:
        raise KeysUnavailable("the tenant's signing keys could not be fetched") from None
    except jwt.PyJWKClientError:
        raise InvalidToken("the token is signed by a key the tenant does not publish") from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=list(config.audiences),
            issuer=config.issuers,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is not for this app (audience)") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token was not issued by this app's tenant") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token has no '{exc.claim}' claim") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is not valid") from None
    if claims.get("tid") not in (None, config.tenant_id):
        raise InvalidToken("the token was not issued by this app's tenant")
    return claims


def signing_keys(config: EntraConfig) -> int:
    """How many signing keys the tenant publishes (fetched now); :class:`KeysUnavailable`."""
    try:
        return len(_key_set(config.keys_url).get_signing_keys(refresh=True))
    except jwt.PyJWKClientError:
        raise KeysUnavailable("the tenant's signing keys could not be fetched") from None


def presented_tokens(headers: Mapping[str, str]) -> list[str]:
    """The tokens a request carries, in the order to try them: the bearer token, then the
    token-store headers. ``headers`` is a case-insensitive mapping."""
    tokens = []
    authorization = headers.get(BEARER) or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        tokens.append(value.strip())
    for name in TOKEN_STORE_HEADERS:
        value = (headers.get(name) or "").strip()
        if value:
            tokens.append(value)
    return tokens


def first_verified(tokens: Iterable[str], config: EntraConfig) -> dict[str, Any]:
    """The claims of the first of ``tokens`` that verifies; :class:`InvalidToken` with the
    first token's reason when none does (or when there is none)."""
    first: InvalidToken | None = None
    for token in tokens:
        try:
            return verify_token(token, config)
        except InvalidToken as exc:
            first = first or exc
    raise first or InvalidToken("no Microsoft Entra ID token")
