"""The plumbing the fake forges share: a threaded JSON server on a loopback port that records
every request (method, path, query, JSON body, plus what ``recorded_headers`` picks) and
answers scripted faults (``fail_next``) before the forge's own ``respond``."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class RecordingServer:
    def __init__(self):
        self.requests: list[dict] = []
        self._faults: list[dict] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1, headers: dict | None = None,
                  body: dict | None = None) -> None:
        """The next ``times`` requests METHOD whose path matches get STATUS (with HEADERS and BODY)."""
        self._faults.append({"method": method, "path": re.compile(path_regex), "status": status, "times": times,
                             "headers": headers or {}, "body": body or {"message": f"{status} (injected by the test)"}})

    # -- what a fake forge defines -------------------------------------------------------------
    def local_path(self, path: str) -> str:
        """The request's path as the forge's routes see it."""
        return path

    def recorded_headers(self, headers) -> dict:
        return {}

    def respond(self, method: str, path: str, query: dict, data, headers) -> tuple[int, object]:
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------------
    def _fault(self, method: str, path: str) -> dict | None:
        fault = next((f for f in self._faults if f["method"] == method and f["path"].search(path) and f["times"] > 0),
                     None)
        if fault:
            fault["times"] -= 1
        return fault

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                url = urlsplit(self.path)
                path = fake.local_path(url.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                data = json.loads(raw) if raw.strip() else None
                with fake._lock:
                    fake.requests.append({"method": self.command, "path": path, "query": query, "json": data,
                                          **fake.recorded_headers(self.headers)})
                    fault = fake._fault(self.command, path)
                    if fault:
                        return self._send(fault["status"], fault["body"], fault["headers"])
                    status, body = fake.respond(self.command, path, query, data, self.headers)
                    return self._send(status, body)

            def _send(self, status, body, headers=None):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler
