"""How a load splits each step's rows among parallel writers (no server needed)."""

from __future__ import annotations

from collections import Counter

from memgraph_pipelines.graph import loader
from memgraph_pipelines.graph.rows import build_rows
from tests.graph_tables import synthetic_tables


def _steps() -> dict[str, loader._Step]:
    return {step.name: step for step in loader._steps(build_rows(synthetic_tables(3_000)))}


def test_every_row_goes_to_exactly_one_writer() -> None:
    for step in _steps().values():
        groups = loader._groups(step, 3, 100)
        ids = [repr(item) for group in groups for item in group]
        assert Counter(ids) == Counter(repr(item) for item in step.items), step.name
        if step.partition is not None and len(step.items) > 100:
            assert len(groups) == 3, step.name


def test_rows_of_one_session_stay_with_one_writer() -> None:
    steps = _steps()
    for name in ("prompts", "invocations"):
        groups = loader._groups(steps[name], 3, 100)
        owner: dict[str, int] = {}
        for index, group in enumerate(groups):
            for row in group:
                assert owner.setdefault(row["session_id"], index) == index, name
    metrics = loader._groups(steps["metrics"], 3, 100)
    owners = [{row["invocation_id"] for row in group} for group in metrics]
    assert not (owners[0] & owners[1]) and not (owners[1] & owners[2])


def test_small_or_unkeyed_steps_have_one_writer() -> None:
    steps = _steps()
    assert len(loader._groups(steps["models"], 3, 1)) == 1  # no key: Model rows are few
    assert len(loader._groups(steps["prompts"], 3, 10**6)) == 1  # one chunk holds them all
    assert len(loader._groups(steps["prompts"], 1, 100)) == 1
