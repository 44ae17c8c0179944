"""Static checks of the operations part of ``infra/`` (``infra/ops/``): the alerts, the workbook
and the diagnostic settings, and every KQL query they hold against the run events.

The queries are found from the parsed Bicep (a rule's ``criteria.allOf[].query``, the
workbook's ``serializedData``), followed into the files ``loadTextContent`` reads, so a new
rule or workbook item is checked without editing this file. Every ``Properties.<field>`` /
``Properties["<field>"]`` a query reads must be a field of the event it filters on
(``Name == "<event>"``), as listed in :data:`shared.run_events.EVENT_FIELDS`; any other use
of ``Properties`` is reported, so a reference cannot slip past the parser.

Like ``tests/test_infra.py``, each invariant is a ``check_*`` function returning problems,
and the negative tests at the end run it on a mutated copy of ``infra/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.run_events import EVENT_FIELDS, RUN_EVENT, SCHEDULE_EVENT
from tests.bicep_model import INFRA, BicepFile, Infra, Resource, accessor_chain, mutated_infra

ALERTS_BICEP = "ops/alerts.bicep"
SCHEDULED_QUERY_RULE = "Microsoft.Insights/scheduledQueryRules"
ACTION_GROUP = "Microsoft.Insights/actionGroups"
ALERT_TYPES = {SCHEDULED_QUERY_RULE, ACTION_GROUP, "Microsoft.Insights/metricAlerts"}
WORKBOOK = "Microsoft.Insights/workbooks"
DIAGNOSTIC_SETTINGS = "Microsoft.Insights/diagnosticSettings"
WORKSPACE = "Microsoft.OperationalInsights/workspaces"
SITE = "Microsoft.Web/sites"
WORKSPACE_PLACEHOLDER = "__WORKSPACE_ID__"

#: Measure column of each rule -> the threshold it must be compared with: a literal, the
#: alerts.bicep parameter, or (parameter, factor) for ``parameter * factor``.
THRESHOLDS: dict[str, Any] = {
    "failed": 0,
    "invalid_percent": "invalidSharePercent",
    "audience_drop_percent": "audienceDropPercent",
    "hours_without_success": ("staleAfterDays", 24),
}
#: alerts.bicep parameter -> (main.bicep parameter feeding it, its default).
MAIN_THRESHOLDS = {
    "invalidSharePercent": ("alertInvalidSharePercent", 20),
    "audienceDropPercent": ("alertAudienceDropPercent", 30),
    "staleAfterDays": ("alertStaleAfterDays", 2),
}
#: Stateful (auto-resolving) log search alerts: evaluated at least every 12 hours; a query
#: reads at most two days ("Create or edit a log search alert rule",
#: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-log-alert-rule).
MAX_STATEFUL_FREQUENCY_S = 12 * 3600
MAX_QUERY_RANGE_S = 2 * 86400
#: Sections the workbook must have (issue: runs over time, audience size, invalid values by
#: column and reason, last error per export in words).
WORKBOOK_SECTIONS = {"runs", "audience-size", "invalid", "last-error", "schedule"}

# ------------------------------------------------------------------------------------------
# KQL
# ------------------------------------------------------------------------------------------

_COMMENT = re.compile(r"//[^\n]*")
#: One token of a query, in order: an event filter, a field read, any other use of
#: ``Properties``, a string literal (skipped, so brackets inside it do not count), a bracket
#: or the ``;`` ending a ``let`` statement.
_TOKEN = re.compile(
    r"""(?P<event>\bName\s*==\s*(?P<eq>["'])(?P<name>[^"']+)(?P=eq))"""
    r"""|(?P<field>\bProperties\s*(?:\.\s*(?P<dot>[A-Za-z_]\w*)"""
    r"""|\[\s*(?P<fq>["'])(?P<key>[^"']+)(?P=fq)\s*\]))"""
    r"""|(?P<other>\bProperties\b)"""
    r"""|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<open>[(\[])|(?P<close>[)\]])|(?P<end>;)"""
)


@dataclass(frozen=True)
class KqlReferences:
    """What a query reads: ``fields[event]`` are the fields read under a ``Name == event``
    filter; ``unattributed`` are fields read where no filter applies; ``unparsed`` every
    other use of ``Properties`` (``Properties[x]``, a bare ``Properties``)."""

    events: set[str]
    fields: dict[str, set[str]]
    unattributed: set[str]
    unparsed: list[str]

    @property
    def all_fields(self) -> set[str]:
        return self.unattributed.union(*self.fields.values())


def kql_references(text: str) -> KqlReferences:
    """The events a query filters on and the fields it reads under each (comments ignored).

    A filter applies from where it stands to the end of its bracketed sub-query (a
    ``toscalar(...)``, a ``join (...)``) or, at the top level, to the end of the ``let``
    statement or query: so a field is checked against the event of its own pipeline.
    """
    code = _COMMENT.sub("", text)
    scopes: list[str | None] = [None]
    events: set[str] = set()
    fields: dict[str, set[str]] = {}
    unattributed: set[str] = set()
    unparsed: list[str] = []
    for match in _TOKEN.finditer(code):
        if match.group("event"):
            scopes[-1] = match.group("name")
            events.add(match.group("name"))
        elif match.group("field"):
            name = match.group("dot") or match.group("key")
            event = scopes[-1]
            (fields.setdefault(event, set()) if event else unattributed).add(name)
        elif match.group("other"):
            unparsed.append(code[match.start() : match.start() + 30].split("\n")[0])
        elif match.group("open"):
            scopes.append(scopes[-1])
        elif match.group("close"):
            if len(scopes) > 1:
                scopes.pop()
        elif match.group("end"):
            scopes = [None]
    return KqlReferences(events, fields, unattributed, unparsed)


def projected_columns(text: str) -> list[str]:
    """Column names of a query's last ``| project`` (``name = expr`` or a bare column)."""
    code = _COMMENT.sub("", text)
    parts = re.split(r"\|\s*project\b", code)
    if len(parts) < 2:
        return []
    clause = re.split(r"\|", parts[-1])[0]
    items, depth, current = [], 0, ""
    for char in clause:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    names = []
    for item in items:
        match = re.match(r"\s*([A-Za-z_]\w*)\s*(=|$)", item)
        if match:
            names.append(match.group(1))
    return names


@dataclass(frozen=True)
class Query:
    where: str
    text: str


def _load_text(bicep_file: BicepFile, expr: Any) -> tuple[str, str] | None:
    """(file name, text) of a ``loadTextContent('x')`` expression, relative to the file."""
    function = expr.get("function") if isinstance(expr, dict) else None
    if not function or function.get("type") != "load_text_content":
        return None
    name = str(function["parameters"]["file_path"])
    return name, (bicep_file.path.parent / name).read_text(encoding="utf-8")


def rule_query(res: Resource, criterion: dict[str, Any]) -> str | None:
    query = criterion.get("query")
    if isinstance(query, str) and not accessor_chain(query):
        return query  # an inline string literal
    loaded = _load_text(res.file, query)
    return loaded[1] if loaded else None


def rule_criteria(res: Resource) -> list[dict[str, Any]]:
    return list(((res.body.get("properties") or {}).get("criteria") or {}).get("allOf") or [])


def workbook_content(res: Resource) -> tuple[str, dict[str, Any]] | None:
    """(file name, parsed workbook) behind ``replace(loadTextContent(f), ..., ...)``."""
    data = (res.body.get("properties") or {}).get("serializedData")
    function = data.get("function") if isinstance(data, dict) else None
    if function and function.get("type") == "replace":
        data = function["parameters"]["original_string"]
    loaded = _load_text(res.file, data)
    if loaded is None:
        return None
    return loaded[0], json.loads(loaded[1])


def workbook_items(workbook: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item, groups (type 12) included."""
    stack = list(workbook.get("items") or [])
    while stack:
        item = stack.pop(0)
        yield item
        stack.extend((item.get("content") or {}).get("items") or [])


def all_queries(infra: Infra) -> tuple[list[Query], list[str]]:
    """Every KQL query of the alert rules and workbooks, and what could not be read."""
    queries, problems = [], []
    for res in infra.resources(SCHEDULED_QUERY_RULE):
        for i, criterion in enumerate(rule_criteria(res)):
            text = rule_query(res, criterion)
            if text is None:
                problems.append(f"{res.where}: criteria.allOf[{i}].query cannot be read")
            else:
                queries.append(Query(f"{res.where}[{i}]", text))
    for res in infra.resources(WORKBOOK):
        content = workbook_content(res)
        if content is None:
            problems.append(f"{res.where}: serializedData must be loadTextContent of a file")
            continue
        name, workbook = content
        for item in workbook_items(workbook):
            query = (item.get("content") or {}).get("query")
            if item.get("type") == 3 and isinstance(query, str):
                queries.append(Query(f"{res.file.rel}:{name}:{item.get('name')}", query))
    return queries, problems


def check_kql_fields(infra: Infra) -> list[str]:
    """Every query reads AppEvents, filters on known events and reads only their fields."""
    queries, problems = all_queries(infra)
    if not queries:
        problems.append("no KQL query found in infra/")
    for query in queries:
        refs = kql_references(query.text)
        if "AppEvents" not in _COMMENT.sub("", query.text):
            problems.append(f"{query.where}: does not read AppEvents")
        if not refs.events:
            problems.append(f'{query.where}: filters on no event (Name == "...")')
        unknown = sorted(refs.events - set(EVENT_FIELDS))
        if unknown:
            problems.append(f"{query.where}: unknown events {unknown}")
        for event, fields in sorted(refs.fields.items()):
            for field in sorted(fields - set(EVENT_FIELDS.get(event, ()))):
                problems.append(f"{query.where}: Properties.{field} is not a field of {event}")
        for field in sorted(refs.unattributed):
            problems.append(f"{query.where}: Properties.{field} is read before any Name filter")
        for text in refs.unparsed:
            problems.append(f"{query.where}: cannot tell which field {text!r} reads")
    return problems


# ------------------------------------------------------------------------------------------
# Resource helpers
# ------------------------------------------------------------------------------------------


def _symbol_id(expr: Any) -> str | None:
    """``symbol`` of ``symbol.id``."""
    chain = accessor_chain(expr)
    return chain[0] if chain and len(chain) == 2 and chain[1] == "id" else None


def _fed_from(infra: Infra, res: Resource, expected_chain: list[str]) -> bool:
    """The resource's name is a parameter main.bicep feeds with ``expected_chain``."""
    name = res.body.get("name")
    if not isinstance(name, str) or name not in res.file.params:
        return False
    symbols = infra.module_symbols(res.file.rel)
    return bool(symbols) and all(
        accessor_chain(infra.main.module_body(s).get("params", {}).get(name)) == expected_chain
        for s in symbols
    )


def _workspace_problems(infra: Infra, res: Resource, expr: Any, what: str) -> list[str]:
    """``expr`` must be ``<ws>.id`` of the existing workspace main.bicep creates."""
    symbol = _symbol_id(expr)
    target = res.file.resource(symbol) if symbol else None
    if target is None or target.type != WORKSPACE or not target.existing:
        return [f"{res.where}: {what} must be the id of an existing Log Analytics workspace"]
    if not _fed_from(infra, target, ["monitoring", "outputs", "logAnalyticsName"]):
        return [f"{res.where}: {what} must be the workspace of core/monitoring.bicep"]
    return []


def _seconds(duration: Any) -> int | None:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", str(duration))
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60


def _rules(infra: Infra) -> list[Resource]:
    return [r for r in infra.resources(SCHEDULED_QUERY_RULE) if not r.existing]


def _threshold_of(expr: Any) -> Any:
    if isinstance(expr, dict) and "operator" in expr:
        operator = expr["operator"]
        if operator.get("type") == "multiply":
            operands = operator["operands"]
            return (operands["operand_1"], operands["operand_2"])
    return expr


# ------------------------------------------------------------------------------------------
# Invariants
# ------------------------------------------------------------------------------------------


def check_alerts_off_without_address(infra: Infra) -> list[str]:
    problems = []
    param = infra.main.params.get("alertEmailAddresses")
    if param is None or param.get("type") != "array" or param.get("default") != []:
        problems.append("main.bicep needs param alertEmailAddresses array = [] (alerts off)")
    symbols = infra.module_symbols(ALERTS_BICEP)
    if len(symbols) != 1:
        return [*problems, f"main.bicep must deploy {ALERTS_BICEP} once, found {symbols}"]
    config = infra.main.modules[symbols[0]]["config"]
    expected = {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {
                    "function": {
                        "type": "empty",
                        "parameters": {"item_to_test": "alertEmailAddresses"},
                    }
                }
            },
        }
    }
    if config.get("condition") != expected:
        problems.append(f"{ALERTS_BICEP} must be deployed only if (!empty(alertEmailAddresses))")
    if infra.module_param(ALERTS_BICEP, "emailAddresses") != "alertEmailAddresses":
        problems.append(f"{ALERTS_BICEP} emailAddresses must be alertEmailAddresses")
    emails = infra.files[ALERTS_BICEP].params.get("emailAddresses") or {}
    if {"type": "min_length", "argument": 1} not in (emails.get("decorators") or []):
        problems.append(f"{ALERTS_BICEP} emailAddresses needs @minLength(1)")
    for type_ in sorted(ALERT_TYPES):
        for res in infra.resources(type_):
            if res.file.rel != ALERTS_BICEP:
                problems.append(f"{res.where}: alert resources belong in {ALERTS_BICEP} only")
    groups = [r for r in infra.resources(ACTION_GROUP) if not r.existing]
    for group in groups:
        receivers = (group.body.get("properties") or {}).get("emailReceivers")
        loop = receivers.get("config") if isinstance(receivers, dict) else None
        if not (isinstance(receivers, dict) and "loop_type" in receivers and loop):
            problems.append(f"{group.where}: emailReceivers must loop over the addresses")
        elif loop.get("emailAddress") not in ("address",):
            problems.append(f"{group.where}: each receiver's emailAddress must be the address")
    return problems


def check_alerts_auto_resolve(infra: Infra) -> list[str]:
    problems = []
    rules = _rules(infra)
    measures = set()
    for res in rules:
        props = res.body.get("properties") or {}
        if res.body.get("kind") != "LogAlert":
            problems.append(f"{res.where}: kind must be LogAlert")
        if props.get("autoMitigate") is not True:
            problems.append(f"{res.where}: autoMitigate must be true (one notice per change)")
        if props.get("enabled") is not True:
            problems.append(f"{res.where}: must be enabled")
        frequency = _seconds(props.get("evaluationFrequency"))
        if frequency is None or frequency > MAX_STATEFUL_FREQUENCY_S:
            problems.append(f"{res.where}: evaluationFrequency must be at most 12 hours")
        window = _seconds(props.get("windowSize"))
        if window is None or window > MAX_QUERY_RANGE_S or (frequency and window < frequency):
            problems.append(f"{res.where}: windowSize must be between the frequency and P2D")
        if "overrideQueryTimeRange" in props:
            problems.append(f"{res.where}: the query range is the window (no override)")
        groups = (props.get("actions") or {}).get("actionGroups") or []
        targets = [res.file.resource(_symbol_id(g) or "") for g in groups]
        if not groups or any(t is None or t.type != ACTION_GROUP for t in targets):
            problems.append(f"{res.where}: must notify the action group of {res.file.rel}")
        scopes = props.get("scopes") or []
        if len(scopes) != 1:
            problems.append(f"{res.where}: must be scoped to the workspace only")
        else:
            problems += _workspace_problems(infra, res, scopes[0], "scopes[0]")
        criteria = rule_criteria(res)
        if len(criteria) != 1:
            problems.append(f"{res.where}: needs exactly one criterion")
            continue
        criterion = criteria[0]
        dimensions = {d.get("name"): d for d in criterion.get("dimensions") or []}
        export = dimensions.get("export_id") or {}
        if (export.get("operator"), export.get("values")) != ("Include", ["*"]):
            problems.append(f"{res.where}: must be split by export_id (Include '*')")
        failing = criterion.get("failingPeriods") or {}
        if failing and failing != {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1}:
            problems.append(f"{res.where}: one evaluation must fire and clear the alert")
        measure = criterion.get("metricMeasureColumn")
        measures.add(measure)
        query = rule_query(res, criterion) or ""
        columns = projected_columns(query)
        for column in [measure, *dimensions]:
            if column not in columns:
                problems.append(f"{res.where}: the query does not return column {column!r}")
    if measures != set(THRESHOLDS):
        problems.append(
            f"alert measures are {sorted(map(str, measures))}, not {sorted(THRESHOLDS)}"
        )
    return problems


def check_alert_thresholds(infra: Infra) -> list[str]:
    problems = []
    for res in _rules(infra):
        for criterion in rule_criteria(res):
            measure = criterion.get("metricMeasureColumn")
            if measure not in THRESHOLDS:
                continue
            expected = THRESHOLDS[measure]
            if _threshold_of(criterion.get("threshold")) != expected:
                problems.append(f"{res.where}: threshold of {measure} must be {expected!r}")
            if (criterion.get("operator"), criterion.get("timeAggregation")) != (
                "GreaterThan",
                "Maximum",
            ):
                problems.append(f"{res.where}: must fire when the maximum is GreaterThan it")
    if not infra.module_symbols(ALERTS_BICEP):
        return problems
    alerts_params = infra.files[ALERTS_BICEP].params
    for param, (main_param, default) in MAIN_THRESHOLDS.items():
        if param not in alerts_params:
            problems.append(f"{ALERTS_BICEP} needs parameter {param}")
        if infra.module_param(ALERTS_BICEP, param) != main_param:
            problems.append(f"{ALERTS_BICEP} {param} must come from main.bicep {main_param}")
        declared = infra.main.params.get(main_param) or {}
        if declared.get("default") != default:
            problems.append(f"main.bicep {main_param} must default to {default}")
    return problems


def check_diagnostic_settings(infra: Infra) -> list[str]:
    problems = []
    settings = [r for r in infra.resources(DIAGNOSTIC_SETTINGS) if not r.existing]
    if len(settings) != 1:
        return [f"expected one diagnostic setting, found {len(settings)}"]
    res = settings[0]
    scope = res.body.get("scope")
    site = res.file.resource(scope) if isinstance(scope, str) else None
    if site is None or site.type != SITE or not site.existing:
        problems.append(f"{res.where}: must be scoped to the function app (an existing site)")
    elif not _fed_from(infra, site, ["functionApp", "outputs", "name"]):
        problems.append(f"{res.where}: the site must be app/function-app.bicep's")
    props = res.body.get("properties") or {}
    problems += _workspace_problems(infra, res, props.get("workspaceId"), "workspaceId")
    logs = props.get("logs") or []
    if {"category": "FunctionAppLogs", "enabled": True} not in logs:
        problems.append(f"{res.where}: must send the FunctionAppLogs category")
    for symbol in infra.module_symbols(res.file.rel):
        if "condition" in infra.main.modules[symbol]["config"]:
            problems.append(f"main.bicep:{symbol} must always be deployed")
    return problems


def check_workbook(infra: Infra) -> list[str]:
    problems = []
    workbooks = [r for r in infra.resources(WORKBOOK) if not r.existing]
    if len(workbooks) != 1:
        return [f"expected one workbook, found {len(workbooks)}"]
    res = workbooks[0]
    props = res.body.get("properties") or {}
    if res.body.get("kind") != "shared":
        problems.append(f"{res.where}: kind must be shared")
    name = res.body.get("name")
    if not (isinstance(name, dict) and name.get("function", {}).get("type") == "guid"):
        problems.append(f"{res.where}: name must be a deterministic guid(...)")
    problems += _workspace_problems(infra, res, props.get("sourceId"), "sourceId")
    function = (props.get("serializedData") or {}).get("function") or {}
    parameters = function.get("parameters") or {}
    if function.get("type") != "replace" or parameters.get("old_string") != WORKSPACE_PLACEHOLDER:
        problems.append(f"{res.where}: serializedData must replace {WORKSPACE_PLACEHOLDER}")
    else:
        problems += _workspace_problems(infra, res, parameters.get("new_string"), "the id")
    content = workbook_content(res)
    if content is None:
        return [*problems, f"{res.where}: serializedData must load a workbook file"]
    file_name, workbook = content
    if workbook.get("version") != "Notebook/1.0" or props.get("version") != "Notebook/1.0":
        problems.append(f"{file_name}: version must be Notebook/1.0")
    if workbook.get("fallbackResourceIds") != [WORKSPACE_PLACEHOLDER]:
        problems.append(f"{file_name}: fallbackResourceIds must be [{WORKSPACE_PLACEHOLDER!r}]")
    items = list(workbook_items(workbook))
    parameters_declared = {
        p.get("name")
        for item in items
        if item.get("type") == 9
        for p in (item.get("content") or {}).get("parameters") or []
    }
    names = set()
    for item in items:
        if item.get("type") != 3:
            continue
        names.add(item.get("name"))
        item_content = item.get("content") or {}
        where = f"{file_name}:{item.get('name')}"
        if (item_content.get("queryType"), item_content.get("resourceType")) != (
            0,
            "microsoft.operationalinsights/workspaces",
        ):
            problems.append(f"{where}: must be a Logs query of the workspace")
        time = item_content.get("timeContextFromParameter")
        if time not in parameters_declared:
            problems.append(f"{where}: time range parameter {time!r} is not declared")
    for section in sorted(WORKBOOK_SECTIONS - names):
        problems.append(f"{file_name}: section {section!r} is missing")
    return problems


# ------------------------------------------------------------------------------------------
# Positive tests
# ------------------------------------------------------------------------------------------

CHECKS = [
    check_kql_fields,
    check_alerts_off_without_address,
    check_alerts_auto_resolve,
    check_alert_thresholds,
    check_diagnostic_settings,
    check_workbook,
]


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra(INFRA)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_invariant(infra: Infra, check: Callable[[Infra], list[str]]) -> None:
    assert check(infra) == []


def test_every_query_is_found_and_read(infra: Infra) -> None:
    queries, problems = all_queries(infra)
    assert problems == []
    wheres = [q.where for q in queries]
    assert len([w for w in wheres if w.startswith(f"{ALERTS_BICEP}:")]) == 4
    assert len([w for w in wheres if "workbook.json" in w]) >= len(WORKBOOK_SECTIONS)
    read = set().union(*(kql_references(q.text).all_fields for q in queries))
    # The alerts read the fields their conditions are about.
    assert {"status", "invalid_percent", "audience_drop_percent", "no_success_since"} <= read


def test_readme_queries_read_only_event_fields() -> None:
    readme = (INFRA.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```kusto\n(.*?)```", readme, re.DOTALL)
    assert blocks, "the README shows how to query the run events"
    for block in blocks:
        refs = kql_references(block)
        assert refs.events and refs.events <= set(EVENT_FIELDS), refs.events
        assert not refs.unattributed and not refs.unparsed
        for event, fields in refs.fields.items():
            assert fields <= set(EVENT_FIELDS[event]), fields - set(EVENT_FIELDS[event])


def test_reference_parser() -> None:
    refs = kql_references(
        'AppEvents | where Name == "SnapAudienceRun" // Properties.in_a_comment\n'
        "| extend a = tostring(Properties.status), b = toint(Properties ['rows'])\n"
        '| extend c = Properties["audience_size"], d = Properties[key], e = bag_keys(Properties)'
    )
    assert refs.events == {RUN_EVENT}
    assert refs.fields == {RUN_EVENT: {"status", "rows", "audience_size"}}
    assert refs.unparsed == ["Properties[key], e = bag_keys(", "Properties)"]
    assert kql_references("AppEvents | where export_name == 'x'").events == set()
    assert kql_references("AppEvents | project Properties.rows").unattributed == {"rows"}


def test_reference_parser_scopes_each_filter_to_its_pipeline() -> None:
    refs = kql_references(
        f"let t = toscalar(AppEvents | where Name == '{SCHEDULE_EVENT}'\n"
        "| project Properties.tick_id);\n"
        f"AppEvents | where Name == '{RUN_EVENT}' | where Properties.status == ')'\n"
        f"| join (AppEvents | where Name == '{SCHEDULE_EVENT}' | project Properties.outcome) on x\n"
        "| project Properties.rows, Properties['run_id']"
    )
    assert refs.fields == {
        SCHEDULE_EVENT: {"tick_id", "outcome"},
        RUN_EVENT: {"status", "rows", "run_id"},
    }
    assert refs.unattributed == set()


def test_projected_columns() -> None:
    query = (
        "T | project a, b = 1 | where x\n"
        "| project\n    export_id,\n    n = iff(f(x, y) == 1, 1, 0), // comment, z\n"
        "    hours = (now() - t) / 1h"
    )
    assert projected_columns(query) == ["export_id", "n", "hours"]
    assert projected_columns("T | summarize count()") == []


# ------------------------------------------------------------------------------------------
# Negative tests: each check reports a broken copy of infra/
# ------------------------------------------------------------------------------------------

MUTATIONS = [
    pytest.param(
        "ops/queries/invalid-share.kql",
        "todouble(Properties.invalid_percent)",
        "todouble(Properties.invalid_pct)",
        check_kql_fields,
        "Properties.invalid_pct is not a field of SnapAudienceRun",
        id="alert-reads-unknown-field",
    ),
    pytest.param(
        "ops/queries/export-stale.kql",
        '| where Name == "SnapAudienceSchedule"\n| where tostring',
        '| where Name == "SnapAudienceRun"\n| where tostring',
        check_kql_fields,
        "Properties.no_success_since is not a field of SnapAudienceRun",
        id="field-of-the-other-event",
    ),
    pytest.param(
        "ops/workbook.json",
        "tolong(Properties.audience_size)",
        "tolong(Properties.audience_users)",
        check_kql_fields,
        "Properties.audience_users is not a field",
        id="workbook-reads-unknown-field",
    ),
    pytest.param(
        "ops/workbook.json",
        "tostring(Properties.error_message)",
        "tostring(Properties[error_field])",
        check_kql_fields,
        "cannot tell which field",
        id="workbook-computed-field",
    ),
    pytest.param(
        "ops/queries/run-failed.kql",
        '| where Name == "SnapAudienceRun"\n',
        "",
        check_kql_fields,
        "filters on no event",
        id="query-without-event",
    ),
    pytest.param(
        "main.bicep",
        "param alertEmailAddresses array = []",
        "param alertEmailAddresses array = [\n  'ops@example.com'\n]",
        check_alerts_off_without_address,
        "alertEmailAddresses array = []",
        id="alerts-on-by-default",
    ),
    pytest.param(
        "main.bicep",
        "module alerts 'ops/alerts.bicep' = if (!empty(alertEmailAddresses)) {",
        "module alerts 'ops/alerts.bicep' = {",
        check_alerts_off_without_address,
        "deployed only if",
        id="alerts-unconditional",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "@minLength(1)\nparam emailAddresses array",
        "param emailAddresses array",
        check_alerts_off_without_address,
        "@minLength(1)",
        id="alerts-without-receivers",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "    autoMitigate: true\n",
        "    autoMitigate: false\n",
        check_alerts_auto_resolve,
        "autoMitigate must be true",
        id="not-auto-resolving",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "evaluationFrequency: 'PT1H'",
        "evaluationFrequency: 'P1D'",
        check_alerts_auto_resolve,
        "at most 12 hours",
        id="stateful-too-rare",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "windowSize: 'P2D'",
        "windowSize: 'P7D'",
        check_alerts_auto_resolve,
        "windowSize",
        id="window-beyond-two-days",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "metricMeasureColumn: 'failed'",
        "metricMeasureColumn: 'failures'",
        check_alerts_auto_resolve,
        "does not return column 'failures'",
        id="measure-not-returned",
    ),
    pytest.param(
        "ops/queries/audience-drop.kql",
        "    export_id,\n",
        "",
        check_alerts_auto_resolve,
        "does not return column 'export_id'",
        id="dimension-not-returned",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "threshold: invalidSharePercent",
        "threshold: 20",
        check_alert_thresholds,
        "threshold of invalid_percent must be 'invalidSharePercent'",
        id="threshold-hard-coded",
    ),
    pytest.param(
        "ops/alerts.bicep",
        "threshold: staleAfterDays * 24",
        "threshold: staleAfterDays",
        check_alert_thresholds,
        "threshold of hours_without_success",
        id="stale-threshold-in-days",
    ),
    pytest.param(
        "main.bicep",
        "audienceDropPercent: alertAudienceDropPercent",
        "audienceDropPercent: 30",
        check_alert_thresholds,
        "audienceDropPercent must come from main.bicep alertAudienceDropPercent",
        id="threshold-not-wired",
    ),
    pytest.param(
        "main.bicep",
        "param alertInvalidSharePercent int = 20",
        "param alertInvalidSharePercent int = 50",
        check_alert_thresholds,
        "alertInvalidSharePercent must default to 20",
        id="threshold-default",
    ),
    pytest.param(
        "ops/diagnostics.bicep",
        "category: 'FunctionAppLogs'",
        "category: 'AppServiceConsoleLogs'",
        check_diagnostic_settings,
        "FunctionAppLogs",
        id="diagnostics-wrong-category",
    ),
    pytest.param(
        "main.bicep",
        "    siteName: functionApp.outputs.name\n    logAnalyticsName",
        "    siteName: 'some-other-app'\n    logAnalyticsName",
        check_diagnostic_settings,
        "the site must be app/function-app.bicep's",
        id="diagnostics-other-site",
    ),
    pytest.param(
        "ops/diagnostics.bicep",
        "workspaceId: workspace.id",
        "workspaceId: site.id",
        check_diagnostic_settings,
        "workspaceId must be the id of an existing Log Analytics workspace",
        id="diagnostics-not-to-workspace",
    ),
    pytest.param(
        "ops/workbook.json",
        '"fallbackResourceIds": [\n    "__WORKSPACE_ID__"\n  ]',
        '"fallbackResourceIds": []',
        check_workbook,
        "fallbackResourceIds",
        id="workbook-without-workspace",
    ),
    pytest.param(
        "ops/workbook.json",
        '"name": "last-error"',
        '"name": "errors"',
        check_workbook,
        "section 'last-error' is missing",
        id="workbook-section-missing",
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
