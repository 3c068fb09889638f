"""The HTTP load generator of scripts/bench_issue.py: every request answered, timed, checked."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_issue


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects
    seen: ClassVar[list[tuple[str, dict[str, Any], str]]] = []
    status = 201

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Echo.seen.append((self.path, body, self.headers.get("Authorization", "")))
        answer = json.dumps({"echo": body}).encode()
        self.send_response(_Echo.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.seen, _Echo.status = [], 201
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_every_request_is_sent_once_and_timed(port: int) -> None:
    def make(c: int, i: int) -> tuple[str, Any, dict[str, str]]:
        return "/v1/credentials", {"client": c, "i": i, "名": "张三"}, {"Authorization": "Bearer k"}

    latencies, wall, cpu = bench_issue.load(port, 4, 5, make, 201)
    assert len(latencies) == 20 and all(0 < x <= wall for x in latencies)
    assert 0 < cpu <= wall  # the generator's own thread: it did work, and at most one core
    sent = sorted((b["client"], b["i"]) for _p, b, _a in _Echo.seen)
    assert sent == [(c, i) for c in range(4) for i in range(5)]
    assert {(p, b["名"], a) for p, b, a in _Echo.seen} == {("/v1/credentials", "张三", "Bearer k")}


def test_an_unexpected_status_fails_the_run(port: int) -> None:
    _Echo.status = 500
    with pytest.raises(RuntimeError, match="500"):
        bench_issue.load(port, 2, 3, lambda c, i: ("/x", {}, {}), 201)


def test_tree_cpu_counts_a_busy_child() -> None:
    import subprocess

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt=time.process_time()\n"
            "while time.process_time() - t < 0.3: pass\ntime.sleep(30)",
        ]
    )
    try:
        import time

        deadline = time.monotonic() + 20
        while bench_issue.tree_cpu_seconds(child.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.3 <= bench_issue.tree_cpu_seconds(child.pid) < 5
        assert bench_issue.tree_cpu_seconds(2**22 + 7) == 0.0  # no such process: nothing
    finally:
        child.kill()
        child.wait()
