"""How busy the machine's cores were over a measurement, from /proc/stat (Linux).

The pipeline shares the machine with Neo4j and Kafka, so its own process times say little
about what bounds it. The machine-wide busy time over the pipeline's wall time does: when it
is near the number of cores, a faster pipeline needs less work, not more overlap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTimes:
    busy_s: float
    total_s: float


def parse_cpu_line(line: str, ticks_per_second: int) -> CpuTimes:
    """The aggregate ``cpu`` line of /proc/stat: idle and iowait are not busy; guest time is
    already counted in user and nice, so only the first eight fields are summed."""
    fields = line.split()
    if not fields or fields[0] != "cpu":
        raise ValueError("not the aggregate cpu line of /proc/stat")
    values = [int(v) for v in fields[1:9]]
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return CpuTimes((total - idle) / ticks_per_second, total / ticks_per_second)


def cpu_times() -> CpuTimes | None:
    """The machine's CPU times so far, or None where /proc/stat does not exist."""
    try:
        first_line = PROC_STAT.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return parse_cpu_line(first_line, os.sysconf("SC_CLK_TCK"))


def busy_seconds(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """CPU-seconds all cores together spent busy between two readings."""
    if before is None or after is None:
        return None
    return max(0.0, after.busy_s - before.busy_s)


def all_cores_bound_eps(events: int, busy_s: float | None, cores: int | None) -> float | None:
    """Events/s the run would reach if its CPU work kept every core busy: an upper bound on
    any overlap of the same work on this machine."""
    if not busy_s or not cores:
        return None
    return events * cores / busy_s


def pipeline_cpu_bound_eps(results: dict[str, Any]) -> float | None:
    """``all_cores_bound_eps`` of a benchmark's pipeline measurement, rounded for the report."""
    pipeline = results["pipeline"]
    bound = all_cores_bound_eps(
        results["events"], pipeline.get("machine_busy_s"), pipeline.get("cpu_count")
    )
    return None if bound is None else round(bound, 1)
