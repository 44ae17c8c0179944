"""Type-check Bicep resource bodies, as pycep-parser returns them, against ARM type schemas.

The schemas are bicep-types files (https://github.com/Azure/bicep-types, node kinds and flags in
``src/bicep-types/src/types.ts``), vendored from https://github.com/Azure/bicep-types-az in
``tests/arm_types`` (see the README there). This is an offline stand-in for the part of
``bicep build`` that checks a resource body against its type, with the same rules:

============================  =====================================================  =========
Finding ``kind``              Rule                                                   Bicep
============================  =====================================================  =========
``unknown-property``          a key that is not a property of the object type and   BCP037,
                              the type has no ``additionalProperties``; the message  BCP089
                              suggests a close known name ("did you mean")
``read-only``                 a property with the ReadOnly flag is assigned          BCP073
``required``                  a property with the Required flag is missing (new      BCP035
                              resources only: an ``existing`` one needs only name)
``read-only``                 an ``existing`` declaration sets more than ``name``,   BCP073
                              ``parent`` and ``scope`` (it only refers to a resource)
``not-allowed``               a string literal outside a closed union of string      BCP036,
                              literals, or a discriminator value with no element     BCP088
``wrong-type``                a value of the wrong kind (a string where an object,   BCP036
                              bool or int is expected, ...)
``out-of-range``              a literal outside ``minLength``/``maxLength`` or       BCP332,
                              ``minValue``/``maxValue``                              BCP328
============================  =====================================================  =========

A union that also holds a ``StringType`` is open: its literals document values, any string is
accepted. Discriminated objects (``DiscriminatedObjectType``) choose their element by the
literal value of the discriminator property (``name`` for ``Microsoft.Web/sites/config``,
``odata.type`` for ``metricAlerts`` criteria); the visible properties are ``baseProperties``
plus the element's.

What is checked and what is skipped. Literal values are checked: strings, numbers, booleans,
``null``, object and array literals at any depth. A value that is an expression is skipped
(its path is recorded in :attr:`CheckResult.skipped`), except that the checker looks inside:

- identifiers naming a ``var`` (and ``var.key`` chains), through the ``resolve`` callback
  (:func:`variable_resolver`); parameters, resource references and loop variables stay
  unchecked;
- both branches of a ternary ``c ? a : b``;
- each argument of ``union(...)`` where an object is expected (checked as a partial object:
  no required-property check at that level) and of ``concat(...)`` where an array is expected;
- the item template of a ``for`` expression where an array is expected.

A string with ``${...}`` interpolation is a string of unknown value: right kind, any literal.
:func:`check_read` checks a read of a resource property (``site.properties.defaultHostName``):
the names must exist (BCP053) and not be WriteOnly (BCP077). DeployTimeConstant (BCP120),
``pattern`` and scope checks are not done. ``parent``, ``scope`` and ``dependsOn`` are Bicep
language properties of a resource (Azure/bicep ``src/Bicep.Core/LanguageConstants.cs``), not
part of the body type.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pycep.models import BicepElement

# ObjectTypePropertyFlags (bicep-types src/bicep-types/src/types.ts).
REQUIRED: Final = 1
READ_ONLY: Final = 2
WRITE_ONLY: Final = 4
DEPLOY_TIME_CONSTANT: Final = 8

#: Resource-level keys that belong to the Bicep language, not to the resource body type.
LANGUAGE_PROPERTIES: Final = frozenset({"parent", "scope", "dependsOn"})

#: Vendored schemas of this repository.
DEFAULT_TYPES_DIR: Final = Path(__file__).resolve().parent / "arm_types"

Node = dict[str, Any]
#: ``resolve(value)`` -> ``(resolved value, what it came from)`` or None when not resolvable.
Resolver = Callable[[Any], "tuple[Any, str] | None"]

_INTERPOLATION = re.compile(r"(?<!\\)\$\{")
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


class UnknownResourceType(LookupError):
    """A ``Type@apiVersion`` that the vendored index does not hold."""


# ------------------------------------------------------------------------------------------
# Schema files
# ------------------------------------------------------------------------------------------


class TypeFile:
    """One bicep-types JSON file: an array of nodes, ``{"$ref": "#/i"}`` pointing into it."""

    def __init__(self, path: Path) -> None:
        nodes = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise ValueError(f"{path}: not a bicep-types file (a JSON array of nodes)")
        self.path = path
        self.nodes: list[Node] = nodes

    def deref(self, ref: Mapping[str, Any]) -> Node:
        """The node a ``{"$ref": "#/i"}`` points at; ValueError for any other reference."""
        target = ref.get("$ref")
        match = re.fullmatch(r"#/(\d+)", target) if isinstance(target, str) else None
        if match is None or int(match.group(1)) >= len(self.nodes):
            raise ValueError(f"{self.path.name}: reference {ref!r} does not point into the file")
        return self.nodes[int(match.group(1))]

    def refs(self) -> Iterator[Mapping[str, Any]]:
        """Every ``$ref`` object in the file."""
        stack: list[Any] = list(self.nodes)
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if "$ref" in item:
                    yield item
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)


@dataclass(frozen=True)
class ResourceTypeRef:
    """A ``ResourceType`` node and the file it lives in."""

    file: TypeFile
    node: Node

    @property
    def name(self) -> str:
        """``Type@apiVersion`` as the schema spells it."""
        return str(self.node["name"])

    @property
    def body(self) -> Node:
        return self.file.deref(self.node["body"])


class TypeIndex:
    """The ``index.json`` of a vendored directory: ``Type@apiVersion`` -> ``file#/index``.

    Type names and API versions are compared case-insensitively, as Bicep does
    (Azure/bicep ``src/Bicep.Core/Resources/ResourceTypeReferenceComparer.cs``).
    """

    def __init__(self, root: Path = DEFAULT_TYPES_DIR) -> None:
        self.root = root
        index = json.loads((root / "index.json").read_text(encoding="utf-8"))
        self._entries: dict[str, tuple[str, str]] = {}
        for key, ref in index["resources"].items():
            self._entries[key.lower()] = (key, ref["$ref"])
        self._files: dict[str, TypeFile] = {}

    def keys(self) -> list[str]:
        """Every ``Type@apiVersion`` in the index, as spelt there."""
        return sorted(key for key, _ in self._entries.values())

    def file(self, name: str) -> TypeFile:
        if name not in self._files:
            self._files[name] = TypeFile(self.root / name)
        return self._files[name]

    def resource(self, type_name: str, api_version: str) -> ResourceTypeRef:
        """The ``ResourceType`` of ``type_name@api_version``.

        Raises UnknownResourceType, naming the versions of that type that are vendored.
        """
        key = f"{type_name}@{api_version}"
        entry = self._entries.get(key.lower())
        if entry is None:
            known = [k for k in self.keys() if k.lower().startswith(f"{type_name.lower()}@")]
            raise UnknownResourceType(
                f"{key} has no vendored schema in {self.root} "
                f"(vendored versions of {type_name}: {known or 'none'}). Add it from "
                "Azure/bicep-types-az as described in tests/arm_types/README.md."
            )
        display, ref = entry
        file_name, _, pointer = ref.partition("#")
        type_file = self.file(file_name)
        node = type_file.deref({"$ref": f"#{pointer}"})
        if node.get("$type") != "ResourceType" or str(node.get("name")).lower() != key.lower():
            raise ValueError(f"index.json: {display} points at {node.get('name')!r}")
        return ResourceTypeRef(type_file, node)


# ------------------------------------------------------------------------------------------
# pycep values
# ------------------------------------------------------------------------------------------


def is_expression(value: Any) -> bool:
    """True for a pycep value that is not a literal: identifier, call, operator, ``for``."""
    if isinstance(value, BicepElement):
        return True
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), *_ = value.items()
        if key in ("function", "operator") and isinstance(inner, dict) and "type" in inner:
            return set(inner) <= {"type", "parameters", "operands"}
    return isinstance(value, dict) and "loop_type" in value and "config" in value


def is_loop(value: Any) -> bool:
    """A ``[for ...: template]`` expression (pycep: ``loop_type``, ``condition``, ``config``)."""
    return isinstance(value, dict) and "loop_type" in value and "config" in value


def call(value: Any) -> tuple[str, list[Any]] | None:
    """``(function name, arguments)`` of a function call, else None."""
    if is_expression(value) and isinstance(value, dict) and "function" in value:
        function = value["function"]
        return str(function["type"]), list((function.get("parameters") or {}).values())
    return None


def operator(value: Any) -> tuple[str, dict[str, Any]] | None:
    """``(operator type, operands)`` of an operator expression, else None."""
    if is_expression(value) and isinstance(value, dict) and "operator" in value:
        op = value["operator"]
        return str(op["type"]), dict(op.get("operands") or {})
    return None


def is_interpolated(value: str) -> bool:
    """A string literal containing ``${...}``: a string whose value is known only at deploy."""
    return bool(_INTERPOLATION.search(value))


def unescape(value: str) -> str:
    """A Bicep string literal's value: ``\\'``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\$``."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def literal_string(value: Any) -> str | None:
    """The value of a plain string literal (no interpolation), else None."""
    if isinstance(value, str) and not isinstance(value, BicepElement):
        return None if is_interpolated(value) else unescape(value)
    return None


def object_key(key: str) -> str | None:
    """A property name as written in an object literal; None when computed (``'${x}'``).

    pycep keeps the quotes of a quoted key: ``'odata.type'`` arrives as ``"'odata.type'"``.
    """
    if len(key) >= 2 and key.startswith("'") and key.endswith("'"):
        inner = key[1:-1]
        return None if is_interpolated(inner) else unescape(inner)
    return key


def value_kind(value: Any) -> str | None:
    """``string``, ``int``, ``bool``, ``null``, ``object`` or ``array``; None for expressions."""
    if is_expression(value):
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a pycep value: {value!r}")


def describe(value: Any) -> str:
    """A short description of a literal value for messages."""
    kind = value_kind(value)
    if kind == "string":
        text = literal_string(value)
        return f"string '{text}'" if text is not None else "interpolated string"
    if kind in ("int",):
        return f"int {value}"
    if kind == "bool":
        return f"bool {str(value).lower()}"
    return kind or "expression"


def variable_resolver(variables: Mapping[str, Any]) -> Resolver:
    """A resolver for :func:`check_resource` over pycep's ``variables`` of one file.

    Resolves an identifier naming a ``var`` to the var's value, and ``var.key.key`` chains
    through object literals. Anything else (parameters, resources, loop variables, function
    calls) is not resolved.
    """

    def chain(value: Any) -> list[str] | None:
        if isinstance(value, BicepElement):
            return [str(value)]
        op = operator(value)
        if op is None or op[0] != "property_accessor":
            return None
        left, right = chain(op[1].get("operand_1")), chain(op[1].get("operand_2"))
        return left + right if left is not None and right is not None else None

    def resolve(value: Any) -> tuple[Any, str] | None:
        names = chain(value)
        if not names or names[0] not in variables:
            return None
        current = variables[names[0]]["value"]
        for name in names[1:]:
            if is_expression(current) or not isinstance(current, dict):
                return None
            keys = {object_key(k): v for k, v in current.items()}
            if name not in keys:
                return None
            current = keys[name]
        return current, f"var {'.'.join(names)}"

    return resolve


# ------------------------------------------------------------------------------------------
# Checking
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One problem: ``path`` is the property path in the body (``properties.siteConfig.x``)."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<body>'}: {self.message}"


@dataclass
class CheckResult:
    """Findings of one resource body, and the paths of the values that could not be checked."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def type_label(file: TypeFile, node: Node, depth: int = 0) -> str:
    """A readable name for a type node (``'Return401' | 'AllowAnonymous'``, ``string[]``)."""
    kind = node["$type"]
    if kind == "StringLiteralType":
        return f"'{node['value']}'"
    if kind == "UnionType" and depth < 2:
        return " | ".join(type_label(file, file.deref(e), depth + 1) for e in node["elements"])
    if kind == "ArrayType" and depth < 2:
        return f"{type_label(file, file.deref(node['itemType']), depth + 1)}[]"
    if kind in ("ObjectType", "DiscriminatedObjectType"):
        return f"object {node.get('name', '')}".rstrip()
    names = {
        "StringType": "string",
        "IntegerType": "int",
        "BooleanType": "bool",
        "NullType": "null",
        "AnyType": "any",
    }
    return names.get(kind, str(kind))


def did_you_mean(name: str, candidates: list[str]) -> str:
    """`` Did you mean "x"?`` for the closest candidate (case-insensitive first), or ``""``."""
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return f' Did you mean "{candidate}"?'
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    return f' Did you mean "{lowered[close[0]]}"?' if close else ""


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_$][\w$]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}['{key}']"


class _Checker:
    """Walks one value against one type node; collects findings and skipped paths."""

    def __init__(self, file: TypeFile, resolve: Resolver | None, new_resource: bool) -> None:
        self.file = file
        self.resolve = resolve
        self.new_resource = new_resource
        self.result = CheckResult()
        self._via: list[str] = []
        self._depth = 0

    def report(self, path: str, kind: str, message: str) -> None:
        if self._via:
            message = f"{message} (value from {' -> '.join(self._via)})"
        self.result.findings.append(Finding(path, kind, message))

    def trial(self, value: Any, node: Node, path: str) -> list[Finding]:
        """Findings of ``value`` against ``node`` without recording them."""
        saved = self.result
        self.result = CheckResult()
        try:
            self.check(value, node, path)
            return self.result.findings
        finally:
            self.result = saved

    # -- values ------------------------------------------------------------------------------

    def check(self, value: Any, node: Node, path: str, *, partial: bool = False) -> None:
        """Check ``value`` against ``node``; ``partial``: an object missing keys is fine."""
        if node["$type"] == "AnyType":
            return
        if is_expression(value):
            self.check_expression(value, node, path, partial=partial)
            return
        kind = node["$type"]
        if kind == "ObjectType":
            self.check_object(value, node, path, partial=partial)
        elif kind == "DiscriminatedObjectType":
            self.check_discriminated(value, node, path, partial=partial)
        elif kind == "ArrayType":
            self.check_array(value, node, path)
        elif kind == "UnionType":
            self.check_union(value, node, path)
        else:
            self.check_primitive(value, node, path)

    def check_expression(self, value: Any, node: Node, path: str, *, partial: bool) -> None:
        resolved = self.resolve(value) if self.resolve is not None else None
        if resolved is not None and self._depth < 20:
            target, origin = resolved
            self._via.append(origin)
            self._depth += 1
            try:
                self.check(target, node, path, partial=partial)
            finally:
                self._via.pop()
                self._depth -= 1
            return
        op = operator(value)
        if op is not None and op[0] == "conditional":
            self.check(op[1].get("true_value"), node, path, partial=partial)
            self.check(op[1].get("false_value"), node, path, partial=partial)
            return
        function = call(value)
        if function is not None and function[0] == "union" and self._accepts(node, "object"):
            for argument in function[1]:
                self.check(argument, node, path, partial=True)
            return
        if function is not None and function[0] == "concat" and node["$type"] == "ArrayType":
            for argument in function[1]:
                self.check(argument, node, path)
            return
        if is_loop(value):
            if node["$type"] == "ArrayType":
                self.check(value["config"], self.file.deref(node["itemType"]), f"{path}[for]")
            elif not self._accepts(node, "array"):
                expected = type_label(self.file, node)
                self.report(
                    path, "wrong-type", f"a for-expression is an array; expected {expected}"
                )
            else:
                self.result.skipped.append(path)
            return
        self.result.skipped.append(path)

    def _accepts(self, node: Node, kind: str) -> bool:
        """Whether a value of ``kind`` could match ``node`` (unions: any element)."""
        wanted = {
            "object": {"ObjectType", "DiscriminatedObjectType"},
            "array": {"ArrayType"},
        }[kind]
        if node["$type"] == "UnionType":
            return any(self._accepts(self.file.deref(e), kind) for e in node["elements"])
        return node["$type"] in wanted or node["$type"] == "AnyType"

    def wrong_type(self, value: Any, node: Node, path: str) -> None:
        expected = type_label(self.file, node)
        self.report(path, "wrong-type", f"expected {expected}, got {describe(value)}")

    # -- objects -----------------------------------------------------------------------------

    def check_object(
        self,
        value: Any,
        node: Node,
        path: str,
        *,
        partial: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if value_kind(value) != "object":
            self.wrong_type(value, node, path)
            return
        properties: dict[str, Any] = {**(extra or {}), **node.get("properties", {})}
        additional = node.get("additionalProperties")
        present: set[str] = set()
        for raw_key, item in value.items():
            key = object_key(raw_key)
            if key is None:  # computed key ('${identityId}')
                if additional is not None:
                    self.check(item, self.file.deref(additional), _join(path, raw_key))
                else:
                    self.result.skipped.append(_join(path, raw_key))
                continue
            child = _join(path, key)
            if not path and key in LANGUAGE_PROPERTIES:
                continue
            present.add(key)
            prop = properties.get(key)
            if prop is None:
                if additional is not None:
                    self.check(item, self.file.deref(additional), child)
                    continue
                hint = did_you_mean(key, list(properties))
                label = node.get("name") or "this object"
                self.report(
                    child,
                    "unknown-property",
                    f'property "{key}" is not allowed on {label}.{hint}',
                )
                continue
            if prop["flags"] & READ_ONLY:
                self.report(child, "read-only", f'property "{key}" is read-only')
                continue
            if not path and not self.new_resource and key != "name":
                self.report(
                    child,
                    "read-only",
                    f'property "{key}" cannot be set on an existing resource (only name, '
                    "parent and scope)",
                )
                continue
            if item is None and not prop["flags"] & REQUIRED:
                continue
            self.check(item, self.file.deref(prop["type"]), child)
        if partial or not self.new_resource:
            return
        for name, prop in properties.items():
            if prop["flags"] & REQUIRED and name not in present:
                label = node.get("name") or "this object"
                self.report(
                    _join(path, name),
                    "required",
                    f'required property "{name}" of {label} is missing',
                )

    def check_discriminated(self, value: Any, node: Node, path: str, *, partial: bool) -> None:
        if value_kind(value) != "object":
            self.wrong_type(value, node, path)
            return
        discriminator = node["discriminator"]
        elements: dict[str, Any] = node["elements"]
        base: dict[str, Any] = node.get("baseProperties", {})
        keys = {object_key(k): k for k in value}
        if discriminator not in keys:
            if not partial:
                self.report(
                    _join(path, discriminator),
                    "required",
                    f'discriminator "{discriminator}" is missing: one of {sorted(elements)}',
                )
            self._check_any_element(value, node, path)
            return
        raw = value[keys[discriminator]]
        if is_expression(raw) and self.resolve is not None:
            resolved = self.resolve(raw)
            raw = resolved[0] if resolved is not None else raw
        chosen = literal_string(raw)
        if chosen is None:
            if is_expression(raw) or (isinstance(raw, str) and is_interpolated(raw)):
                self.result.skipped.append(_join(path, discriminator))
                self._check_any_element(value, node, path)
            else:
                self.wrong_type(raw, {"$type": "StringType"}, _join(path, discriminator))
            return
        if chosen not in elements:
            hint = did_you_mean(chosen, list(elements))
            self.report(
                _join(path, discriminator),
                "not-allowed",
                f"'{chosen}' is not one of {', '.join(repr(e) for e in elements)}.{hint}",
            )
            return
        element = self.file.deref(elements[chosen])
        self.check_object(value, element, path, partial=partial, extra=base)

    def _check_any_element(self, value: dict[str, Any], node: Node, path: str) -> None:
        """Without a known discriminator: base properties are checked, element keys skipped."""
        base: dict[str, Any] = node.get("baseProperties", {})
        element_keys: set[str] = set()
        for ref in node["elements"].values():
            element_keys |= set(self.file.deref(ref).get("properties", {}))
        for raw_key, item in value.items():
            key = object_key(raw_key)
            if key is None or key == node["discriminator"]:
                continue
            if not path and key in LANGUAGE_PROPERTIES:
                continue
            child = _join(path, key)
            if key in base:
                if base[key]["flags"] & READ_ONLY:
                    self.report(child, "read-only", f'property "{key}" is read-only')
                else:
                    self.check(item, self.file.deref(base[key]["type"]), child)
            elif key in element_keys:
                self.result.skipped.append(child)
            else:
                hint = did_you_mean(key, sorted(set(base) | element_keys))
                self.report(
                    child,
                    "unknown-property",
                    f'property "{key}" is not allowed on {node.get("name")}.{hint}',
                )

    # -- arrays, unions, primitives ----------------------------------------------------------

    def check_array(self, value: Any, node: Node, path: str) -> None:
        if value_kind(value) != "array":
            self.wrong_type(value, node, path)
            return
        lo, hi = node.get("minLength"), node.get("maxLength")
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            self.report(path, "out-of-range", f"{len(value)} items, allowed {lo}..{hi}")
        item_type = self.file.deref(node["itemType"])
        for i, item in enumerate(value):
            self.check(item, item_type, f"{path}[{i}]")

    def check_union(self, value: Any, node: Node, path: str) -> None:
        members = [self.file.deref(e) for e in node["elements"]]
        kind = value_kind(value)
        if kind == "string":
            literals = [m["value"] for m in members if m["$type"] == "StringLiteralType"]
            open_members = [m for m in members if m["$type"] in ("StringType", "AnyType")]
            text = literal_string(value)
            if text is None or text in literals:
                if text is None and not (literals or open_members):
                    self.wrong_type(value, node, path)
                return
            if open_members:
                self.check(value, open_members[0], path)
                return
            if literals:
                hint = did_you_mean(text, literals)
                allowed = ", ".join(f"'{v}'" for v in literals)
                self.report(path, "not-allowed", f"'{text}' is not one of {allowed}.{hint}")
                return
        attempts = [(self.trial(value, m, path), m) for m in members]
        if any(not findings for findings, _ in attempts):
            self.check(value, next(m for f, m in attempts if not f), path)  # keep its skips
            return
        same_kind = [
            (findings, m)
            for findings, m in attempts
            if not any(f.kind == "wrong-type" and f.path == path for f in findings)
        ]
        if len(same_kind) == 1:
            self.check(value, same_kind[0][1], path)
        else:
            self.wrong_type(value, node, path)

    def check_primitive(self, value: Any, node: Node, path: str) -> None:
        kind = node["$type"]
        actual = value_kind(value)
        if kind == "StringType":
            if actual != "string":
                self.wrong_type(value, node, path)
                return
            text = literal_string(value)
            lo, hi = node.get("minLength"), node.get("maxLength")
            if text is not None and (
                (lo is not None and len(text) < lo) or (hi is not None and len(text) > hi)
            ):
                self.report(path, "out-of-range", f"length {len(text)}, allowed {lo}..{hi}")
        elif kind == "StringLiteralType":
            if actual != "string":
                self.wrong_type(value, node, path)
                return
            text = literal_string(value)
            if text is not None and text != node["value"]:
                hint = did_you_mean(text, [node["value"]])
                self.report(path, "not-allowed", f"'{text}' is not '{node['value']}'.{hint}")
        elif kind == "IntegerType":
            if actual != "int":
                self.wrong_type(value, node, path)
                return
            lo, hi = node.get("minValue"), node.get("maxValue")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                self.report(path, "out-of-range", f"{value} is outside {lo}..{hi}")
        elif kind == "BooleanType":
            if actual != "bool":
                self.wrong_type(value, node, path)
        elif kind == "NullType":
            if actual != "null":
                self.wrong_type(value, node, path)
        else:
            raise ValueError(f"{self.file.path.name}: unsupported node {kind} at {path}")


def check_resource(
    index: TypeIndex,
    type_name: str,
    api_version: str,
    body: Mapping[str, Any],
    *,
    existing: bool = False,
    resolve: Resolver | None = None,
) -> CheckResult:
    """Check one resource body (the object after ``=`` in a ``resource`` declaration).

    ``body`` is pycep's ``config`` with loops and conditions unwrapped. ``existing``: the
    declaration is ``existing`` (required properties other than ``name`` are not needed).
    ``resolve``: see :func:`variable_resolver`. Raises UnknownResourceType when the type and
    API version are not vendored.
    """
    resource = index.resource(type_name, api_version)
    checker = _Checker(resource.file, resolve, new_resource=not existing)
    checker.check(dict(body), resource.body, "")
    if existing and "name" not in body:
        checker.report("name", "required", 'required property "name" is missing')
    return checker.result


def check_read(
    index: TypeIndex,
    type_name: str,
    api_version: str,
    body: Mapping[str, Any],
    names: list[str],
) -> Finding | None:
    """A read of ``resource.names[0].names[1]...`` (for example ``properties.defaultHostName``).

    Returns a finding when a name does not exist in the schema (Bicep: BCP053) or is WriteOnly
    (BCP077), None when the read is valid or cannot be followed further (past a union, ``any``
    or a discriminated object whose element is not known). ``body`` is the resource's own body:
    a literal discriminator there (``name: 'appsettings'``) selects the element.
    """
    resource = index.resource(type_name, api_version)
    file = resource.file
    node = resource.body
    for depth, name in enumerate(names):
        path = ".".join(names[: depth + 1])
        if node["$type"] == "DiscriminatedObjectType":
            chosen = literal_string(body.get(node["discriminator"])) if depth == 0 else None
            if chosen not in node["elements"]:
                return None
            element = file.deref(node["elements"][chosen])
            node = {**element, "properties": {**node["baseProperties"], **element["properties"]}}
        if node["$type"] != "ObjectType":
            return None
        prop = node.get("properties", {}).get(name)
        if prop is None:
            additional = node.get("additionalProperties")
            if additional is None:
                hint = did_you_mean(name, list(node.get("properties", {})))
                label = node.get("name") or "this object"
                message = f'property "{name}" does not exist on {label}.{hint}'
                return Finding(path, "unknown-property", message)
            node = file.deref(additional)
            continue
        if prop["flags"] & WRITE_ONLY:
            return Finding(
                path, "write-only", f'property "{name}" is write-only: it cannot be read'
            )
        node = file.deref(prop["type"])
    return None
