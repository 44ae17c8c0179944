"""Checks of a deployed app, made from inside it with its own identity and settings.

What only the running app can tell (``GET /api/diagnostics``, read by
``python -m shared verify-deployment``): whether the platform resolved the Key Vault
references of its app settings, whether its managed identity reaches host storage (the
containers and queues it uses), the Customer Insights export container and the token Key
Vault, whether the Functions host loaded the timer, and whether Entra ID's signing keys are
reachable. Each check answers ok or not with a short detail: statuses, names and error
classes only, never a secret's value, a token or an identifier.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shared.config import AUTH_MODE_ENTRA, ConfigError
from shared.services import Services
from shared.storage_clients import host_blob_service, host_queue_service

#: How App Service writes a Key Vault reference in an app setting. When the platform cannot
#: resolve it, the app sees this text instead of the secret
#: (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#troubleshooting-key-vault-references).
KEY_VAULT_REFERENCE_PREFIX = "@Microsoft.KeyVault("
#: Settings holding Key Vault references (the second only when Easy Auth has a credential).
SECRET_SETTINGS = ("SNAPCHAT_CLIENT_SECRET", "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET")
#: Where the Functions host records a timer's schedule status (``useMonitor``):
#: ``azure-webjobs-hosts/timers/<host id>/<function id>/status``, JSON with ``Last``, ``Next``
#: and ``LastUpdated`` (azure-webjobs-sdk-extensions ``StorageScheduleMonitor``,
#: https://github.com/Azure/azure-webjobs-sdk-extensions/blob/dev/src/WebJobs.Extensions/Extensions/Timers/Scheduling/StorageScheduleMonitor.cs).
HOST_CONTAINER = "azure-webjobs-hosts"
TIMER_FUNCTION = "scheduled_refresh"


@dataclass(frozen=True)
class Check:
    """One line of the report: ``name``, ``ok`` and a ``detail`` fit for any reader."""

    name: str
    ok: bool
    detail: str


def _failure(exc: Exception) -> str:
    """A safe description of an Azure SDK error: its class and HTTP status, no message text
    (which can carry URLs with signatures)."""
    status = getattr(exc, "status_code", None)
    return f"{exc.__class__.__name__}" + (f" (HTTP {status})" if status else "")


def secret_setting_checks(values: dict[str, str], *, running_in_azure: bool) -> list[Check]:
    """Whether each Key Vault-referenced setting was resolved (never its value)."""
    checks = []
    for name in SECRET_SETTINGS:
        value = values.get(name) or ""
        if not value:
            if name == "SNAPCHAT_CLIENT_SECRET":
                checks.append(Check(f"app setting {name}", False, "missing"))
            continue
        if value.startswith(KEY_VAULT_REFERENCE_PREFIX):
            checks.append(
                Check(
                    f"app setting {name}",
                    False,
                    "the Key Vault reference is not resolved (the app sees the reference "
                    "text): check the secret exists and the identity may read it",
                )
            )
            continue
        where = "resolved from Key Vault" if running_in_azure else "set"
        checks.append(Check(f"app setting {name}", True, where))
    return checks


def _probe(name: str, action: Callable[[], object]) -> Check:
    try:
        action()
    except ConfigError as exc:
        return Check(name, False, str(exc))
    except (AzureError, OSError, ValueError) as exc:
        return Check(name, False, _failure(exc))
    return Check(name, True, "reachable")


def storage_checks(services: Services) -> list[Check]:
    """Host storage containers and queues, and the Customer Insights export container."""
    settings = services.settings
    blobs = host_blob_service(settings)
    queues = host_queue_service(settings)
    checks = []
    for container in (settings.state_container, settings.staging_container):
        client = blobs.get_container_client(container)
        checks.append(_probe(f"container {container}", client.get_container_properties))
    for base in (settings.run_queue, settings.batch_queue):
        for queue in (base, f"{base}-poison"):
            queue_client = queues.get_queue_client(queue)
            checks.append(_probe(f"queue {queue}", queue_client.get_queue_properties))

    def exports() -> None:
        store = services.exports_store()
        next(iter(store.list(settings.get("EXPORTS_PREFIX") or "")), None)

    checks.append(_probe("Customer Insights export container", exports))
    return checks


def key_vault_check(services: Services) -> Check:
    """The token store answers a read (of a secret that does not exist) with the identity."""
    probe = f"diagnostics-probe-{uuid.uuid4().hex[:12]}"
    name = "Key Vault (refresh tokens)"
    if not services.settings.get("KEY_VAULT_URI"):
        return Check(name, not services.settings.running_in_azure, "not used (local file)")
    return _probe(name, lambda: services.secrets.get(probe))


def timer_check(services: Services) -> Check:
    """The host loaded the refresh timer: its schedule status blob exists."""
    container = host_blob_service(services.settings).get_container_client(HOST_CONTAINER)
    return timer_check_in(container)


def timer_check_in(container: Any) -> Check:
    """:func:`timer_check` over the host's container ``container`` (a ``ContainerClient``)."""
    name = f"timer {TIMER_FUNCTION}"
    try:
        for blob in container.list_blobs(name_starts_with="timers/"):
            parts = blob.name.split("/")
            if parts[-1] == "status" and parts[-2].split(".")[-1] == TIMER_FUNCTION:
                status = json.loads(container.download_blob(blob.name).readall() or b"{}")
                return Check(name, True, f"loaded; next occurrence {status.get('Next', '?')}")
    except ResourceNotFoundError:
        pass
    except (AzureError, ValueError) as exc:
        return Check(name, False, _failure(exc))
    return Check(
        name,
        False,
        "no schedule status yet: the Functions host writes it when it starts the timer",
    )


def identity_check(services: Services) -> Check:
    """Entra ID's signing keys are reachable (without them no caller can be verified)."""
    from shared.api import entra

    name = "Microsoft Entra ID signing keys"
    if services.settings.auth_mode != AUTH_MODE_ENTRA:
        return Check(name, not services.settings.running_in_azure, "not used (local mode)")
    try:
        config = entra.EntraConfig.from_settings(services.settings)
        keys = entra.signing_keys(config)
    except ConfigError as exc:
        return Check(name, False, str(exc))
    except entra.KeysUnavailable as exc:
        return Check(name, False, str(exc))
    return Check(name, True, f"{keys} key(s) published by the tenant")


def run_checks(services: Services) -> list[Check]:
    """Every check, in report order."""
    return [
        *secret_setting_checks(
            dict(services.settings.values), running_in_azure=services.settings.running_in_azure
        ),
        *storage_checks(services),
        key_vault_check(services),
        timer_check(services),
        identity_check(services),
    ]


def report(checks: list[Check]) -> dict[str, object]:
    """The JSON answer: ``{"ok": bool, "checks": [{"name", "ok", "detail"}, ...]}``."""
    return {
        "ok": all(c.ok for c in checks),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
