"""Vectorised twins of the suite's expectations in ``pyarrow.compute``. Plain module, no GX.

They read the same ``ExpectationSpec`` data as the GX runner and follow the same conventions
(nulls pass except ``NOT_NULL``, NaN is not finite, both members of a duplicate fail), so a
batch can be screened in milliseconds. The GX run stays the record of what valid means; these
answer "which rows would fail" quickly, e.g. to short-cut a batch that is clearly bad.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from memgraph_pipelines.validation.suite import (
    PROMPT_PLUS_COMPLETION,
    SUITE,
    Bound,
    Check,
    ExpectationSpec,
    Param,
    ValidationConfig,
    suite_parameters,
)


def precheck_failed_positions(
    tables: dict[str, pa.Table], config: ValidationConfig
) -> dict[str, dict[int, list[str]]]:
    """table -> row position -> names of the expectations that row fails (failing rows only).

    Same shape as ``ValidationReport.failed_positions``; empty tables are skipped.
    """
    parameters = suite_parameters(config, wall_clock_ms=int(time.time() * 1000))
    failed: dict[str, dict[int, list[str]]] = {}
    for name, table in tables.items():
        if table.num_rows == 0:
            continue
        rows: dict[int, list[str]] = {}
        for spec in SUITE[name]:
            mask = unexpected_mask(spec, table, parameters)
            for position in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
                rows.setdefault(int(position), []).append(spec.name)
        if rows:
            failed[name] = rows
    return failed


def unexpected_mask(spec: ExpectationSpec, table: pa.Table, parameters: dict[str, int]) -> pa.Array:
    """Boolean array without nulls: True where the row fails ``spec``."""
    values = checked_column(table, spec.column)
    match spec.check:
        case Check.NOT_NULL:
            mask = pc.is_null(values)
        case Check.UNIQUE:
            counts = pc.value_counts(values)
            repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
            mask = pc.is_in(values, value_set=repeated, skip_nulls=True)
        case Check.BETWEEN:
            outside = [
                compare(values, _resolve(bound, parameters))
                for compare, bound in ((pc.less, spec.min_value), (pc.greater, spec.max_value))
                if bound is not None
            ]
            mask = functools.reduce(pc.or_kleene, outside, pa.scalar(False))
        case Check.IN_SET:
            allowed = pa.array(spec.value_set, type=values.type)
            mask = pc.invert(pc.is_in(values, value_set=allowed))
        case Check.MATCHES_REGEX:
            # RE2 has no \Z; its $ already means the very end of the text.
            pattern = (spec.regex or "").replace(r"\Z", "$")
            mask = pc.invert(pc.match_substring_regex(values, pattern=pattern))
        case Check.PAIR_EQUAL:
            other = checked_column(table, spec.other_column or "")
            mask = pc.not_equal(pc.cast(values, pa.float64()), pc.cast(other, pa.float64()))
        case _:
            raise ValueError(f"unsupported check {spec.check!r}")
    return pc.fill_null(_combined(mask), False)


def checked_column(table: pa.Table, column: str) -> pa.ChunkedArray:
    """A column as both engines check it: NaN shown as +inf, the derived sum computed.

    pandas counts NaN as missing, which every rule skips; +inf fails "finite". The sum is
    float64 so an absurd int64 pair can neither wrap around nor raise.
    """
    if column == PROMPT_PLUS_COMPLETION:
        return pc.add(
            pc.cast(table.column("prompt_tokens"), pa.float64()),
            pc.cast(table.column("completion_tokens"), pa.float64()),
        )
    values = table.column(column)
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_nan(values), math.inf, values)
    return values


def _resolve(bound: Bound, parameters: dict[str, int]) -> int | float:
    return parameters[bound.name] if isinstance(bound, Param) else bound  # type: ignore[return-value]


def _combined(mask: pa.ChunkedArray | pa.Array) -> pa.Array:
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
