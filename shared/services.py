"""Everything a trigger needs, built once per process from the settings.

Tests build :class:`Services` from their own :class:`~shared.config.Settings` (Azurite,
the Snap sandbox, a Key Vault double) and call the same code the triggers call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shared import layout
from shared.cdm_export import ExportStore
from shared.config import Settings, get_settings
from shared.csv_source import SourceError
from shared.queues import StorageQueueSender
from shared.secrets import SecretStore, refresh_token_secret_name, secret_store
from shared.snapchat import AccessTokenCache, RefreshTokenStore, SnapchatClient, SnapOAuth
from shared.snapchat.rate_limit import SharedRateLimiter
from shared.state_store import StateStore
from shared.storage_clients import (
    BlobExportStore,
    exports_blob_service,
    host_blob_service,
    host_queue_service,
)


@dataclass
class Services:
    """Clients for one set of settings. ``snapchat(connection_id)`` caches per connection."""

    settings: Settings
    state: StateStore
    staging: StateStore
    queues: StorageQueueSender
    secrets: SecretStore
    _clients: dict[str, SnapchatClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def exports_store(self, container: str | None = None, *, quick: bool = False) -> ExportStore:
        """Read access to the Customer Insights export container (``quick``: one attempt
        per call with bounded waits, for checks an HTTP request waits for).

        Raises :class:`~shared.csv_source.SourceError` for a container that is not among
        :attr:`~shared.config.Settings.exports_containers`."""
        name = container or self.settings.require("EXPORTS_CONTAINER")
        if name not in self.settings.exports_containers:
            raise SourceError(
                f"container '{name}' is not one this app reads exports from "
                "(EXPORTS_CONTAINER, EXPORTS_OTHER_CONTAINERS)"
            )
        service = exports_blob_service(self.settings, quick=quick)
        return BlobExportStore(service.get_container_client(name))

    def oauth(self) -> SnapOAuth:
        """The Snap OAuth client of this app (client id and secret from app settings)."""
        return SnapOAuth(
            self.settings.snapchat_accounts_url,
            self.settings.require("SNAPCHAT_CLIENT_ID"),
            self.settings.require("SNAPCHAT_CLIENT_SECRET"),
            timeout_s=self.settings.snapchat_timeout_s,
            retry_budget_s=min(60.0, self.settings.snapchat_retry_budget_s),
        )

    def snapchat(self, connection_id: str) -> SnapchatClient:
        """The Snap API client of a connection: one token cache, and the deployment-wide rate
        schedule in host storage (``SNAPCHAT_MAX_REQUESTS_PER_SECOND`` per connection, twice
        that for the app)."""
        with self._lock:
            client = self._clients.get(connection_id)
            if client is None:
                name = refresh_token_secret_name(connection_id)
                store = RefreshTokenStore(
                    get=lambda: self.secrets.get(name),
                    put=lambda value: self.secrets.set(name, value),
                )
                client = SnapchatClient(
                    self.settings.snapchat_api_url,
                    AccessTokenCache(self.oauth(), store),
                    rate_limiter=SharedRateLimiter(
                        self.state,
                        layout.SNAPCHAT_RATE_SCHEDULE,
                        connection_id,
                        self.settings.snapchat_max_rps,
                        2 * self.settings.snapchat_max_rps,
                    ),
                    timeout_s=self.settings.snapchat_timeout_s,
                    retry_budget_s=self.settings.snapchat_retry_budget_s,
                )
                self._clients[connection_id] = client
            return client

    def forget_connection(self, connection_id: str) -> None:
        """Drop a connection's cached client (after sign-in changes or deletion)."""
        with self._lock:
            self._clients.pop(connection_id, None)


def build_services(settings: Settings, *, create_resources: bool = False) -> Services:
    """Services for ``settings``. ``create_resources`` creates containers and queues
    (local runs and tests; in Azure, Bicep creates them)."""
    blobs = host_blob_service(settings)
    state = StateStore(blobs.get_container_client(settings.state_container))
    staging = StateStore(blobs.get_container_client(settings.staging_container))
    queues = StorageQueueSender(host_queue_service(settings), create=create_resources)
    if create_resources:
        state.ensure()
        staging.ensure()
        queues.ensure(settings.run_queue)
        queues.ensure(settings.batch_queue)
    return Services(
        settings=settings,
        state=state,
        staging=staging,
        queues=queues,
        secrets=secret_store(settings),
    )


_services: Services | None = None
_services_lock = threading.Lock()


def get_services() -> Services:
    """The process-wide services for :func:`~shared.config.get_settings` (built lazily)."""
    global _services
    with _services_lock:
        if _services is None:
            from shared.telemetry import configure

            settings = get_settings()
            configure(settings)
            _services = build_services(settings, create_resources=not settings.running_in_azure)
        return _services


def set_services(services: Services | None) -> None:
    """Replace the process-wide services (tests and the local host)."""
    global _services
    with _services_lock:
        _services = services
