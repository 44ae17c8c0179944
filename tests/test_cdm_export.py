"""Customer Insights layout: newest complete run folder, multi-part runs, flat naming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cdm_export import parse_model_json, resolve_segment
from shared.csv_source import SourceError
from shared.storage_clients import LocalExportStore

PREFIX = "CustomerInsights_abc/BlobExport"


def model(entity: str = "Seg", parts: int = 2, header: bool | None = None) -> bytes:
    settings: dict[str, object] = {"$type": "CsvFormatSettings", "delimiter": ","}
    if header is not None:
        settings["columnHeaders"] = header
    partitions = [
        {
            "name": f"{entity}_{i}",
            # Another account and container: must be resolved below the export folder.
            "location": f"https://elsewhere.blob.core.windows.net/other/CustomerInsights_abc/"
            f"BlobExport/{entity}/2026/11/28/0300/{entity}_{i}.csv",
            "fileFormatSettings": settings,
        }
        for i in range(1, parts + 1)
    ]
    return json.dumps(
        {
            "name": "BlobExport",
            "entities": [
                {
                    "$type": "LocalEntity",
                    "name": entity,
                    "attributes": [{"name": "CustomerId"}, {"name": "Email"}],
                    "partitions": partitions,
                }
            ],
        }
    ).encode()


def write(root: Path, name: str, data: bytes = b"c1,a@example.com\n") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_newest_complete_run_folder_wins(tmp_path: Path) -> None:
    write(tmp_path, f"{PREFIX}/model.json", model())
    for folder in ("2026/11/27/0300", "2026/11/28/0300"):
        write(tmp_path, f"{PREFIX}/Seg/{folder}/Seg_1.csv")
        write(tmp_path, f"{PREFIX}/Seg/{folder}/Seg_2.csv")
    write(tmp_path, f"{PREFIX}/Seg/2026/11/29/0300/Seg_1.csv")  # still being written
    found = resolve_segment(LocalExportStore(tmp_path), PREFIX, "Seg")
    assert found.version == "cdm:Seg/2026/11/28/0300"
    assert [f.name.rsplit("/", 1)[1] for f in found.files] == ["Seg_1.csv", "Seg_2.csv"]
    assert all(not f.csv.has_header for f in found.files)
    assert found.files[0].csv.columns == ("CustomerId", "Email")
    assert found.exported_at.isoformat() == "2026-11-28T03:00:00+00:00"


def test_column_headers_true_is_honoured() -> None:
    entities = parse_model_json(model(header=True))
    assert entities["Seg"].partitions[0].has_header is True
    assert parse_model_json(model())["Seg"].partitions[0].has_header is False


def test_no_complete_folder_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, f"{PREFIX}/model.json", model())
    write(tmp_path, f"{PREFIX}/Seg/2026/11/29/0300/Seg_1.csv")
    with pytest.raises(SourceError, match="no complete run folder for segment 'Seg'"):
        resolve_segment(LocalExportStore(tmp_path), PREFIX, "Seg")


def test_unknown_segment_lists_entities(tmp_path: Path) -> None:
    write(tmp_path, f"{PREFIX}/model.json", model())
    with pytest.raises(SourceError, match=r"segment 'Other' is not one of its entities \(Seg\)"):
        resolve_segment(LocalExportStore(tmp_path), PREFIX, "Other")


def test_flat_naming_newest_file(tmp_path: Path) -> None:
    write(tmp_path, "CustomerInsights_abc/BlobExport_Churn_1613059542.csv", b"Email\na@x.com\n")
    write(tmp_path, "CustomerInsights_abc/BlobExport_Churn_1713059542.csv", b"Email\nb@x.com\n")
    write(tmp_path, "CustomerInsights_abc/BlobExport_ChurnOld_1813059542.csv", b"Email\n")
    found = resolve_segment(LocalExportStore(tmp_path), PREFIX, "Churn")
    assert found.version == "flat:BlobExport_Churn_1713059542.csv"
    assert found.files[0].csv.has_header


def test_non_utf8_encoding_is_refused() -> None:
    data = json.loads(model())
    data["entities"][0]["partitions"][0]["fileFormatSettings"]["encoding"] = "UTF-16"
    with pytest.raises(SourceError, match="not UTF-8"):
        parse_model_json(json.dumps(data).encode())
