"""Key normalisation and typed field readers for decoded JSON objects. Plain module.

Keys arrive in snake_case or camelCase at every level (SPEC §2.1); objects are normalised
to snake_case when they are read, so only the objects a record actually uses are walked.
Readers raise ``RecordError`` with a detail that names the field and the rule, never a value:
a value could be (or contain) prompt text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from memgraph_pipelines.telemetry.outcome import FailureReason

I64_MAX = 2**63 - 1

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SNAKE_CACHE: dict[str, str] = {}
#: Bounds the cache so arbitrary keys in hostile input cannot grow it without limit.
_SNAKE_CACHE_MAX = 10_000


class RecordError(Exception):
    """A parsed record that cannot be loaded: SPEC §2.4 reason and a value-free detail."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def snake_case(key: str) -> str:
    """``promptEventId`` -> ``prompt_event_id``, ``costUSD`` -> ``cost_usd``; snake_case as is."""
    cached = _SNAKE_CACHE.get(key)
    if cached is not None:
        return cached
    name = _WORD_BOUNDARY.sub("_", key).lower() if not key.islower() else key
    if len(_SNAKE_CACHE) < _SNAKE_CACHE_MAX:
        _SNAKE_CACHE[key] = name
    return name


def snake_keys(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A copy of ``obj`` with snake_case keys. Both spellings of one key is ambiguous."""
    out: dict[str, Any] = {}
    cached = _SNAKE_CACHE.get
    for key, value in obj.items():
        name = cached(key) or snake_case(key)
        if name in out:
            raise RecordError(
                FailureReason.INVALID_VALUE,
                f"{prefix}{name} is given more than once (in snake_case and camelCase)",
            )
        out[name] = value
    return out


def _missing(prefix: str, key: str) -> RecordError:
    return RecordError(FailureReason.MISSING_FIELD, f"{prefix}{key} is required")


def _invalid(prefix: str, key: str, rule: str) -> RecordError:
    return RecordError(FailureReason.INVALID_VALUE, f"{prefix}{key} must be {rule}")


def read_object(
    obj: dict[str, Any], key: str, prefix: str, *, required: bool = False
) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(prefix, key)
        return None
    if type(value) is not dict:
        raise _invalid(prefix, key, "an object")
    return snake_keys(value, f"{prefix}{key}.")


def read_str(obj: dict[str, Any], key: str, prefix: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(prefix, key)
        return None
    if type(value) is not str:
        raise _invalid(prefix, key, "a string")
    return value


def read_id(obj: dict[str, Any], key: str, prefix: str, *, required: bool = False) -> str | None:
    """An identifier: a string that is not empty or blank."""
    value = read_str(obj, key, prefix, required=required)
    if value is not None and not value.strip():
        raise _invalid(prefix, key, "a non-empty string")
    return value


def read_choice(
    obj: dict[str, Any],
    key: str,
    prefix: str,
    allowed: frozenset[str],
    *,
    required: bool = False,
) -> str | None:
    """An enum value, case-insensitive, returned in lower case."""
    value = read_str(obj, key, prefix, required=required)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in allowed:
        raise _invalid(prefix, key, "one of " + ", ".join(sorted(allowed)))
    return lowered


def read_count(obj: dict[str, Any], key: str, prefix: str, *, required: bool = False) -> int | None:
    """A non-negative integer; a float with an integral value counts, a boolean does not."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(prefix, key)
        return None
    kind = type(value)
    if kind is int and 0 <= value <= I64_MAX:
        return value
    if kind is float and value.is_integer() and 0 <= value <= I64_MAX:
        return int(value)
    raise _invalid(prefix, key, "a non-negative integer")


def read_number(
    obj: dict[str, Any], key: str, prefix: str, *, required: bool = False
) -> float | None:
    """A finite number (int or float, not a boolean), as a float."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(prefix, key)
        return None
    kind = type(value)
    if (kind is float or kind is int) and math.isfinite(value):
        return float(value)
    raise _invalid(prefix, key, "a finite number")


def read_amount(
    obj: dict[str, Any], key: str, prefix: str, *, required: bool = False
) -> float | None:
    """A finite, non-negative number (a latency, a cost, a measured value), as a float."""
    value = read_number(obj, key, prefix, required=required)
    if value is not None and value < 0:
        raise _invalid(prefix, key, "a non-negative number")
    return value


def read_flag(obj: dict[str, Any], key: str, prefix: str) -> bool | None:
    value = obj.get(key)
    if value is None or type(value) is bool:
        return value
    raise _invalid(prefix, key, "a boolean")


def iter_strings(doc: object) -> Iterator[str]:
    """Every string in a decoded JSON document, keys included (iterative: no recursion limit)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if type(item) is str:
            yield item
        elif type(item) is dict:
            for key, value in item.items():
                yield key
                stack.append(value)
        elif type(item) is list:
            stack.extend(item)


def _get_snake(obj: object, name: str) -> object:
    """``obj[name]`` under either key spelling; None when ``obj`` is not an object."""
    if type(obj) is not dict:
        return None
    for key, value in obj.items():
        if snake_case(key) == name:
            return value
    return None


def declared_classification(doc: object) -> str | None:
    """The classification a (possibly invalid) document declares, for a dead letter: the
    payload's, else the metadata's, else a legacy top-level one. A non-string is returned as
    an empty string so that it reads as an unknown level, not as absent."""
    for holder in (_get_snake(doc, "payload"), _get_snake(doc, "metadata"), doc):
        value = _get_snake(holder, "classification")
        if value is not None:
            return value if type(value) is str else ""
    return None
