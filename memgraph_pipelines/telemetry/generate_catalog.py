"""Vocabulary of the synthetic Observatory traffic: models, applications, texts, PII, key styles.

Plain module. Everything here is drawn from a ``random.Random`` handed in by the caller, so the
traffic stays deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

T = TypeVar("T")

#: (model_id, provider, USD per 1k prompt tokens, USD per 1k completion tokens, ms per token)
MODELS: tuple[tuple[str, str, float, float, float], ...] = (
    ("gpt-4o", "openai", 0.0025, 0.01, 9.0),
    ("gpt-4o-mini", "openai", 0.00015, 0.0006, 5.0),
    ("gpt-4-turbo", "openai", 0.01, 0.03, 18.0),
    ("claude-3-5-sonnet", "anthropic", 0.003, 0.015, 11.0),
    ("claude-3-haiku", "anthropic", 0.00025, 0.00125, 5.0),
    ("claude-3-opus", "anthropic", 0.015, 0.075, 25.0),
    ("llama-3-70b", "meta", 0.00059, 0.00079, 12.0),
    ("llama-3-8b", "meta", 0.00005, 0.00008, 4.0),
    ("gemini-1-5-pro", "google", 0.00125, 0.005, 10.0),
    ("gemini-1-5-flash", "google", 0.000075, 0.0003, 4.0),
    ("mistral-large", "mistral", 0.002, 0.006, 13.0),
    ("mixtral-8x7b", "mistral", 0.0007, 0.0007, 7.0),
    ("command-r-plus", "cohere", 0.0025, 0.01, 14.0),
)
#: Popular models are picked more often (a rough market share).
MODEL_WEIGHTS: tuple[float, ...] = (30, 14, 4, 18, 6, 2, 8, 3, 7, 3, 2, 2, 1)

APPLICATIONS = ("ide-plugin", "support-bot", "chat-web", "doc-search", "sql-assistant", "mobile")
PURPOSES = ("chat", "completion", "code", "summarization", "rag", "classification")
TEMPLATES = ("qa-v3", "summarize-v2", "code-review-v1", "rag-answer-v5", "triage-v1")
FINISH_REASONS = ("stop", "stop", "stop", "stop", "length", "content_filter", "function_call")
ERROR_TYPES = (
    ("rate_limit", "429 Too Many Requests"),
    ("provider_error", "upstream returned 500"),
    ("timeout", "no response within 30000 ms"),
    ("context_length_exceeded", "prompt exceeds the model context window"),
    ("content_filter", "request blocked by the provider safety filter"),
    ("authentication", "401 invalid provider credentials"),
)
SEVERITIES = ("low", "medium", "medium", "high", "critical")
REGIONS = ("eu-west-1", "us-east-1", "us-west-2", "ap-southeast-1")
#: Offsets used for ISO timestamps; producers in several regions report local time.
ISO_OFFSETS = (
    UTC,
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)

_OPENERS = (
    "Explain",
    "Summarise",
    "Write a unit test for",
    "Review this change to",
    "Draft an e-mail about",
    "Translate into German:",
    "What are the trade-offs of",
    "Give three examples of",
    "Find the bug in",
    "Classify the sentiment of",
)
_TOPICS = (
    "UNWIND in Cypher",
    "the Q3 churn report",
    "Kafka consumer group rebalancing",
    "the invoice reconciliation job",
    "our on-call handbook",
    "a Python dataclass with slots",
    "the new pricing page copy",
    "vector index recall at k=10",
    "the incident review of last Tuesday",
    "the customer's refund request",
    "Terraform state locking",
    "the onboarding checklist",
)
_SUFFIXES = ("", "", ".", "?", " in two sentences.", " for a new engineer.", " step by step.")
_ANSWERS = (
    "Here is a short explanation: ",
    "Sure. ",
    "The main points are: ",
    "I found one issue: ",
    "Summary: ",
    "Certainly, here is a draft. ",
)
_FIRST = ("anna", "jonas", "li", "maria", "omar", "priya", "sam", "yuki")
_LAST = ("schmidt", "nguyen", "garcia", "okafor", "kowalski", "tanaka", "smith")
_DOMAINS = ("example.com", "acme-corp.io", "mail.example.org", "contoso.net")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """``rng.choice`` without its rejection sampling: several times faster, bias negligible."""
    return options[int(rng.random() * len(options))]


_HEX_FORMATS = {48: "012x", 64: "016x", 128: "032x"}
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid_like(rng: random.Random) -> str:
    """A UUID-4-shaped id from the seeded generator (uuid.uuid4 would not be reproducible)."""
    h = format(rng.getrandbits(128), "032x")
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def hex_id(rng: random.Random, bits: int) -> str:
    """``bits`` random bits as lower-case hex (``bits`` a multiple of 4)."""
    return format(rng.getrandbits(bits), _HEX_FORMATS.get(bits) or f"0{bits // 4}x")


def prompt_text(rng: random.Random) -> str:
    return f"{pick(rng, _OPENERS)} {pick(rng, _TOPICS)}{pick(rng, _SUFFIXES)}"


def response_text(rng: random.Random, prompt: str) -> str:
    return f"{pick(rng, _ANSWERS)}{prompt.rstrip('.?')} comes down to {pick(rng, _TOPICS)}."


def oversized_text(rng: random.Random, min_chars: int) -> str:
    """Natural-looking text just over ``min_chars`` characters (a pasted log or document)."""
    chunk = " ".join(prompt_text(rng) for _ in range(200))
    repeats = min_chars // len(chunk) + 1
    return (chunk + " ") * repeats + prompt_text(rng)


# --- PII (SPEC §4.1 detector classes) -------------------------------------------------------


def _luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    body = pick(rng, ("4", "51", "52", "55"))
    body += "".join(pick(rng, "0123456789") for _ in range(15 - len(body)))
    digits = body + _luhn_check_digit(body)
    sep = pick(rng, (" ", "-", ""))
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    bban = "".join(pick(rng, "0123456789") for _ in range(18))
    # ISO 13616 check digits: country letters as numbers (D=13, E=14), "00" appended.
    check = 98 - int(bban + "131400") % 97
    value = f"DE{check:02d}{bban}"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def ssn(rng: random.Random) -> str:
    area = pick(rng, (rng.randint(1, 665), rng.randint(667, 899)))
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"+1 {rng.randint(201, 989)}-555-{rng.randint(100, 9999):04d}"
    return f"+44 20 7946 {rng.randint(0, 999):03d}{rng.randint(0, 9)}"


def email(rng: random.Random) -> str:
    return f"{pick(rng, _FIRST)}.{pick(rng, _LAST)}{rng.randint(1, 99)}@{pick(rng, _DOMAINS)}"


def api_key(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return "sk-" + "".join(pick(rng, _ALNUM) for _ in range(48))
    if kind == 1:
        return "AKIA" + "".join(pick(rng, _UPPER_ALNUM) for _ in range(16))
    return "ghp_" + "".join(pick(rng, _ALNUM) for _ in range(36))


_PII_SENTENCES = (
    (email, "Please reply to {} with the summary."),
    (phone, "Call me back on {} after five."),
    (card_number, "My card {} was declined, why?"),
    (ssn, "The applicant's SSN is {}."),
    (api_key, "This config uses the key {} and fails."),
    (iban, "Refund to IBAN {} please."),
)


def with_pii(rng: random.Random, text: str) -> str:
    make, sentence = pick(rng, _PII_SENTENCES)
    return f"{text} {sentence.format(make(rng))}"


# --- key styles and timestamps --------------------------------------------------------------

_CAMEL_CACHE: dict[str, str] = {}


def _camel(key: str) -> str:
    camel = _CAMEL_CACHE.get(key)
    if camel is None:
        head, *rest = key.split("_")
        camel = head + "".join(part.title() for part in rest)
        _CAMEL_CACHE[key] = camel
    return camel


_CONTAINERS = (dict, list)


def camel_case(value: Any) -> Any:
    """The same record with every object key, at every level, in camelCase."""
    # Recursing only into containers: a call per leaf value would dominate generation time.
    if type(value) is dict:
        cache = _CAMEL_CACHE
        return {
            (cache.get(k) or _camel(k)): (camel_case(v) if type(v) in _CONTAINERS else v)
            for k, v in value.items()
        }
    if type(value) is list:
        return [camel_case(v) for v in value]
    return value


def iso_timestamp(ts_ms: int, offset: timezone) -> str:
    text = datetime.fromtimestamp(ts_ms / 1000, offset).isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text
