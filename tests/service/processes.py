"""An office as its operator runs it: ``suixin serve --demo`` in a process of its own."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["call", "start_office", "stop_office"]


def call(port: int, method: str, path: str, body: Any = None, key: str = "") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


def start_office(
    tmp_path: Path,
    chain: str,
    port: int,
    *extra: str,
    node_port: int = 0,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[str]:
    """``suixin serve --demo`` on ``port``, once it answers /healthz (the embedded chain's
    node on ``node_port``; 0, any free port, keeps parallel runs apart); ``env`` adds
    settings, ``log`` takes the server's output (else a pipe, read when it stops)."""
    settings = env
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
    env |= {
        "SUIXIN_DATA_DIR": str(tmp_path),
        "SUIXIN_CHAIN": chain,
        "SUIXIN_BATCH_AGE_SECONDS": "0.3",
        "SUIXIN_WORKER_POLL_SECONDS": "0.1",
        "SUIXIN_NODE_PORT": str(node_port),
        **(settings or {}),
    }
    output = log.open("w", encoding="utf-8") if log is not None else None
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--demo", "--port", str(port), *extra],
        env=env,
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if output is not None:
        output.close()  # the child holds its own copy
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            shown = log.read_text(encoding="utf-8") if log else server.communicate()[0]
            raise AssertionError(f"the office exited: {shown[-3000:]}")
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return server
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.3)


def stop_office(server: subprocess.Popen[str]) -> str:
    """SIGINT, as Ctrl-C in a terminal; the server's output (empty when it went to a log)."""
    server.send_signal(signal.SIGINT)
    try:
        return server.communicate(timeout=30)[0] or ""
    except subprocess.TimeoutExpired:
        server.kill()
        return server.communicate()[0] or ""
