"""Every resource body in ``infra/**/*.bicep`` type-checked against the vendored ARM schemas.

The schemas (``tests/arm_types``, from https://github.com/Azure/bicep-types-az, MIT) and the
checker (``tests/arm_typecheck.py``) stand in, offline, for the resource-body checks of
``bicep build``: unknown properties (BCP037/BCP089), read-only properties set (BCP073), required
properties missing (BCP035), string literals outside closed unions, discriminated objects and
wrong value kinds (BCP036). The first part tests the checker on small Bicep snippets against the
real schemas; the second runs it on ``infra/`` and on mutated copies of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep.models import BicepElement

from devtools.vendor_arm_type import main as vendor_main
from devtools.vendor_arm_type import vendor
from tests.arm_typecheck import (
    DEFAULT_TYPES_DIR,
    CheckResult,
    TypeFile,
    TypeIndex,
    UnknownResourceType,
    check_read,
    check_resource,
    is_expression,
    object_key,
    variable_resolver,
)
from tests.bicep_model import INFRA, Infra, accessor_chain, mutated_infra, parse_bicep, unwrap


@pytest.fixture(scope="module")
def index() -> TypeIndex:
    return TypeIndex()


def check_snippet(index: TypeIndex, source: str) -> dict[str, CheckResult]:
    """Each resource of a Bicep snippet, checked: symbol -> result."""
    tree = parse_bicep(source, "snippet.bicep")
    resolve = variable_resolver(tree.get("variables") or {})
    return {
        symbol: check_resource(
            index,
            res["type"],
            res["api_version"],
            unwrap(res["config"]),
            existing=bool(res.get("existing")),
            resolve=resolve,
        )
        for symbol, res in tree["resources"].items()
    }


def findings(index: TypeIndex, source: str) -> list[str]:
    """``symbol kind path: message`` for every finding of a snippet."""
    return [
        f"{symbol} {finding.kind} {finding}"
        for symbol, result in check_snippet(index, source).items()
        for finding in result.findings
    ]


STORAGE = """
param location string
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stexample'
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
%s
  }
}
"""


def storage(properties: str) -> str:
    return STORAGE % properties


# ------------------------------------------------------------------------------------------
# The checker, rule by rule
# ------------------------------------------------------------------------------------------


def test_a_correct_body_has_no_finding(index: TypeIndex) -> None:
    source = storage("    allowSharedKeyAccess: false\n    minimumTlsVersion: 'TLS1_2'")
    result = check_snippet(index, source)["st"]
    assert result.findings == []
    assert result.skipped == ["location"]  # a parameter: its value is unknown here


def test_unknown_property_suggests_the_close_name(index: TypeIndex) -> None:
    assert findings(index, storage("    allowSharedKeyAcess: false")) == [
        'st unknown-property properties.allowSharedKeyAcess: property "allowSharedKeyAcess" is '
        "not allowed on StorageAccountPropertiesCreateParametersOrStorageAccountProperties. "
        'Did you mean "allowSharedKeyAccess"?'
    ]


def test_unknown_property_without_a_close_name(index: TypeIndex) -> None:
    assert findings(index, storage("    colour: 'blue'")) == [
        'st unknown-property properties.colour: property "colour" is not allowed on '
        "StorageAccountPropertiesCreateParametersOrStorageAccountProperties."
    ]


def test_property_names_are_case_sensitive(index: TypeIndex) -> None:
    assert findings(index, storage("    AllowSharedKeyAccess: false")) == [
        'st unknown-property properties.AllowSharedKeyAccess: property "AllowSharedKeyAccess" '
        "is not allowed on StorageAccountPropertiesCreateParametersOrStorageAccountProperties. "
        'Did you mean "allowSharedKeyAccess"?'
    ]


def test_read_only_properties(index: TypeIndex) -> None:
    source = storage("    primaryEndpoints: {\n      blob: 'https://x'\n    }").replace(
        "  name: 'stexample'\n", "  name: 'stexample'\n  id: 'x'\n"
    )
    assert findings(index, source) == [
        'st read-only id: property "id" is read-only',
        'st read-only properties.primaryEndpoints: property "primaryEndpoints" is read-only',
    ]


def test_required_properties_of_a_new_resource(index: TypeIndex) -> None:
    source = """
resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-example'
  properties: {
    sku: {
      family: 'A'
    }
  }
}
"""
    assert findings(index, source) == [
        'kv required properties.sku.name: required property "name" of Sku is missing',
        'kv required properties.tenantId: required property "tenantId" of VaultProperties '
        "is missing",
        'kv required location: required property "location" of Microsoft.KeyVault/vaults '
        "is missing",
    ]


def test_an_existing_resource_needs_only_its_name(index: TypeIndex) -> None:
    source = """
resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: 'kv-example'
}
resource kv2 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: 'kv-example'
  location: 'westeurope'
}
resource kv3 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  scope: resourceGroup()
}
"""
    assert findings(index, source) == [
        'kv2 read-only location: property "location" cannot be set on an existing resource '
        "(only name, parent and scope)",
        'kv3 required name: required property "name" is missing',
    ]


def test_closed_union_of_string_literals(index: TypeIndex) -> None:
    source = """
resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: 'app'
}
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    globalValidation: {
      unauthenticatedClientAction: 'return401'
    }
    httpSettings: {
      forwardProxy: {
        convention: 'Everything'
      }
    }
  }
}
"""
    assert findings(index, source) == [
        "auth not-allowed properties.globalValidation.unauthenticatedClientAction: 'return401' "
        "is not one of 'RedirectToLoginPage', 'AllowAnonymous', 'Return401', 'Return403'. "
        'Did you mean "Return401"?',
        "auth not-allowed properties.httpSettings.forwardProxy.convention: 'Everything' is not "
        "one of 'NoProxy', 'Standard', 'Custom'.",
    ]


def test_open_union_accepts_any_string(index: TypeIndex) -> None:
    # siteConfig.ftpsState and storage kind are unions that also hold StringType.
    source = """
param location string
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  properties: {
    siteConfig: {
      ftpsState: 'SomeFutureState'
    }
  }
}
""" + storage("").replace("kind: 'StorageV2'", "kind: 'StorageV9'").replace(
        "param location string\n", ""
    )
    assert findings(index, source) == []


def test_wrong_value_kinds(index: TypeIndex) -> None:
    source = """
param location string
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  properties: {
    httpsOnly: 'true'
    reserved: 1
    siteConfig: 'none'
    clientCertExclusionPaths: {
      path: '/x'
    }
  }
}
"""
    assert findings(index, source) == [
        "site wrong-type properties.httpsOnly: expected bool, got string 'true'",
        "site wrong-type properties.reserved: expected bool, got int 1",
        "site wrong-type properties.siteConfig: expected object SiteConfig, got string 'none'",
        "site wrong-type properties.clientCertExclusionPaths: expected string, got object",
    ]


def test_arrays_are_checked_item_by_item(index: TypeIndex) -> None:
    source = """
param location string
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  properties: {
    siteConfig: {
      ipSecurityRestrictions: [
        {
          action: 'Allow'
          priority: 100
        }
        {
          action: 'Deny'
          priorty: 200
        }
        'everyone'
      ]
      appSettings: [
        {
          name: 'A'
          value: true
        }
      ]
    }
  }
}
"""
    assert findings(index, source) == [
        "site unknown-property properties.siteConfig.ipSecurityRestrictions[1].priorty: "
        'property "priorty" is not allowed on IpSecurityRestriction. Did you mean "priority"?',
        "site wrong-type properties.siteConfig.ipSecurityRestrictions[2]: expected object "
        "IpSecurityRestriction, got string 'everyone'",
        "site wrong-type properties.siteConfig.appSettings[0].value: expected string, "
        "got bool true",
    ]


def test_integer_and_length_limits(index: TypeIndex) -> None:
    source = """
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'stexample'
}
resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: st
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 400
    }
  }
}
"""
    assert findings(index, source) == [
        "blobs out-of-range properties.deleteRetentionPolicy.days: 400 is outside 1..365"
    ]


def test_sites_config_is_typed_by_its_name(index: TypeIndex) -> None:
    source = """
param name string
resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: 'app'
}
resource web 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'web'
  properties: {
    linuxFxVersion: 'PYTHON|3.11'
    unauthenticatedClientAction: 'Return401'
  }
}
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    ANY_NAME: 'a string'
    NOT_A_STRING: true
  }
}
resource typo 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appSettings'
  properties: {}
}
resource unknown 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: name
  properties: {}
  colour: 'blue'
}
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: 'no'
  }
}
"""
    assert findings(index, source) == [
        "web unknown-property properties.unauthenticatedClientAction: property "
        '"unauthenticatedClientAction" is not allowed on SiteConfig.',
        "settings wrong-type properties.NOT_A_STRING: expected string, got bool true",
        "typo not-allowed name: 'appSettings' is not one of 'appsettings', 'authsettings', "
        "'authsettingsV2', 'azurestorageaccounts', 'backup', 'connectionstrings', 'logs', "
        "'metadata', 'pushsettings', 'slotConfigNames', 'web'. Did you mean \"appsettings\"?",
        'unknown unknown-property colour: property "colour" is not allowed on '
        "microsoft.web/sites/config.",
        "ftp wrong-type properties.allow: expected bool, got string 'no'",
    ]
    # A name that is an expression selects no element: the element's keys are skipped.
    assert check_snippet(index, source)["unknown"].skipped == ["name", "properties"]


METRIC_ALERT = """
param scope string
resource alert 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: 'queue-backlog'
  location: 'global'
  properties: {
    severity: 2
    enabled: true
    scopes: [
      scope
    ]
    evaluationFrequency: 'PT5M'
    criteria: {
%s
    }
  }
}
"""


def test_nested_discriminators(index: TypeIndex) -> None:
    single = """      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'backlog'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Average'
          operator: 'GreaterThan'
          threshold: 1000
          criterionType: 'StaticThresholdCriterion'
          anythingElse: 'AnyType additionalProperties'
        }
      ]"""
    assert findings(index, METRIC_ALERT % single) == []
    multiple = (
        ("      'odata.type': 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria'\n")
        + """      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'backlog'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Average'
          operator: 'GreaterThan'
          threshold: '1000'
        }
        {
          criterionType: 'DynamicThresholdCriterion'
          name: 'dynamic'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Average'
          operator: 'GreaterOrLessThan'
          alertSensitivity: 'Medium'
        }
        {
          criterionType: 'StaticThreshold'
        }
      ]"""
    )
    assert findings(index, METRIC_ALERT % multiple) == [
        "alert wrong-type properties.criteria.allOf[0].threshold: expected int, got string '1000'",
        "alert required properties.criteria.allOf[1].failingPeriods: required property "
        '"failingPeriods" of DynamicMetricCriteria is missing',
        "alert not-allowed properties.criteria.allOf[2].criterionType: 'StaticThreshold' is "
        "not one of 'DynamicThresholdCriterion', 'StaticThresholdCriterion'. "
        'Did you mean "StaticThresholdCriterion"?',
    ]
    unknown = "      'odata.type': 'Microsoft.Azure.Monitor.SingleResource'"
    assert findings(index, METRIC_ALERT % unknown) == [
        "alert not-allowed properties.criteria['odata.type']: "
        "'Microsoft.Azure.Monitor.SingleResource' is not one of "
        "'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria', "
        "'Microsoft.Azure.Monitor.PromQLCriteria', "
        "'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria', "
        "'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'. "
        'Did you mean "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"?'
    ]
    missing = "      allOf: []"
    assert findings(index, METRIC_ALERT % missing) == [
        "alert required properties.criteria['odata.type']: discriminator \"odata.type\" is "
        "missing: one of ['Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria', "
        "'Microsoft.Azure.Monitor.PromQLCriteria', "
        "'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria', "
        "'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria']"
    ]


def test_variables_ternaries_unions_and_loops_are_looked_into(index: TypeIndex) -> None:
    source = """
param location string
param strict bool
param names array
var siteProperties = {
  httpsOnly: 'yes'
  siteConfig: union({
    minTlsVersion: '1.2'
  }, {
    ftpsStat: 'Disabled'
  })
}
var limits = {
  days: 0
}
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  properties: siteProperties
}
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    globalValidation: {
      unauthenticatedClientAction: strict ? 'Return401' : 'Return999'
    }
  }
}
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'stexample'
}
resource policy 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: st
  name: 'default'
  properties: {
    policy: {
      rules: [for n in names: {
        name: n
        enabled: 'yes'
        type: 'Lifecycle'
        definition: {
          actions: {
            baseBlob: {
              delete: {
                daysAfterModificationGreaterThan: limits.days
              }
            }
          }
        }
      }]
    }
  }
}
"""
    assert findings(index, source) == [
        "site wrong-type properties.httpsOnly: expected bool, got string 'yes' "
        "(value from var siteProperties)",
        'site unknown-property properties.siteConfig.ftpsStat: property "ftpsStat" is not '
        'allowed on SiteConfig. Did you mean "ftpsState"? (value from var siteProperties)',
        "auth not-allowed properties.globalValidation.unauthenticatedClientAction: 'Return999' "
        "is not one of 'RedirectToLoginPage', 'AllowAnonymous', 'Return401', 'Return403'.",
        "policy wrong-type properties.policy.rules[for].enabled: expected bool, got string 'yes'",
    ]
    # limits.days (0) resolves through the var and passes (minValue 0); n is a loop variable.
    assert check_snippet(index, source)["policy"].skipped == ["properties.policy.rules[for].name"]


def test_interpolations_computed_keys_and_language_properties(index: TypeIndex) -> None:
    source = """
param location string
param identityId string
param env string
resource other 'Microsoft.Web/sites@2024-04-01' existing = {
  name: 'other'
}
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app-${env}'
  location: location
  dependsOn: [
    other
  ]
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    httpsOnly: '${env}'
    siteConfig: {
      ftpsState: '${env}'
    }
  }
}
"""
    assert findings(index, source) == [
        "site wrong-type properties.httpsOnly: expected bool, got interpolated string"
    ]


def test_an_object_literal_is_not_mistaken_for_an_expression() -> None:
    # pycep's expression nodes are one-key dicts; a literal { operator: 'GreaterThan' } is not.
    assert is_expression({"operator": "GreaterThan"}) is False
    assert is_expression({"function": {"type": "union", "parameters": {}}}) is True
    assert object_key("'odata.type'") == "odata.type"
    assert object_key("'${identityId}'") is None
    assert object_key("plain") == "plain"


def test_unknown_type_or_version_names_what_is_vendored(index: TypeIndex) -> None:
    with pytest.raises(UnknownResourceType) as error:
        index.resource("Microsoft.Web/sites", "2099-01-01")
    assert str(error.value) == (
        f"Microsoft.Web/sites@2099-01-01 has no vendored schema in {DEFAULT_TYPES_DIR} "
        "(vendored versions of Microsoft.Web/sites: ['Microsoft.Web/sites@2024-04-01']). "
        "Add it from Azure/bicep-types-az as described in tests/arm_types/README.md."
    )
    # Type names and versions are compared case-insensitively, as Bicep does.
    assert index.resource("microsoft.web/SITES", "2024-04-01").name == (
        "Microsoft.Web/sites@2024-04-01"
    )


# ------------------------------------------------------------------------------------------
# The vendored data
# ------------------------------------------------------------------------------------------


def test_vendored_files_are_self_contained(index: TypeIndex) -> None:
    data_files = {p.name for p in DEFAULT_TYPES_DIR.glob("*@*.json")}
    indexed = set()
    for key in index.keys():
        type_name, _, version = key.partition("@")
        resource = index.resource(type_name, version)
        assert resource.name == key
        assert resource.file.nodes[-1] is resource.node, f"{key}: ResourceType is not last"
        indexed.add(resource.file.path.name)
        for ref in resource.file.refs():
            resource.file.deref(ref)  # raises when a reference leaves the file
    assert indexed == data_files
    license_text = (DEFAULT_TYPES_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in license_text and "Copyright (c) Microsoft Corporation" in license_text
    readme = (DEFAULT_TYPES_DIR / "README.md").read_text(encoding="utf-8")
    assert "1f896de2db966ad91e8f7d7d981e11d32e4f5d8d" in readme


def test_the_azure_monitor_types_are_vendored(index: TypeIndex) -> None:
    for key in (
        "Microsoft.Insights/actionGroups@2023-01-01",
        "Microsoft.Insights/scheduledQueryRules@2026-03-01",
        "Microsoft.Insights/metricAlerts@2026-01-01",
        "Microsoft.Insights/workbooks@2023-06-01",
        "Microsoft.Insights/diagnosticSettings@2021-05-01-preview",
    ):
        assert key.lower() in {k.lower() for k in index.keys()}, key


def test_a_reference_outside_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"$type": "StringType"}]), encoding="utf-8")
    type_file = TypeFile(path)
    assert type_file.deref({"$ref": "#/0"}) == {"$type": "StringType"}
    for ref in ({"$ref": "#/1"}, {"$ref": "other.json#/0"}):
        with pytest.raises(ValueError, match="does not point into the file"):
            type_file.deref(ref)


# ------------------------------------------------------------------------------------------
# infra/
# ------------------------------------------------------------------------------------------


def check_arm_types(infra: Infra, index: TypeIndex) -> list[str]:
    """``file:symbol: path: message`` for every finding in every resource body of ``infra``."""
    problems = []
    for res in infra.resources():
        if "__" in res.symbol or "__child_resource__" in res.body:
            problems.append(
                f"{res.where}: nested child resource; declare it at top level with parent: "
                "(pycep-parser loses nested siblings and their API versions)"
            )
            continue
        try:
            result = check_resource(
                index,
                res.type,
                res.api_version,
                res.body,
                existing=res.existing,
                resolve=variable_resolver(res.file.variables),
            )
        except UnknownResourceType as error:
            problems.append(f"{res.where}: {error}")
            continue
        problems.extend(f"{res.where}: {finding}" for finding in result.findings)
    return problems


#: ``${symbol.a.b}`` inside a string literal (pycep leaves interpolations as text).
READ_IN_STRING = re.compile(r"\$\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\}")


def property_reads(tree: dict[str, Any]) -> list[list[str]]:
    """Every ``symbol.a.b`` read in a parsed file: accessor expressions and interpolations."""
    found: list[list[str]] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            chain = accessor_chain(node) if is_expression(node) else None
            if chain:
                found.append(chain)
            else:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and not isinstance(node, BicepElement):
            found.extend(match.split(".") for match in READ_IN_STRING.findall(node))
    return found


def check_reads(infra: Infra, index: TypeIndex) -> list[str]:
    """``file: symbol.path: message`` for every read of a resource property the schema lacks."""
    problems = []
    for bicep_file in infra.files.values():
        resources = bicep_file.tree.get("resources") or {}
        for head, *names in property_reads(bicep_file.tree):
            if head not in resources or not names:
                continue
            res = resources[head]
            try:
                finding = check_read(
                    index, res["type"], res["api_version"], unwrap(res["config"]), names
                )
            except UnknownResourceType:
                continue  # check_arm_types reports it
            if finding is not None:
                problems.append(f"{bicep_file.rel}: {head}.{finding.path}: {finding.message}")
    return problems


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra(INFRA)


def test_every_resource_type_and_version_in_infra_is_vendored(
    infra: Infra, index: TypeIndex
) -> None:
    used = {f"{r.type}@{r.api_version}".lower() for r in infra.resources()}
    assert len(used) >= 10
    missing = used - {k.lower() for k in index.keys()}
    assert not missing, f"no vendored schema for {sorted(missing)}: see tests/arm_types/README.md"


def test_every_resource_body_in_infra_type_checks(infra: Infra, index: TypeIndex) -> None:
    assert len(list(infra.resources())) >= 25
    assert check_arm_types(infra, index) == []


def test_every_resource_property_read_in_infra_exists(infra: Infra, index: TypeIndex) -> None:
    reads = [r for f in infra.files.values() for r in property_reads(f.tree)]
    assert ["site", "properties", "defaultHostName"] in reads
    assert ["appInsights", "properties", "ConnectionString"] in reads  # an interpolation
    assert ["storage", "properties", "primaryEndpoints", "blob"] in reads
    assert check_reads(infra, index) == []


def test_reads_of_missing_or_write_only_properties(index: TypeIndex) -> None:
    def read(type_name: str, names: str, body: dict[str, Any] | None = None) -> str | None:
        type_name, _, version = type_name.partition("@")
        finding = check_read(index, type_name, version, body or {}, names.split("."))
        return None if finding is None else f"{finding.kind} {finding}"

    sites = "Microsoft.Web/sites@2024-04-01"
    assert read(sites, "properties.defaultHostName") is None
    assert read(sites, "properties.defaultHostname") == (
        'unknown-property properties.defaultHostname: property "defaultHostname" does not '
        'exist on SiteProperties. Did you mean "defaultHostName"?'
    )
    assert read(sites, "properties.cloningInfo") == (
        'write-only properties.cloningInfo: property "cloningInfo" is write-only: it cannot be read'
    )
    assert read(sites, "tags.anything") is None  # additionalProperties
    config = "Microsoft.Web/sites/config@2024-04-01"
    assert read(config, "properties.linuxFxVersion", {"name": "web"}) is None
    assert (
        read(config, "properties.linuxFxVersion", {"name": "appsettings"}) is None
    )  # a string map
    assert read(config, "properties.linuxFxVersio", {"name": "web"}) == (
        'unknown-property properties.linuxFxVersio: property "linuxFxVersio" does not exist on '
        'SiteConfig. Did you mean "linuxFxVersion"?'
    )
    assert read(config, "properties.anything", {"name": BicepElement("configName")}) is None


def test_reads_check_reports_a_broken_copy(infra: Infra, index: TypeIndex, tmp_path: Path) -> None:
    broken = mutated_infra(
        tmp_path,
        "core/identity.bicep",
        "identity.properties.clientId",
        "identity.properties.clientID",
    )
    assert check_reads(broken, index) == [
        'core/identity.bicep: identity.properties.clientID: property "clientID" does not exist '
        'on UserAssignedIdentityProperties. Did you mean "clientId"?'
    ]


MUTATIONS = [
    pytest.param(
        "core/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAcess: false",
        "core/storage.bicep:storage: properties.allowSharedKeyAcess: property "
        '"allowSharedKeyAcess" is not allowed on '
        "StorageAccountPropertiesCreateParametersOrStorageAccountProperties. "
        'Did you mean "allowSharedKeyAccess"?',
        id="misspelled-property",
    ),
    pytest.param(
        "app/function-app.bicep",
        "    httpsOnly: true\n",
        "    httpsOnly: true\n    defaultHostName: 'app.example.net'\n",
        "app/function-app.bicep:site: properties.defaultHostName: property "
        '"defaultHostName" is read-only',
        id="read-only-property",
    ),
    pytest.param(
        "core/keyvault.bicep",
        "  location: location\n",
        "",
        'core/keyvault.bicep:vault: location: required property "location" of '
        "Microsoft.KeyVault/vaults is missing",
        id="required-missing",
    ),
    pytest.param(
        "app/auth.bicep",
        "unauthenticatedClientAction: 'RedirectToLoginPage'",
        "unauthenticatedClientAction: 'Return402'",
        "app/auth.bicep:authSettings: properties.globalValidation.unauthenticatedClientAction: "
        "'Return402' is not one of 'RedirectToLoginPage', 'AllowAnonymous', 'Return401', "
        "'Return403'.",
        id="closed-union",
    ),
    pytest.param(
        "app/function-app.bicep",
        "name: 'appsettings'",
        "name: 'appSettings'",
        "app/function-app.bicep:appSettingsConfig: name: 'appSettings' is not one of",
        id="sites-config-name",
    ),
    pytest.param(
        "app/function-app.bicep",
        "httpsOnly: true",
        "httpsOnly: 'true'",
        "app/function-app.bicep:site: properties.httpsOnly: expected bool, got string 'true'",
        id="wrong-kind",
    ),
    pytest.param(
        "app/function-app.bicep",
        "  REFRESH_SCHEDULE: refreshSchedule\n",
        "  REFRESH_SCHEDULE: refreshSchedule\n  SNAPCHAT_ENABLED: true\n",
        "app/function-app.bicep:appSettingsConfig: properties.SNAPCHAT_ENABLED: expected "
        "string, got bool true (value from var appSettings)",
        id="app-setting-not-a-string",
    ),
    pytest.param(
        "core/storage.bicep",
        "'appendBlob'",
        "'pageBlob'\n                5",
        "core/storage.bicep:stagingLifecycle: "
        "properties.policy.rules[0].definition.filters.blobTypes[2]: expected string, got int 5",
        id="array-item",
    ),
    pytest.param(
        "core/storage.bicep",
        "'Microsoft.Storage/storageAccounts/queueServices@2023-05-01'",
        "'Microsoft.Storage/storageAccounts/queueServices@2099-01-01'",
        "core/storage.bicep:queueService: "
        "Microsoft.Storage/storageAccounts/queueServices@2099-01-01 has no vendored schema",
        id="api-version-not-vendored",
    ),
]


@pytest.mark.parametrize(("rel", "old", "new", "expected"), MUTATIONS)
def test_type_check_reports_a_broken_copy(
    infra: Infra, index: TypeIndex, tmp_path: Path, rel: str, old: str, new: str, expected: str
) -> None:
    assert check_arm_types(infra, index) == [], "the unmodified infra/ must pass"
    problems = check_arm_types(mutated_infra(tmp_path, rel, old, new), index)
    assert [p for p in problems if p.startswith(expected)] != [], problems
    assert len(problems) == 1, problems


def test_nested_child_resources_are_refused(infra: Infra, index: TypeIndex, tmp_path: Path) -> None:
    nested = "  resource inner 'queues' = {\n    name: 'extra'\n  }\n}\n\nresource queues "
    broken = mutated_infra(tmp_path, "core/storage.bicep", "}\n\nresource queues ", nested)
    assert check_arm_types(broken, index) == [
        "core/storage.bicep:queueService__inner: nested child resource; declare it at top "
        "level with parent: (pycep-parser loses nested siblings and their API versions)"
    ]


# ------------------------------------------------------------------------------------------
# devtools/vendor_arm_type.py
# ------------------------------------------------------------------------------------------


def test_vendoring_a_vendored_file_again_changes_nothing(tmp_path: Path, index: TypeIndex) -> None:
    # Each vendored file is a valid source with one ResourceType: re-trimming it must give the
    # same bytes and the same index entry, so the script reproduces the vendored layout.
    (tmp_path / "index.json").write_text(
        (DEFAULT_TYPES_DIR / "index.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for key in index.keys():
        type_name, _, version = key.partition("@")
        source = index.resource(type_name, version).file.path
        target = vendor(source, key, tmp_path)
        assert target.name == source.name
        assert target.read_bytes() == source.read_bytes(), key
    assert (tmp_path / "index.json").read_bytes() == (DEFAULT_TYPES_DIR / "index.json").read_bytes()


def test_vendoring_keeps_only_the_reachable_nodes(tmp_path: Path) -> None:
    source_nodes = [
        {"$type": "StringType"},
        {"$type": "StringLiteralType", "value": "Microsoft.Example/things"},
        {"$type": "StringLiteralType", "value": "unused"},
        {
            "$type": "ObjectType",
            "name": "Microsoft.Example/things",
            "properties": {
                "name": {"type": {"$ref": "#/0"}, "flags": 9},
                "type": {"type": {"$ref": "#/1"}, "flags": 10},
                "colour": {"type": {"$ref": "#/5"}, "flags": 0},
            },
        },
        {"$type": "ObjectType", "name": "Other", "properties": {}},
        {"$type": "UnionType", "elements": [{"$ref": "#/6"}, {"$ref": "#/7"}]},
        {"$type": "StringLiteralType", "value": "red"},
        {"$type": "StringLiteralType", "value": "blue"},
        {
            "$type": "ResourceType",
            "name": "Microsoft.Example/others@2020-01-01",
            "body": {"$ref": "#/4"},
        },
        {
            "$type": "ResourceType",
            "name": "Microsoft.Example/things@2020-01-01",
            "body": {"$ref": "#/3"},
        },
    ]
    source = tmp_path / "types.json"
    source.write_text(json.dumps(source_nodes), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.json").write_text(json.dumps({"resources": {}}), encoding="utf-8")
    assert vendor_main([str(source), "microsoft.example/THINGS@2020-01-01", "--out", str(out)]) == 0
    written = json.loads((out / "Microsoft.Example_things@2020-01-01.json").read_text())
    assert [n.get("value") or n.get("name") or n["$type"] for n in written] == [
        "StringType",
        "Microsoft.Example/things",
        "Microsoft.Example/things",
        "UnionType",
        "red",
        "blue",
        "Microsoft.Example/things@2020-01-01",
    ]
    assert written[2]["properties"]["colour"]["type"] == {"$ref": "#/3"}
    assert written[3]["elements"] == [{"$ref": "#/4"}, {"$ref": "#/5"}]
    assert written[6]["body"] == {"$ref": "#/2"}
    assert json.loads((out / "index.json").read_text()) == {
        "resources": {
            "Microsoft.Example/things@2020-01-01": {
                "$ref": "Microsoft.Example_things@2020-01-01.json#/6"
            }
        }
    }
    # The result is usable by the checker straight away.
    result = check_resource(
        TypeIndex(out), "Microsoft.Example/things", "2020-01-01", {"name": "x", "colour": "green"}
    )
    assert [str(f) for f in result.findings] == ["colour: 'green' is not one of 'red', 'blue'."]
    assert (
        vendor_main([str(source), "Microsoft.Example/missing@2020-01-01", "--out", str(out)]) == 1
    )
