"""The embedded chain as a node of its own: JSON-RPC over HTTP on loopback.

``suixin serve`` on the embedded chain starts ``suixin node`` as a child process: it owns the
eth-tester chain (and its journal), answers JSON-RPC like anvil, and runs the anchoring worker
beside the chain; the API process reaches both through ``RpcChain`` and the shared database.
The chain's blocks and the worker's Merkle trees are CPU under a GIL: in the API's own process
they took turns with the requests and stretched their latency tail (scripts/bench_issue.py,
measured before this split: p99 80 ms with them, 35 ms without). The node is a development
component like the embedded chain itself: loopback only, no authentication.

The server translates the in-process Web3's answers into JSON-RPC's wire form (quantities and
byte strings as 0x-hex) and eth-tester's failures into the errors a node reports (code 3 with
the revert data, as geth and anvil do), so the RPC backend reads them as it reads anvil's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from service.anchoring.devnode import free_port
from verifier.chain import EmbeddedChain
from verifier.chain.embedded import revert_data
from verifier.errors import ChainUnavailable

__all__ = ["ChainNodeServer", "EmbeddedNode", "to_wire"]

READY_TIMEOUT = 120.0  # seconds for a node to answer, its journal's replay aside
# A node loads its chain's snapshot and replays the journal's blocks after it before it
# answers (at most 100 after a crash). When the snapshot is missing or does not match, it
# replays the whole journal: 20-32 ms a block of one anchoring transaction on the 2-core
# development machine (scripts/bench_chain_length.py), so 10,000 blocks take minutes, past
# READY_TIMEOUT alone. Each journaled block adds this allowance for that case.
REPLAY_SECONDS_PER_BLOCK = 0.1


def to_wire(value: Any, key: str = "") -> Any:
    """A Web3 result in JSON-RPC's wire form: integers and bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if key == "logsBloom":  # eth-tester keeps the bloom as an integer
            return "0x" + value.to_bytes(256, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return HexBytes(value).to_0x_hex()
    if isinstance(value, Mapping):
        return {k: to_wire(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v, key) for v in value]
    raise TypeError(f"cannot send a {type(value).__name__} over JSON-RPC")


# eth-tester's log keys and their JSON-RPC names (web3's eth-tester middleware maps the same)
_LOG_KEYS = {
    "log_index": "logIndex",
    "transaction_index": "transactionIndex",
    "transaction_hash": "transactionHash",
    "block_hash": "blockHash",
    "block_number": "blockNumber",
}
_LOG_QUERY_KEYS = frozenset({"fromBlock", "toBlock", "address", "topics"})


def _block_param(value: Any) -> Any:
    """A filter's block: a hex quantity as an integer; a name ("latest") or None as it is."""
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return value


def _logs(chain: EmbeddedChain, query: Any) -> list[dict[str, Any]] | None:
    """``eth_getLogs`` straight from the chain's log index into wire form, or None for a query
    this path does not take (a block hash filter): the general path answers it.

    Through web3's request formatting the node spent about 0.45 ms a log, so a registry's sync
    of 5,000 blocks at a time spent seconds a request, past the API's 10 s timeout on a loaded
    machine (scripts/bench_chain_length.py); the answer is the same (tests/service/anchoring).
    """
    if not isinstance(query, dict) or not set(query) <= _LOG_QUERY_KEYS:
        return None
    entries = chain.tester_logs(
        from_block=_block_param(query.get("fromBlock")),
        to_block=_block_param(query.get("toBlock")),
        address=query.get("address"),
        topics=query.get("topics"),
    )
    return [{_LOG_KEYS.get(k, k): v for k, v in e.items()} for e in entries]


def _error(request_id: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def answer(chain: EmbeddedChain, request: Any) -> dict[str, Any]:
    """The JSON-RPC response to one request object."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return _error(None, -32600, "invalid request: an object with a method is expected")
    request_id, method = request.get("id"), request["method"]
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(request_id, -32602, "invalid params: a list is expected")
    try:
        if method == "eth_sendRawTransaction":
            if len(params) != 1 or not isinstance(params[0], str):
                return _error(request_id, -32602, "eth_sendRawTransaction takes one hex string")
            result: Any = chain.send_raw(HexBytes(params[0]))
        elif method == "eth_getLogs" and len(params) == 1:
            fast = _logs(chain, params[0])
            result = fast if fast is not None else chain.w3.manager.request_blocking(method, params)
        else:
            result = chain.w3.manager.request_blocking(method, params)
    except TransactionFailed as e:
        return _error(request_id, 3, "execution reverted", "0x" + revert_data(e).hex())
    except ContractLogicError as e:
        data = e.data if isinstance(e.data, str) else None
        return _error(request_id, 3, "execution reverted", data)
    except NotImplementedError:
        return _error(request_id, -32601, f"method {method} is not supported")
    except Exception as e:  # a node answers every request: a bad one gets its error back
        return _error(request_id, -32000, f"{type(e).__name__}: {e}")
    return {"jsonrpc": "2.0", "id": request_id, "result": to_wire(result)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the RPC backend reuses its connections
    server: ChainNodeServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this the client's delayed ACK holds
        # the second for 40 ms on every call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            request = json.loads(body)
        except ValueError:
            response: Any = _error(None, -32700, "parse error: the body is not JSON")
        else:
            if isinstance(request, list):
                response = [answer(self.server.chain, r) for r in request]
            else:
                response = answer(self.server.chain, request)
        payload = json.dumps(response, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the office's own output."""


class ChainNodeServer(ThreadingHTTPServer):
    """JSON-RPC over HTTP for one embedded chain; ``serve_forever`` in a thread of its own."""

    daemon_threads = True

    def __init__(self, chain: EmbeddedChain, host: str = "127.0.0.1", port: int = 0) -> None:
        self.chain = chain
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ChainNodeServer:
        threading.Thread(target=self.serve_forever, name="suixin-chain-node", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class EmbeddedNode:
    """``suixin node`` as a child of ``suixin serve``: started, watched, restarted if it dies.

    The child inherits the console (its worker's lines appear with the office's) and reads its
    stdin only to notice that this process has gone: a parent killed without warning closes
    the pipe and the node stops, rather than live on holding the chain's journal.
    """

    def __init__(
        self,
        environment: Mapping[str, str],
        *,
        worker: bool,
        port: int = 0,
        journal: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.journal = journal
        self._env = {**os.environ, **environment}
        self._worker = worker
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready_timeout(self) -> float:
        """Seconds to wait for the child to answer: ``READY_TIMEOUT`` and an allowance for
        each block of the journal it replays first."""
        blocks = 0
        if self.journal is not None:
            try:
                with self.journal.open("rb") as f:
                    blocks = sum(1 for _ in f)
            except FileNotFoundError:
                pass
        return READY_TIMEOUT + REPLAY_SECONDS_PER_BLOCK * blocks

    def start(self, timeout: float | None = None) -> EmbeddedNode:
        """Start the child and wait until it answers (it deploys the registries on a first
        start, replays its journal on later ones; ``ready_timeout`` by default); raises
        ChainUnavailable when it exits or stays silent."""
        self._launch(self.ready_timeout() if timeout is None else timeout)
        self._watcher = threading.Thread(target=self._watch, name="suixin-node-watch", daemon=True)
        self._watcher.start()
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout``); its exit code (None if
        it never started). Idempotent."""
        self._stopping.set()
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._release_pipe()
        return process.returncode

    def _release_pipe(self) -> None:
        """Close this end of the child's stdin (the child is gone or going)."""
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()

    def _launch(self, timeout: float) -> None:
        arguments = ["node", "--port", str(self.port), "--watch-stdin"]
        if not self._worker:
            arguments.append("--no-worker")
        program = f"import sys; from service.cli import main; sys.exit(main({arguments!r}))"
        # a session of its own: the terminal's Ctrl-C reaches only the office, which then
        # stops the node (the watcher must not see it die first and restart it)
        self._process = subprocess.Popen(
            [sys.executable, "-c", program],
            env=self._env,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._release_pipe()
                raise ChainUnavailable(
                    f"the embedded chain node exited with {code} before answering "
                    "(its reason is printed above) / 内嵌链节点启动失败"
                )
            try:
                requests.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                return
            except requests.exceptions.ConnectionError:
                time.sleep(0.05)
        self._process.kill()
        self._process.wait()
        self._release_pipe()
        raise ChainUnavailable(
            f"the embedded chain node did not answer on {self.url} within {timeout:.0f} s"
        )

    def _watch(self) -> None:
        """Restart the child when it dies while the office runs; until it is back, chain calls
        fail as with any node that is down, and issuance goes on."""
        while not self._stopping.is_set():
            assert self._process is not None
            code = self._process.wait()
            if self._stopping.is_set():
                return
            self._release_pipe()
            print(
                f"the embedded chain node (pid {self._process.pid}) exited with {code}: "
                "restarting it / 内嵌链节点退出，正在重启",
                file=sys.stderr,
                flush=True,
            )
            while not self._stopping.is_set():
                try:
                    self._launch(self.ready_timeout())
                    self.restarts += 1
                    if self._stopping.is_set():  # stop() came during the restart
                        self._process.terminate()
                    break
                except ChainUnavailable as e:
                    print(f"{e}; retrying in 1 s", file=sys.stderr, flush=True)
                    self._stopping.wait(1.0)
