"""Identifier normalisation and SHA-256 hashing, by Snap's rules.

Rules (Snap Conversions API "Best Practices", which Snap's customer-list docs share:
https://developers.snap.com/api/marketing-api/Conversions-API/BestPractices):

* Every value is first trimmed of surrounding whitespace. Empty cells are *missing*;
  placeholders such as ``NULL`` or ``N/A`` are *invalid*; neither is ever hashed.
* A value that is 64 hexadecimal characters after trimming is taken as an existing
  SHA-256 digest and lowercased, not hashed again (double hashing matched nobody:
  https://github.com/segment-boneyard/segment-docs/pull/3416).
* Email: Unicode NFC, then lowercase. Valid when it has exactly one ``@``, a non-empty
  local part, a domain containing a dot, and no inner whitespace (inner whitespace is
  rejected, never "repaired": stripping it can turn one address into another).
* Phone: a leading ``00`` (after an optional ``+``) is the international prefix; otherwise a
  leading ``+`` marks an international number; anything else is national in the default
  region. Parsed with ``phonenumbers``; valid when it is a *possible* number; the hashed
  form is the E.164 digits without ``+`` (country code included, trunk ``0`` dropped).
* Mobile ad id (IDFA / GAID): lowercase, hyphens kept; valid when it is a canonical UUID
  (8-4-4-4-12). The all-zero id (tracking disabled) is rejected.
* Hash: SHA-256 over the UTF-8 bytes, lowercase hex (64 characters) on the wire.

Functions return the 32-byte digest on success or an :class:`InvalidReason` (a ``str``)
on failure, so the hot loop can branch with one ``type(...) is bytes`` check.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber

_sha256 = hashlib.sha256


class Schema(enum.StrEnum):
    """Snap's identifier schemas for ``/v1/segments/{id}/users`` (one per request)."""

    EMAIL = "EMAIL_SHA256"
    PHONE = "PHONE_SHA256"
    MOBILE_AD_ID = "MOBILE_AD_ID_SHA256"

    @property
    def field(self) -> str:
        """The data-matching field name used in export configuration."""
        return _FIELD_OF[self]


_FIELD_OF = {Schema.EMAIL: "email", Schema.PHONE: "phone", Schema.MOBILE_AD_ID: "mobile_ad_id"}
SCHEMA_OF_FIELD = {v: k for k, v in _FIELD_OF.items()}
SCHEMAS: tuple[Schema, ...] = (Schema.EMAIL, Schema.PHONE, Schema.MOBILE_AD_ID)


class InvalidReason(enum.StrEnum):
    """Why a value was not uploaded. Counted per column; never carries the value itself."""

    EMPTY = "empty"
    PLACEHOLDER = "placeholder"
    MISSING_AT = "missing_at_sign"
    MULTIPLE_AT = "multiple_at_signs"
    EMPTY_LOCAL_PART = "empty_local_part"
    DOMAIN_WITHOUT_DOT = "domain_without_dot"
    INNER_WHITESPACE = "inner_whitespace"
    NOT_A_PHONE_NUMBER = "not_a_phone_number"
    NOT_POSSIBLE_NUMBER = "not_a_possible_number"
    NOT_UUID = "not_a_uuid"
    ZERO_MOBILE_AD_ID = "zero_mobile_ad_id"


#: Placeholder spellings that mean "no value" in exports (compared case-insensitively).
PLACEHOLDERS = frozenset(
    {
        "null",
        "(null)",
        "nil",
        "none",
        "n/a",
        "na",
        "#n/a",
        "nan",
        "undefined",
        "unknown",
        "-",
        "--",
        "?",
    }
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_INNER_SPACE = re.compile(r"\s")

Result = bytes | InvalidReason
"""A 32-byte SHA-256 digest, or the reason the value is invalid."""


def _prehashed(value: str) -> bytes | None:
    if len(value) == 64 and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    return None


def _blank(value: str) -> InvalidReason | None:
    if not value:
        return InvalidReason.EMPTY
    if len(value) <= 9 and value.lower() in PLACEHOLDERS:
        return InvalidReason.PLACEHOLDER
    return None


def normalise_email(raw: str) -> str | InvalidReason:
    """Normalised email (NFC, lowercase, trimmed) or the reason it is invalid.

    Follows Snap's "trim, then lowercase" rule; NFC first so that composed and decomposed
    forms of one address agree (https://github.com/onetimesecret/onetimesecret/pull/2913).
    """
    value = raw.strip()
    blank = _blank(value)
    if blank is not None:
        return blank
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    value = value.lower()
    at = value.count("@")
    if at == 0:
        return InvalidReason.MISSING_AT
    if at > 1:
        return InvalidReason.MULTIPLE_AT
    local, domain = value.split("@")
    if not local:
        return InvalidReason.EMPTY_LOCAL_PART
    if "." not in domain:
        return InvalidReason.DOMAIN_WITHOUT_DOT
    if _INNER_SPACE.search(value):
        return InvalidReason.INNER_WHITESPACE
    return value


def email_digest(raw: str) -> Result:
    """SHA-256 digest of a normalised email, a pass-through digest, or the reason."""
    value = raw.strip()
    if value.isascii():
        # Fast path, same result as below: an ASCII value with one '@', a local part, a dot
        # in the domain and no whitespace (no space, and every other ASCII whitespace
        # character is unprintable) is valid, never a digest or placeholder, and its NFC
        # form is itself. Anything else takes the general path.
        low = value.lower()
        at = low.find("@")
        if (
            at > 0
            and low.find("@", at + 1) < 0
            and low.find(".", at + 1) > 0
            and " " not in low
            and low.isprintable()
        ):
            return _sha256(low.encode()).digest()
    hashed = _prehashed(value)
    if hashed is not None:
        return hashed
    normalised = normalise_email(value)
    if type(normalised) is str:
        return _sha256(normalised.encode()).digest()
    assert isinstance(normalised, InvalidReason)
    return normalised


# -- phone -------------------------------------------------------------------------------

_PHONE_SEPARATORS = str.maketrans("", "", " -.()/\u00a0\t")


@functools.lru_cache(maxsize=4096)
def _possible_length(country_code: int, nsn_length: int) -> bool:
    # phonenumbers documents is_possible_number as checking only the length of the
    # national significant number for the country calling code; the answer therefore
    # depends on (country code, length) alone and can be memoised.
    probe = PhoneNumber(country_code=country_code, national_number=int("1" * nsn_length))
    return bool(phonenumbers.is_possible_number(probe))


_PLAIN_PREFIXES = re.compile(r"\d+(?:\|\d+)*")


@functools.lru_cache(maxsize=512)
def _fast_path_region(
    region: str,
) -> tuple[int, tuple[str, ...], re.Pattern[str] | None] | None:
    """(country code, national prefixes, international-prefix pattern) or None.

    The national prefixes are the plain digit strings that ``national_prefix_for_parsing``
    matches at the start of a number (``"1"`` for US, ``"0|180020"`` for GB); ``None``
    means the region's prefix rule is another pattern, so every number of it takes the
    full ``phonenumbers.parse`` path.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix is not None and not _PLAIN_PREFIXES.fullmatch(prefix):
        return None
    prefixes = tuple(prefix.split("|")) if prefix else ()
    idd = metadata.international_prefix
    idd_pattern = re.compile(idd) if idd else None
    return metadata.country_code, prefixes, idd_pattern


def _split_country_code(digits: str) -> tuple[int, str] | None:
    # Same order as phonenumbers' country-code extraction: shortest known code first.
    for size in (1, 2, 3):
        code = int(digits[:size]) if len(digits) >= size else 0
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None


def fast_phone(value: str, region: str) -> str | InvalidReason | None:
    """E.164 digits for unambiguous inputs, or ``None`` to defer to ``phonenumbers.parse``.

    Only strings made of digits, an optional leading ``+`` and plain separators qualify;
    anything with a leading ``0``/trunk prefix, an IDD, letters or ``(0)`` is deferred.
    ``tests/test_identifiers.py`` checks this path against the full parse.
    """
    if "(0" in value:
        return None
    compact = value.translate(_PHONE_SEPARATORS)
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    if not digits.isdigit() or not digits.isascii():
        return None
    if digits.startswith("00"):
        digits = digits[2:]
        international = True
    if international:
        if not digits or digits[0] == "0":
            return None
        split = _split_country_code(digits)
        if split is None:
            return None
        code, national = split
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        rules = _fast_path_region(regions[0])
        if rules is None or rules[0] != code:
            return None
    else:
        rules = _fast_path_region(region)
        if rules is None:
            return None
        code, national = rules[0], digits
        idd = rules[2]
        if idd is not None and idd.match(national):
            return None
        if national.startswith(str(code)):
            return None  # phonenumbers may read a leading country code without '+'
    if not national or national[0] == "0" or national.startswith(rules[1]):
        return None
    if len(national) < 2 or len(national) > 17:
        return None
    if not _possible_length(code, len(national)):
        return None  # invalid: let the full parse name the reason
    return f"{code}{national}"


def phone_region(code: str) -> str:
    """``code`` as an upper-case region ``phonenumbers`` knows (ISO 3166-1 alpha-2, e.g. ``GB``).

    Raises ``ValueError`` for anything else: with an unknown region every national number
    would be silently counted invalid. ``UK`` gets a hint, since its ISO code is ``GB``.
    """
    region = code.strip().upper()
    if region in phonenumbers.SUPPORTED_REGIONS:
        return region
    hint = " (the United Kingdom is GB)" if region == "UK" else ""
    raise ValueError(
        f"'{code}' is not a phone region: give an ISO 3166-1 alpha-2 code such as US, GB or "
        f"NO{hint}"
    )


def normalise_phone(raw: str, default_region: str) -> str | InvalidReason:
    """E.164 digits without ``+`` (e.g. ``4722123456``) or the reason the value is invalid.

    Follows Snap's phone rule (country code required; drop a leading ``00`` international
    prefix; drop the trunk ``0``; digits only) using ``phonenumbers`` with
    ``default_region`` (ISO 3166 alpha-2) for national numbers.
    """
    value = raw.strip()
    blank = _blank(value)
    if blank is not None:
        return blank
    fast = fast_phone(value, default_region)
    if fast is not None:
        return fast
    return parse_phone(value, default_region)


def parse_phone(value: str, default_region: str) -> str | InvalidReason:
    """The full ``phonenumbers`` path of :func:`normalise_phone` (no fast path).

    Separators are removed first, so the ``+``/``00`` prefix is recognised the same way
    whatever the spacing (``"0 0 47 ..."`` is ``"0047..."``).
    """
    text = value.strip().translate(_PHONE_SEPARATORS)
    international = False
    if text.startswith("+"):
        text = text[1:]
        international = True
    if text.startswith("00"):
        text = text[2:]
        international = True
    try:
        number = phonenumbers.parse("+" + text if international else text, default_region)
    except NumberParseException:
        return InvalidReason.NOT_A_PHONE_NUMBER
    if not phonenumbers.is_possible_number(number):
        return InvalidReason.NOT_POSSIBLE_NUMBER
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def phone_digest(raw: str, default_region: str) -> Result:
    """SHA-256 digest of a normalised phone, a pass-through digest, or the reason."""
    return _phone_digester(default_region)(raw)


def _phone_digest_slow(raw: str, default_region: str) -> Result:
    value = raw.strip()
    hashed = _prehashed(value)
    if hashed is not None:
        return hashed
    normalised = normalise_phone(value, default_region)
    if type(normalised) is str:
        return _sha256(normalised.encode()).digest()
    assert isinstance(normalised, InvalidReason)
    return normalised


#: :data:`_PHONE_SEPARATORS` less its one non-ASCII character, for ASCII bytes.
_ASCII_SEPARATORS = b" -.()/\t"
#: Country calling codes as digit strings (a number's code is the shortest that is known).
_COUNTRY_CODES = frozenset(str(code).encode() for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
#: The same, as text: what :func:`international_phone_rules` is keyed by.
COUNTRY_CODES: frozenset[str] = frozenset(code.decode() for code in _COUNTRY_CODES)


@dataclass(frozen=True)
class PhoneRule:
    """What settles a number of one country calling code without ``phonenumbers.parse``.

    ``code`` is the calling code's digits; the national significant number (``rest``) must
    not start with one of ``prefixes`` ("0" and the region's national prefixes) and its
    length must be one of ``lengths``; then the E.164 digits are ``code + rest``.
    """

    code: str
    prefixes: tuple[str, ...]
    lengths: frozenset[int]


@dataclass(frozen=True)
class NationalPhoneRules:
    """The fast path's rules for numbers written without ``+``/``00`` in one default region.

    ``rule`` is the region's :class:`PhoneRule`. A number starting with one of
    ``forbidden`` (the country code, a trunk prefix, "0", a plain-digit IDD) is not settled
    by the plain rule; one matching ``idd`` (a regular expression, matched at the start) is
    never settled. ``general`` (the region's national number pattern, or ``None``) settles
    a number written as "country code + rest" when the rest, and not the whole, matches
    it; ``plain_idd`` numbers never take that branch.
    """

    rule: PhoneRule
    forbidden: tuple[str, ...]
    plain_idd: tuple[str, ...]
    idd: str | None
    general: str | None


def _rules(code: int, prefixes: tuple[str, ...]) -> PhoneRule:
    lengths = frozenset(n for n in range(2, 18) if _possible_length(code, n))
    return PhoneRule(str(code), ("0", *prefixes), lengths)


_international_rules: dict[str, PhoneRule | None] = {}


def _international_rule(key: str) -> PhoneRule | None:
    """Fast-path rules of a number given as ``+<key>...``; None when it must be parsed."""
    try:
        return _international_rules[key]
    except KeyError:
        pass
    code = int(key)
    rules = _fast_path_region(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code][0])
    found = _rules(code, rules[1]) if rules is not None and rules[0] == code else None
    _international_rules[key] = found
    return found


def international_phone_rules() -> dict[str, PhoneRule]:
    """:class:`PhoneRule` of every calling code the fast path settles, keyed by its digits."""
    rules = {key: _international_rule(key) for key in sorted(COUNTRY_CODES)}
    return {key: rule for key, rule in rules.items() if rule is not None}


@functools.lru_cache(maxsize=64)
def national_phone_rules(region: str) -> NationalPhoneRules | None:
    """The fast path's rules for national numbers of ``region``; ``None``: always parse."""
    rules = _fast_path_region(region)
    if rules is None:
        return None
    rule = _rules(rules[0], rules[1])
    # A national number must not start with the country code (phonenumbers may read it as
    # one), the trunk prefix or '0', or the region's international prefix (IDD).
    plain_idd: tuple[str, ...] = ()
    idd: str | None = None
    if rules[2] is not None and rules[2].pattern.isdigit():
        plain_idd = (rules[2].pattern,)
    elif rules[2] is not None:
        idd = rules[2].pattern
    # A national number that starts with the country code is read as "code + rest" when
    # the rest, and not the whole, matches the region's general pattern (phonenumbers'
    # _maybe_extract_country_code); only for the main region of its code, whose metadata
    # phonenumbers keeps using after the extraction.
    general: str | None = None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = metadata.general_desc if metadata else None
    pattern = desc.national_number_pattern if desc else None
    main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(rules[0], ("",))[0] == region
    if pattern and main:
        general = pattern
    forbidden = (rule.code, *rule.prefixes, *plain_idd)
    return NationalPhoneRules(rule, forbidden, plain_idd, idd, general)


_Rules = tuple[bytes, tuple[bytes, ...], frozenset[int]]
"""(country code digits, prefixes a national number must not start with, NSN lengths)."""


def _as_bytes(rule: PhoneRule | None) -> _Rules | None:
    if rule is None:
        return None
    return rule.code.encode(), tuple(p.encode() for p in rule.prefixes), rule.lengths


@functools.lru_cache(maxsize=64)
def _phone_digester(region: str) -> Callable[[str], Result]:
    """:func:`phone_digest` for one default region, :func:`fast_phone` inlined over bytes.

    Same results as :func:`_phone_digest_slow`: the inlined checks are those of
    :func:`fast_phone` for ASCII values (``tests/test_identifiers.py`` compares the two);
    everything they do not settle takes the general path. The rules are
    :func:`national_phone_rules` and :func:`international_phone_rules`, which
    :mod:`shared.identifier_sql` turns into the same checks in SQL.
    """
    rules = national_phone_rules(region)
    national = _as_bytes(rules.rule) if rules is not None else None
    forbidden: tuple[bytes, ...] = ()
    plain_idd: tuple[bytes, ...] = ()
    idd: re.Pattern[bytes] | None = None
    general: re.Pattern[bytes] | None = None
    if rules is not None:
        forbidden = tuple(f.encode() for f in rules.forbidden)
        plain_idd = tuple(p.encode() for p in rules.plain_idd)
        idd = re.compile(rules.idd.encode()) if rules.idd is not None else None
        general = re.compile(rules.general.encode()) if rules.general is not None else None
    hex64 = _HEX64.fullmatch
    sha256 = _sha256
    separators = _ASCII_SEPARATORS
    codes = _COUNTRY_CODES

    known: dict[bytes, _Rules | None] = {}

    def intl(key: bytes) -> _Rules | None:
        try:
            return known[key]
        except KeyError:
            found = known[key] = _as_bytes(_international_rule(key.decode()))
            return found

    def digest(raw: str) -> Result:
        value = raw.strip()
        if len(value) == 64 and hex64(value):
            return bytes.fromhex(value)
        if value.isascii():
            data = value.encode()
            compact = data.translate(None, separators)
            if compact[:1] == b"+":
                digits, international = compact[1:], True
            else:
                digits, international = compact, False
            if digits.isdigit() and (b"(" not in data or b"(0" not in data):
                if digits[:2] == b"00":
                    digits, international = digits[2:], True
                if not international:
                    if national is not None and (idd is None or idd.match(digits) is None):
                        code, prefixes, lengths = national
                        if not digits.startswith(forbidden):
                            if len(digits) in lengths:
                                return sha256(code + digits).digest()
                        elif (
                            general is not None
                            and digits.startswith(code)
                            and not digits.startswith(plain_idd)
                        ):
                            rest = digits[len(code) :]
                            if (
                                rest
                                and not rest.startswith(prefixes)
                                and len(rest) in lengths
                                and general.fullmatch(rest)
                                and not general.fullmatch(digits)
                            ):
                                return sha256(code + rest).digest()
                elif digits[:1] != b"0":
                    for size in (1, 2, 3):
                        key = digits[:size]
                        if len(key) == size and key in codes:
                            found = intl(key)
                            rest = digits[size:]
                            if (
                                found is not None
                                and rest
                                and not rest.startswith(found[1])
                                and len(rest) in found[2]
                            ):
                                return sha256(key + rest).digest()
                            break
        return _phone_digest_slow(value, region)

    return digest


# -- mobile ad id ------------------------------------------------------------------------


def normalise_mobile_ad_id(raw: str) -> str | InvalidReason:
    """Lowercased canonical UUID (hyphens kept) or the reason the value is invalid."""
    value = raw.strip()
    blank = _blank(value)
    if blank is not None:
        return blank
    value = value.lower()
    if not _UUID.fullmatch(value):
        return InvalidReason.NOT_UUID
    if value == _ZERO_UUID:
        return InvalidReason.ZERO_MOBILE_AD_ID
    return value


def mobile_ad_id_digest(raw: str) -> Result:
    """SHA-256 digest of a normalised mobile ad id, a pass-through digest, or the reason."""
    value = raw.strip()
    hashed = _prehashed(value)
    if hashed is not None:
        return hashed
    normalised = normalise_mobile_ad_id(value)
    if type(normalised) is str:
        return _sha256(normalised.encode()).digest()
    assert isinstance(normalised, InvalidReason)
    return normalised


def digest_function(schema: Schema, default_region: str) -> Callable[[str], Result]:
    """The ``raw -> digest | reason`` function for one schema."""
    if schema is Schema.EMAIL:
        return email_digest
    if schema is Schema.PHONE:
        return _phone_digester(default_region)
    return mobile_ad_id_digest


def is_prehashed(raw: str) -> bool:
    """True when the trimmed value is already a 64-hex SHA-256 digest."""
    return _prehashed(raw.strip()) is not None
