"""Where the app keeps secrets it writes: each connection's Snapchat refresh token.

In Azure: Key Vault through ``azure-keyvault-secrets`` and the app's managed identity
(``KEY_VAULT_URI``). Without that setting: a JSON file for local development only, which
refuses to start when the code runs in Azure. The Snapchat client *secret* is not here: it
is an app setting that Azure resolves from a Key Vault reference.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from shared.config import ConfigError, Settings


class SecretStore(Protocol):
    """Get, set and delete secrets by name (names: letters, digits and hyphens)."""

    def get(self, name: str) -> str | None:
        """The current value, or ``None`` when there is none."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store a new current value."""
        ...

    def delete(self, name: str) -> None:
        """Delete the secret (no error when it does not exist)."""
        ...


def refresh_token_secret_name(connection_id: str) -> str:
    """Key Vault secret name of a connection's Snapchat refresh token."""
    return f"snapchat-refresh-token-{connection_id}"


class KeyVaultSecretStore:
    """A :class:`SecretStore` over Azure Key Vault (RBAC: Key Vault Secrets Officer).

    ``set`` on a name that was deleted but is still recoverable (soft delete; purge
    protection forbids purging) recovers it first, then sets the new value.
    """

    def __init__(self, vault_url: str, credential: object, **client_options: object) -> None:
        from azure.keyvault.secrets import SecretClient

        self._client = SecretClient(vault_url, credential, **client_options)  # type: ignore[arg-type]

    def get(self, name: str) -> str | None:
        try:
            return self._client.get_secret(name).value
        except ResourceNotFoundError:
            return None

    def set(self, name: str, value: str) -> None:
        try:
            self._client.set_secret(name, value, content_type="text/plain")
        except (ResourceExistsError, HttpResponseError) as exc:
            if getattr(exc, "status_code", None) != 409:
                raise
            self._client.begin_recover_deleted_secret(name).wait()
            self._client.set_secret(name, value, content_type="text/plain")

    def delete(self, name: str) -> None:
        try:
            self._client.begin_delete_secret(name).wait()
        except ResourceNotFoundError:
            return


class LocalFileSecretStore:
    """A :class:`SecretStore` in a local JSON file (mode 0600), for development only."""

    def __init__(self, path: Path, *, running_in_azure: bool = False) -> None:
        if running_in_azure:
            raise ConfigError(
                "KEY_VAULT_URI is not set: the local file secret store is for development "
                "only and refuses to run in Azure"
            )
        self._path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save(self, data: dict[str, str]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, self._path)

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._load().get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            data = self._load()
            data[name] = value
            self._save(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._load()
            if data.pop(name, None) is not None:
                self._save(data)


_stores: dict[tuple[str, str], SecretStore] = {}
_stores_lock = threading.Lock()


def secret_store(settings: Settings) -> SecretStore:
    """The process's secret store for these settings (Key Vault when ``KEY_VAULT_URI``)."""
    vault = settings.get("KEY_VAULT_URI")
    key = ("kv", vault) if vault else ("file", settings.require("LOCAL_SECRETS_FILE"))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            if vault:
                from shared.storage_clients import azure_credential

                store = KeyVaultSecretStore(vault, azure_credential())
            else:
                store = LocalFileSecretStore(
                    Path(key[1]), running_in_azure=settings.running_in_azure
                )
            _stores[key] = store
        return store
