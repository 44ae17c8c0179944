"""Vendor one ARM resource type schema into ``tests/arm_types`` (see the README there).

Usage::

    python devtools/vendor_arm_type.py <types.json> <Type@apiVersion> [--out tests/arm_types]

``<types.json>`` is ``generated/<provider>/<namespace>/<api-version>/types.json`` from
https://github.com/Azure/bicep-types-az (a JSON array of bicep-types nodes whose references are
``{"$ref": "#/i"}``). The script keeps the ``ResourceType`` node named ``Type@apiVersion`` and
every node reachable from it, renumbers them in source order with the ``ResourceType`` last,
writes ``<Type with / as _>@<apiVersion>.json`` and adds (or replaces) its ``index.json`` entry.
Nodes are copied unchanged otherwise, descriptions included.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "arm_types"


def _refs(node: Any) -> list[int]:
    """Indexes of every ``{"$ref": "#/i"}`` inside ``node``."""
    found: list[int] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                match = re.fullmatch(r"#/(\d+)", ref)
                if match is None:
                    raise ValueError(f"reference {ref!r} does not point into the same file")
                found.append(int(match.group(1)))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _renumber(node: Any, new_index: dict[int, int]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return {"$ref": f"#/{new_index[int(node['$ref'][2:])]}"}
        return {key: _renumber(value, new_index) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber(value, new_index) for value in node]
    return node


def trim(nodes: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """The nodes reachable from the ``ResourceType`` named ``resource`` (case-insensitive),
    renumbered in source order, the ``ResourceType`` last. KeyError when it is absent."""
    roots = [
        i
        for i, node in enumerate(nodes)
        if node.get("$type") == "ResourceType" and str(node.get("name")).lower() == resource.lower()
    ]
    if len(roots) != 1:
        raise KeyError(f"{resource}: {len(roots)} ResourceType nodes of that name in the source")
    root = roots[0]
    reachable: set[int] = set()
    stack = _refs(nodes[root])
    while stack:
        i = stack.pop()
        if i not in reachable:
            reachable.add(i)
            stack.extend(_refs(nodes[i]))
    reachable.discard(root)
    order = [*sorted(reachable), root]
    new_index = {old: new for new, old in enumerate(order)}
    return [_renumber(nodes[i], new_index) for i in order]


def file_name(resource: str) -> str:
    """``Microsoft.Web/sites/config@2024-04-01``: ``Microsoft.Web_sites_config@2024-04-01.json``."""
    return f"{resource.replace('/', '_')}.json"


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def vendor(source: Path, resource: str, out: Path) -> Path:
    """Write the trimmed file for ``resource`` into ``out`` and index it; returns its path."""
    nodes = json.loads(source.read_text(encoding="utf-8"))
    trimmed = trim(nodes, resource)
    name = str(trimmed[-1]["name"])  # as the source spells it
    target = out / file_name(name)
    target.write_text(_dump(trimmed), encoding="utf-8")
    index_path = out / "index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    entry = {"$ref": f"{target.name}#/{len(trimmed) - 1}"}
    resources: dict[str, Any] = {}
    for key, value in index["resources"].items():  # an entry replaced keeps its place
        if key.lower() == name.lower():
            resources[name] = entry
        else:
            resources[key] = value
    resources.setdefault(name, entry)
    index["resources"] = resources
    index_path.write_text(_dump(index), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a bicep-types-az types.json")
    parser.add_argument("resource", help="Type@apiVersion, e.g. Microsoft.Web/sites@2024-04-01")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="vendored directory")
    args = parser.parse_args(argv)
    try:
        target = vendor(args.source, args.resource, args.out)
    except (KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {target} and its index.json entry; add a row to {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
