"""Replay (recorded replies by key or in order) and manual (a person answers through files or stdin)."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from tritonwright.llm import CallKey, LLMSettings, Message, ReplyStatus, append_replay_records, make_provider
from tritonwright.llm.fake_servers import FakeLLMServer, openai_completion
from tritonwright.llm.replay import ReplayFileError

GOOD = "```python\nclass ModelNew: pass\n```\n"
MSGS = [Message.user("write a kernel")]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_replay_by_key_serves_the_matching_recording_whatever_the_order(tmp_path):
    rec = tmp_path / "llm.jsonl"
    write_jsonl(rec, [
        {"task": "19_ReLU", "step": "seed", "attempt": 0, "text": "seed reply", "input_tokens": 10, "output_tokens": 5},
        {"task": "19_ReLU", "step": "stage:grid_and_parallel", "attempt": 0, "text": "grid reply"},
    ])
    p = make_provider(f"replay:{rec}")
    grid = p.complete(MSGS, key=CallKey("19_ReLU", "stage:grid_and_parallel"))
    seed = p.complete(MSGS, key=CallKey("19_ReLU", "seed"))
    assert grid.text == "grid reply" and seed.text == "seed reply"
    assert seed.input_tokens == 10 and seed.cost_usd == 0.0 and seed.provider == "replay"
    missing = p.complete(MSGS, key=CallKey("19_ReLU", "repair", 1))
    assert missing.status is ReplyStatus.FAILED and "19_ReLU--repair--1" in missing.error


def test_replay_in_order_and_exhaustion(tmp_path):
    rec = tmp_path / "llm.jsonl"
    write_jsonl(rec, [{"text": "one"}, {"text": "two"}])
    p = make_provider(f"replay:{rec}")
    assert [p.complete(MSGS).text for _ in range(2)] == ["one", "two"]
    last = p.complete(MSGS)
    assert last.status is ReplyStatus.FAILED and "all 2 recorded replies" in last.error


def test_replay_serves_a_recorded_concise_retry(tmp_path):
    rec = tmp_path / "llm.jsonl"
    write_jsonl(rec, [
        {"task": "t", "step": "seed", "text": "```python\nimport torch\n", "finish_reason": "length"},
        {"task": "t", "step": "seed", "text": GOOD},
    ])
    reply = make_provider(f"replay:{rec}").complete(MSGS, key=CallKey("t", "seed"))
    assert reply.ok and reply.text == GOOD and len(reply.exchanges) == 2


def test_record_then_replay_round_trip(tmp_path):
    rec = tmp_path / "recorded.jsonl"
    key = CallKey("42_Conv", "seed", 0)
    with FakeLLMServer("openai") as server:
        server.script(openai_completion("```python\nx = 1\n", finish_reason="length"), openai_completion(GOOD))
        live = make_provider(f"openai-compatible:{server.base_url}#m").complete(MSGS, key=key)
    append_replay_records(rec, key, live)
    replayed = make_provider(f"replay:{rec}").complete(MSGS, key=key)
    assert replayed.text == live.text and replayed.input_tokens == live.input_tokens
    assert [e.text for e in replayed.exchanges] == [e.text for e in live.exchanges]


def test_replay_folder_by_key_and_in_order(tmp_path):
    (tmp_path / "t--seed--0.reply.md").write_text("keyed")
    (tmp_path / "t--seed--0.prompt.md").write_text("the prompt, not a reply")
    assert make_provider(f"replay:{tmp_path}").complete(MSGS, key=CallKey("t", "seed")).text == "keyed"
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "b.txt").write_text("second")
    (loose / "a.md").write_text("first")
    p = make_provider(f"replay:{loose}")
    assert [p.complete(MSGS).text for _ in range(2)] == ["first", "second"]


@pytest.mark.parametrize("content", ["not json\n", '{"no_text": 1}\n', ""])
def test_bad_recordings_are_user_errors(tmp_path, content):
    rec = tmp_path / "r.jsonl"
    rec.write_text(content)
    with pytest.raises(ReplayFileError):
        make_provider(f"replay:{rec}")
    with pytest.raises(ReplayFileError, match="no such file"):
        make_provider(f"replay:{tmp_path / 'absent.jsonl'}")


def test_manual_writes_the_prompt_and_waits_for_the_reply_file(tmp_path):
    said: list[str] = []
    folder = tmp_path / "manual"
    p = make_provider(f"manual:{folder}", LLMSettings(manual_wait_timeout_s=10), notify=said.append,
                      sleep=lambda s: time.sleep(0.01))
    key = CallKey("19_ReLU", "seed")
    prompt = folder / "19_ReLU--seed--0.prompt.md"
    answer = folder / "19_ReLU--seed--0.reply.md"

    def person() -> None:
        while not prompt.exists():
            time.sleep(0.01)
        answer.write_text(GOOD)

    helper = threading.Thread(target=person)
    helper.start()
    reply = p.complete([Message.system("sys text"), Message.user("user text")], key=key)
    helper.join()
    assert reply.ok and reply.text == GOOD and reply.provider == "manual" and reply.cost_usd == 0.0
    text = prompt.read_text()
    assert "sys text" in text and "user text" in text and text.index("sys text") < text.index("user text")
    assert str(prompt) in said[0] and str(answer) in said[0]


def test_manual_gives_up_after_its_wait_limit_without_retrying(tmp_path):
    now = [0.0]

    def fake_sleep(s: float) -> None:
        now[0] += s

    p = make_provider(f"manual:{tmp_path}", LLMSettings(manual_wait_timeout_s=5), notify=lambda _: None,
                      sleep=fake_sleep, clock=lambda: now[0])
    reply = p.complete(MSGS, key=CallKey("t", "seed"))
    assert reply.status is ReplyStatus.FAILED and "no reply" in reply.error and reply.attempts == 1


def test_manual_from_stdin_keeps_the_reply_beside_the_prompt(tmp_path):
    stdin = io.StringIO("Here:\n" + GOOD + ".end\nignored after the end mark\n")
    p = make_provider(f"manual:{tmp_path}", LLMSettings(manual_stdin=True), notify=lambda _: None, stdin=stdin)
    reply = p.complete(MSGS)
    assert reply.ok and reply.text == "Here:\n" + GOOD
    assert (tmp_path / "call-0001.reply.md").read_text() == reply.text
    again = make_provider(f"replay:{tmp_path}").complete(MSGS)  # a manual session replays as recorded
    assert again.text == reply.text


def test_manual_truncated_paste_gets_a_concise_retry_prompt(tmp_path):
    stdin = io.StringIO("```python\nimport torch\n.end\n" + GOOD + ".end\n")
    p = make_provider(f"manual:{tmp_path}", LLMSettings(manual_stdin=True), notify=lambda _: None, stdin=stdin)
    reply = p.complete(MSGS, key=CallKey("t", "seed"))
    assert reply.ok and reply.text == GOOD
    assert "cut off" in (tmp_path / "t--seed--0.retry1.prompt.md").read_text()


def test_manual_reuses_an_answer_only_for_the_same_prompt(tmp_path):
    first = io.StringIO(GOOD + ".end\n")
    make_provider(f"manual:{tmp_path}", LLMSettings(manual_stdin=True), notify=lambda _: None,
                  stdin=first).complete(MSGS, key=CallKey("t", "seed"))
    said: list[str] = []
    untouched = io.StringIO("")
    again = make_provider(f"manual:{tmp_path}", LLMSettings(manual_stdin=True), notify=said.append,
                          stdin=untouched).complete(MSGS, key=CallKey("t", "seed"))
    assert again.text == GOOD and "already in" in said[0]
    other = io.StringIO("```python\nclass ModelNew: other = 1\n```\n.end\n")
    changed = make_provider(f"manual:{tmp_path}", LLMSettings(manual_stdin=True), notify=said.append,
                            stdin=other).complete([Message.user("a different prompt")], key=CallKey("t", "seed"))
    assert "other = 1" in changed.text
    assert (tmp_path / "t--seed--0.reply.stale").read_text() == GOOD
