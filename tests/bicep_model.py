"""Parsed model of the Bicep files in ``infra/``, shared by the infrastructure tests.

Every ``infra/**/*.bicep`` file is parsed with pycep-parser (the parser checkov uses):
https://github.com/Azure/pycep. Its output is plain JSON-like data: objects are ``dict``, arrays
``list``, numbers ``int``, booleans ``bool``, ``null`` is ``None``; expressions are one-key
dicts ``{"function": {"type": name, "parameters": ...}}`` and
``{"operator": {"type": ..., "operands": ...}}``; a ``for`` expression is a dict with
``loop_type``, ``condition`` and ``config`` (the item template).

pycep-parser quirks worth knowing when editing the Bicep:

- An identifier (parameter, variable, resource symbol, loop variable) comes out as
  ``pycep.models.BicepElement``, a ``str`` subclass; a string literal as a plain ``str``, with
  its quotes removed but its escapes (a backslash before a quote or before ``${``) and its
  ``${...}`` interpolations kept as written. Compared with ``==`` both look the same;
  ``isinstance(value, BicepElement)`` tells them apart.
- Object keys written in quotes keep their quotes (``'odata.type'`` is ``"'odata.type'"``).
- Of several *nested* sibling child resources only the last survives, and a child nested in
  a conditional resource is not extracted at all: declare children at top level with
  ``parent:``.
- ``items`` cannot be a loop variable name; a ternary cannot start a line; a quoted key cannot
  share its line with a multi-line (triple-quoted) string.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"

SITE_CONFIG = "Microsoft.Web/sites/config"


@dataclass(frozen=True)
class Resource:
    """One ``resource`` declaration, with loops and conditions unwrapped."""

    file: BicepFile
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file.rel}:{self.symbol}"


@dataclass
class BicepFile:
    """One parsed ``.bicep`` file: ``rel`` is its path relative to the ``infra`` root."""

    path: Path
    rel: str
    text: str
    tree: dict[str, Any]

    @property
    def params(self) -> dict[str, Any]:
        return self.tree.get("parameters") or {}

    @property
    def variables(self) -> dict[str, Any]:
        return self.tree.get("variables") or {}

    @property
    def outputs(self) -> dict[str, Any]:
        return self.tree.get("outputs") or {}

    @property
    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules") or {}

    def resources(self) -> Iterator[Resource]:
        for symbol, res in (self.tree.get("resources") or {}).items():
            yield Resource(
                file=self,
                symbol=symbol,
                type=res["type"],
                api_version=res.get("api_version", ""),
                existing=bool(res.get("existing")),
                body=unwrap(res["config"]),
            )

    def resource(self, symbol: str) -> Resource | None:
        return next((r for r in self.resources() if r.symbol == symbol), None)

    def module_body(self, symbol: str) -> dict[str, Any]:
        return unwrap(self.modules[symbol]["config"])

    def module_path(self, symbol: str) -> str:
        target = (self.path.parent / str(self.modules[symbol]["detail"]["path"])).resolve()
        return target.relative_to(self.path.parent.resolve()).as_posix()

    def resolve(self, expr: Any, depth: int = 0) -> Any:
        """Follow variable references (and ``var.key`` accessors) to their value.

        Parameters are left as their names: their values come from the caller.
        """
        if depth > 20:
            return expr
        if isinstance(expr, str) and expr in self.variables and expr not in self.params:
            return self.resolve(self.variables[expr]["value"], depth + 1)
        chain = accessor_chain(expr)
        if chain and len(chain) == 2 and chain[0] in self.variables:
            value = self.resolve(chain[0], depth + 1)
            if isinstance(value, dict) and chain[1] in value:
                return self.resolve(value[chain[1]], depth + 1)
        return expr


class Infra:
    """All Bicep files under one ``infra`` directory, parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, BicepFile] = {}
        for path in sorted(root.rglob("*.bicep")):
            rel = path.relative_to(root).as_posix()
            text = path.read_text(encoding="utf-8")
            self.files[rel] = BicepFile(path, rel, text, parse_bicep(text, rel))

    @property
    def main(self) -> BicepFile:
        return self.files["main.bicep"]

    def resources(self, type_: str | None = None) -> Iterator[Resource]:
        for bicep_file in self.files.values():
            for res in bicep_file.resources():
                if type_ is None or res.type.lower() == type_.lower():
                    yield res

    def module_symbols(self, rel: str) -> list[str]:
        """Symbols of the main.bicep modules that deploy the file ``rel``."""
        return [s for s in self.main.modules if self.main.module_path(s) == rel]

    def module_param(self, rel: str, param: str) -> Any:
        """Expression main.bicep passes to ``param`` of the (single) module ``rel``."""
        symbols = self.module_symbols(rel)
        assert len(symbols) == 1, f"expected one module deploying {rel}, found {symbols}"
        return self.main.module_body(symbols[0]).get("params", {}).get(param)

    def source_module(self, rel: str, param: str) -> str | None:
        """The main.bicep module whose output feeds ``param`` of module ``rel``."""
        chain = accessor_chain(self.module_param(rel, param))
        if chain and len(chain) >= 3 and chain[1] == "outputs":
            return chain[0]
        return None

    @cached_property
    def app_settings_resource(self) -> Resource:
        found = [
            r
            for r in self.resources(SITE_CONFIG)
            if not r.existing and r.body.get("name") == "appsettings"
        ]
        assert len(found) == 1, f"expected one sites/config 'appsettings', found {len(found)}"
        return found[0]


@lru_cache(maxsize=1)
def _parser() -> BicepParser:
    return BicepParser()


_TREES: dict[str, dict[str, Any]] = {}


def parse_bicep(text: str, rel: str) -> dict[str, Any]:
    """Parse Bicep source (cached by content: mutated copies re-parse only what changed).

    A syntax error raises from pycep-parser (lark ``UnexpectedToken``/``UnexpectedCharacters``).
    """
    if text not in _TREES:
        tree = _parser().parse(text=text)
        assert isinstance(tree, dict), f"{rel}: pycep-parser returned nothing"
        _TREES[text] = dict(tree)
    return copy.deepcopy(_TREES[text])


def unwrap(config: Any) -> dict[str, Any]:
    """Bodies of looped or conditional declarations sit one level deeper in pycep's output."""
    while (
        isinstance(config, dict)
        and isinstance(config.get("config"), dict)
        and ("condition" in config or "loop_type" in config)
    ):
        config = config["config"]
    assert isinstance(config, dict), f"not a resource or module body: {config!r}"
    return config


def accessor_chain(expr: Any) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``, or None when ``expr`` is not a plain accessor chain."""
    if isinstance(expr, str):
        return expr.split(".") if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", expr) else None
    if not (isinstance(expr, dict) and "operator" in expr):
        return None
    operator = expr["operator"]
    if operator.get("type") != "property_accessor":
        return None
    left = accessor_chain(operator["operands"]["operand_1"])
    right = accessor_chain(operator["operands"]["operand_2"])
    return left + right if left is not None and right is not None else None


def walk(node: Any) -> Iterator[Any]:
    """Every value in a parsed tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def strip_comments(text: str) -> str:
    """Bicep source without ``//`` and ``/* */`` comments (strings are kept intact)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == "'":
                in_string = False
            i += 1
        elif c == "'":
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def mutated_infra(tmp_path: Path, rel: str, old: str, new: str) -> Infra:
    """A copy of infra/ with one text replacement applied to ``rel``."""
    root = tmp_path / "infra"
    shutil.copytree(INFRA, root)
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"mutation target {old!r} not found in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return Infra(root)
