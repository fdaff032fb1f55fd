"""Errors of the LLM layer: user mistakes (one clear line, stop the run) and classified call failures."""

from __future__ import annotations

from enum import Enum

from tritonwright.errors import UserInputError


class LLMSpecError(UserInputError):
    """The provider spec string (e.g. `openai:gpt-5`) cannot be understood."""


class MissingAPIKeyError(UserInputError):
    """The environment variable that should hold the API key is not set."""


class LLMAuthError(UserInputError):
    """The server refused the API key (401/403); retrying cannot help."""


class LLMModelNotFoundError(UserInputError):
    """The server does not know the model (404): a typo in the spec or a wrong base URL."""


class LLMUnreachableError(UserInputError):
    """The provider cannot be reached (connection refused, DNS, timeout, 5xx) before or during a run: a wrong
    URL or a dead server. It stops the run (resumable) instead of spending repair rounds on it."""


class FailureKind(str, Enum):
    """How a provider request failed; decided where the client's exception type is known."""

    RATE_LIMIT = "rate_limit"  # 429: retry after a pause
    SERVER = "server"  # 5xx: retry after a pause
    TIMEOUT = "timeout"  # no answer within the per-call limit: retry
    CONNECTION = "connection"  # refused/reset: retry (a restarting local server)
    AUTH = "auth"  # 401/403: stop the run
    NOT_FOUND = "not_found"  # 404: stop the run
    CONTEXT_LENGTH = "context_length"  # 400, prompt too long: fail this call as data, no retry
    BAD_REQUEST = "bad_request"  # other 4xx: fail this call as data, no retry

    @property
    def retryable(self) -> bool:
        return self in (FailureKind.RATE_LIMIT, FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.CONNECTION)


class ProviderCallError(Exception):
    """One request failed; raised by backends, handled by the client (never escapes to the pipeline)."""

    def __init__(self, kind: FailureKind, message: str, *, status_code: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        code = f"HTTP {self.status_code}: " if self.status_code is not None else ""
        return f"{self.kind.value}: {code}{self.message}"
