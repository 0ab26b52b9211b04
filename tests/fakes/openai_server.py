"""A tiny OpenAI-compatible chat server for tests (stdlib ``http.server``, one thread).

Why: OpenAI returns 400 when a ``tool`` message does not answer an assistant ``tool_calls``
entry right before it, or when a tool call is left unanswered. Local servers (Ollama) let it
pass, so only a strict fake catches a trimming bug. This server applies the same pairing rule
(independently of the app's own trimmer), records every request, and answers from a script:
by default "user message last → call a tool, tool result last → answer".
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any]   # {"content": str} or {"tool_calls": [{"name", "arguments": dict}]}
Script = Callable[[list[dict[str, Any]]], Reply]


def pairing_problem(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's rule: every tool_calls entry answered by the tool messages right after it."""
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                return (f"Invalid parameter: messages with role 'tool' must be a response to a "
                        f"preceeding message with 'tool_calls' (message {i}, id {call_id})")
            pending.discard(call_id)
            continue
        if pending:
            return (f"An assistant message with 'tool_calls' must be followed by tool messages "
                    f"responding to each 'tool_call_id'. Missing: {sorted(pending)} "
                    f"(before message {i})")
        if role == "assistant" and msg.get("tool_calls"):
            pending = {tc["id"] for tc in msg["tool_calls"]}
    if pending:
        return f"tool calls without responses at the end: {sorted(pending)}"
    return None


def default_script(messages: list[dict[str, Any]]) -> Reply:
    """Call ``metric_summary`` for a new question; answer from the tool result after it."""
    last = messages[-1]
    if last.get("role") == "tool":
        try:
            summary = json.loads(last.get("content") or "{}").get("summary", "")
        except ValueError:
            summary = last.get("content") or ""
        return {"content": f"Here is what I found: {summary}"}
    return {"tool_calls": [{"name": "metric_summary",
                            "arguments": {"metric": "StepCount", "period": "last week"}}]}


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as fake: fake.base_url``; inspect ``fake.requests``."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or default_script
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                problem = pairing_problem(body.get("messages") or [])
                if problem:
                    fake.problems.append(problem)
                    self._json(400, {"error": {"message": problem,
                                               "type": "invalid_request_error",
                                               "param": "messages", "code": None}})
                    return
                reply = fake.script(body["messages"])
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, _completion(body, reply))

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in _chunks(body, reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
             "function": {"name": tc["name"], "arguments": json.dumps(tc.get("arguments", {}))}}
            for tc in reply.get("tool_calls", [])]


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    calls = _tool_calls(reply)
    if calls:
        message["tool_calls"] = calls
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _chunks(body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "fake")}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]}]
    calls = _tool_calls(reply)
    for i, call in enumerate(calls):
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": i, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}]},
            "finish_reason": None}]})
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": i, "function": {"arguments": call["function"]["arguments"]}}]},
            "finish_reason": None}]})
    content = reply.get("content") or ""
    for word in content.split(" ") if content else []:
        out.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "},
                                         "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {},
                                     "finish_reason": "tool_calls" if calls else "stop"}]})
    return out
