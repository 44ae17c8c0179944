"""A double of Microsoft Entra ID's key endpoint, and tokens signed with its test key.

:class:`EntraDouble` serves the tenant's JSON Web Key Set at
``<authority>/<tenant>/discovery/v2.0/keys`` on 127.0.0.1 (the shape Entra publishes:
``{"keys": [{"kty": "RSA", "use": "sig", "kid", "n", "e"}]}``,
https://learn.microsoft.com/entra/identity-platform/signing-key-rollover) and mints RS256
tokens with the claims Entra puts in access and ID tokens
(https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TENANT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (Entra signs with RSA 2048)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class EntraDouble:
    """The key endpoint of one tenant; ``authority`` is its base URL (``ENTRA_AUTHORITY``)."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = uuid.uuid4().hex
        self.requests = 0
        self.available = True
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                double.requests += 1
                if not double.available:
                    self.send_error(503)
                    return
                if self.path != f"/{TENANT_ID}/discovery/v2.0/keys":
                    self.send_error(404)
                    return
                jwk = json.loads(RSAAlgorithm.to_jwk(double.key.public_key()))
                body = json.dumps(
                    {"keys": [{**jwk, "kid": double.kid, "use": "sig", "alg": "RS256"}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.authority = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EntraDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def issuer(self) -> str:
        """The v2.0 issuer of the tenant at this authority."""
        return f"{self.authority}/{TENANT_ID}/v2.0"

    def settings(self) -> dict[str, str]:
        """App settings that make the app accept this tenant's tokens."""
        return {
            "AUTH_MODE": "entra",
            "ENTRA_TENANT_ID": TENANT_ID,
            "ENTRA_CLIENT_ID": CLIENT_ID,
            "ENTRA_AUTHORITY": self.authority,
        }

    def token(
        self,
        *roles: str,
        oid: str = "oid-entra-admin",
        name: str = "Erin Entra",
        audience: str = f"api://{CLIENT_ID}",
        issuer: str | None = None,
        lifetime_s: int = 3600,
        issued_ago_s: int = 0,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """An RS256 token of this tenant (access token shape; pass ``audience=CLIENT_ID`` for
        an ID token) with the app ``roles``; every check can be broken by an argument."""
        now = int(time.time()) - issued_ago_s
        body: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "tid": TENANT_ID,
            "oid": oid,
            "sub": f"sub-{oid}",
            "name": name,
            "ver": "2.0",
            **claims,
        }
        if roles:
            body["roles"] = list(roles)
        signer = key or self.key
        return jwt.encode(body, signer, algorithm="RS256", headers={"kid": kid or self.kid})


@contextmanager
def entra_double() -> Iterator[EntraDouble]:
    """A running :class:`EntraDouble`."""
    with EntraDouble() as double:
        yield double
