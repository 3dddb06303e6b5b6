"""Event timestamps -> UTC epoch milliseconds (SPEC §2.1). Plain module.

Accepted: an ISO-8601 string with an offset (``Z`` included), or an integer number of epoch
milliseconds (a float with an integral value too). An ISO string without an offset is read
as UTC: Observatory clocks run in UTC and a guess of any other zone would be worse. Values
before 1970 or after year 9999 are refused, as is a digit-only string (it would be ambiguous
between a basic-format date and epoch milliseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
#: 9999-12-31T23:59:59.999Z
MAX_EPOCH_MS = 253_402_300_799_999
#: Longer strings are not timestamps; refusing them early keeps parsing cheap.
_MAX_ISO_CHARS = 64


def to_epoch_ms(value: object) -> int | None:
    """The UTC epoch milliseconds of ``value``, or None when it is not a valid timestamp."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_EPOCH_MS else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value <= MAX_EPOCH_MS else None
    if not isinstance(value, str) or len(value) > _MAX_ISO_CHARS or value.isdigit():
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    epoch_ms = (moment - _EPOCH) // _ONE_MS
    return epoch_ms if 0 <= epoch_ms <= MAX_EPOCH_MS else None
