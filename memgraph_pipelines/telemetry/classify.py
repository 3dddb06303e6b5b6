"""Classification levels of prompt and response text (SPEC §4.1). Plain module.

The level comes from the event (``classification`` in the payload or the metadata), default
``internal``. The PII detector raises it to ``pii``; nothing lowers it. A declared level that
is not one of ``LEVELS`` (any case) is read as ``restricted``: an unreadable label must not
let a text through unprotected, and ``restricted`` keeps it in the vault without claiming PII.
"""

from __future__ import annotations

from collections.abc import Iterable

from memgraph_pipelines.telemetry.pii import PII_KINDS, contains_pii, detect_pii

__all__ = [
    "DEFAULT_LEVEL",
    "LEVELS",
    "PII_KINDS",
    "SENSITIVE_LEVELS",
    "UNKNOWN_DECLARED_LEVEL",
    "classify",
    "declared_level",
    "detect_pii",
    "is_sensitive",
]

LEVELS = ("public", "internal", "confidential", "restricted", "pii")
SENSITIVE_LEVELS = frozenset({"confidential", "restricted", "pii"})
DEFAULT_LEVEL = "internal"
UNKNOWN_DECLARED_LEVEL = "restricted"
PII_LEVEL = "pii"

_KNOWN_LEVELS = frozenset(LEVELS)


def declared_level(declared: str | None) -> str:
    """The level an event declares: lower-cased, ``internal`` when absent, ``restricted``
    when it is not a known level (or not a string at all)."""
    if declared is None:
        return DEFAULT_LEVEL
    if isinstance(declared, str):
        level = declared.strip().lower()
        if level in _KNOWN_LEVELS:
            return level
    return UNKNOWN_DECLARED_LEVEL


def classify(declared: str | None, texts: Iterable[str]) -> str:
    """The declared level, raised to ``pii`` when any of ``texts`` carries PII."""
    level = declared_level(declared)
    if level == PII_LEVEL:
        return level  # already the highest level: no need to scan
    for text in texts:
        if text and contains_pii(text):
            return PII_LEVEL
    return level


def is_sensitive(level: str | None) -> bool:
    """True for ``confidential``, ``restricted`` and ``pii``, and for a level that is unknown
    or could not be told (``None``): only ``public`` and ``internal`` text is stored as is."""
    return level not in ("public", "internal")
