"""Secret stores: Key Vault (real SDK against the REST double) and the local file store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from devtools.snap_sandbox import SnapSandbox
from shared.config import ConfigError
from shared.secrets import KeyVaultSecretStore, LocalFileSecretStore
from shared.snapchat import AccessTokenCache, RefreshTokenStore, SnapOAuth
from tests.kv_double import VAULT, FakeCredential, KeyVaultDouble


@pytest.fixture
def vault() -> Iterator[KeyVaultDouble]:
    double = KeyVaultDouble()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        double.install(mock)
        mock.add_passthru("http://127.0.0.1")
        yield double


def test_key_vault_store_set_get_rotate_delete_and_recover(vault: KeyVaultDouble) -> None:
    store = KeyVaultSecretStore(VAULT, FakeCredential())
    assert store.get("snapchat-refresh-token-c1") is None
    store.set("snapchat-refresh-token-c1", "first")
    store.set("snapchat-refresh-token-c1", "second")
    assert store.get("snapchat-refresh-token-c1") == "second"
    assert len(vault.versions["snapchat-refresh-token-c1"]) == 2
    assert ("GET", "/secrets/snapchat-refresh-token-c1/") in vault.calls
    store.delete("snapchat-refresh-token-c1")
    assert store.get("snapchat-refresh-token-c1") is None
    assert "snapchat-refresh-token-c1" in vault.deleted  # soft-deleted, as Key Vault does
    store.delete("snapchat-refresh-token-c1")  # deleting again is not an error
    # The name is deleted-but-recoverable (purge protection): set recovers, then writes.
    store.set("snapchat-refresh-token-c1", "third")
    assert store.get("snapchat-refresh-token-c1") == "third"
    assert ("POST", "/deletedsecrets/snapchat-refresh-token-c1/recover") in vault.calls


def test_rotated_refresh_token_is_written_back_to_key_vault(
    vault: KeyVaultDouble, sandbox: SnapSandbox
) -> None:
    sandbox.configure(rotate_refresh_tokens=True)
    store = KeyVaultSecretStore(VAULT, FakeCredential())
    name = "snapchat-refresh-token-c2"
    first = sandbox.issue_tokens()["refresh_token"]
    store.set(name, first)
    oauth = SnapOAuth(sandbox.url, "sandbox-client-id", "sandbox-client-secret")
    cache = AccessTokenCache(
        oauth, RefreshTokenStore(lambda: store.get(name), lambda v: store.set(name, v))
    )
    assert cache.token()
    rotated = store.get(name)
    assert rotated and rotated != first
    # Another instance still holding the old token recovers by re-reading the vault.
    other = AccessTokenCache(
        oauth, RefreshTokenStore(lambda: store.get(name), lambda v: store.set(name, v))
    )
    assert other.token()


def test_local_store_is_private_and_refuses_azure(tmp_path: Path) -> None:
    store = LocalFileSecretStore(tmp_path / "s" / "secrets.json")
    store.set("a", "1")
    assert store.get("a") == "1"
    assert oct(os.stat(tmp_path / "s" / "secrets.json").st_mode & 0o777) == "0o600"
    store.delete("a")
    assert store.get("a") is None
    with pytest.raises(ConfigError, match="refuses to run in Azure"):
        LocalFileSecretStore(tmp_path / "x.json", running_in_azure=True)


@pytest.mark.parametrize(("expires_in", "refresh_at"), [(1800, 1500.0), (60, 30.0)])
def test_access_token_is_reused_until_shortly_before_expires_in(
    sandbox: SnapSandbox, expires_in: int, refresh_at: float
) -> None:
    sandbox.configure(expires_in=expires_in)
    refresh_token = sandbox.issue_tokens()["refresh_token"]
    oauth = SnapOAuth(sandbox.url, "sandbox-client-id", "sandbox-client-secret")
    now = [0.0]
    cache = AccessTokenCache(
        oauth, RefreshTokenStore(lambda: refresh_token, lambda _: None), clock=lambda: now[0]
    )

    def token_requests() -> int:
        return sum(1 for r in sandbox.requests() if r["path"].endswith("/oauth2/access_token"))

    first = cache.token()
    assert token_requests() == 1
    now[0] = refresh_at - 1  # within expires_in less the margin (300 s, at most half)
    assert cache.token() == first and token_requests() == 1
    now[0] = refresh_at + 1
    second = cache.token()
    assert second != first and token_requests() == 2
    assert cache.refreshes == 2
