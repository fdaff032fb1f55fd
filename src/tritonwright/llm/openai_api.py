"""Backend for the official `openai` client: OpenAI itself and any server speaking its chat-completions
API (DeepSeek, vLLM, sglang, Ollama, OpenRouter, ...) through a base URL."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import openai

from tritonwright.llm.backend import BackendRequest, RawReply
from tritonwright.llm.errors import FailureKind, ProviderCallError
from tritonwright.llm.statuses import classify_status, retry_after_s
from tritonwright.llm.types import CallParams

log = logging.getLogger(__name__)

OFFICIAL_ENDPOINT = "https://api.openai.com/v1"

# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 and later, also behind a router's "openai/" prefix)
# refuse `max_tokens` and any non-default temperature, and take `reasoning_effort`.
_REASONING_MODEL = re.compile(r"^(?:openai/)?(?:o\d|gpt-[5-9])")


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


def _finish_reason(value: str | None) -> str:
    return value or "stop"  # some compatible servers leave it empty on a normal end


class OpenAIBackend:
    """One chat-completions request per send(); the client's own retries are off (max_retries=0)."""

    billed = True

    def __init__(self, *, model: str, api_key: str, base_url: str | None = None, kind: str = "openai",
                 key_variable: str = "OPENAI_API_KEY") -> None:
        self.kind = kind
        self.model = model
        self.endpoint = base_url or OFFICIAL_ENDPOINT
        self.key_hint = f"the key in {key_variable}"
        self._api_key = api_key
        self._client = openai.OpenAI(api_key=api_key, base_url=self.endpoint, max_retries=0)
        reasoning = is_reasoning_model(model)
        # Official OpenAI takes max_completion_tokens for every chat model; older compatible servers know
        # only max_tokens. Either choice is corrected once if the server names the parameter it refuses.
        self._token_param = "max_completion_tokens" if (reasoning or base_url is None) else "max_tokens"
        self._refused: set[str] = {"temperature"} if reasoning else {"reasoning_effort"}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIBackend(kind={self.kind!r}, model={self.model!r}, endpoint={self.endpoint!r})"

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def request_body(self, params: CallParams) -> dict[str, Any]:
        """The parameters sent besides model and messages, after what this model refuses is taken out."""
        body: dict[str, Any] = {self._token_param: params.max_output_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.reasoning_effort is not None:
            body["reasoning_effort"] = params.reasoning_effort
        with self._lock:
            return {k: v for k, v in body.items() if k not in self._refused}

    def _adapt(self, param: str | None) -> bool:
        """Learn from a 400 that names a refused parameter; True when the next request will differ."""
        with self._lock:
            if param in ("max_tokens", "max_completion_tokens") and param == self._token_param:
                self._token_param = "max_completion_tokens" if param == "max_tokens" else "max_tokens"
                return True
            if param in ("temperature", "reasoning_effort") and param not in self._refused:
                self._refused.add(param)
                return True
        return False

    def send(self, request: BackendRequest) -> RawReply:
        adaptations = 0
        while True:
            try:
                return self._send_once(request)
            except openai.BadRequestError as exc:
                param = exc.param if exc.code in ("unsupported_parameter", "unsupported_value") else None
                # Three corrections at most (token limit, temperature, effort): never a loop between two.
                if adaptations >= 3 or not self._adapt(param):
                    raise self._classify(exc, request.timeout_s) from None
                adaptations += 1
                log.info("%s: model refused parameter %r; sending the request without it", self.model, param)

    def list_models(self, timeout_s: float) -> list[str]:
        """The server's model listing (GET /models): costs no tokens, proves the URL and the key work."""
        try:
            page = self._client.models.list(timeout=timeout_s)
        except openai.APIError as exc:
            raise self._classify(exc, timeout_s) from None
        return [m.id for m in page.data]

    def _send_once(self, request: BackendRequest) -> RawReply:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            completion = self._client.chat.completions.create(
                model=self.model, messages=messages,  # type: ignore[arg-type]
                timeout=request.timeout_s, **self.request_body(request.params))
        except openai.BadRequestError:
            raise
        except openai.APIError as exc:
            raise self._classify(exc, request.timeout_s) from None
        if not completion.choices:
            raise ProviderCallError(FailureKind.SERVER, "the server answered with no choices")
        choice = completion.choices[0]
        usage = completion.usage
        return RawReply(
            text=choice.message.content or "",
            finish_reason=_finish_reason(choice.finish_reason),
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None)

    def _classify(self, exc: openai.APIError, timeout_s: float) -> ProviderCallError:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderCallError(FailureKind.TIMEOUT, f"no answer within the per-call limit of {timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderCallError(FailureKind.CONNECTION, f"cannot reach {self.endpoint}")
        if isinstance(exc, openai.APIResponseValidationError):
            return ProviderCallError(FailureKind.SERVER, "the server's answer does not match the API schema",
                                     status_code=exc.status_code)
        if isinstance(exc, openai.APIStatusError):
            kind = classify_status(exc.status_code, exc.code, exc.message)
            return ProviderCallError(kind, exc.message, status_code=exc.status_code,
                                     retry_after_s=retry_after_s(exc.response.headers))
        return ProviderCallError(FailureKind.BAD_REQUEST, f"{type(exc).__name__}: {exc.message}")
