"""A realistic, messy Customer Insights segment export with its ground truth.

Profiles are generated from distinct people; each row renders a person's identifiers the
way real exports do (mixed case, surrounding spaces, national and international phone
formats, ``00`` prefixes, uppercase mobile ad ids) and some rows carry junk (placeholders,
broken emails, impossible phones, zeroed ad ids), empty cells, or repeat a person (projected
attributes give one customer several rows). The ground truth (the distinct valid
identifiers per schema, computed from the people, not by the app's code) is returned so
a run can be checked against it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools import cdm_model

COLUMNS = ("CustomerId", "FirstName", "EmailAddress", "MobilePhone", "MobileAdId", "City")
FIRST_NAMES = ("Ola", "Kari", "Per", "Anne", "Jose", "Zoë", "Mia", "Liam", "Noah", "Emma")
CITIES = ("Oslo", "Bergen, Vestland", 'Trondheim "Nidaros"', "Tromsø", "Stavanger")
DOMAINS = ("example.com", "example.org", "example.net", "exämple.no")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class GroundTruth:
    """Distinct valid identifier hashes per Snap schema, and row counts."""

    rows: int = 0
    hashes: dict[str, set[str]] = field(
        default_factory=lambda: {
            "EMAIL_SHA256": set(),
            "PHONE_SHA256": set(),
            "MOBILE_AD_ID_SHA256": set(),
        }
    )

    def counts(self) -> dict[str, int]:
        return {schema: len(values) for schema, values in self.hashes.items()}


def _email_forms(local: str, domain: str, rng: random.Random) -> str:
    email = f"{local}@{domain}"
    style = rng.random()
    if style < 0.25:
        email = email.upper()
    elif style < 0.45:
        email = email.title()
    if rng.random() < 0.15:
        email = f"  {email} "
    return email


def _phone_forms(national: str, rng: random.Random) -> str:
    # Norwegian 8-digit numbers; the default region of the demo is NO.
    a, b, c, d = national[:2], national[2:4], national[4:6], national[6:]
    return rng.choice(
        (
            f"+47 {a} {b} {c} {d}",
            f"0047{national}",
            f"{a} {b} {c} {d}",
            f"+47-{national}",
            f"(+47) {national}",
            national,
        )
    )


def generate(
    profiles: int, parts: int, *, seed: int = 7
) -> tuple[list[Callable[[], Iterator[bytes]]], GroundTruth]:
    """Part writers (each yields CSV bytes, headerless) for ``profiles`` rows, and the truth."""
    rng = random.Random(seed)
    truth = GroundTruth(rows=profiles)
    people = max(1, int(profiles * 0.9))
    del rng  # each part has its own seeded generator, so parts can be written in any order

    def person_values(person: int) -> tuple[str, str, str]:
        local = f"{FIRST_NAMES[person % len(FIRST_NAMES)].lower()}.{person}"
        domain = DOMAINS[person % len(DOMAINS)]
        national = f"{40000000 + person * 7 % 59999999:08d}"
        maid = str(uuid.UUID(int=(person * 2654435761) % (1 << 128) | (1 << 120)))
        return f"{local}@{domain}", national, maid

    def rows_for(part: int) -> Iterator[list[str]]:
        local_rng = random.Random(seed * 1000 + part)
        start = part * profiles // parts
        stop = (part + 1) * profiles // parts
        for index in range(start, stop):
            person = index if index < people else local_rng.randrange(people)
            email, national, maid = person_values(person)
            local, domain = email.split("@")
            roll = local_rng.random()
            email_cell = _email_forms(local, domain, local_rng)
            if roll < 0.02:
                email_cell = local_rng.choice(
                    ("NULL", "N/A", "", "not-an-email", f"{local}@localhost")
                )
            phone_cell = _phone_forms(national, local_rng) if local_rng.random() < 0.7 else ""
            if local_rng.random() < 0.01:
                phone_cell = local_rng.choice(("0", "+0", "()", "12", "NULL"))
            maid_cell = maid.upper() if local_rng.random() < 0.5 else maid
            if local_rng.random() < 0.6:
                maid_cell = ""
            elif local_rng.random() < 0.02:
                maid_cell = local_rng.choice(("00000000-0000-0000-0000-000000000000", "not-a-maid"))
            yield [
                f"C{index:09d}",
                FIRST_NAMES[person % len(FIRST_NAMES)],
                email_cell,
                phone_cell,
                maid_cell,
                CITIES[person % len(CITIES)],
            ]

    def truth_for_all() -> None:
        for part in range(parts):
            for row in rows_for(part):
                _, _, email_cell, phone_cell, maid_cell, _ = row
                email = email_cell.strip().lower()
                if email.count("@") == 1 and "." in email.split("@")[1]:
                    truth.hashes["EMAIL_SHA256"].add(_sha(unicodedata.normalize("NFC", email)))
                digits = "".join(ch for ch in phone_cell if ch.isdigit())
                if len(digits) >= 8 and phone_cell not in ("0", "+0", "()", "12", "NULL"):
                    truth.hashes["PHONE_SHA256"].add(_sha("47" + digits[-8:]))
                maid = maid_cell.strip().lower()
                if maid and maid not in ("00000000-0000-0000-0000-000000000000", "not-a-maid"):
                    truth.hashes["MOBILE_AD_ID_SHA256"].add(_sha(maid))

    truth_for_all()

    def writer(part: int) -> Callable[[], Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            buffer = io.StringIO()
            out = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
            for row in rows_for(part):
                out.writerow(row)
                if buffer.tell() > 1 << 20:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue().encode()

        return chunks

    return [writer(p) for p in range(parts)], truth


def model_json(segment: str, parts: int, prefix: str, folder: str) -> bytes:
    """CDM model.json for one entity with headerless partitions."""
    base = f"https://contoso.blob.core.windows.net/customer-insights/{prefix}/{segment}/{folder}"
    locations = [f"{base}/{segment}_{i}.csv" for i in range(1, parts + 1)]
    settings = {"delimiter": ",", "encoding": "UTF-8"}
    entity = cdm_model.headerless_entity(segment, COLUMNS, locations, settings)
    return cdm_model.model_json(prefix.rsplit("/", 1)[-1], [entity], indent=2)


#: The sample export ``make serve`` writes: an export folder as Customer Insights names it
#: (``CustomerInsights_<instanceId>/<ExportName>``), two segments of profiles.
SAMPLE_PREFIX = "CustomerInsights_6f1c2a9e-0d41-4c55-9a3e-2b7d8c1e5f00/SnapchatAudiences"
SAMPLE_SEGMENTS = {"HighValueCustomers": (5_000, 2, 7), "LapsedCustomers": (1_500, 1, 11)}


def write_sample_folder(
    container: Any,
    prefix: str = SAMPLE_PREFIX,
    segments: dict[str, tuple[int, int, int]] | None = None,
    folder: str = "2026/11/28/0300",
) -> dict[str, GroundTruth]:
    """Write one export folder to the blob ``container`` (a ``ContainerClient``): one
    ``model.json`` describing every segment (``name -> (profiles, parts, seed)``) and each
    segment's headerless parts in run folder ``folder``. Returns each segment's truth."""
    chosen = segments or SAMPLE_SEGMENTS
    entities = []
    truths = {}
    for segment, (profiles, parts, seed) in chosen.items():
        writers, truth = generate(profiles, parts, seed=seed)
        base = (
            f"https://contoso.blob.core.windows.net/customer-insights/{prefix}/{segment}/{folder}"
        )
        locations = [f"{base}/{segment}_{i}.csv" for i in range(1, parts + 1)]
        entities.append(
            cdm_model.headerless_entity(
                segment, COLUMNS, locations, {"delimiter": ",", "encoding": "UTF-8"}
            )
        )
        for number, writer in enumerate(writers, start=1):
            name = f"{prefix}/{segment}/{folder}/{segment}_{number}.csv"
            container.upload_blob(name, b"".join(writer()), overwrite=True)
        truths[segment] = truth
    document = cdm_model.model_json(prefix.rsplit("/", 1)[-1], entities, indent=2)
    container.upload_blob(f"{prefix}/model.json", document, overwrite=True)
    return truths


class _Directory:
    """A local folder with the ``upload_blob`` of a ``ContainerClient`` (blob names become
    paths below ``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def upload_blob(self, name: str, data: bytes, overwrite: bool = False) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not overwrite:
            raise FileExistsError(path)
        path.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.sample_export DIR``: write the sample export folder (the one
    ``make serve`` puts into Azurite) below ``DIR``, for ``python -m shared dry-run``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.sample_export")
    parser.add_argument("directory", help="where to write it (created if missing)")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    write_sample_folder(_Directory(root))
    print(root / SAMPLE_PREFIX)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
