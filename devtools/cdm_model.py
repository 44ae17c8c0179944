"""CDM ``model.json`` documents for generated Customer Insights exports (demo, tests, bench).

Customer Insights writes one ``model.json`` per export folder; each segment is an entity
whose attributes name the columns and whose partitions list the CSV files. The files these
helpers describe have no header row (``columnHeaders`` false), as Customer Insights writes
them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def headerless_entity(
    name: str,
    columns: Sequence[str],
    locations: Sequence[str],
    format_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``LocalEntity``: string attributes ``columns``, partition ``i`` (from 1) at
    ``locations[i - 1]`` named ``<name>_<i>``; ``format_settings`` adds CSV settings."""
    return {
        "$type": "LocalEntity",
        "name": name,
        "attributes": [{"name": c, "dataType": "string"} for c in columns],
        "partitions": [
            {
                "name": f"{name}_{i}",
                "location": location,
                "fileFormatSettings": {
                    "$type": "CsvFormatSettings",
                    "columnHeaders": False,
                    **(format_settings or {}),
                },
            }
            for i, location in enumerate(locations, start=1)
        ],
    }


def model_json(
    name: str, entities: Sequence[Mapping[str, Any]], indent: int | None = None
) -> bytes:
    """The ``model.json`` bytes of export ``name`` with ``entities``."""
    document = {"name": name, "version": "1.0", "entities": list(entities)}
    return json.dumps(document, indent=indent).encode()
