"""Backend for the official `anthropic` client (the Messages API)."""

from __future__ import annotations

from typing import Any

import anthropic

from tritonwright.llm.backend import BackendRequest, RawReply
from tritonwright.llm.errors import FailureKind, ProviderCallError
from tritonwright.llm.statuses import classify_status, retry_after_s

OFFICIAL_ENDPOINT = "https://api.anthropic.com"

# Messages API stop reasons -> our words; anything else (refusal, pause_turn) is passed through as given.
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicBackend:
    """One Messages request per send(); the client's own retries are off (max_retries=0).

    System messages become the `system` field. `reasoning_effort` is not sent (the Messages API configures
    thinking differently); temperature is sent only when set."""

    billed = True

    def __init__(self, *, model: str, api_key: str, base_url: str | None = None,
                 key_variable: str = "ANTHROPIC_API_KEY") -> None:
        self.kind = "anthropic"
        self.model = model
        self.endpoint = base_url or OFFICIAL_ENDPOINT
        self.key_hint = f"the key in {key_variable}"
        self._api_key = api_key
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.endpoint, max_retries=0)

    def __repr__(self) -> str:
        return f"AnthropicBackend(model={self.model!r}, endpoint={self.endpoint!r})"

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def list_models(self, timeout_s: float) -> list[str]:
        """The model listing (GET /v1/models): costs no tokens, proves the URL and the key work."""
        try:
            page = self._client.models.list(timeout=timeout_s)
        except anthropic.APIError as exc:
            raise self._classify(exc, timeout_s) from None
        return [m.id for m in page.data]

    def send(self, request: BackendRequest) -> RawReply:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        extra: dict[str, Any] = {}
        if request.params.temperature is not None:
            # this client version has no temperature argument; the API field is passed through as is
            extra["extra_body"] = {"temperature": request.params.temperature}
        if system:
            extra["system"] = system
        try:
            message = self._client.messages.create(
                model=self.model, max_tokens=request.params.max_output_tokens,
                messages=turns,  # type: ignore[arg-type]
                timeout=request.timeout_s, **extra)
        except anthropic.APIError as exc:
            raise self._classify(exc, request.timeout_s) from None
        text = "".join(getattr(block, "text", "") for block in message.content if getattr(block, "type", "") == "text")
        reason = message.stop_reason or "stop"
        usage = message.usage
        return RawReply(text=text, finish_reason=_STOP_REASONS.get(reason, reason),
                        input_tokens=usage.input_tokens if usage else None,
                        output_tokens=usage.output_tokens if usage else None)

    def _classify(self, exc: anthropic.APIError, timeout_s: float) -> ProviderCallError:
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderCallError(FailureKind.TIMEOUT, f"no answer within the per-call limit of {timeout_s:g} s")
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderCallError(FailureKind.CONNECTION, f"cannot reach {self.endpoint}")
        if isinstance(exc, anthropic.APIResponseValidationError):
            return ProviderCallError(FailureKind.SERVER, "the server's answer does not match the API schema",
                                     status_code=exc.status_code)
        if isinstance(exc, anthropic.APIStatusError):
            kind = classify_status(exc.status_code, exc.error_code, exc.message)
            return ProviderCallError(kind, exc.message, status_code=exc.status_code,
                                     retry_after_s=retry_after_s(exc.response.headers))
        return ProviderCallError(FailureKind.BAD_REQUEST, f"{type(exc).__name__}: {exc.message}")
