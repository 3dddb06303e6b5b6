"""Classification levels and the PII detector (SPEC §4.1)."""

from __future__ import annotations

import pytest

from memgraph_pipelines.telemetry.classify import (
    LEVELS,
    SENSITIVE_LEVELS,
    classify,
    detect_pii,
    is_sensitive,
)
from memgraph_pipelines.telemetry.pii import contains_pii, iban_valid, luhn_valid


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to jane.doe+work@example.co.uk today", "email"),
        ("call +44 20 7946 0958 after lunch", "phone"),
        ("my number is (415) 555-2671", "phone"),
        ("reach me at 415-555-2671", "phone"),
        ("card 4111 1111 1111 1111 was declined", "payment_card"),
        ("amex 378282246310005", "payment_card"),
        ("mastercard 5555-5555-5555-4444", "payment_card"),
        ("SSN 123-45-6789 on file", "us_ssn"),
        ("use sk-proj-abcdefghijklmnopqrstuvwxyz012345", "api_key"),
        ("aws AKIAIOSFODNN7EXAMPLE", "api_key"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "api_key"),
        ('config: api_key = "f3a9c1d27b8e4f6a9c0d"', "api_key"),
        ("Authorization: Bearer abcDEF123456ghiJKL789", "bearer_token"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "bearer_token",
        ),
        ("pay to DE89 3704 0044 0532 0130 00 please", "iban"),
        ("iban GB82WEST12345698765432", "iban"),
    ],
)
def test_detects_each_kind(text: str, kind: str) -> None:
    assert kind in detect_pii(text)
    assert contains_pii(text)


@pytest.mark.parametrize(
    "text",
    [
        "Explain UNWIND in Cypher",
        "card 4111 1111 1111 1112 fails Luhn",  # 16 digits, bad checksum
        "order 1796029260000 shipped",  # epoch ms: 13 digits starting with 1
        "the meeting is on 2026-11-30 at 09:00",
        "version 1.2.3 of the server at 192.168.100.1000",
        "SSN-like 000-12-3456 and 666-12-3456 are never issued",
        "send it @ noon to the team",
        "the bearer of this letter",
        "max_tokens=4096 is plenty",
        "IBAN DE89 3704 0044 0532 0130 01 has a bad check",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "",
    ],
)
def test_no_false_positive(text: str) -> None:
    assert detect_pii(text) == []
    assert not contains_pii(text)


def test_reports_every_kind_once_in_order() -> None:
    text = (
        "a@b.io, +1 415 555 2671, 4111-1111-1111-1111, 123-45-6789, a@b.io again, "
        "AKIAIOSFODNN7EXAMPLE, Bearer abcdefghijklmnop1234, DE89370400440532013000"
    )
    found = detect_pii(text)
    assert found == [
        "email",
        "phone",
        "payment_card",
        "us_ssn",
        "api_key",
        "bearer_token",
        "iban",
    ]


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")


def test_long_text_without_pii_is_scanned_quickly() -> None:
    # Long runs of one character class must not make the scan quadratic.
    text = "a" * 200_000 + "@" + "1" * 200_000 + " " + "x" * 200_000
    assert detect_pii(text) == []


def test_levels() -> None:
    assert LEVELS == ("public", "internal", "confidential", "restricted", "pii")
    assert frozenset({"confidential", "restricted", "pii"}) == SENSITIVE_LEVELS
    assert [is_sensitive(level) for level in LEVELS] == [False, False, True, True, True]
    assert is_sensitive(None)  # could not tell: treated as sensitive
    assert is_sensitive("top-secret")


def test_classify_default_and_declared() -> None:
    assert classify(None, ["hello"]) == "internal"
    assert classify("PUBLIC", ["hello"]) == "public"
    assert classify(" Confidential ", []) == "confidential"


def test_classify_raises_to_pii_and_never_lowers() -> None:
    assert classify("public", ["ok", "mail me at x@example.com"]) == "pii"
    assert classify(None, ["4111111111111111"]) == "pii"
    assert classify("restricted", ["nothing here"]) == "restricted"
    assert classify("pii", ["nothing here"]) == "pii"


def test_unknown_declared_level_is_restricted() -> None:
    assert classify("secret-ish", ["nothing here"]) == "restricted"
    assert classify("", []) == "restricted"
    # PII still wins over the unknown label.
    assert classify("secret-ish", ["123-45-6789"]) == "pii"
