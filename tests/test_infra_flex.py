"""Flex Consumption rules as tests: nothing in ``infra/`` that a Flex Consumption app rejects or
no longer uses.

The ARM schemas cannot tell (``siteConfig.ftpsState`` is a valid ``Microsoft.Web/sites``
property in the REST API); the rules come from the platform's own answers and documentation:

- **siteConfig properties.** A Flex Consumption (FC1) site rejects some ``siteConfig``
  properties with ARM error 51021: "The following list of 4 site configuration properties
  (Site.SiteConfig.FtpsState, Site.SiteConfig.Use32BitWorkerProcess,
  Site.SiteConfig.NetFrameworkVersion, Site.SiteConfig.FunctionsRuntimeScaleMonitoringEnabled)
  for Flex Consumption sites is invalid"
  (https://github.com/microsoft/azure-pipelines-tasks/issues/21032), and "The following site
  configuration property (Site.SiteConfig.LinuxFxVersion) for Flex Consumption sites is
  invalid" (https://github.com/Azure/terraform-azurerm-avm-res-web-site/pull/345). That pull
  request omits, for FC1, every property in :data:`FLEX_REJECTED_SITE_CONFIG`: on Flex the
  runtime lives in ``functionAppConfig.runtime`` and scaling in
  ``functionAppConfig.scaleAndConcurrency``. Enforcement varies by region (the first issue
  reports West Europe rejecting what North Europe still accepted), so a template that deploys
  once is no proof.
- **App settings.** Microsoft Learn, "App settings reference for Azure Functions", section
  "Flex Consumption plan deprecations"
  (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations)
  lists the settings Flex sets itself or does not use (:data:`FLEX_DEPRECATED_SETTINGS`).
  ``FUNCTIONS_WORKER_PROCESS_COUNT`` is not documented for Flex Consumption: the app must not
  depend on it in Azure, so it is not set there (it stays a local-run knob).

Both lists are held against every ``.bicep`` file, wherever a property or a setting could be
written: ``siteConfig`` in ``Microsoft.Web/sites`` (and ``sites/slots``) bodies and the
``properties`` of ``sites/config`` ``web``; app settings in ``sites/config`` ``appsettings`` and
in ``siteConfig.appSettings`` arrays. Objects built from variables, ``union()``, ternaries
(both branches) and ``concat()`` are followed; a name the check cannot read (a parameter, a
computed key, a loop) is reported, so the deny-lists cannot be bypassed by accident.
Names are compared case-insensitively, as ARM and App Service compare them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.arm_typecheck import (
    Resolver,
    call,
    is_expression,
    is_loop,
    literal_string,
    object_key,
    operator,
    variable_resolver,
)
from tests.bicep_model import INFRA, Infra, Resource, mutated_infra

ISSUE_51021 = "ARM error 51021, microsoft/azure-pipelines-tasks#21032"
AVM_345 = "omitted for FC1 by Azure/terraform-azurerm-avm-res-web-site#345"

#: siteConfig properties a Flex Consumption site rejects (ARM error 51021) or that Azure
#: Verified Modules omit for FC1, with the evidence for each.
FLEX_REJECTED_SITE_CONFIG: dict[str, str] = {
    "alwaysOn": AVM_345,
    "ftpsState": ISSUE_51021,
    "preWarmedInstanceCount": AVM_345,
    "use32BitWorkerProcess": ISSUE_51021,
    "linuxFxVersion": f"ARM error 51021 quoted in {AVM_345}; runtime is functionAppConfig",
    "windowsFxVersion": f"{AVM_345}; Flex is Linux only",
    "netFrameworkVersion": ISSUE_51021,
    "phpVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "pythonVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "nodeVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "javaVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "javaContainer": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "javaContainerVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "powerShellVersion": f"{AVM_345}; runtime is functionAppConfig.runtime",
    "functionsRuntimeScaleMonitoringEnabled": ISSUE_51021,
    "functionAppScaleLimit": f"{AVM_345}; scale is functionAppConfig.scaleAndConcurrency",
}

LEARN_DEPRECATIONS = "Microsoft Learn, functions-app-settings, Flex Consumption plan deprecations"

#: App settings deprecated on Flex Consumption (set by the platform, or not used there).
FLEX_DEPRECATED_SETTINGS: dict[str, str] = {
    "FUNCTIONS_WORKER_RUNTIME": "runtime: functionAppConfig.runtime.name",
    "FUNCTIONS_EXTENSION_VERSION": "runtime version: set by the platform",
    "WEBSITE_RUN_FROM_PACKAGE": "deployment: functionAppConfig.deployment.storage",
    "WEBSITE_CONTENTSHARE": "deployment: no content file share on Flex",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "deployment: no content file share on Flex",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "deployment setting",
    "ENABLE_ORYX_BUILD": "deployment setting",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "scale: maximumInstanceCount",
    "WEBSITE_TIME_ZONE": "time zone: not supported, schedules run in UTC",
    "TZ": "time zone: not supported, schedules run in UTC",
}

#: App settings this app must not set in Azure although Flex does not list them.
NOT_IN_AZURE_SETTINGS: dict[str, str] = {
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not documented on Flex Consumption; local runs only",
}

SITES = {"microsoft.web/sites", "microsoft.web/sites/slots"}
SITE_CONFIGS = {"microsoft.web/sites/config", "microsoft.web/sites/slots/config"}


# ------------------------------------------------------------------------------------------
# Reading objects, arrays and names out of pycep values
# ------------------------------------------------------------------------------------------


class Reader:
    """Reads object keys, array items and literal names of one file, reporting what it cannot.

    ``problems`` collects ``where: why`` for every value built in a way the check cannot follow
    (a parameter, a function other than ``union``/``concat``, a computed key, a loop).
    """

    def __init__(self, resolve: Resolver, problems: list[str]) -> None:
        self.resolve = resolve
        self.problems = problems

    def _cannot(self, where: str, value: Any, what: str) -> None:
        self.problems.append(
            f"{where}: {what} comes from an expression the Flex check cannot read "
            f"({describe_expression(value)}); build it from literals, vars, union() or ternaries"
        )

    def entries(self, value: Any, where: str, depth: int = 0) -> list[tuple[str, Any]]:
        """``(key, value)`` of an object literal, var, ``union()`` or ternary (both branches)."""
        if depth > 20:
            self._cannot(where, value, "an object")
            return []
        if is_expression(value):
            resolved = self.resolve(value)
            if resolved is not None:
                return self.entries(resolved[0], where, depth + 1)
            op = operator(value)
            if op is not None and op[0] == "conditional":
                return self.entries(op[1].get("true_value"), where, depth + 1) + self.entries(
                    op[1].get("false_value"), where, depth + 1
                )
            function = call(value)
            if function is not None and function[0] == "union":
                return [e for arg in function[1] for e in self.entries(arg, where, depth + 1)]
            self._cannot(where, value, "an object")
            return []
        if not isinstance(value, dict):
            self.problems.append(f"{where}: expected an object, found {value!r}")
            return []
        found = []
        for raw, item in value.items():
            key = object_key(raw)
            if key is None:
                self.problems.append(f"{where}: computed key {raw} cannot be checked")
                continue
            found.append((key, item))
        return found

    def items(self, value: Any, where: str, depth: int = 0) -> list[Any]:
        """Items of an array literal, var, ``concat()``/``union()``, ternary or ``for`` body."""
        if depth > 20:
            self._cannot(where, value, "an array")
            return []
        if is_loop(value):
            return [value["config"]]  # the item template: its names must still be literals
        if is_expression(value):
            resolved = self.resolve(value)
            if resolved is not None:
                return self.items(resolved[0], where, depth + 1)
            op = operator(value)
            if op is not None and op[0] == "conditional":
                return self.items(op[1].get("true_value"), where, depth + 1) + self.items(
                    op[1].get("false_value"), where, depth + 1
                )
            function = call(value)
            if function is not None and function[0] in ("concat", "union"):
                return [i for arg in function[1] for i in self.items(arg, where, depth + 1)]
            self._cannot(where, value, "an array")
            return []
        if not isinstance(value, list):
            self.problems.append(f"{where}: expected an array, found {value!r}")
            return []
        return list(value)

    def literal(self, value: Any, where: str, what: str) -> str | None:
        """A string literal, possibly through a var; None (and a problem) otherwise."""
        resolved = self.resolve(value) if is_expression(value) else None
        if resolved is not None:
            value = resolved[0]
        text = literal_string(value)
        if text is None:
            self._cannot(where, value, what)
        return text

    def get(self, value: Any, key: str, where: str) -> Any:
        """``value[key]`` of an object read with :meth:`entries` (None when absent)."""
        for name, item in self.entries(value, where):
            if name == key:
                return item
        return None


def describe_expression(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if is_loop(value):
        return "a for-expression"
    op = operator(value)
    if op is not None:
        return f"operator {op[0]}"
    function = call(value)
    if function is not None:
        return f"{function[0]}()"
    return repr(value)


def reader_for(res: Resource, problems: list[str]) -> Reader:
    return Reader(variable_resolver(res.file.variables), problems)


def config_name(res: Resource, reader: Reader) -> str | None:
    """The literal name of a ``sites/config`` resource, lower-cased."""
    name = reader.literal(res.body.get("name"), f"{res.where} name", "the config name")
    return name.lower() if name is not None else None


def site_config_objects(infra: Infra, problems: list[str]) -> Iterator[tuple[str, Reader, Any]]:
    """``(where, reader, value)`` of every siteConfig-shaped object in ``infra``."""
    for res in infra.resources():
        kind = res.type.lower()
        if res.existing or kind not in SITES | SITE_CONFIGS:
            continue
        reader = reader_for(res, problems)
        if kind in SITES:
            properties = res.body.get("properties")
            if properties is None:
                continue
            site_config = reader.get(properties, "siteConfig", f"{res.where} properties")
            if site_config is not None:
                yield f"{res.where} properties.siteConfig", reader, site_config
        elif config_name(res, reader) == "web":
            yield f"{res.where} properties", reader, res.body.get("properties") or {}


def site_config_keys(infra: Infra, problems: list[str]) -> list[tuple[str, str]]:
    """``(where, property)`` for every property set in a siteConfig of ``infra``."""
    return [
        (f"{where}.{key}", key)
        for where, reader, value in site_config_objects(infra, problems)
        for key, _ in reader.entries(value, where)
    ]


def app_setting_names(infra: Infra, problems: list[str]) -> list[tuple[str, str]]:
    """``(where, setting name)`` for every app setting ``infra`` sets, wherever it is set."""
    found: list[tuple[str, str]] = []
    for res in infra.resources():
        if res.existing or res.type.lower() not in SITE_CONFIGS:
            continue
        reader = reader_for(res, problems)
        if config_name(res, reader) == "appsettings":
            where = f"{res.where} properties"
            value = res.body.get("properties") or {}
            found.extend((f"{where}.{key}", key) for key, _ in reader.entries(value, where))
    for where, reader, value in site_config_objects(infra, problems):
        array = reader.get(value, "appSettings", where)
        if array is None:
            continue
        for i, item in enumerate(reader.items(array, f"{where}.appSettings")):
            item_where = f"{where}.appSettings[{i}]"
            name = reader.literal(reader.get(item, "name", item_where), item_where, "the name")
            if name is not None:
                found.append((item_where, name))
    return found


# ------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty = invariant holds)
# ------------------------------------------------------------------------------------------


def check_flex_site_config(infra: Infra) -> list[str]:
    """No siteConfig property that Flex Consumption rejects."""
    problems: list[str] = []
    rejected = {name.lower(): name for name in FLEX_REJECTED_SITE_CONFIG}
    for where, key in site_config_keys(infra, problems):
        if key.lower() in rejected:
            canonical = rejected[key.lower()]
            problems.append(
                f"{where}: Flex Consumption rejects siteConfig.{canonical} "
                f"({FLEX_REJECTED_SITE_CONFIG[canonical]})"
            )
    return problems


def check_flex_app_settings(infra: Infra) -> list[str]:
    """No app setting deprecated on Flex Consumption, none this app keeps out of Azure."""
    problems: list[str] = []
    for where, name in app_setting_names(infra, problems):
        upper = name.upper()
        if upper in FLEX_DEPRECATED_SETTINGS:
            problems.append(
                f"{where}: app setting {upper} is deprecated on Flex Consumption "
                f"({FLEX_DEPRECATED_SETTINGS[upper]}; {LEARN_DEPRECATIONS})"
            )
        if upper in NOT_IN_AZURE_SETTINGS:
            problems.append(
                f"{where}: app setting {upper} must not be set in Azure "
                f"({NOT_IN_AZURE_SETTINGS[upper]})"
            )
    return problems


# ------------------------------------------------------------------------------------------
# Positive tests: the real infra/
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra(INFRA)


def test_infra_sets_no_site_config_property_flex_rejects(infra: Infra) -> None:
    assert check_flex_site_config(infra) == []


def test_infra_sets_no_app_setting_flex_deprecates(infra: Infra) -> None:
    assert check_flex_app_settings(infra) == []


def test_the_checks_see_every_site_config_property_and_app_setting(infra: Infra) -> None:
    # Not vacuous: the readers find what function-app.bicep sets, through the appSettings
    # var, its union() and the ternary in authCredentialSettings.
    problems: list[str] = []
    assert site_config_keys(infra, problems) == [
        ("app/function-app.bicep:site properties.siteConfig.minTlsVersion", "minTlsVersion")
    ]
    names = [name for _, name in app_setting_names(infra, problems)]
    assert problems == []
    assert len(names) == len(set(names)) == 32  # 28 + the four ENTRA_* settings
    assert {"AzureWebJobsStorage__accountName", "SNAPCHAT_CLIENT_SECRET", "PUBLIC_BASE_URL"} < set(
        names
    )
    assert names[-1] == "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"  # the ternary's true branch


def test_deny_lists_are_the_documented_ones() -> None:
    assert len(FLEX_REJECTED_SITE_CONFIG) == 16
    assert len(FLEX_DEPRECATED_SETTINGS) == 10
    assert set(NOT_IN_AZURE_SETTINGS) == {"FUNCTIONS_WORKER_PROCESS_COUNT"}


# ------------------------------------------------------------------------------------------
# Negative tests: each check reports a broken copy of infra/
# ------------------------------------------------------------------------------------------

SITE_CONFIG_LITERAL = "    siteConfig: {\n      minTlsVersion: '1.2'\n"
APP_SETTINGS_LITERAL = "  REFRESH_SCHEDULE: refreshSchedule\n"
SITE_WHERE = "app/function-app.bicep:site properties.siteConfig"
SETTINGS_WHERE = "app/function-app.bicep:appSettingsConfig properties"
WEB_CONFIG = """
resource webConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: %s
  properties: {
%s
  }
}
"""


def add_web_config(name: str, properties: str) -> tuple[str, str]:
    """A mutation appending a ``sites/config`` resource to function-app.bicep."""
    anchor = "output name string = site.name"
    return anchor, WEB_CONFIG % (name, properties) + "\n" + anchor


@pytest.mark.parametrize("prop", sorted(FLEX_REJECTED_SITE_CONFIG))
def test_each_rejected_site_config_property_is_reported(
    infra: Infra, tmp_path: Path, prop: str
) -> None:
    broken = mutated_infra(
        tmp_path,
        "app/function-app.bicep",
        SITE_CONFIG_LITERAL,
        f"{SITE_CONFIG_LITERAL}      {prop}: true\n",
    )
    assert check_flex_site_config(broken) == [
        f"{SITE_WHERE}.{prop}: Flex Consumption rejects siteConfig.{prop} "
        f"({FLEX_REJECTED_SITE_CONFIG[prop]})"
    ]


@pytest.mark.parametrize("name", sorted(FLEX_DEPRECATED_SETTINGS))
def test_each_deprecated_app_setting_is_reported(infra: Infra, tmp_path: Path, name: str) -> None:
    broken = mutated_infra(
        tmp_path,
        "app/function-app.bicep",
        APP_SETTINGS_LITERAL,
        f"{APP_SETTINGS_LITERAL}  {name}: 'x'\n",
    )
    assert check_flex_app_settings(broken) == [
        f"{SETTINGS_WHERE}.{name}: app setting {name} is deprecated on Flex Consumption "
        f"({FLEX_DEPRECATED_SETTINGS[name]}; {LEARN_DEPRECATIONS})"
    ]


MUTATIONS = [
    pytest.param(
        "app/function-app.bicep",
        SITE_CONFIG_LITERAL,
        f"{SITE_CONFIG_LITERAL}      ftpsState: 'Disabled'\n",
        check_flex_site_config,
        [f"{SITE_WHERE}.ftpsState: Flex Consumption rejects siteConfig.ftpsState ({ISSUE_51021})"],
        id="ftpsState-as-it-was",
    ),
    pytest.param(
        "app/function-app.bicep",
        SITE_CONFIG_LITERAL,
        f"{SITE_CONFIG_LITERAL}      FtpsState: 'Disabled'\n",
        check_flex_site_config,
        [f"{SITE_WHERE}.FtpsState: Flex Consumption rejects siteConfig.ftpsState ({ISSUE_51021})"],
        id="site-config-case-insensitive",
    ),
    pytest.param(
        "app/function-app.bicep",
        "    siteConfig: {\n      minTlsVersion: '1.2'\n    }\n",
        "    siteConfig: union({\n      minTlsVersion: '1.2'\n    }, {\n      alwaysOn: false\n"
        "    })\n",
        check_flex_site_config,
        [f"{SITE_WHERE}.alwaysOn: Flex Consumption rejects siteConfig.alwaysOn ({AVM_345})"],
        id="site-config-built-with-union",
    ),
    pytest.param(
        "app/function-app.bicep",
        *add_web_config("'web'", "    linuxFxVersion: 'Python|3.11'"),
        check_flex_site_config,
        [
            "app/function-app.bicep:webConfig properties.linuxFxVersion: Flex Consumption "
            f"rejects siteConfig.linuxFxVersion ({FLEX_REJECTED_SITE_CONFIG['linuxFxVersion']})"
        ],
        id="sites-config-web",
    ),
    pytest.param(
        "app/function-app.bicep",
        *add_web_config("planName", "    alwaysOn: false"),
        check_flex_site_config,
        [
            "app/function-app.bicep:webConfig name: the config name comes from an expression "
            "the Flex check cannot read ('planName'); build it from literals, vars, union() or "
            "ternaries"
        ],
        id="sites-config-name-not-literal",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: '@Micro",
        "  WEBSITE_TIME_ZONE: 'UTC'\n  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: '@Micro",
        check_flex_app_settings,
        [
            f"{SETTINGS_WHERE}.WEBSITE_TIME_ZONE: app setting WEBSITE_TIME_ZONE is deprecated "
            f"on Flex Consumption ({FLEX_DEPRECATED_SETTINGS['WEBSITE_TIME_ZONE']}; "
            f"{LEARN_DEPRECATIONS})"
        ],
        id="setting-in-a-ternary-branch",
    ),
    pytest.param(
        "app/function-app.bicep",
        APP_SETTINGS_LITERAL,
        f"{APP_SETTINGS_LITERAL}  tz: 'Europe/Paris'\n",
        check_flex_app_settings,
        [
            f"{SETTINGS_WHERE}.tz: app setting TZ is deprecated on Flex Consumption "
            f"({FLEX_DEPRECATED_SETTINGS['TZ']}; {LEARN_DEPRECATIONS})"
        ],
        id="setting-case-insensitive",
    ),
    pytest.param(
        "app/function-app.bicep",
        APP_SETTINGS_LITERAL,
        f"{APP_SETTINGS_LITERAL}  FUNCTIONS_WORKER_PROCESS_COUNT: '2'\n",
        check_flex_app_settings,
        [
            f"{SETTINGS_WHERE}.FUNCTIONS_WORKER_PROCESS_COUNT: app setting "
            "FUNCTIONS_WORKER_PROCESS_COUNT must not be set in Azure (not documented on Flex "
            "Consumption; local runs only)"
        ],
        id="worker-process-count",
    ),
    pytest.param(
        "app/function-app.bicep",
        SITE_CONFIG_LITERAL,
        f"{SITE_CONFIG_LITERAL}      appSettings: [\n        {{\n"
        "          name: 'FUNCTIONS_EXTENSION_VERSION'\n          value: '~4'\n        }\n"
        "      ]\n",
        check_flex_app_settings,
        [
            f"{SITE_WHERE}.appSettings[0]: app setting FUNCTIONS_EXTENSION_VERSION is "
            "deprecated on Flex Consumption (runtime version: set by the platform; "
            f"{LEARN_DEPRECATIONS})"
        ],
        id="site-config-app-settings-array",
    ),
    pytest.param(
        "app/function-app.bicep",
        *add_web_config(
            "'web'",
            "    appSettings: concat([], [\n      {\n        name: 'ENABLE_ORYX_BUILD'\n"
            "        value: 'true'\n      }\n    ])",
        ),
        check_flex_app_settings,
        [
            "app/function-app.bicep:webConfig properties.appSettings[0]: app setting "
            "ENABLE_ORYX_BUILD is deprecated on Flex Consumption (deployment setting; "
            f"{LEARN_DEPRECATIONS})"
        ],
        id="web-config-app-settings-concat",
    ),
    pytest.param(
        "app/function-app.bicep",
        SITE_CONFIG_LITERAL,
        f"{SITE_CONFIG_LITERAL}      appSettings: [\n        {{\n"
        "          name: runQueueName\n          value: '1'\n        }\n      ]\n",
        check_flex_app_settings,
        [
            f"{SITE_WHERE}.appSettings[0]: the name comes from an expression the Flex check "
            "cannot read ('runQueueName'); build it from literals, vars, union() or ternaries"
        ],
        id="app-setting-name-from-a-parameter",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  properties: appSettings\n",
        "  properties: union(appSettings, tags)\n",
        check_flex_app_settings,
        [
            f"{SETTINGS_WHERE}: an object comes from an expression the Flex check cannot read "
            "('tags'); build it from literals, vars, union() or ternaries"
        ],
        id="app-settings-from-a-parameter",
    ),
]


@pytest.mark.parametrize(("rel", "old", "new", "check", "expected"), MUTATIONS)
def test_flex_check_reports_a_broken_copy(
    infra: Infra,
    tmp_path: Path,
    rel: str,
    old: str,
    new: str,
    check: Callable[[Infra], list[str]],
    expected: list[str],
) -> None:
    assert check(infra) == [], "the unmodified infra/ must pass this check"
    assert check(mutated_infra(tmp_path, rel, old, new)) == expected
