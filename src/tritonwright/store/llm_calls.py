"""LLM calls: each call's prompt and reply kept as a file, its usage as a row; usage totals per run or task."""

from __future__ import annotations

import json
from typing import Any

from tritonwright.store.base import StoreBase
from tritonwright.store.records import atomic_write, now, safe_key


class LlmCallQueries(StoreBase):
    def record_llm_call(self, run_id: str, task_key: str, step_key: str, prompt: Any, reply: dict[str, Any]
                        ) -> None:
        """Keep the prompt and the reply (file) and its usage (row). Replies never contain API keys."""
        atomic_write(self.task_dir(run_id, task_key) / "llm" / f"{safe_key(step_key)}.json",
                     json.dumps({"prompt": prompt, "reply": reply}, indent=1, default=str))
        with self._tx() as c:
            # answered False: refused before any answer (no request made, or none answered): not a call.
            answered = reply.get("answered")
            c.execute("INSERT OR REPLACE INTO llm_calls (run_id, task_key, step_key, provider, model, status, "
                      "input_tokens, output_tokens, cost_usd, latency_s, created, answered) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (run_id, task_key, step_key, reply.get("provider"), reply.get("model"), reply.get("status"),
                       reply.get("input_tokens"), reply.get("output_tokens"), reply.get("cost_usd"),
                       reply.get("latency_s"), now(), None if answered is None else int(bool(answered))))

    def usage(self, run_id: str, task_key: str | None = None) -> dict[str, Any]:
        """Calls, tokens and cost of a run (or one of its tasks)."""
        # A refused call (answered = 0) is no call: not counted, and having no price it leaves the total known.
        q = ("SELECT COALESCE(SUM(COALESCE(answered, 1)), 0) n, COALESCE(SUM(answered = 0), 0) refused, "
             "COALESCE(SUM(input_tokens),0) i, COALESCE(SUM(output_tokens),0) o, "
             "SUM(cost_usd) c, SUM(cost_usd IS NULL AND COALESCE(answered, 1)) unknown "
             "FROM llm_calls WHERE run_id=?")
        args: tuple[Any, ...] = (run_id,)
        if task_key is not None:
            q += " AND task_key=?"
            args += (task_key,)
        r = self._one(q, args)
        assert r is not None
        # A call without a price makes the total unknown rather than silently low.
        cost = None if (r["unknown"] or 0) > 0 else (r["c"] or 0.0)
        return {"calls": r["n"], "input_tokens": r["i"], "output_tokens": r["o"], "cost_usd": cost,
                "refused": r["refused"]}
