"""App settings: one frozen object, read once, from the environment first.

Order of precedence: environment variables (app settings in Azure:
https://learn.microsoft.com/azure/azure-functions/functions-app-settings),
then the ``Values`` of ``local.settings.json`` in the working directory, then the defaults
below. Every setting the code reads is listed in :data:`APP_SETTINGS`, which the
infrastructure tests compare with the Bicep app settings.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Setting name -> default (``None`` means "no default"). Kept in one place so that
#: ``infra/`` and ``local.settings.example.json`` can be checked against it.
APP_SETTINGS: dict[str, str | None] = {
    # Host storage (queues, run state, staging). Locally a connection string; in Azure the
    # identity-based ``AzureWebJobsStorage__*`` settings below.
    "AzureWebJobsStorage": None,
    "AzureWebJobsStorage__accountName": None,
    "AzureWebJobsStorage__blobServiceUri": None,
    "AzureWebJobsStorage__queueServiceUri": None,
    "AzureWebJobsStorage__clientId": None,
    "AZURE_CLIENT_ID": None,
    # Queues and containers of this app.
    "RUN_QUEUE_NAME": "export-runs",
    "BATCH_QUEUE_NAME": "upload-batches",
    "STATE_CONTAINER": "snap-audience-state",
    "STAGING_CONTAINER": "snap-audience-staging",
    # Where Customer Insights writes its exports (defaults to host storage).
    "EXPORTS_ACCOUNT_URL": None,
    "EXPORTS_CONNECTION_STRING": None,
    "EXPORTS_CONTAINER": "customer-insights",
    # Other containers of the exports account an export's source may name (comma-separated;
    # none by default): the app's identity may read more of the account than exports.
    "EXPORTS_OTHER_CONTAINERS": "",
    "EXPORTS_PREFIX": "",
    # Schedules and data rules.
    "REFRESH_SCHEDULE": "0 0 3 * * *",
    "DEFAULT_PHONE_REGION": "US",
    "MASS_REMOVAL_THRESHOLD": "0.5",
    "REMOVE_CHUNK_SIZE": "10000",
    # Snap Marketing API.
    "SNAPCHAT_API_URL": "https://adsapi.snapchat.com",
    "SNAPCHAT_ACCOUNTS_URL": "https://accounts.snapchat.com",
    "SNAPCHAT_CLIENT_ID": None,
    "SNAPCHAT_CLIENT_SECRET": None,
    "SNAPCHAT_MAX_REQUESTS_PER_SECOND": "8",
    "SNAPCHAT_RETRY_BUDGET_SECONDS": "120",
    "SNAPCHAT_REQUEST_TIMEOUT_SECONDS": "60",
    # Who may call the API: Microsoft Entra ID tokens verified by the app (shared.api.entra).
    # AUTH_MODE "entra" in Azure; "local" (never in Azure) trusts X-MS-CLIENT-PRINCIPAL as
    # sent and, with LOCAL_DEV_ROLES, lets requests without identity act as a local user.
    "AUTH_MODE": "entra",
    "LOCAL_DEV_ROLES": None,
    "ENTRA_TENANT_ID": None,
    "ENTRA_CLIENT_ID": None,
    "ENTRA_AUDIENCES": None,
    "ENTRA_AUTHORITY": "https://login.microsoftonline.com",
    # Secrets and the public address of the app (OAuth redirect).
    "KEY_VAULT_URI": None,
    "LOCAL_SECRETS_FILE": ".local/secrets.json",
    "PUBLIC_BASE_URL": "http://127.0.0.1:7071",
    # Telemetry.
    "APPLICATIONINSIGHTS_CONNECTION_STRING": None,
}

#: Environment variables that exist only when the code runs on Azure App Service / Functions.
AZURE_HOST_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")

DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"

#: Values of ``AUTH_MODE``.
AUTH_MODE_ENTRA = "entra"
AUTH_MODE_LOCAL = "local"


class ConfigError(RuntimeError):
    """A setting is missing or unusable. The message names the setting, never its value."""


def on_azure_host(environ: Mapping[str, str] | None = None) -> bool:
    """True when a marker of the App Service / Functions host is in the environment
    (``WEBSITE_INSTANCE_ID``, ``WEBSITE_SITE_NAME``: set by the platform on every instance,
    https://learn.microsoft.com/azure/app-service/reference-app-settings)."""
    env = os.environ if environ is None else environ
    return any(env.get(m) for m in AZURE_HOST_MARKERS)


def refuse_local_auth_in_azure(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to run on an Azure host with a local-development authentication setting.

    ``AUTH_MODE=local`` trusts an identity header any caller can write, and
    ``LOCAL_DEV_ROLES`` grants roles to callers without any identity: both are for a developer's
    machine only. Called when ``function_app`` is imported, so the host fails to load the app
    (nothing is served) rather than serve it open. Reads the environment only (app settings are
    environment variables in Azure). Raises :class:`ConfigError` naming the setting.
    """
    env = os.environ if environ is None else environ
    if not on_azure_host(env):
        return
    mode = (env.get("AUTH_MODE") or AUTH_MODE_ENTRA).strip().lower()
    if mode != AUTH_MODE_ENTRA:
        raise ConfigError(
            f"app setting AUTH_MODE must be '{AUTH_MODE_ENTRA}' on Azure; the local mode "
            "trusts identity headers any caller can forge"
        )
    if (env.get("LOCAL_DEV_ROLES") or "").strip():
        raise ConfigError(
            "app setting LOCAL_DEV_ROLES is for local development only and must not be set on "
            "Azure: it gives every caller without an identity those roles"
        )


def _local_settings_values(path: Path) -> Mapping[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON: {exc.__class__.__name__}") from None
    values = data.get("Values", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


@dataclass(frozen=True)
class Settings:
    """All app settings, resolved. Build with :meth:`from_env`; tests pass ``overrides``.

    ``values`` holds every resolved setting by its app-setting name; typed properties
    give the ones the code needs, with units in their names.
    """

    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        local_settings: Path | None = Path("local.settings.json"),
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """Resolve settings: ``overrides`` > environment > ``local.settings.json`` > defaults."""
        env = os.environ if environ is None else environ
        local = _local_settings_values(local_settings) if local_settings else {}
        resolved: dict[str, str] = {}
        for name, default in APP_SETTINGS.items():
            value = env.get(name, local.get(name, default))
            if value is not None:
                resolved[name] = value
        # Keep unknown local values too (e.g. FUNCTIONS_WORKER_RUNTIME) for completeness.
        for name, value in local.items():
            resolved.setdefault(name, value)
        if overrides:
            resolved.update(overrides)
        return cls(values=resolved)

    # -- helpers -------------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """The raw value of a setting, or ``None``."""
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def require(self, name: str) -> str:
        """The value of a required setting; :class:`ConfigError` naming it when missing."""
        value = self.get(name)
        if value is None:
            raise ConfigError(f"app setting {name} is required but not set")
        return value

    def _number(self, name: str) -> float:
        raw = self.require(name)
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"app setting {name} must be a number") from None

    # -- typed views ---------------------------------------------------------------------
    @property
    def running_in_azure(self) -> bool:
        """True when a marker of the App Service / Functions host is in the environment."""
        return on_azure_host()

    @property
    def auth_mode(self) -> str:
        """``entra`` (tokens verified by the app) or ``local`` (development only).

        ``LOCAL_DEV_ROLES`` implies ``local``. :class:`ConfigError` for another value, and for
        the local mode on an Azure host (see :func:`refuse_local_auth_in_azure`).
        """
        mode = (self.get("AUTH_MODE") or AUTH_MODE_ENTRA).strip().lower()
        if mode not in (AUTH_MODE_ENTRA, AUTH_MODE_LOCAL):
            raise ConfigError(
                f"app setting AUTH_MODE must be '{AUTH_MODE_ENTRA}' or '{AUTH_MODE_LOCAL}'"
            )
        if self.get("LOCAL_DEV_ROLES"):
            mode = AUTH_MODE_LOCAL
        if mode == AUTH_MODE_LOCAL:
            roles = self.get("LOCAL_DEV_ROLES") or ""
            refuse_local_auth_in_azure({**os.environ, "AUTH_MODE": mode, "LOCAL_DEV_ROLES": roles})
        return mode

    @property
    def local_dev_roles(self) -> tuple[str, ...]:
        """Roles of the local user that requests without identity act as (``LOCAL_DEV_ROLES``,
        comma-separated, e.g. ``Admin`` or ``Viewer``); empty when unset."""
        raw = self.get("LOCAL_DEV_ROLES") or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    @property
    def storage_connection_string(self) -> str | None:
        """Host storage as a connection string (local), or ``None`` for identity-based."""
        value = self.get("AzureWebJobsStorage")
        if value is None and self.get("AzureWebJobsStorage__accountName") is None:
            if self.get("AzureWebJobsStorage__blobServiceUri") is None:
                return DEVELOPMENT_STORAGE
        return value

    @property
    def blob_service_url(self) -> str:
        """Blob endpoint of host storage for identity-based access."""
        uri = self.get("AzureWebJobsStorage__blobServiceUri")
        if uri:
            return uri
        account = self.require("AzureWebJobsStorage__accountName")
        return f"https://{account}.blob.core.windows.net"

    @property
    def queue_service_url(self) -> str:
        """Queue endpoint of host storage for identity-based access."""
        uri = self.get("AzureWebJobsStorage__queueServiceUri")
        if uri:
            return uri
        account = self.require("AzureWebJobsStorage__accountName")
        return f"https://{account}.queue.core.windows.net"

    @property
    def run_queue(self) -> str:
        return self.require("RUN_QUEUE_NAME")

    @property
    def batch_queue(self) -> str:
        return self.require("BATCH_QUEUE_NAME")

    @property
    def state_container(self) -> str:
        return self.require("STATE_CONTAINER")

    @property
    def staging_container(self) -> str:
        return self.require("STAGING_CONTAINER")

    @property
    def exports_containers(self) -> tuple[str, ...]:
        """The containers an export may read: ``EXPORTS_CONTAINER``, then each of
        ``EXPORTS_OTHER_CONTAINERS`` (comma-separated), never this app's state or staging
        container. In the default deployment the exports live in host storage, where the
        app's identity may read every container (the Functions host's secrets and deployment
        packages too), so a saved export may name only these."""
        names = [self.get("EXPORTS_CONTAINER") or ""]
        names += (self.get("EXPORTS_OTHER_CONTAINERS") or "").split(",")
        own = (self.state_container, self.staging_container)
        return tuple(dict.fromkeys(n.strip() for n in names if n.strip() and n.strip() not in own))

    @property
    def default_phone_region(self) -> str:
        """Region for phone numbers without a country code; :class:`ConfigError` if unknown."""
        from shared.identifiers import phone_region  # phonenumbers is heavy: load on use

        try:
            return phone_region(self.require("DEFAULT_PHONE_REGION"))
        except ValueError:
            raise ConfigError(
                "app setting DEFAULT_PHONE_REGION must be an ISO 3166-1 alpha-2 region such "
                "as US, GB or NO (the United Kingdom is GB, not UK)"
            ) from None

    @property
    def mass_removal_threshold(self) -> float:
        """Share of the audience (0..1) a run may remove without ``allow_mass_removal``."""
        value = self._number("MASS_REMOVAL_THRESHOLD")
        if not 0 <= value <= 1:
            raise ConfigError("app setting MASS_REMOVAL_THRESHOLD must be between 0 and 1")
        return value

    @property
    def remove_chunk_size(self) -> int:
        """Identifiers per DELETE request (1..100,000): large DELETE bodies have failed
        elsewhere (https://github.com/facebook/facebook-python-business-sdk/issues/367)."""
        value = int(self._number("REMOVE_CHUNK_SIZE"))
        if not 1 <= value <= 100_000:
            raise ConfigError("app setting REMOVE_CHUNK_SIZE must be between 1 and 100000")
        return value

    @property
    def snapchat_api_url(self) -> str:
        return self.require("SNAPCHAT_API_URL").rstrip("/")

    @property
    def snapchat_accounts_url(self) -> str:
        return self.require("SNAPCHAT_ACCOUNTS_URL").rstrip("/")

    @property
    def snapchat_max_rps(self) -> float:
        """Requests per second this instance sends per access token (Snap allows ~10)."""
        return self._number("SNAPCHAT_MAX_REQUESTS_PER_SECOND")

    @property
    def snapchat_retry_budget_s(self) -> float:
        """Seconds one call may spend retrying 429/5xx/transport errors before giving up."""
        return self._number("SNAPCHAT_RETRY_BUDGET_SECONDS")

    @property
    def snapchat_timeout_s(self) -> float:
        """Seconds to wait for one HTTP response from Snap."""
        return self._number("SNAPCHAT_REQUEST_TIMEOUT_SECONDS")

    @property
    def public_base_url(self) -> str:
        return self.require("PUBLIC_BASE_URL").rstrip("/")

    @property
    def oauth_redirect_uri(self) -> str:
        """The redirect URI registered on the Snap OAuth app."""
        return f"{self.public_base_url}/api/oauth/snapchat/callback"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, resolved at first use (never at import)."""
    return Settings.from_env()
