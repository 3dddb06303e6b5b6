"""Rounds: every timed measurement runs once per round, round after round, and the report takes
each measurement's median round.

On this shared machine one run of a measurement can land in a busy minute: the same pipeline
run took 33.6 to 48.9 CPU-seconds from one run to the next, and its ratio to the ceiling moved
between 0.56 and 0.68. Interleaving the measurements round by round and comparing medians
weighs each against the others under the same conditions. Plain module: no service is touched.
"""

from __future__ import annotations

from typing import Any

#: Results keys of the timed measurements, in the order a round runs them.
MEASUREMENTS = ("pipeline", "ceiling", "per_event", "connector")


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of median ``events_per_s`` (of an even count, the lower of the two middle
    ones): a measurement that really ran, with its own details, not an average of several."""
    if not records:
        raise ValueError("no records")
    ordered = sorted(records, key=lambda record: record["events_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to three places, or None when either is missing or zero."""
    return round(a / b, 3) if a and b else None


def round_rows(rounds: list[dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per round: each measurement's events/s and the pipeline's ratio to each other one."""
    rows = []
    for number, measured in enumerate(rounds, start=1):
        eps = {name: measured[name]["events_per_s"] for name in MEASUREMENTS if name in measured}
        row: dict[str, Any] = {"round": number, "events_per_s": eps}
        pipeline = eps.get("pipeline")
        row["pipeline_vs"] = {
            name: ratio(pipeline, value) for name, value in eps.items() if name != "pipeline"
        }
        rows.append(row)
    return rows


def combine(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The results entries of all rounds: for each measurement its median round's record, with
    every round's events/s beside it (``rounds_events_per_s``), and ``rounds`` (``round_rows``).
    The pipeline's peak RSS is the largest of any round (``peak_rss_mb_max``)."""
    combined: dict[str, Any] = {}
    for name in MEASUREMENTS:
        records = [measured[name] for measured in rounds if name in measured]
        if not records:
            continue
        combined[name] = median_record(records) | {
            "rounds_events_per_s": [record["events_per_s"] for record in records],
        }
    if "pipeline" in combined:
        peaks = [measured["pipeline"]["peak_rss_mb"] for measured in rounds]
        combined["pipeline"]["peak_rss_mb_max"] = max(peaks)
    combined["rounds"] = round_rows(rounds)
    return combined
