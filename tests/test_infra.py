"""Static checks of the Bicep deployment in ``infra/``.

Every ``infra/**/*.bicep`` file is parsed with pycep-parser (the parser checkov uses), and the
security and wiring invariants are asserted on the parsed structures: shared keys off, Key
Vault RBAC and purge protection on, no keys or connection strings, every role assignment a
known built-in role with the least privilege for its scope, every setting the code reads (and
every ``%SETTING%`` of a trigger) present in the app settings, poison queues created.

Each invariant is a ``check_*`` function that returns a list of problems, so the negative tests
at the end can run it on a mutated copy of ``infra/`` and prove that it can fail.

The parsed model of ``infra/`` (and pycep-parser's quirks worth knowing when editing the
Bicep) is in ``tests/bicep_model.py``.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lark.exceptions import LarkError

from shared.config import APP_SETTINGS
from tests.bicep_model import (
    INFRA,
    REPO,
    SITE_CONFIG,
    BicepFile,
    Infra,
    Resource,
    accessor_chain,
    mutated_infra,
    parse_bicep,
    strip_comments,
    walk,
)

FUNCTION_APP_PY = REPO / "function_app.py"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

# ------------------------------------------------------------------------------------------
# Reference data
# ------------------------------------------------------------------------------------------

#: Built-in role definition ids (identical in every tenant) -> role name.
KNOWN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "19e7f393-937e-4f77-808e-94535e297925": "Storage Queue Data Reader",
    "8a0f0c08-91a1-4084-bc3d-661d67233fed": "Storage Queue Data Message Processor",
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": "Storage Queue Data Message Sender",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "f25e0fa2-a7c8-4377-a976-54943a77a395": "Key Vault Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
ROLE_IDS = {name: guid for guid, name in KNOWN_ROLES.items()}

#: Roles that must never be granted by this deployment, at any scope.
FORBIDDEN_ROLES = {
    "Owner",
    "Contributor",
    "User Access Administrator",
    "Role Based Access Control Administrator",
    "Key Vault Administrator",
    "Key Vault Contributor",
    "Storage Account Contributor",
}

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
BLOB_CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
KEY_VAULT = "Microsoft.KeyVault/vaults"
APP_INSIGHTS = "Microsoft.Insights/components"
LOG_ANALYTICS = "Microsoft.OperationalInsights/workspaces"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"

#: Least privilege per scope type: the only roles the app's identity may hold there.
ALLOWED_ROLES_BY_SCOPE = {
    # Host storage: identity-based AzureWebJobsStorage, deployment, state and staging blobs.
    STORAGE_ACCOUNT: {"Storage Blob Data Owner", "Storage Queue Data Contributor"},
    # The Customer Insights exports container: read only.
    BLOB_CONTAINER: {"Storage Blob Data Reader"},
    # Config vault (read the client secret) / tokens vault (rewrite refresh tokens).
    KEY_VAULT: {"Key Vault Secrets User", "Key Vault Secrets Officer"},
    # Telemetry with local auth disabled.
    APP_INSIGHTS: {"Monitoring Metrics Publisher"},
}

#: Every (scope type, role) pair the design needs; anything more or less is a finding.
EXPECTED_ASSIGNMENTS = {
    (STORAGE_ACCOUNT, "Storage Blob Data Owner"),
    (STORAGE_ACCOUNT, "Storage Queue Data Contributor"),
    (BLOB_CONTAINER, "Storage Blob Data Reader"),
    (KEY_VAULT, "Key Vault Secrets User"),
    (KEY_VAULT, "Key Vault Secrets Officer"),
    (APP_INSIGHTS, "Monitoring Metrics Publisher"),
}

#: Settings of shared.config.APP_SETTINGS that exist only for local runs and must NOT be set
#: in Azure (name -> why).
LOCAL_ONLY_SETTINGS = {
    # Connection string (UseDevelopmentStorage=true, Azurite). In Azure the host uses the
    # identity-based AzureWebJobsStorage__* settings; a connection string needs shared keys.
    "AzureWebJobsStorage": "local connection string; Azure is identity-based",
    # Explicit Azurite endpoints. In Azure AzureWebJobsStorage__accountName derives them.
    "AzureWebJobsStorage__blobServiceUri": "Azurite blob endpoint",
    "AzureWebJobsStorage__queueServiceUri": "Azurite queue endpoint",
    # Exports read from Azurite with a connection string; Azure uses EXPORTS_ACCOUNT_URL + UAMI.
    "EXPORTS_CONNECTION_STRING": "local exports; Azure uses EXPORTS_ACCOUNT_URL",
    # File-backed token store for local runs; Azure uses Key Vault (KEY_VAULT_URI).
    "LOCAL_SECRETS_FILE": "local token store; Azure uses KEY_VAULT_URI",
    # Local development identity: the app refuses to start on Azure with either.
    "AUTH_MODE": "local identity mode; Azure verifies Entra ID tokens",
    "LOCAL_DEV_ROLES": "local user roles; never in Azure",
}

#: Settings the platform reads (not the Python code), so they are not in APP_SETTINGS.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential",  # Functions host: identity-based host storage
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Functions host: Entra ID telemetry auth
    "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET",  # App Service Authentication client credential
}

#: Settings the platform sets by itself on every instance: never in the template.
PLATFORM_PROVIDED_SETTINGS = {
    "WEBSITE_SITE_NAME",
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_HOSTNAME",
    "CONTAINER_NAME",
}

#: Settings the deployment must set: identity-based host storage, telemetry, secrets, schedule.
REQUIRED_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "KEY_VAULT_URI",
    "REFRESH_SCHEDULE",
    "RUN_QUEUE_NAME",
    "BATCH_QUEUE_NAME",
    "STATE_CONTAINER",
    "STAGING_CONTAINER",
    "EXPORTS_ACCOUNT_URL",
    "EXPORTS_CONTAINER",
    "EXPORTS_PREFIX",
    "DEFAULT_PHONE_REGION",
    "MASS_REMOVAL_THRESHOLD",
    "REMOVE_CHUNK_SIZE",
    "SNAPCHAT_API_URL",
    "SNAPCHAT_ACCOUNTS_URL",
    "SNAPCHAT_CLIENT_ID",
    "SNAPCHAT_CLIENT_SECRET",
    "SNAPCHAT_MAX_REQUESTS_PER_SECOND",
    "SNAPCHAT_RETRY_BUDGET_SECONDS",
    "SNAPCHAT_REQUEST_TIMEOUT_SECONDS",
    "PUBLIC_BASE_URL",
}

#: Never on Flex Consumption (runtime lives in functionAppConfig; no content share; no keys).
FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "AzureWebJobsDashboard",
    "WEBSITE_TIME_ZONE",  # not supported on Flex Consumption; schedules are UTC
    "APPINSIGHTS_INSTRUMENTATIONKEY",
}

#: main.bicep parameter -> the app setting it feeds (its default must match the code's).
MAIN_PARAM_FOR_SETTING = {
    "runQueueName": "RUN_QUEUE_NAME",
    "batchQueueName": "BATCH_QUEUE_NAME",
    "stateContainerName": "STATE_CONTAINER",
    "stagingContainerName": "STAGING_CONTAINER",
    "exportsContainerName": "EXPORTS_CONTAINER",
    "exportsPrefix": "EXPORTS_PREFIX",
    "refreshSchedule": "REFRESH_SCHEDULE",
    "defaultPhoneRegion": "DEFAULT_PHONE_REGION",
    "massRemovalThreshold": "MASS_REMOVAL_THRESHOLD",
    "removeChunkSize": "REMOVE_CHUNK_SIZE",
    "snapchatApiUrl": "SNAPCHAT_API_URL",
    "snapchatAccountsUrl": "SNAPCHAT_ACCOUNTS_URL",
    "snapchatMaxRequestsPerSecond": "SNAPCHAT_MAX_REQUESTS_PER_SECOND",
    "snapchatRetryBudgetSeconds": "SNAPCHAT_RETRY_BUDGET_SECONDS",
    "snapchatRequestTimeoutSeconds": "SNAPCHAT_REQUEST_TIMEOUT_SECONDS",
}

#: Parameter names that look like they carry a secret (the Bicep linter's list, plus a few).
SECRET_PARAM_RE = re.compile(
    r"password|pwd|secret|accountkey|acctkey|connectionstring|apikey|sastoken", re.IGNORECASE
)
#: Output names that would reveal a secret.
SECRET_OUTPUT_RE = re.compile(
    r"password|pwd|secret|accountkey|acctkey|connectionstring|instrumentationkey|sas",
    re.IGNORECASE,
)
#: Key material or shared-key plumbing that must not appear anywhere in infra/.
FORBIDDEN_TEXT = {
    "listKeys(": "reads storage account keys",
    "listAccountSas(": "mints a SAS from account keys",
    "listServiceSas(": "mints a SAS from account keys",
    "listSecrets(": "reads secrets into the template",
    "AccountKey=": "storage connection string with a key",
    "DefaultEndpointsProtocol": "storage connection string",
    "SharedAccessSignature": "SAS connection string",
    "accessPolicies": "Key Vault access policies instead of RBAC",
    "br/public:": "registry module (not buildable offline)",
    "br:": "registry module (not buildable offline)",
    "linuxFxVersion": "not used on Flex Consumption",
}
#: Cloud-specific host names: use environment() or resource properties instead.
HARDCODED_ENV_HOSTS = (
    "core.windows.net",
    "login.microsoftonline.com",
    "vault.azure.net",
    "azurewebsites.net",
    "management.azure.com",
    "graph.microsoft.com",
)

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
BINDING_EXPRESSION_RE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]{2,})%")
CONNECTION_KWARG_RE = re.compile(r"connection\s*=\s*[\"']([^\"']+)[\"']")


def has_decorator(param: dict[str, Any], name: str) -> bool:
    return any(d.get("type") == name for d in param.get("decorators") or [])


def decorator_argument(param: dict[str, Any], name: str) -> Any:
    for decorator in param.get("decorators") or []:
        if decorator.get("type") == name:
            return decorator.get("argument")
    return None


def role_guid(bicep_file: BicepFile, expr: Any) -> str | None:
    """The role definition GUID of a ``roleDefinitionId`` expression, if it can be resolved."""
    expr = bicep_file.resolve(expr)
    if isinstance(expr, dict) and "function" in expr:
        function = expr["function"]
        params = function.get("parameters") or {}
        if function.get("type") in {"subscription_resource_id", "resource_id"} and (
            params.get("resource_type") == "Microsoft.Authorization/roleDefinitions"
        ):
            name = bicep_file.resolve(params.get("resource_name_1"))
            if isinstance(name, str) and GUID_RE.fullmatch(name):
                return name.lower()
        return None
    if isinstance(expr, str):
        match = GUID_RE.search(expr)
        if match and "roleDefinitions" in expr:
            return match.group(0).lower()
    return None


def collect_object(bicep_file: BicepFile, expr: Any, problems: list[str]) -> dict[str, Any]:
    """Keys and values of an object expression built from literals, union() and ternaries.

    Both branches of a ternary are included: the check must hold whatever the condition.
    """
    expr = bicep_file.resolve(expr)
    if isinstance(expr, dict) and "function" in expr:
        function = expr["function"]
        if function.get("type") == "union":
            merged: dict[str, Any] = {}
            for arg in (function.get("parameters") or {}).values():
                merged.update(collect_object(bicep_file, arg, problems))
            return merged
        problems.append(f"{bicep_file.rel}: app settings use unsupported {function.get('type')}()")
        return {}
    if isinstance(expr, dict) and "operator" in expr:
        operator = expr["operator"]
        if operator.get("type") == "conditional":
            operands = operator["operands"]
            merged = collect_object(bicep_file, operands["true_value"], problems)
            merged.update(collect_object(bicep_file, operands["false_value"], problems))
            return merged
        problems.append(f"{bicep_file.rel}: app settings use unsupported {operator.get('type')}")
        return {}
    if isinstance(expr, dict):
        return dict(expr)
    problems.append(f"{bicep_file.rel}: app settings are not an object literal: {expr!r}")
    return {}


def app_settings(infra: Infra) -> tuple[dict[str, Any], list[str]]:
    """The app settings the template sets, and any problem met while reading them."""
    problems: list[str] = []
    res = infra.app_settings_resource
    settings = collect_object(res.file, res.body.get("properties"), problems)
    return settings, problems


def binding_sources() -> list[Path]:
    """function_app.py plus any module that declares blueprint triggers."""
    skip = {".venv", "node_modules", "tests", "infra", "docs", "benchmarks", ".git"}
    sources = [FUNCTION_APP_PY]
    top_dirs = [d for d in sorted(REPO.iterdir()) if d.is_dir() and d.name not in skip]
    for path in [
        p for d in top_dirs if not d.name.startswith(".") for p in sorted(d.rglob("*.py"))
    ]:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "Blueprint(" in text or "_trigger(" in text:
            sources.append(path)
    return sources


def binding_expressions(source: str) -> set[str]:
    """``%NAME%`` app-setting references in the string literals of Python source."""
    names: set[str] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            names.update(BINDING_EXPRESSION_RE.findall(token.string))
    return names


def connection_names(source: str) -> set[str]:
    return set(CONNECTION_KWARG_RE.findall(source))


# ------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty = invariant holds)
# ------------------------------------------------------------------------------------------


def check_layout(infra: Infra) -> list[str]:
    problems = []
    expected = {
        "main.bicep",
        "core/identity.bicep",
        "core/storage.bicep",
        "core/monitoring.bicep",
        "core/keyvault.bicep",
        "app/function-app.bicep",
        "app/rbac.bicep",
        "app/exports-access.bicep",
        "app/auth.bicep",
    }
    missing = expected - set(infra.files)
    if missing:
        problems.append(f"missing Bicep files: {sorted(missing)}")
    if infra.main.tree.get("globals", {}).get("scope", {}).get("value") != "resourceGroup":
        problems.append("main.bicep must have targetScope = 'resourceGroup'")
    for bicep_file in infra.files.values():
        for symbol, module in bicep_file.modules.items():
            if module.get("type") != "local":
                problems.append(f"{bicep_file.rel}:{symbol} is not a local module")
                continue
            target = bicep_file.path.parent / module["detail"]["path"]
            if not target.is_file():
                problems.append(f"{bicep_file.rel}:{symbol} points at missing {target}")
    return problems


def check_no_key_material(infra: Infra) -> list[str]:
    problems = []
    for bicep_file in infra.files.values():
        code = strip_comments(bicep_file.text)
        for needle, why in FORBIDDEN_TEXT.items():
            if needle.lower() in code.lower():
                problems.append(f"{bicep_file.rel}: contains {needle!r} ({why})")
        for host in HARDCODED_ENV_HOSTS:
            if host in code:
                problems.append(f"{bicep_file.rel}: hard-coded cloud host {host!r}")
        for node in walk(bicep_file.tree):
            if isinstance(node, dict) and "function" in node:
                name = str(node["function"].get("type", ""))
                if name.lower().startswith("list"):
                    problems.append(f"{bicep_file.rel}: calls {name}() (list* returns secrets)")
            if isinstance(node, dict) and "accessPolicies" in node:
                problems.append(f"{bicep_file.rel}: declares Key Vault accessPolicies")
    return problems


def check_storage(infra: Infra) -> list[str]:
    problems = []
    accounts = [r for r in infra.resources(STORAGE_ACCOUNT) if not r.existing]
    if not accounts:
        problems.append("no storage account is declared")
    for res in accounts:
        props = res.body.get("properties") or {}
        expected = {
            "allowSharedKeyAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "supportsHttpsTrafficOnly": True,
        }
        for key, value in expected.items():
            if props.get(key) != value:
                problems.append(f"{res.where}: {key} must be {value!r}, is {props.get(key)!r}")
    for res in infra.resources(BLOB_CONTAINER):
        if res.existing:
            continue
        access = (res.body.get("properties") or {}).get("publicAccess", "None")
        if access != "None":
            problems.append(f"{res.where}: container publicAccess must be 'None'")
    return problems


def _evaluate_string(value: Any, env: dict[str, Any]) -> Any:
    """Substitute parameter names and ``${name}`` interpolations from ``env``."""
    if isinstance(value, str):
        if value in env:
            return env[value]
        return re.sub(r"\$\{(\w+)\}", lambda m: str(env.get(m.group(1), m.group(0))), value)
    return value


def _main_default(infra: Infra, expr: Any) -> Any:
    """Value of a main.bicep expression that is a parameter name (its default)."""
    if isinstance(expr, str) and expr in infra.main.params:
        return infra.main.params[expr].get("default")
    return expr


def _module_env(infra: Infra, rel: str, names: list[str]) -> dict[str, Any]:
    return {name: _main_default(infra, infra.module_param(rel, name)) for name in names}


def created_queues(infra: Infra) -> set[str]:
    """Queue names core/storage.bicep creates, with main.bicep's defaults substituted."""
    storage = infra.files["core/storage.bicep"]
    env = _module_env(infra, "core/storage.bicep", ["runQueueName", "batchQueueName"])
    names: set[str] = set()
    for res in storage.resources():
        if res.type != "Microsoft.Storage/storageAccounts/queueServices/queues" or res.existing:
            continue
        raw = storage.tree["resources"][res.symbol]["config"]
        if "loop_type" in raw:
            items = storage.resolve(raw["loop_type"]["detail"]["array_name"])
            values = items if isinstance(items, list) else []
        else:
            values = [res.body.get("name")]
        names.update(str(_evaluate_string(storage.resolve(v), env)) for v in values)
    return names


def check_queues(infra: Infra) -> list[str]:
    problems = []
    queues = created_queues(infra)
    settings, _ = app_settings(infra)
    queue_settings = [name for name in settings if name.endswith("_QUEUE_NAME")]
    if not queue_settings:
        problems.append("no *_QUEUE_NAME app setting")
    function_app = infra.files["app/function-app.bicep"]
    for name in queue_settings:
        param = settings[name]
        if not (isinstance(param, str) and param in function_app.params):
            problems.append(f"{name} does not come from a parameter")
            continue
        queue = _main_default(infra, infra.module_param("app/function-app.bicep", param))
        if not isinstance(queue, str):
            problems.append(f"{name} does not come from a main.bicep parameter with a default")
            continue
        if APP_SETTINGS.get(name) not in (None, queue):
            problems.append(f"{name} defaults to {queue!r}, the code to {APP_SETTINGS[name]!r}")
        for required in (queue, f"{queue}-poison"):
            if required not in queues:
                problems.append(f"queue {required!r} ({name}) is not created in host storage")
    for queue in ("export-runs", "upload-batches"):
        for required in (queue, f"{queue}-poison"):
            if required not in queues:
                problems.append(f"queue {required!r} is not created")
    # The same main.bicep parameters must feed the queues and the app settings.
    for param in ("runQueueName", "batchQueueName"):
        fed_storage = infra.module_param("core/storage.bicep", param)
        fed_app = infra.module_param("app/function-app.bicep", param)
        if fed_storage != param or fed_app != param:
            problems.append(f"{param} must flow from main.bicep into both storage and the app")
    return problems


def check_containers_and_lifecycle(infra: Infra) -> list[str]:
    problems = []
    containers = infra.main.resolve(infra.module_param("core/storage.bicep", "containerNames"))
    flat = json.dumps(containers)
    for param in ("stateContainerName", "stagingContainerName", "deploymentContainer"):
        if param not in flat:
            problems.append(f"host storage does not create the {param} container")
    storage = infra.files["core/storage.bicep"]
    env = _module_env(infra, "core/storage.bicep", ["stagingContainerName", "stagingRetentionDays"])
    policies = [
        r
        for r in storage.resources()
        if r.type == "Microsoft.Storage/storageAccounts/managementPolicies"
    ]
    rules = [
        rule
        for res in policies
        for rule in ((res.body.get("properties") or {}).get("policy") or {}).get("rules", [])
    ]
    staging = APP_SETTINGS["STAGING_CONTAINER"]
    matching = []
    for rule in rules:
        definition = rule.get("definition") or {}
        prefixes = [
            _evaluate_string(p, env)
            for p in (definition.get("filters") or {}).get("prefixMatch", [])
        ]
        delete = ((definition.get("actions") or {}).get("baseBlob") or {}).get("delete") or {}
        days = _evaluate_string(delete.get("daysAfterModificationGreaterThan"), env)
        if f"{staging}/" in prefixes and rule.get("enabled", True):
            matching.append(days)
    if matching != [7]:
        problems.append(f"staging blobs must be deleted after 7 days by one rule, found {matching}")
    return problems


def check_key_vaults(infra: Infra) -> list[str]:
    problems = []
    vaults = [r for r in infra.resources(KEY_VAULT) if not r.existing]
    if not vaults:
        problems.append("no Key Vault is declared")
    for res in vaults:
        props = res.body.get("properties") or {}
        for key in ("enableRbacAuthorization", "enablePurgeProtection"):
            if props.get(key) is not True:
                problems.append(f"{res.where}: {key} must be true, is {props.get(key)!r}")
        if props.get("enableSoftDelete") is False:
            problems.append(f"{res.where}: soft delete must stay on")
    if len(infra.module_symbols("core/keyvault.bicep")) != 2:
        problems.append("main.bicep must deploy two vaults (config and tokens)")
    return problems


def check_monitoring(infra: Infra) -> list[str]:
    problems = []
    components = [r for r in infra.resources(APP_INSIGHTS) if not r.existing]
    workspaces = [r for r in infra.resources(LOG_ANALYTICS) if not r.existing]
    if not components or not workspaces:
        problems.append("Application Insights and Log Analytics must both be declared")
    for res in components:
        props = res.body.get("properties") or {}
        if props.get("DisableLocalAuth") is not True:
            problems.append(f"{res.where}: DisableLocalAuth must be true")
        if not props.get("WorkspaceResourceId"):
            problems.append(f"{res.where}: must be workspace-based")
    for res in workspaces:
        features = (res.body.get("properties") or {}).get("features") or {}
        if features.get("disableLocalAuth") is not True:
            problems.append(f"{res.where}: features.disableLocalAuth must be true")
    return problems


def check_function_app(infra: Infra) -> list[str]:
    problems = []
    plans = [r for r in infra.resources("Microsoft.Web/serverfarms") if not r.existing]
    sites = [r for r in infra.resources("Microsoft.Web/sites") if not r.existing]
    if len(plans) != 1 or len(sites) != 1:
        return [f"expected one plan and one site, found {len(plans)} and {len(sites)}"]
    plan, site = plans[0], sites[0]
    if plan.body.get("sku") != {"name": "FC1", "tier": "FlexConsumption"}:
        problems.append(f"{plan.where}: sku must be FC1/FlexConsumption")
    if (plan.body.get("properties") or {}).get("reserved") is not True:
        problems.append(f"{plan.where}: reserved (Linux) must be true")
    if site.body.get("kind") != "functionapp,linux":
        problems.append(f"{site.where}: kind must be 'functionapp,linux'")
    identity = site.body.get("identity") or {}
    if identity.get("type") != "UserAssigned":
        problems.append(f"{site.where}: identity must be UserAssigned only")
    props = site.body.get("properties") or {}
    if props.get("httpsOnly") is not True:
        problems.append(f"{site.where}: httpsOnly must be true")
    if props.get("keyVaultReferenceIdentity") not in site.file.params:
        problems.append(f"{site.where}: keyVaultReferenceIdentity must be the UAMI id parameter")
    site_config = props.get("siteConfig") or {}
    if "appSettings" in site_config:
        problems.append(f"{site.where}: app settings must come only from the appsettings config")
    if site_config.get("minTlsVersion") != "1.2":
        problems.append(f"{site.where}: siteConfig.minTlsVersion must be '1.2'")
    config = props.get("functionAppConfig") or {}
    if (config.get("runtime") or {}) != {"name": "python", "version": "3.11"}:
        problems.append(f"{site.where}: runtime must be python 3.11, is {config.get('runtime')}")
    storage = (config.get("deployment") or {}).get("storage") or {}
    if storage.get("type") != "blobContainer":
        problems.append(f"{site.where}: deployment storage must be a blobContainer")
    auth = storage.get("authentication") or {}
    if auth.get("type") != "UserAssignedIdentity":
        problems.append(f"{site.where}: deployment storage auth must be UserAssignedIdentity")
    if auth.get("userAssignedIdentityResourceId") not in site.file.params:
        problems.append(f"{site.where}: deployment storage must name the UAMI resource id")
    memory = decorator_argument(infra.main.params.get("instanceMemoryMB") or {}, "allowed")
    if not memory or not set(memory) <= {512, 2048, 4096}:
        problems.append("main.bicep instanceMemoryMB must allow only 512, 2048 and 4096")
    scale = config.get("scaleAndConcurrency") or {}
    for key in ("maximumInstanceCount", "instanceMemoryMB"):
        if scale.get(key) not in site.file.params:
            problems.append(f"{site.where}: {key} must be a parameter")
        elif infra.module_param("app/function-app.bicep", key) not in infra.main.params:
            problems.append(f"main.bicep must expose {key} as a parameter")
    return problems


def check_app_settings(infra: Infra, code_settings: dict[str, str | None]) -> list[str]:
    settings, problems = app_settings(infra)
    names = set(settings)
    for name in sorted(REQUIRED_SETTINGS - names):
        problems.append(f"app setting {name} is missing")
    expected = set(code_settings) - set(LOCAL_ONLY_SETTINGS) - PLATFORM_PROVIDED_SETTINGS
    for name in sorted(expected - names):
        problems.append(f"app setting {name} (read by shared/config.py) is missing")
    never = FORBIDDEN_SETTINGS | set(LOCAL_ONLY_SETTINGS) | PLATFORM_PROVIDED_SETTINGS
    for name in sorted(names & never):
        problems.append(f"app setting {name} must not be set in Azure")
    for name in sorted(names - set(code_settings) - PLATFORM_SETTINGS):
        problems.append(f"app setting {name} is read by neither the code nor the platform")
    for name in sorted(set(LOCAL_ONLY_SETTINGS) - set(code_settings)):
        problems.append(f"LOCAL_ONLY_SETTINGS lists {name}, which shared/config.py no longer has")
    if settings.get("AzureWebJobsStorage__credential") != "managedidentity":
        problems.append("AzureWebJobsStorage__credential must be 'managedidentity'")
    for name in ("AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"):
        if name in settings and settings[name] not in infra.files["app/function-app.bicep"].params:
            problems.append(f"{name} must be the UAMI client id parameter")
    auth_string = str(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""))
    if not re.fullmatch(r"ClientId=\$\{\w+\};Authorization=AAD", auth_string):
        problems.append("APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be ClientId=<uami>;AAD")
    base_url = str(settings.get("PUBLIC_BASE_URL", ""))
    if not (base_url.startswith("https://") and "defaultHostName" in base_url):
        problems.append("PUBLIC_BASE_URL must be https://<default host name>")
    secret_name = re.compile(r"SECRET|PASSWORD|PWD|(?<!VAULT_)KEY\b|_KEY_|TOKEN(?!_VAULT)")
    for name, value in settings.items():
        if secret_name.search(name.upper()) and name != "KEY_VAULT_URI":
            if not (isinstance(value, str) and value.startswith("@Microsoft.KeyVault(")):
                problems.append(f"app setting {name} looks secret but is no Key Vault reference")
        text = json.dumps(value)
        for needle in ("AccountKey", "SharedAccessSignature", "DefaultEndpointsProtocol"):
            if needle in text:
                problems.append(f"app setting {name} carries {needle}")
        for node in walk(value):
            if isinstance(node, dict) and "function" in node:
                if str(node["function"].get("type", "")).lower().startswith("list"):
                    problems.append(f"app setting {name} calls a list* function")
    secret_ref = str(settings.get("SNAPCHAT_CLIENT_SECRET", ""))
    if not re.fullmatch(
        r"@Microsoft\.KeyVault\(VaultName=\$\{\w+\};SecretName=\$\{\w+\}\)", secret_ref
    ):
        problems.append(
            "SNAPCHAT_CLIENT_SECRET must be @Microsoft.KeyVault(VaultName=;SecretName=)"
        )
    function_app = infra.files["app/function-app.bicep"]
    names_used = re.findall(r"SecretName=\$\{(\w+)\}", secret_ref)
    if names_used and function_app.resolve(names_used[0]) != "snapchat-client-secret":
        problems.append("SNAPCHAT_CLIENT_SECRET must reference the secret snapchat-client-secret")
    return problems


def check_bindings(infra: Infra, sources: list[Path]) -> list[str]:
    """Every %NAME% and every trigger connection of the code resolves to an app setting."""
    problems = []
    settings, _ = app_settings(infra)
    for path in sources:
        if not path.is_file():
            problems.append(f"{path.relative_to(REPO)} does not exist")
            continue
        source = path.read_text(encoding="utf-8")
        for name in sorted(binding_expressions(source)):
            if name not in settings:
                problems.append(f"%{name}% ({path.name}) is not an app setting in Bicep")
        for connection in sorted(connection_names(source)):
            if connection == "AzureWebJobsStorage":
                ok = "AzureWebJobsStorage__accountName" in settings
            else:
                ok = connection in settings or any(
                    s.startswith(f"{connection}__") for s in settings
                )
            if not ok:
                problems.append(f"connection {connection!r} ({path.name}) has no app setting")
    return problems


def check_main_defaults_match_code(infra: Infra) -> list[str]:
    problems = []
    for param, setting in MAIN_PARAM_FOR_SETTING.items():
        if param not in infra.main.params:
            problems.append(f"main.bicep has no parameter {param} for {setting}")
            continue
        default = infra.main.params[param].get("default")
        expected = APP_SETTINGS.get(setting)
        if expected is not None and default != expected:
            problems.append(f"main.bicep {param} defaults to {default!r}; code: {expected!r}")
    schedule = infra.main.params.get("refreshSchedule", {}).get("default", "")
    if len(str(schedule).split()) != 6:
        problems.append("refreshSchedule must be a six-field NCRONTAB expression")
    return problems


def role_assignments(infra: Infra) -> Iterator[tuple[Resource, str | None, Resource | None]]:
    """Each role assignment with its role GUID and the resource it is scoped to."""
    for res in infra.resources(ROLE_ASSIGNMENT):
        props = res.body.get("properties") or {}
        guid = role_guid(res.file, props.get("roleDefinitionId"))
        scope = res.body.get("scope")
        operator = scope.get("operator", {}) if isinstance(scope, dict) else {}
        if operator.get("type") == "index_accessor":  # one of a looped resource: symbol[i]
            scope = operator["operands"]["operand_1"]
        target = res.file.resource(scope) if isinstance(scope, str) else None
        yield res, guid, target


def _vault_source(infra: Infra, vault: Resource) -> str | None:
    """The main.bicep vault module behind an ``existing`` vault in a module."""
    name_param = vault.body.get("name")
    if vault.file.rel == "main.bicep" or name_param not in vault.file.params:
        return None
    return infra.source_module(vault.file.rel, name_param)


def check_role_assignments(infra: Infra) -> list[str]:
    problems = []
    seen: set[tuple[str, str]] = set()
    officer_vaults: set[str | None] = set()
    user_vaults: set[str | None] = set()
    for res, guid, target in role_assignments(infra):
        props = res.body.get("properties") or {}
        role = KNOWN_ROLES.get(guid or "")
        if role is None:
            problems.append(f"{res.where}: unknown or unresolvable role {guid!r}")
            continue
        if role in FORBIDDEN_ROLES:
            problems.append(f"{res.where}: grants forbidden role {role}")
        if target is None:
            problems.append(f"{res.where}: must be scoped to a resource, not a resource group")
            continue
        allowed = ALLOWED_ROLES_BY_SCOPE.get(target.type, set())
        if role not in allowed:
            problems.append(f"{res.where}: {role} is not allowed on {target.type}")
        seen.add((target.type, role))
        if props.get("principalType") != "ServicePrincipal":
            problems.append(f"{res.where}: principalType must be 'ServicePrincipal'")
        if props.get("principalId") not in res.file.params:
            problems.append(f"{res.where}: principalId must be the identity parameter")
        name = res.body.get("name")
        if not (isinstance(name, dict) and name.get("function", {}).get("type") == "guid"):
            problems.append(f"{res.where}: name must be a deterministic guid(...)")
        if target.type == KEY_VAULT:
            source = _vault_source(infra, target)
            (officer_vaults if role == "Key Vault Secrets Officer" else user_vaults).add(source)
    if seen != EXPECTED_ASSIGNMENTS:
        for scope, role in sorted(EXPECTED_ASSIGNMENTS - seen):
            problems.append(f"missing role assignment: {role} on {scope}")
        for scope, role in sorted(seen - EXPECTED_ASSIGNMENTS):
            problems.append(f"unexpected role assignment: {role} on {scope}")
    # Key Vault split: Officer only on the tokens vault (KEY_VAULT_URI), Secrets User only on
    # the vault holding the Snap client secret (the Key Vault reference), and they differ.
    token_vault = infra.source_module("app/function-app.bicep", "tokenVaultUri")
    config_vault = infra.source_module("app/function-app.bicep", "configVaultName")
    if token_vault is None or config_vault is None or token_vault == config_vault:
        problems.append("the token vault and the config vault must be two vault modules")
    if officer_vaults != {token_vault}:
        problems.append(f"Secrets Officer must be on the token vault only, is on {officer_vaults}")
    if user_vaults != {config_vault}:
        problems.append(f"Secrets User must be on the config vault only, is on {user_vaults}")
    settings, _ = app_settings(infra)
    if settings.get("KEY_VAULT_URI") != "tokenVaultUri":
        problems.append("KEY_VAULT_URI must be the token vault URI")
    # Raw GUIDs anywhere in the Bicep must be known roles, and none may be forbidden.
    for bicep_file in infra.files.values():
        for guid in GUID_RE.findall(strip_comments(bicep_file.text)):
            role = KNOWN_ROLES.get(guid.lower())
            if role is None:
                problems.append(f"{bicep_file.rel}: unknown GUID {guid}")
            elif role in FORBIDDEN_ROLES:
                problems.append(f"{bicep_file.rel}: mentions forbidden role {role}")
    return problems


def check_exports_access(infra: Infra) -> list[str]:
    problems = []
    symbols = infra.module_symbols("app/exports-access.bicep")
    if len(symbols) != 1:
        return ["main.bicep must deploy app/exports-access.bicep once"]
    scope = infra.main.module_body(symbols[0]).get("scope") or {}
    function = scope.get("function") or {}
    if function.get("type") != "resource_group":
        problems.append("exports access must be deployed to resourceGroup(<exports group>)")
    for param in (
        "exportsStorageAccountName",
        "exportsStorageAccountResourceGroup",
        "exportsContainerName",
    ):
        if param not in infra.main.params:
            problems.append(f"main.bicep needs parameter {param}")
    settings, _ = app_settings(infra)
    param = settings.get("EXPORTS_ACCOUNT_URL")
    url = infra.module_param("app/function-app.bicep", param) if isinstance(param, str) else None
    if accessor_chain(url) != [symbols[0], "outputs", "blobEndpoint"]:
        problems.append("EXPORTS_ACCOUNT_URL must be the blob endpoint of the exports account")
    return problems


def check_auth(infra: Infra) -> list[str]:
    problems = []
    found = [
        r
        for r in infra.resources(SITE_CONFIG)
        if not r.existing and r.body.get("name") == "authsettingsV2"
    ]
    if len(found) != 1:
        return [f"expected one authsettingsV2 config, found {len(found)}"]
    res = found[0]
    props = res.body.get("properties") or {}
    if (props.get("platform") or {}).get("enabled") is not True:
        problems.append("authsettingsV2.platform.enabled must be true")
    validation = props.get("globalValidation") or {}
    if validation.get("requireAuthentication") is not True:
        problems.append("globalValidation.requireAuthentication must be true")
    # Browsers are sent to sign in, API calls without a token refused (never let through).
    if validation.get("unauthenticatedClientAction") not in ("Return401", "RedirectToLoginPage"):
        problems.append(
            "globalValidation.unauthenticatedClientAction must be Return401 or RedirectToLoginPage"
        )
    # The app verifies a browser session's ID token, which only the token store hands it.
    if ((props.get("login") or {}).get("tokenStore") or {}).get("enabled") is not True:
        problems.append("login.tokenStore.enabled must be true (the app verifies the ID token)")
    aad = (props.get("identityProviders") or {}).get("azureActiveDirectory") or {}
    if aad.get("enabled") is not True:
        problems.append("the azureActiveDirectory provider must be enabled")
    registration = collect_object(res.file, aad.get("registration"), problems)
    if registration.get("clientId") not in res.file.params:
        problems.append("registration.clientId must be a parameter")
    if {"clientSecret", "clientSecretCertificateThumbprint"} & set(registration):
        problems.append("the Entra client credential must be referenced by setting name only")
    issuer = str(registration.get("openIdIssuer", ""))
    if not re.fullmatch(
        r"\$\{environment\(\)\.authentication\.loginEndpoint\}\$\{\w+\}/v2\.0", issuer
    ):
        problems.append(f"openIdIssuer must be <loginEndpoint><tenant>/v2.0, is {issuer!r}")
    if not (aad.get("validation") or {}).get("allowedAudiences"):
        problems.append("allowed audiences must be set")
    tenant = (infra.main.params.get("authTenantId") or {}).get("default")
    operator = (tenant or {}).get("operator", {}) if isinstance(tenant, dict) else {}
    operands = operator.get("operands") or {}
    if not (
        operator.get("type") == "property_accessor"
        and (operands.get("operand_1") or {}).get("function", {}).get("type") == "subscription"
        and operands.get("operand_2") == "tenantId"
    ):
        problems.append("authTenantId must default to subscription().tenantId")
    for param in ("authClientId", "authTenantId", "authAllowedAudiences"):
        if param not in infra.main.params:
            problems.append(f"main.bicep needs parameter {param}")
    for module_param, main_param in {
        "clientId": "authClientId",
        "tenantId": "authTenantId",
        "allowedAudiences": "authAllowedAudiences",
    }.items():
        if infra.module_param("app/auth.bicep", module_param) != main_param:
            problems.append(f"app/auth.bicep {module_param} must come from {main_param}")
    return problems


def _uses(code: str, name: str) -> int:
    """Occurrences of identifier ``name``, not counting property names and object keys."""
    count = 0
    for match in re.finditer(rf"(?<![\w.']){re.escape(name)}\b", code):
        line_start = code.rfind("\n", 0, match.start()) + 1
        is_key = not code[line_start : match.start()].strip() and code[match.end() :][:1] == ":"
        count += not is_key
    return count


def check_no_unused_declarations(infra: Infra) -> list[str]:
    """Offline stand-in for the linter's no-unused-params / no-unused-vars rules."""
    problems = []
    for bicep_file in infra.files.values():
        code = strip_comments(bicep_file.text)
        for kind, names in (("parameter", bicep_file.params), ("variable", bicep_file.variables)):
            for name in names:
                if _uses(code, name) < 2:  # the declaration itself is one
                    problems.append(f"{bicep_file.rel}: {kind} {name} is never used")
    return problems


def check_secure_params_and_outputs(infra: Infra) -> list[str]:
    problems = []
    for bicep_file in infra.files.values():
        for name, param in bicep_file.params.items():
            secure = has_decorator(param, "secure")
            if SECRET_PARAM_RE.search(name) and not secure:
                problems.append(f"{bicep_file.rel}: parameter {name} needs @secure()")
            if secure and param.get("default") not in (None, "", {}):
                problems.append(f"{bicep_file.rel}: secure parameter {name} has a default")
        secure_params = {n for n, p in bicep_file.params.items() if has_decorator(p, "secure")}
        for name, output in bicep_file.outputs.items():
            if SECRET_OUTPUT_RE.search(name):
                problems.append(f"{bicep_file.rel}: output {name} looks like a secret")
            text = json.dumps(output.get("value"))
            for needle in ("ConnectionString", "InstrumentationKey", "listKeys", "list_keys"):
                if needle.lower() in text.lower():
                    problems.append(f"{bicep_file.rel}: output {name} exposes {needle}")
            for secure_param in secure_params:
                if re.search(rf"\b{re.escape(secure_param)}\b", text):
                    problems.append(
                        f"{bicep_file.rel}: output {name} exposes @secure {secure_param}"
                    )
    return problems


def check_main_outputs(infra: Infra) -> list[str]:
    """main.bicep outputs what a user needs after deploying (names and URIs, no secrets)."""
    problems = []
    referenced: set[tuple[str, ...]] = set()
    for output in infra.main.outputs.values():
        value = output.get("value")
        chain = accessor_chain(value)
        if chain:
            referenced.add(tuple(chain))
        for inner in re.findall(r"\$\{([\w.]+)\}", value if isinstance(value, str) else ""):
            referenced.add(tuple(inner.split(".")))
    for chain, what in {
        ("functionApp", "outputs", "name"): "function app name",
        ("functionApp", "outputs", "defaultHostName"): "default host name",
        ("identity", "outputs", "clientId"): "UAMI client id",
        ("tokenVault", "outputs", "uri"): "token vault URI",
        ("configVault", "outputs", "uri"): "config vault URI",
        ("storage", "outputs", "name"): "storage account name",
    }.items():
        if chain not in referenced:
            problems.append(f"main.bicep does not output the {what}")
    return problems


# ------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra(INFRA)


# ------------------------------------------------------------------------------------------
# Positive tests: the real infra/ holds every invariant
# ------------------------------------------------------------------------------------------


def test_parser_rejects_broken_bicep() -> None:
    with pytest.raises(LarkError):
        parse_bicep("resource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'x'\n", "x")


def test_every_bicep_file_parses(infra: Infra) -> None:
    on_disk = {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    assert set(infra.files) == on_disk
    for bicep_file in infra.files.values():
        assert bicep_file.tree.get("resources") or bicep_file.tree.get("modules"), bicep_file.rel


@pytest.mark.parametrize(
    "check",
    [
        check_layout,
        check_no_key_material,
        check_storage,
        check_queues,
        check_containers_and_lifecycle,
        check_key_vaults,
        check_monitoring,
        check_function_app,
        check_role_assignments,
        check_exports_access,
        check_auth,
        check_secure_params_and_outputs,
        check_no_unused_declarations,
        check_main_defaults_match_code,
        check_main_outputs,
    ],
    ids=lambda check: check.__name__,
)
def test_invariant(infra: Infra, check: Callable[[Infra], list[str]]) -> None:
    assert check(infra) == []


def test_app_settings_match_the_code(infra: Infra) -> None:
    assert check_app_settings(infra, APP_SETTINGS) == []


def test_every_binding_expression_is_an_app_setting(infra: Infra) -> None:
    if not FUNCTION_APP_PY.is_file():
        pytest.fail(
            "function_app.py does not exist yet: the %SETTING% check needs it "
            "(every %NAME% used by a trigger must be an app setting in infra/)"
        )
    sources = binding_sources()
    found = set().union(*(binding_expressions(p.read_text(encoding="utf-8")) for p in sources))
    assert found, "function_app.py uses no %SETTING% expression; did the triggers move?"
    assert check_bindings(infra, sources) == []


def test_role_table_is_consistent() -> None:
    for scope, roles in ALLOWED_ROLES_BY_SCOPE.items():
        assert roles <= set(ROLE_IDS), scope
        assert not roles & FORBIDDEN_ROLES, scope
    assert {role for _, role in EXPECTED_ASSIGNMENTS} <= set(ROLE_IDS)


def test_app_settings_come_from_one_object(infra: Infra) -> None:
    res = infra.app_settings_resource
    assert res.body.get("properties") in res.file.variables, "use one variable object"
    for site in infra.resources("Microsoft.Web/sites"):
        assert "appSettings" not in json.dumps(site.body.get("properties", {}).get("siteConfig"))


def test_bicepconfig_enables_security_linter_rules() -> None:
    config = json.loads((INFRA / "bicepconfig.json").read_text(encoding="utf-8"))
    rules = config["analyzers"]["core"]["rules"]
    assert config["analyzers"]["core"].get("enabled", True) is True
    for rule in (
        "no-hardcoded-env-urls",
        "use-secure-value-for-secure-inputs",
        "outputs-should-not-contain-secrets",
        "secure-secrets-in-params",
        "secure-parameter-default",
    ):
        assert rules[rule]["level"] == "error", rule


def test_bicepparam_matches_main(infra: Infra) -> None:
    text = (INFRA / "main.bicepparam").read_text(encoding="utf-8")
    code = strip_comments(text)
    assert re.search(r"^using 'main\.bicep'\s*$", code, re.MULTILINE)
    assigned = set(re.findall(r"^param\s+(\w+)\s*=", code, re.MULTILINE))
    assert assigned <= set(infra.main.params), assigned - set(infra.main.params)
    required = {n for n, p in infra.main.params.items() if p.get("default") is None}
    assert required <= assigned, f"main.bicepparam must set {required - assigned}"
    assert not any(SECRET_PARAM_RE.search(name) for name in assigned)


def test_entra_app_roles_file() -> None:
    roles = json.loads((INFRA / "entra-app-roles.json").read_text(encoding="utf-8"))
    assert {role["value"] for role in roles} == {"Admin", "Contributor", "Viewer"}
    ids = [role["id"] for role in roles]
    assert len(set(ids)) == len(ids) and all(GUID_RE.fullmatch(i) for i in ids)
    for role in roles:
        assert role["isEnabled"] is True
        assert "User" in role["allowedMemberTypes"]
        assert role["displayName"] and role["description"]


def test_deploy_doc_covers_every_step() -> None:
    assert DEPLOY_DOC.is_file(), "docs/deploy.md is missing"
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for needle in (
        "az login",
        "az group create",
        "az ad app create",
        "entra-app-roles.json",
        "/.auth/login/aad/callback",
        "az deployment group create",
        "infra/main.bicepparam",
        "az keyvault secret set",
        "Key Vault Secrets Officer",
        "az role assignment create",
        "func azure functionapp publish",
        "config-zip",
        "/api/oauth/snapchat/callback",
        "appRoleAssignedTo",
        "curl",
        "az group delete",
        "purge protection",
        "FUNCTIONS_WORKER_RUNTIME",
        "UTC",
        "maximumInstanceCount",
        "batchSize",
        "SNAPCHAT_MAX_REQUESTS_PER_SECOND",
        "ALERT_EMAILS",
        "alertEmailAddresses",
        "WORKBOOK_ID",
    ):
        assert needle.lower() in doc.lower(), f"docs/deploy.md does not mention {needle!r}"


def test_binding_expression_scanner() -> None:
    source = (
        "import azure.functions as func\n"
        "# %NOT_A_STRING% in a comment\n"
        "@app.timer_trigger(schedule='%REFRESH_SCHEDULE%', arg_name='t')\n"
        "@app.queue_trigger(arg_name='m', queue_name='%RUN_QUEUE_NAME%-poison',\n"
        "                   connection='AzureWebJobsStorage')\n"
        "def f(m): return '%d%%' % 5\n"
    )
    assert binding_expressions(source) == {"REFRESH_SCHEDULE", "RUN_QUEUE_NAME"}
    assert connection_names(source) == {"AzureWebJobsStorage"}


# ------------------------------------------------------------------------------------------
# Negative tests: each check reports a broken copy of infra/
# ------------------------------------------------------------------------------------------

MUTATIONS = [
    pytest.param(
        "core/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: true",
        check_storage,
        "allowSharedKeyAccess",
        id="shared-keys-on",
    ),
    pytest.param(
        "core/storage.bicep",
        "minimumTlsVersion: 'TLS1_2'",
        "minimumTlsVersion: 'TLS1_0'",
        check_storage,
        "minimumTlsVersion",
        id="old-tls",
    ),
    pytest.param(
        "core/storage.bicep",
        "allowBlobPublicAccess: false",
        "allowBlobPublicAccess: true",
        check_storage,
        "allowBlobPublicAccess",
        id="public-blobs",
    ),
    pytest.param(
        "core/storage.bicep",
        "  '${batchQueueName}-poison'\n",
        "",
        check_queues,
        "upload-batches-poison",
        id="missing-poison-queue",
    ),
    pytest.param(
        "core/storage.bicep",
        "daysAfterModificationGreaterThan: stagingRetentionDays",
        "daysAfterModificationGreaterThan: 30",
        check_containers_and_lifecycle,
        "7 days",
        id="staging-lifecycle",
    ),
    pytest.param(
        "core/keyvault.bicep",
        "enableRbacAuthorization: true",
        "enableRbacAuthorization: false",
        check_key_vaults,
        "enableRbacAuthorization",
        id="vault-access-policies",
    ),
    pytest.param(
        "core/keyvault.bicep",
        "enablePurgeProtection: true",
        "enablePurgeProtection: false",
        check_key_vaults,
        "enablePurgeProtection",
        id="no-purge-protection",
    ),
    pytest.param(
        "core/monitoring.bicep",
        "DisableLocalAuth: true",
        "DisableLocalAuth: false",
        check_monitoring,
        "DisableLocalAuth",
        id="appinsights-local-auth",
    ),
    pytest.param(
        "core/monitoring.bicep",
        "disableLocalAuth: true",
        "disableLocalAuth: false",
        check_monitoring,
        "disableLocalAuth",
        id="log-analytics-local-auth",
    ),
    pytest.param(
        "app/function-app.bicep",
        "name: 'FC1'",
        "name: 'Y1'",
        check_function_app,
        "FC1",
        id="not-flex",
    ),
    pytest.param(
        "app/function-app.bicep",
        "version: '3.11'",
        "version: '3.10'",
        check_function_app,
        "python 3.11",
        id="wrong-python",
    ),
    pytest.param(
        "app/function-app.bicep",
        "type: 'UserAssignedIdentity'",
        "type: 'StorageAccountConnectionString'",
        check_function_app,
        "UserAssignedIdentity",
        id="deployment-with-keys",
    ),
    pytest.param(
        "app/rbac.bicep",
        "storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
        "storageBlobDataOwner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'",
        check_role_assignments,
        "Owner",
        id="owner-role",
    ),
    pytest.param(
        "app/exports-access.bicep",
        "storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'",
        "storageBlobDataReader: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'",
        check_role_assignments,
        "Storage Blob Data Contributor is not allowed",
        id="exports-writable",
    ),
    pytest.param(
        "app/exports-access.bicep",
        "  scope: exportsContainer\n",
        "  scope: exportsAccount\n",
        check_role_assignments,
        "Storage Blob Data Reader is not allowed on Microsoft.Storage/storageAccounts",
        id="exports-account-wide",
    ),
    pytest.param(
        "app/rbac.bicep",
        "  scope: tokenVault\n",
        "  scope: configVault\n",
        check_role_assignments,
        "Secrets Officer must be on the token vault only",
        id="officer-on-config-vault",
    ),
    pytest.param(
        "app/rbac.bicep",
        "principalType: 'ServicePrincipal'",
        "principalType: 'User'",
        check_role_assignments,
        "principalType",
        id="principal-type",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  STAGING_CONTAINER: stagingContainerName\n",
        "",
        lambda infra: check_app_settings(infra, APP_SETTINGS),
        "STAGING_CONTAINER",
        id="missing-setting",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  REFRESH_SCHEDULE: refreshSchedule\n",
        "  REFRESH_SCHEDULE: refreshSchedule\n  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
        lambda infra: check_app_settings(infra, APP_SETTINGS),
        "FUNCTIONS_WORKER_RUNTIME must not be set",
        id="worker-runtime-on-flex",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  REFRESH_SCHEDULE: refreshSchedule\n",
        "  REFRESH_SCHEDULE: refreshSchedule\n  EXPORTS_CONNECTION_STRING: 'x'\n",
        lambda infra: check_app_settings(infra, APP_SETTINGS),
        "EXPORTS_CONNECTION_STRING must not be set",
        id="local-only-setting",
    ),
    pytest.param(
        "app/function-app.bicep",
        "SNAPCHAT_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${configVaultName};"
        "SecretName=${snapchatClientSecretVaultName})'",
        "SNAPCHAT_CLIENT_SECRET: snapchatClientId",
        lambda infra: check_app_settings(infra, APP_SETTINGS),
        "no Key Vault reference",
        id="inline-client-secret",
    ),
    pytest.param(
        "app/function-app.bicep",
        "output name string = site.name",
        "output name string = site.name\n"
        "output key string = listKeys(storage.id, '2023-05-01').keys[0].value",
        check_no_key_material,
        "listKeys",
        id="list-keys",
    ),
    pytest.param(
        "main.bicep",
        "param tags object = {}",
        "param tags object = {}\nparam snapchatClientSecret string = ''",
        check_secure_params_and_outputs,
        "needs @secure()",
        id="insecure-secret-param",
    ),
    pytest.param(
        "app/auth.bicep",
        "unauthenticatedClientAction: 'RedirectToLoginPage'",
        "unauthenticatedClientAction: 'AllowAnonymous'",
        check_auth,
        "Return401 or RedirectToLoginPage",
        id="anonymous-allowed",
    ),
    pytest.param(
        "app/auth.bicep",
        "enabled: true\n      }\n      preserveUrlFragmentsForLogins",
        "enabled: false\n      }\n      preserveUrlFragmentsForLogins",
        check_auth,
        "tokenStore",
        id="token-store-off",
    ),
    pytest.param(
        "app/auth.bicep",
        "requireAuthentication: true",
        "requireAuthentication: false",
        check_auth,
        "requireAuthentication",
        id="auth-not-required",
    ),
    pytest.param(
        "main.bicep",
        "param tags object = {}",
        "param tags object = {}\nparam forgottenFlag bool = false",
        check_no_unused_declarations,
        "forgottenFlag is never used",
        id="unused-param",
    ),
    pytest.param(
        "main.bicep",
        "param runQueueName string = 'export-runs'",
        "param runQueueName string = 'runs'",
        check_main_defaults_match_code,
        "runQueueName",
        id="queue-default-drift",
    ),
]


@pytest.mark.parametrize(("rel", "old", "new", "check", "expected"), MUTATIONS)
def test_check_reports_broken_copy(
    infra: Infra,
    tmp_path: Path,
    rel: str,
    old: str,
    new: str,
    check: Callable[[Infra], list[str]],
    expected: str,
) -> None:
    assert check(infra) == [], "the unmodified infra/ must pass this check"
    problems = check(mutated_infra(tmp_path, rel, old, new))
    assert any(expected in problem for problem in problems), problems


def test_settings_check_reports_a_setting_the_code_adds(infra: Infra) -> None:
    grown = {**APP_SETTINGS, "SNAPCHAT_NEW_SETTING": None}
    problems = check_app_settings(infra, grown)
    assert any("SNAPCHAT_NEW_SETTING" in p for p in problems), problems


def test_bindings_check_reports_an_unknown_expression(infra: Infra, tmp_path: Path) -> None:
    source = tmp_path / "function_app.py"
    source.write_text(
        "@app.queue_trigger(arg_name='m', queue_name='%UNKNOWN_QUEUE%', connection='Exports')\n"
        "def f(m): ...\n",
        encoding="utf-8",
    )
    problems = check_bindings(infra, [source])
    assert any("%UNKNOWN_QUEUE%" in p for p in problems), problems
    assert any("'Exports'" in p for p in problems), problems
