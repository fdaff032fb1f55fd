"""Secrets never reach the environment of a child that runs candidate code."""

from __future__ import annotations

import os

from tritonwright.sandbox import child_environment, is_secret_name, scrubbed_env


def test_secret_names():
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "GITHUB_TOKEN", "MY_SECRET", "DB_PASSWORD",
                 "AWS_ACCESS_KEY_ID", "SERVICE_CREDENTIALS"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET", "XAUTHORITY", "PYTHONPATH"):
        assert not is_secret_name(name), name


def test_scrubbed_env_and_restore(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    monkeypatch.setenv("KEEP_ME", "1")
    env = scrubbed_env(extra={"TRITON_INTERPRET": "1"})
    assert "OPENAI_API_KEY" not in env and env["KEEP_ME"] == "1" and env["TRITON_INTERPRET"] == "1"
    with child_environment({"X_EXTRA": "y"}):
        assert "OPENAI_API_KEY" not in os.environ and os.environ["X_EXTRA"] == "y"
    assert os.environ["OPENAI_API_KEY"] == "not-a-real-key" and "X_EXTRA" not in os.environ
