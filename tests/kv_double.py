"""A faithful HTTP double of the Azure Key Vault secrets REST API, served through `responses`.

It intercepts the real ``azure-keyvault-secrets`` client at the HTTP layer and implements
what the app uses, with Key Vault's semantics (api-version 7.x):

* the bearer challenge: a request without ``Authorization`` gets 401 with
  ``WWW-Authenticate: Bearer authorization=..., resource="https://vault.azure.net"``;
* ``PUT /secrets/{name}`` (new version), ``GET /secrets/{name}[/{version}]`` (404
  ``SecretNotFound``), ``DELETE /secrets/{name}`` (soft delete: the name then answers 409
  ``Conflict`` on PUT until it is recovered or purged), ``GET /deletedsecrets/{name}``,
  ``POST /deletedsecrets/{name}/recover`` and ``DELETE /deletedsecrets/{name}`` (purge,
  refused with 403 when purge protection is on).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import responses
from azure.core.credentials import AccessToken, AccessTokenInfo

VAULT = "https://test-vault.vault.azure.net"
_SECRET = re.compile(rf"{re.escape(VAULT)}/secrets/(?P<name>[A-Za-z0-9-]+)/?(?P<version>[0-9a-f]*)")
_DELETED = re.compile(
    rf"{re.escape(VAULT)}/deletedsecrets/(?P<name>[A-Za-z0-9-]+)(?P<recover>/recover)?"
)


class FakeCredential:
    """A token credential that hands out a fixed token (the double checks it)."""

    token = "kv-test-token"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class KeyVaultDouble:
    """In-memory vault state plus the `responses` callbacks that serve it."""

    def __init__(self, *, purge_protection: bool = True) -> None:
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.deleted: dict[str, list[dict[str, Any]]] = {}
        self.purge_protection = purge_protection
        self.calls: list[tuple[str, str]] = []

    # -- wiring ---------------------------------------------------------------------------
    def install(self, mock: responses.RequestsMock) -> None:
        for method in ("GET", "PUT", "DELETE", "POST"):
            mock.add_callback(
                method, re.compile(rf"{re.escape(VAULT)}/.*"), callback=self._dispatch
            )

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = request.url.split("?")[0]
        self.calls.append((request.method, url[len(VAULT) :]))
        if "api-version=" not in request.url:
            return self._error(400, "BadParameter", "api-version is required")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return (
                401,
                {
                    "WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                    '00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"'
                },
                json.dumps({"error": {"code": "Unauthorized", "message": "AKV10000"}}),
            )
        if auth != f"Bearer {FakeCredential.token}":
            return self._error(401, "Unauthorized", "bad token")
        deleted = _DELETED.fullmatch(url)
        if deleted:
            return self._deleted(request.method, deleted["name"], bool(deleted["recover"]))
        secret = _SECRET.fullmatch(url)
        if secret:
            return self._secret(request, secret["name"], secret["version"])
        return self._error(404, "NotFound", "no such operation")

    # -- operations -----------------------------------------------------------------------
    def _secret(self, request: Any, name: str, version: str) -> tuple[int, dict[str, str], str]:
        if request.method == "PUT":
            if name in self.deleted:
                return self._error(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its "
                    "name cannot be reused; in this state, the secret can only be recovered "
                    "or purged.",
                )
            body = json.loads(request.body or b"{}")
            bundle = self._bundle(name, body["value"], body.get("contentType"))
            self.versions.setdefault(name, []).append(bundle)
            return self._ok(bundle)
        if request.method == "GET":
            versions = self.versions.get(name)
            if not versions:
                return self._error(
                    404,
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault.",
                )
            if version:
                found = [b for b in versions if b["id"].endswith("/" + version)]
                return (
                    self._ok(found[0])
                    if found
                    else self._error(404, "SecretNotFound", "no such version")
                )
            return self._ok(versions[-1])
        if request.method == "DELETE":
            versions = self.versions.pop(name, None)
            if not versions:
                return self._error(
                    404,
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault.",
                )
            self.deleted[name] = versions
            return self._ok(self._deleted_bundle(name, versions[-1]))
        return self._error(405, "MethodNotAllowed", request.method)

    def _deleted(self, method: str, name: str, recover: bool) -> tuple[int, dict[str, str], str]:
        versions = self.deleted.get(name)
        if versions is None:
            return self._error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        if recover and method == "POST":
            self.versions[name] = self.deleted.pop(name)
            return self._ok(versions[-1])
        if method == "GET":
            return self._ok(self._deleted_bundle(name, versions[-1]))
        if method == "DELETE":
            if self.purge_protection:
                return self._error(
                    403, "Forbidden", "Operation 'purge' is not allowed (purge protection)"
                )
            del self.deleted[name]
            return 204, {}, ""
        return self._error(405, "MethodNotAllowed", method)

    # -- shapes ---------------------------------------------------------------------------
    def _bundle(self, name: str, value: str, content_type: str | None) -> dict[str, Any]:
        now = int(time.time())
        bundle: dict[str, Any] = {
            "value": value,
            "id": f"{VAULT}/secrets/{name}/{uuid.uuid4().hex}",
            "attributes": {
                "enabled": True,
                "created": now,
                "updated": now,
                "recoveryLevel": "Recoverable",
                "recoverableDays": 90,
            },
        }
        if content_type:
            bundle["contentType"] = content_type
        return bundle

    def _deleted_bundle(self, name: str, bundle: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        return {
            **{k: v for k, v in bundle.items() if k != "value"},
            "recoveryId": f"{VAULT}/deletedsecrets/{name}",
            "deletedDate": now,
            "scheduledPurgeDate": now + 90 * 86400,
        }

    def _ok(self, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)

    def _error(self, status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
        body = json.dumps({"error": {"code": code, "message": message}})
        return status, {"Content-Type": "application/json; charset=utf-8"}, body
