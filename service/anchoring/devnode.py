"""Start and stop a local anvil JSON-RPC node from node_modules (tests, demos, benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from verifier.errors import ChainUnavailable

__all__ = ["AnvilNode", "anvil_binary", "free_port"]

ROOT = Path(__file__).resolve().parents[2]


def anvil_binary() -> Path | None:
    """The anvil executable shipped by npm's @foundry-rs/anvil, or None if not installed."""
    for candidate in sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    """An anvil process on a loopback port; use as a context manager."""

    port: int = 0
    block_time: float | None = None
    mining: bool = True
    state_path: Path | None = None
    state_interval: float | None = None  # seconds between state dumps (with state_path)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AnvilNode:
        """Start anvil and wait until it answers; raises ChainUnavailable if it does not."""
        binary = anvil_binary()
        if binary is None:
            raise ChainUnavailable(
                "anvil is not installed: run `npm ci` (package @foundry-rs/anvil)"
            )
        if not self.port:
            self.port = free_port()
        args = [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        args += ["--balance", "100000000"]  # ether per dev account: long test sessions
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if not self.mining:
            args += ["--no-mining"]
        if self.state_path is not None:  # kept across a stop and start (dumped on exit)
            args += ["--state", str(self.state_path)]
            if self.state_interval:
                args += ["--state-interval", str(self.state_interval)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise ChainUnavailable(
                    f"anvil exited with {self.process.returncode}: {err.strip()}"
                )
            try:
                requests.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                return self
            except requests.exceptions.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the process (idempotent)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """Kill the anvil process itself with SIGKILL: no state dump on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
