"""An OpenAI-compatible endpoint that can be healthy, broken, garbled or hung on demand.

Why not only ``openai_server.FakeOpenAI``: that fake is strict about message pairing and
always answers well-formed JSON; the fault tests need the failures a real endpoint shows —
HTTP 500, a 200 with an HTML body, a truncated event stream, no answer at all — switched at
runtime while the app keeps running, then healthy again to prove the thread recovers.
Healthy mode answers plainly (no tool calls) in the streaming format ChatOpenAI uses.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "error500", "garbage", "truncated", "hang", "down")


class FlakyLLM:
    """``with FlakyLLM() as llm: llm.base_url``; set ``llm.mode`` to one of :data:`MODES`."""

    def __init__(self, answer: str = "All good: here is a plain answer.") -> None:
        self.mode = "ok"
        self.answer = answer
        self.requests = 0
        self.hang_s = 30.0
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FlakyLLM":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests += 1
                mode = fake.mode
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "hang":
                    time.sleep(fake.hang_s)
                    return
                if mode == "error500":
                    self._send(500, b'{"error": {"message": "internal error"}}',
                               "application/json")
                    return
                if mode == "garbage":
                    self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                    return
                if body.get("stream"):
                    self._stream(body, truncated=(mode == "truncated"))
                else:
                    payload = {"id": "c1", "object": "chat.completion", "created": 0,
                               "model": "fake", "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": fake.answer}}]}
                    self._send(200, json.dumps(payload).encode(), "application/json")

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], truncated: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                base = {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body.get("model", "fake")}
                words = fake.answer.split(" ")
                chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                      "content": ""},
                                                "finish_reason": None}]}]
                chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w + " "},
                                                 "finish_reason": None}]} for w in words]
                if truncated:
                    chunks = chunks[:2]
                    for c in chunks:
                        self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                    self.wfile.write(b'data: {"id": "x", "choi')  # cut mid-JSON
                    self.wfile.flush()
                    return
                chunks.append({**base, "choices": [{"index": 0, "delta": {},
                                                    "finish_reason": "stop"}]})
                for c in chunks:
                    self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
