"""Batch validation of the decoded Observatory tables (SPEC §2.3-2.4).

The suite (``suite``) is plain data; ``runner`` executes it with Great Expectations 1.x, which is
imported on the first ``validate_tables`` call only. ``prechecks`` evaluates the same suite with
``pyarrow.compute`` for a fast look before (or without) the GX run.
"""

from memgraph_pipelines.validation.runner import (
    ExpectationOutcome,
    FailedRow,
    ValidationReport,
    split_failed_rows,
    validate_tables,
)
from memgraph_pipelines.validation.suite import (
    EXPECTATION_NAMES,
    SUITE,
    ExpectationSpec,
    ValidationConfig,
)

__all__ = [
    "EXPECTATION_NAMES",
    "SUITE",
    "ExpectationOutcome",
    "ExpectationSpec",
    "FailedRow",
    "ValidationConfig",
    "ValidationReport",
    "split_failed_rows",
    "validate_tables",
]
