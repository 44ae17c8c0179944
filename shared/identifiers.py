"""Identifier normalisation and SHA-256 hashing, by Snap's rules.

Rules (Snap Conversions API "Best Practices", which Snap's customer-list docs share; see
``research/snap-marketing-api.md`` section 5 and issue 2, "Identifiers"):

* Every value is first trimmed of surrounding whitespace. Empty cells are *missing*;
  placeholders such as ``NULL`` or ``N/A`` are *invalid*; neither is ever hashed.
* A value that is 64 hexadecimal characters after trimming is taken as an existing
  SHA-256 digest and lowercased, not hashed again (peers double-hashed and matched nobody).
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
    forms of one address agree (``research/peers.md`` bug #7).
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


@functools.lru_cache(maxsize=512)
def _fast_path_region(region: str) -> tuple[int, str | None, re.Pattern[str] | None] | None:
    """(country code, plain national prefix, international-prefix pattern) or None.

    ``None`` means the region's prefix rules are not plain digit strings, so every number
    of it takes the full ``phonenumbers.parse`` path.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix is not None and not prefix.isdigit():
        return None
    idd = metadata.international_prefix
    idd_pattern = re.compile(idd) if idd else None
    return metadata.country_code, prefix, idd_pattern


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
    prefix = rules[1]
    if not national or national[0] == "0" or (prefix and national.startswith(prefix)):
        return None
    if len(national) < 2 or len(national) > 17:
        return None
    if not _possible_length(code, len(national)):
        return None  # invalid: let the full parse name the reason
    return f"{code}{national}"


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
    value = raw.strip()
    hashed = _prehashed(value)
    if hashed is not None:
        return hashed
    normalised = normalise_phone(value, default_region)
    if type(normalised) is str:
        return _sha256(normalised.encode()).digest()
    assert isinstance(normalised, InvalidReason)
    return normalised


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
        return functools.partial(phone_digest, default_region=default_region)
    return mobile_ad_id_digest


def is_prehashed(raw: str) -> bool:
    """True when the trimmed value is already a 64-hex SHA-256 digest."""
    return _prehashed(raw.strip()) is not None
