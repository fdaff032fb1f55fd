"""Environment scrubbing for child processes that run candidate (possibly LLM-written) code."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# Names that look like credentials: candidate code runs in children and must not be able to read them.
_SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|_PAT$|WEBHOOK)", re.IGNORECASE
)
# Whole families of variables belonging to services whose clients we never want in a child.
_SECRET_PREFIXES = ("OPENAI_", "ANTHROPIC_", "AWS_", "AZURE_", "GOOGLE_", "GCP_", "HF_", "HUGGING", "GITHUB_",
                    "GH_", "GITLAB_", "WANDB_", "DEEPSEEK_", "OPENROUTER_", "MISTRAL_", "GROQ_", "TOGETHER_")
# Needed by graphical tools even though the pattern above would match it; it names a file, holds no secret.
_ALWAYS_KEEP = frozenset({"XAUTHORITY"})

# Held while os.environ is swapped for a child's start and while it is read for a copy, so a thread reading it
# never sees it half cleared (the worker's health check starts beside the fork server's start); reentrant: a
# copy taken inside child_environment reads the swapped environment.
_ENV_LOCK = threading.RLock()


def is_secret_name(name: str) -> bool:
    """True when an environment variable name looks like it holds a credential."""
    if name in _ALWAYS_KEEP:
        return False
    return bool(_SECRET_NAME.search(name)) or name.upper().startswith(_SECRET_PREFIXES)


def scrubbed_env(base: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) without secrets, with `extra` applied on top."""
    if base is None:
        with _ENV_LOCK:
            base = dict(os.environ)
    env = {k: v for k, v in base.items() if not is_secret_name(k)}
    if extra:
        env.update(extra)
    return env


@contextmanager
def child_environment(extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """Temporarily make os.environ the scrubbed environment while a child process is started.

    multiprocessing's spawn start method copies os.environ into the child at exec time, so the only way to
    give a spawned child a different environment is to change ours for the moment of the start.
    """
    with _ENV_LOCK:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(scrubbed_env(saved, extra))
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
