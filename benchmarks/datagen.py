"""Synthetic Customer Insights segment exports: CDM layout, headerless parts, messy values.

Every part is generated on its own from ``(seed, part)``, so parts can be written in
parallel and a rerun gives the same bytes. Rows are streamed to disk, never held in memory.

Columns (``model.json`` attributes, in order)::

    CustomerId, FirstName, LastName, Email, Phone, PostalCode

The mess, per row (shares are approximate, drawn with a fixed seed):

* Email: 74% lowercase, 14% mixed case, 4% surrounding spaces/tabs, 1% non-ASCII letters
  (some decomposed, so NFC matters), 3% empty, 1% placeholders (``NULL``, ``N/A``...),
  1% invalid (no ``@``, two ``@``, no dot in the domain, inner space), 2% duplicates of a
  nearby row's address in another case (the same person exported twice).
* Phone (default region ``US``): ``(201) 555-0123``, ``201-555-0123``, ``+1 201 555 0123``,
  ``2015550123``, ``201.555.0123``, ``001 201 555 0123``, ``1-201-555-0123`` (national with
  the country code), foreign numbers (``+44 20 7946 0958``, ``+47 22 12 34 56``,
  ``+44 (0)20 ...``), extensions, 8% empty, 2% invalid.

``variant="changed"`` alters the email and phone of 1% of rows (every row whose index is
``changed_row``), leaving every other byte as in the base export: the "1% changed" run.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.cdm_model import headerless_entity
from devtools.cdm_model import model_json as cdm_model_json

SEGMENT = "BenchCustomers"
PREFIX = "CustomerInsights_00000000-0000-0000-0000-00000000be0c/BlobExport"
COLUMNS = ("CustomerId", "FirstName", "LastName", "Email", "Phone", "PostalCode")

_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy "
    "Jacob Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna "
    "Larry Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel "
    "Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack "
    "Olivia Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Ruth "
    "Nathan Virginia Henry Lauren Zachary Kelly Douglas Christina Peter Joan Kyle Evelyn "
    "Noah Judith Ethan Andrea Jeremy Hannah Walter Megan Christian Cheryl Keith Jacqueline "
    "Roger Martha Terry Madison Austin Teresa Sean Gloria Gerald Sara Carl Janice Harold "
    "Ann Dylan Kathryn Arthur Abigail Lawrence Sophia Jordan Frances Jesse Jean Bryan Alice"
).split()
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales "
    "Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin "
    "Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens "
    "Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy"
).split()
# Non-ASCII names; the second element of each pair is the decomposed (NFD) spelling.
_ACCENTED = (
    ("José", "Jose\u0301"),
    ("Müller", "Mu\u0308ller"),
    ("Zoë", "Zoe\u0308"),
    ("Renée", "Rene\u0301e"),
    ("Łukasz", "Łukasz"),
    ("Björn", "Bjo\u0308rn"),
)
_DOMAINS = (
    ["gmail.com"] * 30
    + ["yahoo.com"] * 10
    + ["outlook.com"] * 8
    + ["hotmail.com"] * 8
    + ["icloud.com"] * 6
    + ["aol.com"] * 3
    + ["comcast.net"] * 3
    + ["contoso.com", "fabrikam.co.uk", "example.org", "mail.example.no", "web.de", "live.com"]
)
_PLACEHOLDERS = ("NULL", "N/A", "null", "unknown", "-", "none", "#N/A")
_BAD_EMAILS = ("{f}.{l}{i}", "{f}@{l}{i}@{d}", "{f}.{l}{i}@localhost", "{f} {l}{i}@{d}", "@{d}")
_FOREIGN = (
    "+44 20 7946 {n4}",
    "+47 22 12 {n2} {n2b}",
    "+49 30 1234{n4}",
    "0044 20 7946 {n4}",
    "+44 (0)20 7946 {n4}",
    "+33 1 42 68 {n2} {n2b}",
)
_BAD_PHONES = ("12345", "N/A", "555-CALL-NOW", "0", "+1 555", "call me")


@dataclass(frozen=True)
class ExportSpec:
    """What to generate: ``rows`` rows in ``parts`` files, ``seed``, ``variant``."""

    rows: int
    parts: int
    seed: int = 20261128
    variant: str = "base"  # or "changed"

    def part_rows(self, part: int) -> range:
        """Global row indexes of part ``part`` (0-based)."""
        size = -(-self.rows // self.parts)
        return range(part * size, min(self.rows, (part + 1) * size))


def parts_for(rows: int) -> int:
    """How many part files an export of ``rows`` rows has: ~1.25M rows a part, at least 4
    from 500,000 rows (2 below), at most 16."""
    return max(2 if rows < 500_000 else 4, min(16, -(-rows // 1_250_000)))


def changed_row(index: int) -> bool:
    """Rows altered by the ``changed`` variant: 1 in 100, spread over every part."""
    return (index * 2654435761) % 100 == 7


def folder_path(folder: str) -> str:
    """``<prefix>/<Segment>/<YYYY>/<MM>/<DD>/<HHMM>`` of a run folder ``YYYY/MM/DD/HHMM``."""
    return f"{PREFIX}/{SEGMENT}/{folder}"


def part_name(folder: str, part: int) -> str:
    """Blob name of part ``part`` (0-based) in run folder ``folder``."""
    return f"{folder_path(folder)}/{SEGMENT}_{part + 1}.csv"


def model_json(folder: str, parts: int) -> bytes:
    """A CDM ``model.json`` naming the parts of ``folder`` (headerless CSV)."""
    base = "https://benchaccount.blob.core.windows.net/customer-insights/"
    locations = [base + part_name(folder, i) for i in range(parts)]
    entity = headerless_entity(SEGMENT, COLUMNS, locations)
    return cdm_model_json("BlobExport", [entity])


def _phone(rng: random.Random, i: int, changed: bool) -> str:
    line = i % 10000
    exchange = 200 + (i // 10000) % 800
    area = 201 + ((i // 8_000_000) * 37 + (i * 7) % 11) % 780
    if changed:
        area = 989 - (area - 201)
        line = (line + 4321) % 10000
    a, e, n = f"{area:03d}", f"{exchange:03d}", f"{line:04d}"
    r = rng.random()
    if r < 0.08:
        return ""
    if r < 0.10:
        return _BAD_PHONES[int(r * 1000) % len(_BAD_PHONES)]
    if r < 0.13:
        n2 = f"{line % 100:02d}"
        return _FOREIGN[int(r * 10000) % len(_FOREIGN)].format(n4=n, n2=n2, n2b=n2[::-1])
    if r < 0.38:
        return f"({a}) {e}-{n}"
    if r < 0.56:
        return f"{a}-{e}-{n}"
    if r < 0.71:
        return f"+1 {a} {e} {n}"
    if r < 0.81:
        return f"{a}{e}{n}"
    if r < 0.87:
        return f"{a}.{e}.{n}"
    if r < 0.91:
        return f"001 {a} {e} {n}"
    if r < 0.96:
        return f"1-{a}-{e}-{n}"
    if r < 0.98:
        return f" +1{a}{e}{n} "
    return f"{a}.{e}.{n} x{line % 90 + 10}"


def _email(rng: random.Random, i: int, first: str, last: str, changed: bool) -> str:
    domain = _DOMAINS[rng.randrange(len(_DOMAINS))]
    if changed:
        domain = "moved." + domain
    r = rng.random()
    if r < 0.74:
        if r < 0.37:
            return f"{first}.{last}{i}@{domain}".lower()
        return f"{first[0]}{last}{i}@{domain}".lower()
    if r < 0.88:
        return f"{first}.{last}{i}@{domain.capitalize()}"
    if r < 0.92:
        return (" ", "  ", "\t", "")[i % 4] + f"{first}.{last}{i}@{domain} ".lower()
    if r < 0.93:
        composed, decomposed = _ACCENTED[i % len(_ACCENTED)]
        return f"{composed if i % 2 else decomposed}.{last}{i}@{domain}"
    if r < 0.96:
        return ""
    if r < 0.97:
        return _PLACEHOLDERS[i % len(_PLACEHOLDERS)]
    bad = _BAD_EMAILS[i % len(_BAD_EMAILS)]
    return bad.format(f=first.lower(), l=last.lower(), i=i, d=domain)


def rows(spec: ExportSpec, part: int) -> Iterator[tuple[str, ...]]:
    """The rows of one part, in file order."""
    rng = random.Random(spec.seed * 1009 + part)
    changed_variant = spec.variant == "changed"
    first_names, last_names = _FIRST, _LAST
    recent: list[str] = []
    for i in range(spec.part_rows(part).start, spec.part_rows(part).stop):
        first = first_names[rng.randrange(len(first_names))]
        last = last_names[rng.randrange(len(last_names))]
        changed = changed_variant and changed_row(i)
        if recent and rng.random() < 0.02:
            email = recent[rng.randrange(len(recent))].upper()
        else:
            email = _email(rng, i, first, last, changed)
            if len(recent) < 512:
                recent.append(email)
            else:
                recent[i % 512] = email
        phone = _phone(rng, i, changed)
        postal = f"{10000 + (i * 7919) % 89999:05d}"
        yield (f"{i:010d}", first, last, email, phone, postal)


def write_part(spec: ExportSpec, part: int, path: Path) -> tuple[int, int]:
    """Write one part as headerless CSV (CRLF, minimal quoting); returns (rows, bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        batch: list[tuple[str, ...]] = []
        for row in rows(spec, part):
            batch.append(row)
            if len(batch) >= 8192:
                writer.writerows(batch)
                count += len(batch)
                batch.clear()
        writer.writerows(batch)
        count += len(batch)
    return count, path.stat().st_size


def _write_part_job(args: tuple[ExportSpec, int, str]) -> tuple[int, int]:
    spec, part, path = args
    return write_part(spec, part, Path(path))


def write_export(spec: ExportSpec, root: Path, folder: str, processes: int = 2) -> list[Path]:
    """Write every part of ``spec`` under ``root`` in the CDM layout; returns the paths."""
    paths = [root / part_name(folder, p) for p in range(spec.parts)]
    jobs = [(spec, p, str(paths[p])) for p in range(spec.parts)]
    if processes > 1 and spec.parts > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(processes, spec.parts)) as pool:
            pool.map(_write_part_job, jobs)
    else:
        for job in jobs:
            _write_part_job(job)
    return paths
