"""Well-formed Observatory records of one user session (SPEC §2.1-2.3). Plain module.

A session is a user working in an application for a purpose; it makes several invocations, each
with its prompt, start, outcome (complete or error), response, token and latency reports and error
events. Records come back in produce order, which is not always time order (late links).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from memgraph_pipelines.telemetry import generate_catalog as cat

Record = dict[str, Any]

#: Upper bounds that keep every session within ``MAX_SESSION_MS`` of its start.
MAX_INVOCATIONS = 8
MAX_THINK_MS = 60_000
MAX_COMPLETION_TOKENS = 4_096
MAX_SESSION_MS = 30 * 60_000
#: Which latency metrics one invocation reports.
_METRIC_SETS = (
    ("latency",),
    ("ttft",),
    ("latency", "ttft"),
    ("latency", "ttft", "throughput"),
    ("throughput",),
)


@dataclass(frozen=True, slots=True)
class TrafficShape:
    sensitive_share: float
    pii_share: float
    v1_share: float
    late_share: float


class SessionFactory:
    """Builds sessions from one seeded generator; ``users`` bounds the user population."""

    def __init__(self, rng: random.Random, shape: TrafficShape, users: int) -> None:
        self._rng = rng
        self._shape = shape
        self._users = max(1, users)

    def session(self, start_ms: int) -> tuple[str, list[Record]]:
        rng = self._rng
        session = {
            "id": f"sess-{cat.hex_id(rng, 48)}",
            "user_id": f"user-{rng.randrange(self._users):05d}",
            "application_id": cat.pick(rng, cat.APPLICATIONS),
            "purpose": cat.pick(rng, cat.PURPOSES),
        }
        model = rng.choices(cat.MODELS, cat.MODEL_WEIGHTS)[0]
        count = 1 + min(int(rng.expovariate(0.5)), MAX_INVOCATIONS - 1)
        records: list[Record] = []
        clock = start_ms
        for _ in range(count):
            if rng.random() < 0.1:  # users sometimes switch models mid-session
                model = rng.choices(cat.MODELS, cat.MODEL_WEIGHTS)[0]
            clock += 800 + int(rng.random() * (MAX_THINK_MS - 800))
            clock = self._invocation(records, session, model, clock)
        return session["id"], records

    # --- one invocation ---------------------------------------------------------------------

    def _invocation(self, out: list[Record], session: dict[str, str], model: tuple, t0: int) -> int:
        rng = self._rng
        shape = self._shape
        model_id, provider, usd_in, usd_out, ms_per_token = model
        legacy = rng.random() < shape.v1_share
        trace_id = cat.hex_id(rng, 128)
        prompt_id = cat.uuid_like(rng)
        response_id = cat.uuid_like(rng)
        complete_id = cat.uuid_like(rng)
        keyed = not legacy and rng.random() < 0.85
        inv_key = f"inv-{cat.hex_id(rng, 64)}" if keyed else complete_id

        prompt_tokens = 12 + min(int(rng.expovariate(1 / 350)), 30_000)
        completion_tokens = 1 + min(int(rng.expovariate(1 / 220)), MAX_COMPLETION_TOKENS)
        ttft = round(rng.uniform(120, 900), 1)
        latency = round(ttft + completion_tokens * ms_per_token * rng.uniform(0.6, 1.5), 1)
        cost = round(prompt_tokens / 1000 * usd_in + completion_tokens / 1000 * usd_out, 6)
        roll = rng.random()
        status = "success" if roll < 0.88 else "timeout" if roll < 0.93 else "error"
        as_error_event = status == "error" and not legacy and rng.random() < 0.5

        level, in_metadata = self._classification()
        text = cat.prompt_text(rng)
        if rng.random() < shape.pii_share:
            text = cat.with_pii(rng, text)
        prompt_payload: Record = {
            "prompt": {"text": text, "template": cat.pick(rng, cat.TEMPLATES)}
            if rng.random() < 0.3
            else {"text": text},
            "session": dict(session),
            "model": {"id": model_id, "provider": provider},
        }
        prompt = self._v2(prompt_id, "llm.prompt.submitted", t0, trace_id, prompt_payload)
        self._classify(prompt, level, in_metadata)

        head: list[Record] = [prompt]
        links = {"session_id": session["id"], "user_id": session["user_id"]}
        if keyed:
            start_payload = {"invocation_id": inv_key, "model_id": model_id, "provider": provider}
            start_payload.update(links, prompt_event_id=prompt_id)
            head.append(self._v2(None, "llm.invocation.start", t0 + 15, trace_id, start_payload))
        t_end = t0 + 15 + int(latency)

        outcome: Record
        if legacy:
            outcome = {
                "event_id": complete_id,
                "event_type": "llm.invocation.complete",
                "timestamp": t_end,
                "model_id": model_id,
                "provider": provider,
                "token_count": prompt_tokens + completion_tokens,
                "latency_ms": latency,
                "status": status.upper(),
                "trace_id": trace_id,
                "span_id": cat.hex_id(rng, 64),
                "metadata": {"source": "observatory", "region": cat.pick(rng, cat.REGIONS)},
            }
        elif as_error_event:
            error_type, message = cat.pick(rng, cat.ERROR_TYPES)
            payload: Record = {"model_id": model_id, "provider": provider}
            if keyed:
                payload["invocation_id"] = inv_key
            payload.update(error_type=error_type, message=message, session_id=session["id"])
            outcome = self._v2(complete_id, "llm.invocation.error", t_end, trace_id, payload)
        else:
            payload = {"model_id": model_id, "provider": provider, "status": status}
            if keyed:
                payload = {"invocation_id": inv_key, **payload}
            if status == "success":
                payload.update(
                    token_count=prompt_tokens + completion_tokens,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            payload.update(latency_ms=latency, cost_usd=cost if status == "success" else 0.0)
            payload.update(links, prompt_event_id=prompt_id)
            if status == "success":
                payload["response_event_id"] = response_id
            outcome = self._v2(complete_id, "llm.invocation.complete", t_end, trace_id, payload)
        head.append(outcome)

        late = rng.random() < shape.late_share
        # A late link: the response before its prompt, or token usage before the invocation.
        response_first = late and status == "success" and rng.random() < 0.5
        tokens_first = late and not response_first

        tail: list[Record] = []
        if status == "success":
            response = self._response(response_id, prompt_id, text, t_end + 3, trace_id)
            response["payload"]["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            response["payload"]["metrics"] = {
                "latency_ms": latency,
                "ttft_ms": ttft,
                "cost_usd": cost,
            }
            self._classify(response, level, in_metadata)
            tail.append(response)
        tokens = self._tokens(inv_key, t_end, trace_id, prompt_tokens, completion_tokens)
        if tokens_first and tokens is None:
            tokens = self._tokens(inv_key, t_end, trace_id, prompt_tokens, 0, always=True)
        reports = self._metrics(inv_key, t_end, trace_id, latency, ttft, completion_tokens)
        if status != "success" and rng.random() < 0.6:
            reports.append(self._error_occurred(inv_key, t_end + 4, trace_id, status))
        if rng.random() < 0.01:  # a client-side failure that names no invocation
            reports.append(self._error_occurred(None, t_end + 6, None, "error"))

        if response_first:
            out.extend(tail)
            out.extend(head)
        else:
            if tokens_first and tokens is not None:
                out.append(tokens)
                tokens = None
            out.extend(head)
            out.extend(tail)
        if tokens is not None:
            out.append(tokens)
        out.extend(reports)
        return t_end + 10

    # --- single records ---------------------------------------------------------------------

    def _v2(
        self,
        event_id: str | None,
        event_type: str,
        ts_ms: int,
        trace_id: str | None,
        payload: Record,
    ) -> Record:
        rng = self._rng
        record: Record = {
            "event_id": event_id or cat.uuid_like(rng),
            "event_type": event_type,
            "schema_version": "2",
            "timestamp": ts_ms
            if rng.random() < 0.4
            else cat.iso_timestamp(ts_ms, cat.pick(rng, cat.ISO_OFFSETS)),
        }
        if trace_id is not None:
            record["trace_id"] = trace_id
            record["span_id"] = cat.hex_id(rng, 64)
        record["payload"] = payload
        if rng.random() < 0.3:
            record["metadata"] = {"source": "observatory", "region": cat.pick(rng, cat.REGIONS)}
        return record

    def _classification(self) -> tuple[str | None, bool]:
        rng = self._rng
        if rng.random() < self._shape.sensitive_share:
            return cat.pick(rng, ("confidential", "restricted")), rng.random() < 0.5
        roll = rng.random()
        return ("public" if roll < 0.4 else "internal" if roll < 0.7 else None), False

    @staticmethod
    def _classify(record: Record, level: str | None, in_metadata: bool) -> None:
        if level is None:
            return
        if in_metadata:
            record.setdefault("metadata", {})["classification"] = level
        else:
            record["payload"]["classification"] = level

    def _response(
        self, event_id: str, prompt_id: str, prompt: str, ts_ms: int, trace_id: str
    ) -> Record:
        rng = self._rng
        text = cat.response_text(rng, prompt)
        if rng.random() < self._shape.pii_share / 2:  # the model echoes contact details
            text = cat.with_pii(rng, text)
        body = {"text": text, "finish_reason": cat.pick(rng, cat.FINISH_REASONS)}
        payload = {"prompt_event_id": prompt_id, "response": body}
        return self._v2(event_id, "llm.response.generated", ts_ms, trace_id, payload)

    def _tokens(
        self,
        inv_key: str,
        t_end: int,
        trace_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        always: bool = False,
    ) -> Record | None:
        if not always and self._rng.random() >= 0.4:
            return None
        payload = {
            "invocation_id": inv_key,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        return self._v2(None, "llm.tokens.consumed", t_end + 2, trace_id, payload)

    def _metrics(
        self, inv_key: str, t_end: int, trace_id: str, latency: float, ttft: float, tokens: int
    ) -> list[Record]:
        rng = self._rng
        if rng.random() >= 0.5:
            return []
        values = {
            "latency": latency,
            "ttft": ttft,
            "throughput": round(tokens / max(latency - ttft, 1.0) * 1000, 2),
        }
        chosen = cat.pick(rng, _METRIC_SETS)
        out = []
        for metric_type in chosen:
            payload: Record = {
                "invocation_id": inv_key,
                "metric_type": metric_type,
                "value": values[metric_type],
            }
            if rng.random() < 0.6:
                payload["percentile"] = cat.pick(rng, (50, 90, 95, 99))
            out.append(self._v2(None, "llm.latency.measured", t_end + 3, trace_id, payload))
        return out

    def _error_occurred(
        self, inv_key: str | None, ts_ms: int, trace_id: str | None, status: str
    ) -> Record:
        rng = self._rng
        error_type, message = (
            ("timeout", "no response within 30000 ms")
            if status == "timeout"
            else cat.pick(rng, cat.ERROR_TYPES)
        )
        payload: Record = {} if inv_key is None else {"invocation_id": inv_key}
        payload.update(
            error_type=error_type,
            message=message,
            severity=cat.pick(rng, cat.SEVERITIES),
            recoverable=error_type in ("rate_limit", "timeout", "provider_error"),
        )
        return self._v2(None, "llm.error.occurred", ts_ms, trace_id, payload)
