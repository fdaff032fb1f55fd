"""Local stand-ins for the OpenAI chat-completions and Anthropic Messages APIs, for tests without network:
a stdlib HTTP server on 127.0.0.1 that answers from a script and records every request it gets."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Api = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class Scripted:
    """One answer: an HTTP status, a JSON body, extra headers, and a delay before answering."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


def openai_completion(text: str, *, finish_reason: str = "stop", prompt_tokens: int = 100,
                      completion_tokens: int = 50, model: str = "fake") -> Scripted:
    return Scripted(body={
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}})


def openai_error(status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, headers=headers or {}, body={
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})


def anthropic_message(text: str, *, stop_reason: str = "end_turn", input_tokens: int = 100,
                      output_tokens: int = 50, model: str = "fake") -> Scripted:
    return Scripted(body={
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}})


def anthropic_error(status: int, message: str, *, error_type: str = "invalid_request_error",
                    headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, headers=headers or {},
                    body={"type": "error", "error": {"type": error_type, "message": message}})


class FakeLLMServer:
    """`with FakeLLMServer("openai") as server:` then point a client at `server.base_url`. Answers are
    taken from the script in order; with the script empty it answers 500 "no scripted answer"."""

    def __init__(self, api: Api, models: list[str] | None = None) -> None:
        self.api = api
        self.models = models  # GET .../models lists these; None answers 404 (a server without a listing)
        self.requests: list[SeenRequest] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        return root + "/v1" if self.api == "openai" else root

    def script(self, *answers: Scripted) -> None:
        with self._lock:
            self._script.extend(answers)

    def _next(self, seen: SeenRequest) -> Scripted:
        with self._lock:
            self.requests.append(seen)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._script:
                return self._script.popleft()
        return Scripted(status=500, body={"error": {"message": "no scripted answer", "type": "server_error"}})

    def _listing(self, path: str) -> tuple[int, dict[str, Any]]:
        """The answer to GET /v1/models in the API's own shape, or 404 when no models were given."""
        if not path.rstrip("/").endswith("/models") or self.models is None:
            return 404, {"error": {"message": f"no route {path}", "type": "not_found_error"}}
        if self.api == "openai":
            return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                                                     for m in self.models]}
        data = [{"id": m, "type": "model", "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models]
        return 200, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                     "last_id": data[-1]["id"] if data else None}

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def __enter__(self) -> FakeLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b"{}"
                seen = SeenRequest(path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                                   body=json.loads(raw or b"{}"))
                answer = server._next(seen)
                try:
                    if answer.delay_s:
                        time.sleep(answer.delay_s)
                    data = json.dumps(answer.body).encode()
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)
                finally:
                    server._done()

            def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
                with server._lock:
                    server.requests.append(SeenRequest(path=self.path, headers={k.lower(): v for k, v in
                                                                                self.headers.items()}, body={}))
                status, body = server._listing(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
                return

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            with contextlib.suppress(OSError):
                self._httpd.server_close()
