"""How a load shares each step's rows among parallel writers, phase by phase (no server
needed)."""

from __future__ import annotations

from collections import Counter

from memgraph_pipelines.graph import loader
from memgraph_pipelines.graph.rows import build_rows
from tests.graph_tables import synthetic_tables


def _steps() -> dict[str, loader._Step]:
    return {step.name: step for step in loader._steps(build_rows(synthetic_tables(3_000)))}


def _writer_of(lanes: list[list[dict]], key: str) -> dict[str, int]:
    """key value -> the writer whose rows hold it (the test fails if two writers do)."""
    owner: dict[str, int] = {}
    for writer, rows in enumerate(lanes):
        for row in rows:
            assert owner.setdefault(row[key], writer) == writer, key
    return owner


def test_every_row_goes_to_exactly_one_writer() -> None:
    for step in _steps().values():
        lanes = loader._lanes(step, 3)
        assert len(lanes) == 3
        ids = [repr(item) for rows in lanes for item in rows]
        assert Counter(ids) == Counter(repr(item) for item in step.items), step.name
        if step.partition is not None:
            assert all(lanes), step.name  # 3,000 events: every writer gets some


def test_phases_hold_every_step_once() -> None:
    names = [name for phase in loader.PHASES for name in phase]
    assert sorted(names) == sorted(_steps())


def test_a_sessions_rows_share_one_writer_through_its_phase() -> None:
    # Within a phase writers do not wait for each other between steps: a prompt, response or
    # invocation must find its Session (and a response its Prompt) in its own writer's rows.
    steps = _steps()
    sessions = _writer_of(loader._lanes(steps["sessions"], 3), "id")
    for name in ("prompts", "invocations"):
        for session_id, writer in _writer_of(loader._lanes(steps[name], 3), "session_id").items():
            assert sessions[session_id] == writer, name
    prompts = _writer_of(loader._lanes(steps["prompts"], 3), "id")
    responses = _writer_of(loader._lanes(steps["responses"], 3), "prompt_event_id")
    assert set(responses) <= set(prompts)
    assert all(prompts[prompt] == writer for prompt, writer in responses.items())
    metrics = _writer_of(loader._lanes(steps["metrics"], 3), "invocation_id")
    errors = _writer_of(loader._lanes(steps["errors"], 3), "invocation_id")
    assert all(metrics[i] == w for i, w in errors.items() if i in metrics)


def test_unkeyed_steps_and_one_writer_use_one_lane() -> None:
    steps = _steps()
    assert [len(rows) > 0 for rows in loader._lanes(steps["models"], 3)] == [True, False, False]
    assert len(loader._lanes(steps["prompts"], 1)) == 1
