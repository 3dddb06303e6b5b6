"""Benchmark results as JSON, a Markdown table and a PNG chart (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.machine_cpu import pipeline_cpu_bound_eps
from benchmarks.pipeline_run import STAGES

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Report rows: results key, and how the row is named.
METHODS = (
    ("pipeline", "pipeline (catch-up, end to end)"),
    ("ceiling", "ceiling (prebuilt rows, load_batch only)"),
    ("connector", "connector-style (1000/tx, per partition)"),
    ("per_event", "per-event MERGE (1 tx/event)"),
)


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(pipeline_eps: float | None, other_eps: float | None) -> str:
    return f"{pipeline_eps / other_eps:.2f}x" if pipeline_eps and other_eps else "n/a"


def _method_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    pipeline_eps = results["pipeline"]["events_per_s"]
    rows = []
    for key, name in METHODS:
        part = results.get(key)
        if not part:
            continue
        events = part.get("events", results["events"])
        eps = part["events_per_s"]
        ratio = "—" if key == "pipeline" else _ratio(pipeline_eps, eps)
        rows.append((name, _number(events), _number(part["seconds"], 2), _number(eps), ratio))
    return rows


#: Column names of the rounds table.
_SHORT = {
    "pipeline": "pipeline",
    "ceiling": "ceiling",
    "connector": "connector",
    "per_event": "per-event",
}


#: Column names of the rounds table.
_SHORT = {
    "pipeline": "pipeline",
    "ceiling": "ceiling",
    "connector": "connector",
    "per_event": "per-event",
}


def _round_lines(results: dict[str, Any]) -> list[str]:
    """Every round's events/s and ratios, when there was more than one round."""
    rounds = results.get("rounds") or []
    if len(rounds) < 2:
        return []
    names = [key for key, _ in METHODS if key in rounds[0]["events_per_s"]]
    others = [key for key in names if key != "pipeline"]
    lines = [
        "",
        f"Each row above is the median of {len(rounds)} rounds. A round runs the pipeline, the "
        "ceiling, the per-event and the connector-style measurements, in that order:",
        "",
        "| round | "
        + " | ".join(f"{_SHORT[n]} events/s" for n in names)
        + "".join(f" | pipeline ÷ {_SHORT[n]}" for n in others)
        + " |",
        "|---:|" + "---:|" * (len(names) + len(others)),
    ]
    for row in rounds:
        cells = [str(row["round"])]
        cells += [_number(row["events_per_s"].get(n)) for n in names]
        cells += [_number(row["pipeline_vs"].get(n), 2) for n in others]
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: throughput, stage breakdown, chunk sizes, memory and sensor."""
    summary = results["summary"]
    lines = [
        f"## Benchmark, {results['events']:,} events ({results['started_at']})",
        "",
        "| measurement | events | seconds | events/s | pipeline ÷ this |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in _method_rows(results)]
    lines += _round_lines(results)
    per_event = results.get("per_event")
    if per_event:
        lines += [
            "",
            f"Per-event rate measured on a sample of {per_event['events']:,} events; at that "
            f"rate (assumed constant) {results['events']:,} events take "
            f"{_number(per_event['extrapolated_seconds'])} s.",
        ]
        if per_event.get("half_rates"):
            first, second = per_event["half_rates"]
            lines[-1] += (
                f" The sample's first half ran at {first:,.0f} events/s, its second at "
                f"{second:,.0f}."
            )
    stages = results["pipeline"]["stages"]
    total = sum(stages.values()) or 1.0
    lines += ["", "| pipeline stage | seconds | share |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {stages.get(name, 0.0):.2f} | {100 * stages.get(name, 0.0) / total:.1f} % |"
        for name in STAGES
    ]
    ceiling = results.get("ceiling")
    if ceiling:
        lines += ["", "| loader chunk size | ceiling events/s | transactions |", "|---:|---:|---:|"]
        for r in ceiling["sweep"]:
            best = " (best)" if r["chunk_size"] == ceiling["best_chunk_size"] else ""
            lines.append(
                f"| {r['chunk_size']:,}{best} | {_number(r['events_per_s'])} "
                f"| {r['transactions']:,} |"
            )
    sensor = results["sensor"]
    lines += [
        "",
        f"- peak RSS of the batch process: {summary['peak_rss_mb']:,.0f} MB "
        f"({results['pipeline']['rss_after_imports_mb']:,.0f} MB after imports)",
        f"- sensor tick (the sensor, 12 partitions, {results['events']:,} backlog, "
        f"{sensor.get('history', 0):,} batches registered before): median "
        f"{sensor['median_s']:.3f} s, max {sensor['max_s']:.3f} s; the first tick, which "
        f"reads every registration, {sensor.get('first_tick_s', 0.0):.3f} s",
        f"- pipeline totals: {json.dumps(results['pipeline']['totals'], sort_keys=True)}",
    ]
    bound = pipeline_cpu_bound_eps(results)
    if bound is not None:
        run = results["pipeline"]
        busy, cores, seconds = run["machine_busy_s"], run["cpu_count"], run["seconds"]
        lines.append(
            f"- machine CPU during the pipeline: {busy:.1f} CPU-seconds in {seconds:.1f} s on "
            f"{cores} cores ({busy / (cores * seconds):.0%} busy); with every core busy the same "
            f"work would still take {busy / cores:.1f} s ({bound:,.0f} events/s)"
        )
    return "\n".join(lines) + "\n"


def write_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    names = [key for key, _ in METHODS if results.get(key)]
    rates = [results[key]["events_per_s"] for key in names]
    stages = results["pipeline"]["stages"]
    figure, (throughput, breakdown) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = throughput.barh(names[::-1], rates[::-1], color="#4c72b0")
    throughput.bar_label(bars, labels=[f"{r:,.0f}" for r in rates[::-1]], padding=3)
    throughput.set_xscale("log")
    throughput.set_xlim(right=max(rates) * 4)  # room for the labels
    throughput.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    throughput.xaxis.set_minor_formatter(NullFormatter())
    throughput.set_xlabel("events/s (log scale)")
    throughput.set_title(f"Throughput, {results['events']:,} events")
    breakdown.barh(list(STAGES)[::-1], [stages.get(s, 0.0) for s in STAGES][::-1], color="#dd8452")
    breakdown.set_xlabel("seconds (all batches)")
    breakdown.set_title("Pipeline stage breakdown")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_reports(
    results: dict[str, Any], directory: Path = RESULTS_DIR, *, chart: bool = True
) -> dict[str, Path]:
    """bench-<timestamp>-<N>.json / .md / .png in ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    stem = directory / f"bench-{stamp}-{results['events']}"
    paths = {"json": stem.with_suffix(".json"), "markdown": stem.with_suffix(".md")}
    paths["json"].write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    paths["markdown"].write_text(markdown(results))
    if chart:
        paths["png"] = stem.with_suffix(".png")
        write_chart(results, paths["png"])
    return paths
