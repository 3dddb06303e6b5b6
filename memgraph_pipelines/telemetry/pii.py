"""PII detector (SPEC §4.1). Plain module.

Kinds: ``email``, ``phone``, ``payment_card`` (Luhn-checked), ``us_ssn`` (dashed or spaced
form), ``api_key``, ``bearer_token`` (``Bearer <token>`` and JWTs), ``iban`` (mod-97 checked).
Number patterns (phone, card,
SSN, IBAN) run only near the runs of digits found by one scan; e-mail, bearer and key checks
start from a literal (``@``, ``bearer``, ``key``/``secret``/``token``) found by ``str.find``.
Every pattern is bounded, so the scan stays linear in the text length.
"""

from __future__ import annotations

import re
import string

EMAIL = "email"
PHONE = "phone"
PAYMENT_CARD = "payment_card"
US_SSN = "us_ssn"
API_KEY = "api_key"
BEARER_TOKEN = "bearer_token"
IBAN = "iban"

#: Every kind the detector can report, in the order it reports them.
PII_KINDS = (EMAIL, PHONE, PAYMENT_CARD, US_SSN, API_KEY, BEARER_TOKEN, IBAN)

#: Card, phone, SSN and IBAN numbers all have at least this many (ASCII) digits.
_MIN_DIGITS = 9
_ASCII_DIGITS = string.digits.encode()
#: Each such number holds a run of at least 9 digits with at most two separators between
#: digits (a plain date has 8); the number checks only look at those runs (an IBAN check also
#: at up to an IBAN's length of letters around them).
_NUMBER_RUN_RE = re.compile(r"\d(?:[ ().+-]{0,2}\d){8,}", re.ASCII)
_IBAN_MARGIN = 42

# Patterns start with a literal or a narrow character class so that the regex engine can skip
# ahead cheaply; "does the match start a run" checks that a look-behind would make (and that
# would disable that skipping) are done in Python on the few candidates.

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
    r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    re.ASCII,
)
_EMAIL_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")

# International numbers (+country code) and North American 3-3-4 numbers. The trailing
# look-aheads keep dates, versions, IP addresses and parts of longer digit runs out.
_PHONE_INTL_RE = re.compile(r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w.-]*\d)", re.ASCII)
_PHONE_NANP_RE = re.compile(r"\d\d\d[-. ]\d{3}[-. ]\d{4}(?![\w.-]*\d)", re.ASCII)
_PHONE_NANP_AREA_RE = re.compile(r"\(\d{3}\) ?\d{3}[-. ]\d{4}(?![\w.-]*\d)", re.ASCII)

# 13-19 digits, optionally grouped by spaces or dashes, first digit of a card network (2-6).
_CARD_RE = re.compile(r"[2-6](?:[ -]?\d){12,18}(?!\w)", re.ASCII)

# Written \d\d\d, not (\d{3}): a leading single digit class lets the engine skip ahead.
_IBAN_HEAD_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d\d ?$", re.ASCII)

_SSN_RE = re.compile(r"\d\d\d([- ])\d\d\1\d{4}(?![\w-])", re.ASCII)

# Vendor key formats, each with a literal prefix.
_VENDOR_KEY_RES = tuple(
    re.compile(pattern, re.ASCII)
    for pattern in (
        r"sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
        r"AKIA[0-9A-Z]{16}",  # AWS access key ids
        r"ASIA[0-9A-Z]{16}",
        r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub
        r"github_pat_[A-Za-z0-9_]{22,}",
        r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
        r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
        r"AIza[0-9A-Za-z_-]{35}",  # Google
        r"sk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
        r"rk_(?:live|test)_[A-Za-z0-9]{16,}",
    )
)
# "api_key = <value>", "client_secret: <value>", "auth_token=<value>": a name ending in key,
# secret or token, then an assignment of a long value. Matched on the lower-cased text.
_SECRET_NAMES = ("key", "secret", "token")
_SECRET_ASSIGNMENT_RE = re.compile(r"[\"']?\s*[:=]\s*[\"']?[a-z0-9_\-./+=]{16,}", re.ASCII)

_BEARER_VALUE_RE = re.compile(r"\s+[A-Za-z0-9\-._~+/]{16,}", re.ASCII)
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", re.ASCII)

# From the check digits on: the two country letters before them are checked in Python.
_IBAN_TAIL_RE = re.compile(r"\d\d(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?", re.ASCII)

#: IBAN length per country (ISO 13616 registry); other countries get the generic 15-34 range.
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of decimal digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 7064 mod-97 check of a compact, upper-case IBAN."""
    if not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    # int(c, 36) maps 0-9 to themselves and A-Z to 10-35, as the standard requires.
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _starts_run(text: str, start: int, also: str = "") -> bool:
    """True when ``text[start]`` is not preceded by a letter, a digit, ``_`` or ``also``."""
    if start == 0:
        return True
    before = text[start - 1]
    return not (before.isalnum() or before == "_" or before in also)


def _has_email(text: str) -> bool:
    at = text.find("@")
    while at != -1:
        # Only an "@" between a local-part and a domain character is worth a regex search.
        if 0 < at < len(text) - 1 and text[at - 1] in _EMAIL_LOCAL_CHARS and text[at + 1].isalnum():
            window = text[max(0, at - 64) : at + 320]
            if _EMAIL_RE.search(window):
                return True
            # That window holds every address whose "@" is in the next 64 characters.
            at = text.find("@", at + 64)
            continue
        at = text.find("@", at + 1)
    return False


def _has_phone(text: str, start: int, end: int) -> bool:
    for match in _PHONE_INTL_RE.finditer(text, start, end):
        digits = sum(char.isdigit() for char in match.group())  # 9 or more
        if 8 <= digits <= 15 and _starts_run(text, match.start(), "+.-"):
            return True
    for pattern in (_PHONE_NANP_RE, _PHONE_NANP_AREA_RE):
        for match in pattern.finditer(text, start, end):
            if _starts_run(text, match.start(), "+(.-"):
                return True
    return False


def _has_card(text: str, start: int, end: int) -> bool:
    for match in _CARD_RE.finditer(text, start, end):
        at = match.start()
        # The digits after an IBAN's "DE89 " are the BBAN, not a card (IBANs are checked apart).
        if _IBAN_HEAD_RE.search(text, max(0, at - 5), at):
            continue
        if _starts_run(text, at, "-") and luhn_valid(
            match.group().replace(" ", "").replace("-", "")
        ):
            return True
    return False


def _has_ssn(text: str, start: int, end: int) -> bool:
    for match in _SSN_RE.finditer(text, start, end):
        number = match.group()
        area, group, serial = number[:3], number[4:6], number[7:]
        if (
            _starts_run(text, match.start(), "-")
            and area not in ("000", "666")
            and area[0] != "9"
            and group != "00"
            and serial != "0000"
        ):
            return True
    return False


def _has_api_key(text: str) -> bool:
    for pattern in _VENDOR_KEY_RES:
        for match in pattern.finditer(text):
            if _starts_run(text, match.start(), "-"):
                return True
    lowered = text.lower()
    for name in _SECRET_NAMES:
        at = lowered.find(name)
        while at != -1:
            if _SECRET_ASSIGNMENT_RE.match(lowered, at + len(name)):
                return True
            at = lowered.find(name, at + 1)
    return False


def _has_bearer(text: str) -> bool:
    lowered = text.lower()
    at = lowered.find("bearer")
    while at != -1:
        if _starts_run(text, at) and _BEARER_VALUE_RE.match(text, at + 6):
            return True
        at = lowered.find("bearer", at + 1)
    return any(_starts_run(text, match.start(), "-") for match in _JWT_RE.finditer(text))


def _has_iban(text: str, start: int, end: int) -> bool:
    for match in _IBAN_TAIL_RE.finditer(text, start, end):
        at = match.start()
        country = text[at - 2 : at].upper() if at >= 2 else ""
        if not (country.isalpha() and country.isascii() and _starts_run(text, at - 2)):
            continue
        compact = country + match.group().replace(" ", "").upper()
        expected = _IBAN_LENGTHS.get(country)
        if expected is None:
            candidate = compact if 15 <= len(compact) <= 34 else ""
        else:
            # The candidate may run into a following upper-case word: cut to the country length.
            candidate = compact[:expected] if len(compact) >= expected else ""
        if candidate and iban_valid(candidate):
            return True
    return False


def _number_kinds(text: str, wanted: int) -> list[str]:
    """Phone, card, SSN and IBAN kinds found around the runs of digits and separators; stops
    once ``wanted`` kinds are found. Each check looks only at spans near one run."""
    found: dict[str, bool] = {}
    length = len(text)
    for match in _NUMBER_RUN_RE.finditer(text):
        start, end = match.start(), match.end()
        digits = sum(char.isdigit() for char in match.group())  # 9 or more
        # One character of context each side: a phone's "+" or "(", and what ends the number.
        near_start, near_end = max(0, start - 1), min(length, end + 1)
        if PHONE not in found and _has_phone(text, near_start, near_end):
            found[PHONE] = True
        if PAYMENT_CARD not in found and digits >= 13 and _has_card(text, start, near_end):
            found[PAYMENT_CARD] = True
        if US_SSN not in found and digits >= 9 and _has_ssn(text, start, near_end):
            found[US_SSN] = True
        if IBAN not in found and _has_iban(
            text, max(0, start - _IBAN_MARGIN), min(length, end + _IBAN_MARGIN)
        ):
            found[IBAN] = True
        if len(found) >= wanted:
            break
    return list(found)


def _token_kinds(text: str, wanted: int) -> list[str]:
    found: list[str] = []
    for kind, check in ((EMAIL, _has_email), (API_KEY, _has_api_key), (BEARER_TOKEN, _has_bearer)):
        if check(text):
            found.append(kind)
            if len(found) >= wanted:
                break
    return found


def _kinds(text: str, wanted: int) -> set[str]:
    if not text:
        return set()
    kinds = set(_token_kinds(text, wanted))
    if len(kinds) < wanted:
        encoded = text.encode("utf-8", "surrogatepass")
        if len(encoded) - len(encoded.translate(None, _ASCII_DIGITS)) >= _MIN_DIGITS:
            kinds.update(_number_kinds(text, wanted - len(kinds)))
    return kinds


def detect_pii(text: str) -> list[str]:
    """The kinds of PII found in ``text`` (each kind once, in ``PII_KINDS`` order)."""
    kinds = _kinds(text, len(PII_KINDS))
    return [kind for kind in PII_KINDS if kind in kinds]


def contains_pii(text: str) -> bool:
    """True when ``text`` carries any kind of PII; stops at the first kind found."""
    return bool(_kinds(text, 1))
