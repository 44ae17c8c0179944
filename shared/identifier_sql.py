"""The identifier rules of :mod:`shared.identifiers` as SQL, for the native reader's engine.

:func:`select_identifiers` builds one DuckDB ``SELECT`` that turns a relation of raw cell
values (``r0``, ``r1``... one per mapped column, ``NULL`` for an empty cell) into, per
column ``i``:

* ``c{i}``: a :class:`Code`: the value's SHA-256 was taken (``HASHED``), it was already a
  digest (``PREHASHED``), its digest is covered by an erasure (``ERASED``), it is invalid
  for a known reason, or the SQL rules cannot settle it exactly and Python must
  (``PYTHON``);
* ``d{i}``: the 32-byte digest when ``c{i}`` is ``HASHED`` or ``PREHASHED`` (else NULL);
* ``p{i}``: the digest's hash partition (its leading ``bits`` bits), see
  :mod:`shared.hash_spool`;
* ``v{i}``: the raw value when ``c{i}`` is ``PYTHON`` (else NULL);

and ``a``: 1 when some column of the row has a digest, 2 when none has but one is left to
Python, else 0 (how ``profiles_with_identifier`` is counted).

The SQL only settles what it can settle exactly as Python does: ASCII values (Python's
``str.strip``/``str.lower`` and DuckDB's ``trim``/``lower`` agree on ASCII; NFC leaves it
alone), and for phones only the :func:`shared.identifiers.national_phone_rules` /
:func:`~shared.identifiers.international_phone_rules` fast path (the same rule data the
Python fast path uses). Everything else (non-ASCII text, Unicode whitespace, phone numbers
that need ``phonenumbers.parse``) is ``PYTHON``. ``tests/test_native_reader.py`` checks
every code and digest against :func:`shared.identifiers.digest_function`.

Sources: SHA-256 and ``unhex`` are DuckDB built-ins
(https://duckdb.org/docs/stable/sql/functions/text, .../functions/blob); regular
expressions are RE2 (https://github.com/google/re2/wiki/Syntax).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from shared.identifiers import (
    COUNTRY_CODES,
    PLACEHOLDERS,
    InvalidReason,
    Schema,
    international_phone_rules,
    national_phone_rules,
)


class Code(enum.IntEnum):
    """What the SQL made of one value (``c{i}``)."""

    HASHED = 0
    PREHASHED = 1
    ERASED = 2
    PYTHON = 3
    EMPTY = 4
    PLACEHOLDER = 5
    MISSING_AT = 6
    MULTIPLE_AT = 7
    EMPTY_LOCAL_PART = 8
    DOMAIN_WITHOUT_DOT = 9
    INNER_WHITESPACE = 10
    NOT_UUID = 11
    ZERO_MOBILE_AD_ID = 12


#: The invalid reason of each code that is one.
REASON_OF: dict[Code, InvalidReason] = {
    Code.EMPTY: InvalidReason.EMPTY,
    Code.PLACEHOLDER: InvalidReason.PLACEHOLDER,
    Code.MISSING_AT: InvalidReason.MISSING_AT,
    Code.MULTIPLE_AT: InvalidReason.MULTIPLE_AT,
    Code.EMPTY_LOCAL_PART: InvalidReason.EMPTY_LOCAL_PART,
    Code.DOMAIN_WITHOUT_DOT: InvalidReason.DOMAIN_WITHOUT_DOT,
    Code.INNER_WHITESPACE: InvalidReason.INNER_WHITESPACE,
    Code.NOT_UUID: InvalidReason.NOT_UUID,
    Code.ZERO_MOBILE_AD_ID: InvalidReason.ZERO_MOBILE_AD_ID,
}

#: Name of the table of international phone rules (:func:`phone_rules_table`).
PHONE_RULES_TABLE = "snap_phone_rules"

#: ``\s`` of Python's ``re`` on ASCII (= ``str.isspace``), as an RE2 class.
_INNER_WHITESPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"
#: The common valid email: printable ASCII, no space, one ``@`` after a non-empty local
#: part, a dot in the domain (what ``identifiers.email_digest``'s fast path accepts).
_PLAIN_EMAIL = r"[!-?A-~]+@[!-?A-~]*\.[!-?A-~]*"
_HEX64 = "[0-9a-fA-F]{64}"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID_ANY_CASE = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
#: Separators the phone fast path removes (``identifiers._ASCII_SEPARATORS``).
_PHONE_SEPARATORS = "(' -.()/' || chr(9))"


def literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _in(expression: str, values: Sequence[str] | frozenset[str]) -> str:
    return f"{expression} IN ({', '.join(literal(v) for v in sorted(values))})"


def _starts_with_any(expression: str, prefixes: Sequence[str]) -> str:
    if not prefixes:
        return "false"
    return "(" + " OR ".join(f"starts_with({expression}, {literal(p)})" for p in prefixes) + ")"


def _length_in(expression: str, lengths: frozenset[int]) -> str:
    if not lengths:
        return "false"
    return f"strlen({expression}) IN ({', '.join(str(n) for n in sorted(lengths))})"


@dataclass(frozen=True)
class _Column:
    """SQL of one mapped column over x{i} (raw), t{i} (space-trimmed) and l{i} (lowercase).

    ``fast`` is the common case, checked first: a value it accepts is ``HASHED`` with
    ``normalised`` as the hashed text. It only accepts a ``t{i}`` of printable ASCII, so it
    is exact even when DuckDB's ``trim`` removed Unicode spaces (a subset of what
    ``str.strip`` removes) from the ends of a non-ASCII raw value. Any other value the SQL
    settles only when it is plain (``_settle``); ``reasons`` lists its (condition, code)
    pairs in the order Python checks them, and ``rest`` is the code of what none matches.
    """

    fast: str
    normalised: str
    reasons: tuple[tuple[str, Code], ...]
    rest: Code


def _settle(i: int) -> str:
    """Values whose rules the SQL applies exactly as Python: ASCII, and (apart from
    spaces) no whitespace or control character at either end, which ``trim`` keeps and
    ``str.strip`` may remove. Checked only for values the ``fast`` rule did not accept."""
    t = f"t{i}"
    return (
        f"strlen(x{i}) = length(x{i}) "
        f"AND ({t} = '' OR (ascii({t}) >= 32 AND ascii(right({t}, 1)) >= 32))"
    )


def _common(i: int) -> tuple[tuple[str, Code], ...]:
    """(empty, prehashed, placeholder) of column ``i``, in Python's order."""
    t, low = f"t{i}", f"l{i}"
    return (
        (f"{t} = ''", Code.EMPTY),
        (f"strlen({t}) = 64 AND regexp_full_match({t}, '{_HEX64}')", Code.PREHASHED),
        (f"strlen({t}) <= 9 AND {_in(low, PLACEHOLDERS)}", Code.PLACEHOLDER),
    )


def _email(i: int) -> _Column:
    low = f"l{i}"
    domain = f"substr({low}, strpos({low}, '@') + 1)"
    return _Column(
        fast=f"regexp_full_match(t{i}, '{_PLAIN_EMAIL}')",
        normalised=low,
        reasons=(
            *_common(i),
            (f"strpos({low}, '@') = 0", Code.MISSING_AT),
            (f"strpos({domain}, '@') > 0", Code.MULTIPLE_AT),
            (f"strpos({low}, '@') = 1", Code.EMPTY_LOCAL_PART),
            (f"strpos({domain}, '.') = 0", Code.DOMAIN_WITHOUT_DOT),
            (f"regexp_matches({low}, '{_INNER_WHITESPACE}')", Code.INNER_WHITESPACE),
        ),
        rest=Code.HASHED,
    )


def _mobile_ad_id(i: int) -> _Column:
    low = f"l{i}"
    return _Column(
        fast=f"regexp_full_match(t{i}, '{_UUID_ANY_CASE}') AND {low} <> '{_ZERO_UUID}'",
        normalised=low,
        reasons=(
            *_common(i),
            (f"NOT regexp_full_match({low}, '{_UUID}')", Code.NOT_UUID),
            (f"{low} = '{_ZERO_UUID}'", Code.ZERO_MOBILE_AD_ID),
        ),
        rest=Code.HASHED,
    )


def _phone_fast(i: int, region: str) -> str:
    """SQL of the E.164 digits the phone fast path settles column ``i`` to, else NULL.

    Mirrors ``identifiers._phone_digester``'s ASCII branch step for step, over ``g{i}``
    (the digits, after a ``+``/``00`` prefix), ``n{i}`` (true when international),
    ``ok{i}`` (digits only, no ``(0``) and ``k{i}``/``kp{i}``/``kl{i}`` (the joined
    international rule of the number's calling code).
    """
    g = f"g{i}"
    branches = []
    rules = national_phone_rules(region)
    if rules is not None:
        rule = rules.rule
        idd_ok = (
            f"NOT regexp_matches({g}, {literal('^(?:' + rules.idd + ')')})"
            if rules.idd is not None
            else "true"
        )
        branches.append(
            f"WHEN NOT n{i} AND {idd_ok} AND NOT {_starts_with_any(g, rules.forbidden)} "
            f"AND {_length_in(g, rule.lengths)} THEN {literal(rule.code)} || {g}"
        )
        if rules.general is not None:
            rest = f"substr({g}, {len(rule.code) + 1})"
            general = literal(rules.general)
            branches.append(
                f"WHEN NOT n{i} AND {idd_ok} AND {_starts_with_any(g, rules.forbidden)} "
                f"AND starts_with({g}, {literal(rule.code)}) "
                f"AND NOT {_starts_with_any(g, rules.plain_idd)} "
                f"AND {rest} <> '' AND NOT {_starts_with_any(rest, rule.prefixes)} "
                f"AND {_length_in(rest, rule.lengths)} "
                f"AND regexp_full_match({rest}, {general}) "
                f"AND NOT regexp_full_match({g}, {general}) THEN {literal(rule.code)} || {rest}"
            )
    rest = f"substr({g}, strlen(k{i}) + 1)"
    longest = max(
        (len(p) for r in international_phone_rules().values() for p in r.prefixes), default=1
    )
    heads = ", ".join(f"left({rest}, {n})" for n in range(2, longest + 1))
    long_prefixes = f"CASE WHEN len(kpl{i}) = 0 THEN false ELSE list_has_any(kpl{i}, [{heads}]) END"
    branches.append(
        f"WHEN n{i} AND NOT starts_with({g}, '0') AND kl{i} IS NOT NULL AND {rest} <> '' "
        f"AND NOT list_contains(kp1{i}, left({rest}, 1)) AND NOT ({long_prefixes}) "
        f"AND list_contains(kl{i}, strlen({rest})) THEN k{i} || {rest}"
    )
    return f"CASE WHEN NOT ok{i} THEN NULL {' '.join(branches)} END"


def _phone(i: int) -> _Column:
    return _Column(
        fast=f"e{i} IS NOT NULL", normalised=f"e{i}", reasons=_common(i), rest=Code.PYTHON
    )


def phone_rules_table() -> str:
    """SQL creating :data:`PHONE_RULES_TABLE`, the international fast path as a lookup.

    One row per string ``head`` of 1 to 3 digits whose shortest known calling code (the
    one ``identifiers._phone_digester`` takes for a number starting with ``head``) has a
    :class:`~shared.identifiers.PhoneRule`: that ``code``, its one-digit prefixes ``p1``,
    its longer ones ``pl`` and its possible ``lengths``.
    """
    rules = international_phone_rules()
    rows = []
    for size in (1, 2, 3):
        for number in range(10**size):
            head = f"{number:0{size}d}"
            sizes = [n for n in (1, 2, 3) if n <= size and head[:n] in COUNTRY_CODES]
            rule = rules.get(head[: sizes[0]]) if sizes else None
            if rule is None:
                continue
            short = [p for p in rule.prefixes if len(p) == 1]
            long = [p for p in rule.prefixes if len(p) > 1]
            rows.append(
                f"({literal(head)}, {literal(rule.code)}, {_list(short)}, {_list(long)}, "
                f"[{', '.join(str(n) for n in sorted(rule.lengths))}]::INTEGER[])"
            )
    return (
        f"CREATE TABLE IF NOT EXISTS {PHONE_RULES_TABLE} AS SELECT * FROM (VALUES "
        f"{', '.join(rows)}) AS rules(head, code, p1, pl, lengths)"
    )


def _list(values: Sequence[str]) -> str:
    return f"[{', '.join(literal(v) for v in values)}]::VARCHAR[]"


def select_identifiers(
    source: str,
    schemas: Sequence[Schema],
    region: str,
    bits: int,
    erased: Sequence[str | None] = (),
    keep: Sequence[str] = (),
) -> str:
    """The query described in the module docstring over ``source``.

    ``source`` is a relation with columns ``r0``.. ``r{n-1}`` (VARCHAR), one per entry of
    ``schemas``; ``region`` the default phone region; ``bits`` the hash partition bits
    (0..8); ``erased[i]``, when given, names a table with a BLOB column ``d`` of digests
    to drop from column ``i``; ``keep`` names further columns of ``source`` to pass
    through (tests use it to match rows, which the phone rules' join may reorder).
    """
    n = len(schemas)
    columns = range(n)
    builders = {Schema.EMAIL: _email, Schema.MOBILE_AD_ID: _mobile_ad_id, Schema.PHONE: _phone}
    sql_of = [builders[schema](i) for i, schema in enumerate(schemas)]
    phones = [i for i in columns if schemas[i] is Schema.PHONE]
    # Level 1: the value trimmed of spaces, and lowercased.
    level1 = ", ".join(
        f"coalesce(r{i}, '') AS x{i}, trim(x{i}) AS t{i}, lower(t{i}) AS l{i}" for i in columns
    )
    passed = "".join(f"{name}, " for name in keep)
    query = f"SELECT {passed}{level1} FROM ({source}) AS raw"
    # Level 2 (phones only): the digits of the number and its calling code.
    for i in phones:
        compact = f"translate(t{i}, {_PHONE_SEPARATORS}, '')"
        query = f"""SELECT *, starts_with(cp{i}, '+') AS n0_{i},
            CASE WHEN n0_{i} THEN substr(cp{i}, 2) ELSE cp{i} END AS g0_{i},
            regexp_full_match(g0_{i}, '[0-9]+') AND strpos(t{i}, '(0') = 0 AS ok{i},
            n0_{i} OR starts_with(g0_{i}, '00') AS n{i},
            CASE WHEN starts_with(g0_{i}, '00') THEN substr(g0_{i}, 3) ELSE g0_{i} END AS g{i}
            FROM (SELECT *, {compact} AS cp{i} FROM ({query}) AS l1_{i}) AS l2_{i}"""
        query = f"""SELECT q.*, rules.code AS k{i}, rules.p1 AS kp1{i}, rules.pl AS kpl{i},
            rules.lengths AS kl{i}
            FROM (SELECT *, CASE WHEN n{i} AND ok{i} THEN left(g{i}, 3) END AS kc{i}
                  FROM ({query}) AS l3_{i}) AS q
            LEFT JOIN {PHONE_RULES_TABLE} AS rules ON rules.head = q.kc{i}"""
        query = f"SELECT *, {_phone_fast(i, region)} AS e{i} FROM ({query}) AS l4_{i}"
    # Level 3: codes and hex digests.
    codes = []
    for i in columns:
        column = sql_of[i]
        reasons = " ".join(f"WHEN {condition} THEN {code}" for condition, code in column.reasons)
        codes.append(
            f"CASE WHEN {column.fast} THEN {Code.HASHED} WHEN NOT ({_settle(i)}) "
            f"THEN {Code.PYTHON} {reasons} ELSE {column.rest} END AS c0_{i}"
        )
    query = f"SELECT *, {', '.join(codes)} FROM ({query}) AS l5"
    hexes = ", ".join(
        f"CASE c0_{i} WHEN {Code.HASHED} THEN sha256({sql_of[i].normalised}) "
        f"WHEN {Code.PREHASHED} THEN lower(t{i}) END AS h{i}"
        for i in columns
    )
    query = f"SELECT *, {hexes} FROM ({query}) AS l6"
    # Level 4: erasures (a subquery, so in a level of its own).
    finals = []
    for i in columns:
        table = erased[i] if i < len(erased) else None
        code = f"c0_{i}"
        if table is not None:
            code = (
                f"CASE WHEN c0_{i} <= {Code.PREHASHED} AND unhex(h{i}) IN "
                f"(SELECT d FROM {table}) THEN {Code.ERASED} ELSE c0_{i} END"
            )
        finals.append(f"({code})::UTINYINT AS c{i}")
    query = f"SELECT *, {', '.join(finals)} FROM ({query}) AS l7"
    # Level 5: digests, partitions, values left to Python, whether the row has a digest.
    outputs = []
    for i in columns:
        partition = f"(('0x' || left(h{i}, 2))::UTINYINT >> {8 - bits})" if bits else "0"
        outputs.append(
            f"c{i}, CASE WHEN c{i} <= {Code.PREHASHED} THEN unhex(h{i}) END AS d{i}, "
            f"({partition})::UTINYINT AS p{i}, "
            f"CASE WHEN c{i} = {Code.PYTHON} THEN x{i} END AS v{i}"
        )
    valid = " OR ".join(f"c{i} <= {Code.PREHASHED}" for i in columns)
    python = " OR ".join(f"c{i} = {Code.PYTHON}" for i in columns)
    outputs.append(f"(CASE WHEN {valid} THEN 1 WHEN {python} THEN 2 ELSE 0 END)::UTINYINT AS a")
    return f"SELECT {passed}{', '.join(outputs)} FROM ({query}) AS l8"
