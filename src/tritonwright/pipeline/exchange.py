"""The LLM exchange of one task: a prompt out, the reply in, every call's prompt, reply and usage recorded in
the run store; K answers to one prompt asked at once; the analysis-then-fix pair of a repair; the code pulled
out of a reply. The LLM package is imported when a call is made, not with this module."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from tritonwright.candidate import Candidate
from tritonwright.gpus.spec import GpuSpec
from tritonwright.seams import LLM
from tritonwright.store import RunStore

if TYPE_CHECKING:  # imported where used: the LLM and prompt packages load only on the LLM paths
    from tritonwright.llm.types import LLMReply, Message
    from tritonwright.prompts.render import FailedAttempt

SYSTEM_PROMPT = "You are an expert in writing fast, correct Triton GPU kernels for PyTorch models."


class Answer(NamedTuple):
    """One LLM call as the pipeline sees it."""

    text: str | None  # None: the call failed (see `failure`)
    usage: dict[str, Any]  # input_tokens, output_tokens, cost_usd (None: no price known), calls
    failure: str  # why there is no text; "" when there is
    refused: bool = False  # the provider refused the request for good (LLMReply.refused)


def add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two calls' usage as one; the cost is unknown when either call's is."""
    usage = {k: (a.get(k) or 0) + (b.get(k) or 0) for k in ("input_tokens", "output_tokens", "calls")}
    usage["cost_usd"] = None if a.get("cost_usd") is None or b.get("cost_usd") is None else \
        a["cost_usd"] + b["cost_usd"]
    return usage


def code_from(text: str | None, origin: str, parent: str | None) -> tuple[Candidate | None, str]:
    """The candidate in a reply, or (None, why there is none); no text (a failed call) is (None, "")."""
    from tritonwright.llm.extract import extract_model_code

    if text is None:
        return None, ""
    got = extract_model_code(text)
    if not got.ok:
        return None, got.failure or "no usable code in the reply"
    return got.candidate(origin, parent), ""


class LlmExchange:
    """Asks one task's questions of the LLM and records each call under its step key."""

    def __init__(self, llm: LLM, store: RunStore, run_id: str, key: str, candidates: int = 1) -> None:
        self.llm, self.store, self.run_id, self.key = llm, store, run_id, key
        self.candidates = candidates  # --candidates K: answers per seed/stage prompt (one unless asked for more)

    def _call(self, step_key: str, prompt: str, attempt: int) -> tuple[list[Message], LLMReply]:
        """The LLM request alone (safe in a worker thread: it touches no store)."""
        from tritonwright.llm.types import CallKey, CallParams, Message

        messages = [Message.system(SYSTEM_PROMPT), Message.user(prompt)]
        # `sample` keeps K answers to one prompt apart in the response cache; attempt names them for replay.
        return messages, self.llm.complete(messages, key=CallKey(self.key, step_key, attempt),
                                           params=CallParams(sample=attempt))

    def _note(self, step_key: str, messages: list[Message], reply: LLMReply) -> Answer:
        """Record a finished call (prompt, reply, usage) and say what came of it."""
        self.store.record_llm_call(self.run_id, self.key, step_key, [m.__dict__ for m in messages],
                                   {k: v for k, v in reply.to_dict().items() if k != "exchanges"}
                                   | {"answered": reply.answered})
        usage = {"input_tokens": reply.input_tokens or 0, "output_tokens": reply.output_tokens or 0,
                 "cost_usd": reply.cost_usd, "calls": 1 if reply.answered else 0}
        if not reply.ok:
            return Answer(None, usage, f"LLM call failed ({reply.status.value}): {reply.error or reply.finish_reason}",
                          reply.refused)
        return Answer(reply.text, usage, "")

    def ask(self, step_key: str, prompt: str, attempt: int = 0) -> Answer:
        """One LLM call, recorded."""
        return self._note(step_key, *self._call(step_key, prompt, attempt))

    def ask_many(self, step_key: str, prompt: str) -> list[Answer]:
        """K independent answers to one prompt, asked concurrently, recorded in order (`step_key`, `key#1`...)."""
        k = max(1, self.candidates)
        if k == 1:
            return [self.ask(step_key, prompt)]
        keys = [step_key if i == 0 else f"{step_key}#{i}" for i in range(k)]
        with ThreadPoolExecutor(max_workers=k) as pool:  # the provider's own limit caps real concurrency
            calls = list(pool.map(lambda i: self._call(keys[i], prompt, i), range(k)))
        return [self._note(keys[i], *calls[i]) for i in range(k)]

    def ask_repair(self, step_key: str, *, status: str, log: str, reference: str, broken: str,
                   history: list[FailedAttempt], gpu: GpuSpec) -> Answer:
        """A repair: an analysis call (under `analysis:<step_key>`), then the fix call with the analysis as a
        hint. The answer is the fix call's, with both calls' usage."""
        from tritonwright.llm.analysis import parse_analysis
        from tritonwright.prompts.render import Analysis, render_analysis_prompt, render_repair_prompt

        first = self.ask(f"analysis:{step_key}", render_analysis_prompt(
            status=status, error_log=log, reference_code=reference, broken_code=broken))
        if first.refused:  # the fix call would carry the same material: not asked
            return Answer(None, first.usage, first.failure, True)
        parsed = parse_analysis(first.text or "")
        # Without a usable analysis the fix call still gets the error log; the analysis is a hint only.
        analysis = parsed.analysis or Analysis(status, "the analysis reply could not be parsed",
                                               "fix the error in the log")
        prompt = render_repair_prompt(gpu=gpu, status=status, error_log=log, reference_code=reference,
                                      broken_code=broken, analysis=analysis, history=history)
        fix = self.ask(step_key, prompt)
        return Answer(fix.text, add_usage(first.usage, fix.usage), fix.failure, fix.refused)
