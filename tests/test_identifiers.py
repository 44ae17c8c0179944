"""Normalisation vectors (Snap's rules) and the phone fast path against phonenumbers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.identifiers import (
    InvalidReason,
    email_digest,
    fast_phone,
    mobile_ad_id_digest,
    normalise_email,
    normalise_mobile_ad_id,
    normalise_phone,
    parse_phone,
    phone_digest,
)


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Test@Example.com", "test@example.com"),
        ("  test@example.com\t", "test@example.com"),
        ("JOSÉ@example.com", "josé@example.com"),
        ("jose\u0301@example.com", "josé@example.com"),
        ("a@b.co", "a@b.co"),
    ],
)
def test_email_normalisation(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected
    assert email_digest(raw) == sha(expected)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", InvalidReason.EMPTY),
        ("   ", InvalidReason.EMPTY),
        ("NULL", InvalidReason.PLACEHOLDER),
        ("n/a", InvalidReason.PLACEHOLDER),
        ("N/A", InvalidReason.PLACEHOLDER),
        ("not-an-email", InvalidReason.MISSING_AT),
        ("a@b@example.com", InvalidReason.MULTIPLE_AT),
        ("@example.com", InvalidReason.EMPTY_LOCAL_PART),
        ("someone@localhost", InvalidReason.DOMAIN_WITHOUT_DOT),
        ("jo hn@example.com", InvalidReason.INNER_WHITESPACE),
    ],
)
def test_email_invalid(raw: str, reason: InvalidReason) -> None:
    assert email_digest(raw) == reason


def test_prehashed_values_pass_through_lowercased() -> None:
    digest = hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert email_digest(digest.upper()) == bytes.fromhex(digest)
    assert email_digest(f"  {digest} ") == bytes.fromhex(digest)
    assert phone_digest(digest, "US") == bytes.fromhex(digest)
    assert mobile_ad_id_digest(digest) == bytes.fromhex(digest)
    # 63 or 65 hex characters are not digests: hashed or rejected by the field's own rule.
    assert email_digest(digest[:63]) == InvalidReason.MISSING_AT


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1(706)-767-5127", "US", "17067675127"),  # Segment's vectors
        ("001(706)-767-5127", "US", "17067675127"),
        ("(706) 767-5127", "US", "17067675127"),
        ("0047 22 12 34 56", "US", "4722123456"),
        ("+47 22 12 34 56", "US", "4722123456"),
        ("+0047 22 12 34 56", "US", "4722123456"),  # '+00' is still the IDD
        ("22 12 34 56", "NO", "4722123456"),
        ("+44 (0)20 7946 0000", "US", "442079460000"),  # UK trunk digit in brackets
        ("020 7946 0000", "GB", "442079460000"),
        ("+44 020 7946 0000", "US", "442079460000"),
        ("1 201 555 0123", "US", "12015550123"),
        ("+39 06 1234 5678", "US", "390612345678"),  # Italian leading zero is kept
        ("011 47 22 12 34 56", "US", "4722123456"),  # the region's own IDD
    ],
)
def test_phone_normalisation(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected
    assert phone_digest(raw, region) == sha(expected)


@pytest.mark.parametrize("raw", ["0", "+0", "00", "()", "abc", "+", "+1", "12"])
def test_phone_invalid_never_raises(raw: str) -> None:
    result = phone_digest(raw, "US")
    assert isinstance(result, InvalidReason)


def test_mobile_ad_id() -> None:
    upper = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert normalise_mobile_ad_id(f" {upper} ") == upper.lower()
    assert mobile_ad_id_digest(upper) == sha(upper.lower())
    assert mobile_ad_id_digest("not-a-maid") == InvalidReason.NOT_UUID
    assert mobile_ad_id_digest("6d92078a82464ba4ae5b76104861e7dc") == InvalidReason.NOT_UUID
    zero = "00000000-0000-0000-0000-000000000000"
    assert mobile_ad_id_digest(zero) == InvalidReason.ZERO_MOBILE_AD_ID


_REGIONS = ["US", "GB", "NO", "DE", "FR", "IT", "IN", "BR", "AU", "JP", "MX", "AR", "RU", "CN"]
_SEPARATORS = st.sampled_from(["", " ", "-", ".", "/"])


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "+", "00", "+00", "0", "011", "(0)", "1"]))
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=6))
    sep = draw(_SEPARATORS)
    body = sep.join(groups)
    if draw(st.booleans()) and len(groups) > 1:
        body = f"({groups[0]}) " + sep.join(groups[1:])
    return prefix + body


@settings(max_examples=3000, deadline=None)
@given(raw=phone_like(), region=st.sampled_from(_REGIONS))
def test_phone_fast_path_agrees_with_phonenumbers(raw: str, region: str) -> None:
    fast = fast_phone(raw, region)
    if fast is not None:
        assert fast == parse_phone(raw, region)


@settings(max_examples=3000, deadline=None)
@given(raw=phone_like(), region=st.sampled_from(_REGIONS))
def test_inlined_phone_digester_agrees_with_the_full_path(raw: str, region: str) -> None:
    from shared.identifiers import _phone_digest_slow, _phone_digester

    assert _phone_digester(region)(raw) == _phone_digest_slow(raw, region)
    assert _phone_digester(region)(f"  {raw} ") == _phone_digest_slow(f"  {raw} ", region)


def test_phone_region_accepts_known_codes_and_rejects_uk_with_a_hint() -> None:
    from shared.identifiers import phone_region

    assert phone_region(" gb ") == "GB"
    assert phone_region("no") == "NO"
    with pytest.raises(ValueError, match="the United Kingdom is GB"):
        phone_region("UK")
    with pytest.raises(ValueError, match="'ZZ' is not a phone region"):
        phone_region("ZZ")


def test_default_phone_region_setting_and_dry_run_option_refuse_unknown_regions(
    tmp_path: Path,
) -> None:
    from shared.config import ConfigError, Settings

    assert Settings({"DEFAULT_PHONE_REGION": "gb"}).default_phone_region == "GB"
    with pytest.raises(ConfigError, match=r"DEFAULT_PHONE_REGION .* is GB, not UK"):
        _ = Settings({"DEFAULT_PHONE_REGION": "UK"}).default_phone_region
    source = tmp_path / "people.csv"
    source.write_text("Email,Phone\na@example.com,020 7946 0000\n")
    command = [sys.executable, "-m", "shared", "dry-run", str(source), "--email-column", "Email"]
    command += ["--phone-column", "Phone", "--default-region", "UK"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "'UK' is not a phone region" in done.stderr and done.stdout == ""
    command[-1] = "gb"
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["identifiers"]["PHONE_SHA256"] == 1
