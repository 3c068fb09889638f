"""``suixin serve``, ``suixin node``, ``suixin worker``: the processes of an office."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from service.anchoring.node import ChainNodeServer
from service.cli._common import add_common, settings_of
from service.config import Settings
from service.issuing.office import Office
from service.runtime import configure_logging, open_office, settle_heap, worker_from_settings
from verifier.chain import EmbeddedChain
from verifier.chain.embedded import JOURNAL_NAME, NODE_NAME
from verifier.errors import InvalidInput

__all__ = ["UVICORN_OPTIONS", "register", "run_node"]

#: How every API process runs uvicorn. No access log: at the warning level it wrote nothing,
#: yet each response still built its line's client address and path (uvicorn formats those
#: arguments before the logger drops the record). Its HTTP parser (httptools) and event loop
#: (uvloop) are uvicorn's defaults when installed, as ``uvicorn[standard]`` installs them.
UVICORN_OPTIONS: dict[str, Any] = {"log_level": "warning", "access_log": False}

log = logging.getLogger("suixin.node")


def register(commands: Any) -> None:
    """``suixin serve``, ``suixin node`` and ``suixin worker``."""
    serve = commands.add_parser("serve", help="run the office API (and, embedded, its worker)")
    add_common(serve)
    serve.add_argument("--host", help="listen address (SUIXIN_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (SUIXIN_PORT, 8000)")
    serve.add_argument("--demo", action="store_true", help="set up the demo authorities")
    serve.add_argument(
        "--redeploy",
        action="store_true",
        help="deploy new registries although the data directory has a deployment (its chain "
        "was lost for good); never done without this flag",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (a JSON-RPC chain only; one `suixin worker` process then anchors)",
    )
    serve.set_defaults(handler=_serve)

    node = commands.add_parser(
        "node",
        help="the embedded chain as a JSON-RPC node on loopback, with the anchoring worker "
        "(`suixin serve` starts one on the embedded chain)",
    )
    add_common(node)
    node.add_argument("--port", type=int, default=8545, help="loopback port (8545)")
    node.add_argument("--no-worker", action="store_true", help="serve the chain only")
    node.add_argument(
        "--watch-stdin", action="store_true", help="stop when stdin closes (a parent has gone)"
    )
    node.set_defaults(handler=_node)

    worker = commands.add_parser("worker", help="run the anchoring worker in this process")
    add_common(worker)
    worker.add_argument("--once", action="store_true", help="anchor what is pending, then exit")
    worker.set_defaults(handler=_worker)


def _serve(args: argparse.Namespace) -> int:
    from service.anchoring.node import EmbeddedNode

    settings = settings_of(args)
    if args.workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if settings.chain != "embedded":
        return _serve_office(args, settings, anchor_here=settings.in_process_worker)
    if args.redeploy:
        raise InvalidInput(
            "--redeploy is for a JSON-RPC chain: the embedded chain keeps its own registries"
        )
    # The embedded chain and the anchoring worker run in a child process, a node the API
    # reaches over JSON-RPC like anvil: their CPU no longer shares the API's GIL.
    node = EmbeddedNode(
        settings.environment(),
        worker=settings.in_process_worker,
        port=_node_port(settings),
        journal=settings.data_dir / JOURNAL_NAME,
    ).start()
    try:
        settings.chain = node.url
        return _serve_office(args, settings, anchor_here=False)
    finally:
        node.stop()


def _node_port(settings: Settings) -> int:
    """The embedded node's port: ``SUIXIN_NODE_PORT`` (8545) at every start, so the ``--rpc``
    a partner was given stays right; 0 takes any free port. A port in use is an error."""
    import socket

    port = settings.node_port
    if port == 0:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the node binds: a port left in TIME_WAIT by the last run is free, a listener not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise InvalidInput(
                f"127.0.0.1:{port}, the embedded chain node's port, is in use (another "
                "office or an anvil?): stop it, or set SUIXIN_NODE_PORT (0 = any free port)"
            ) from None
    return port


def _serve_office(args: argparse.Namespace, settings: Settings, *, anchor_here: bool) -> int:
    import uvicorn

    from service.app import create_app
    from service.runtime import bootstrap_demo, open_office, settle_heap

    configure_logging()
    office = open_office(settings, redeploy=args.redeploy)
    if args.demo:
        keys = bootstrap_demo(office, settings.data_dir)
        print(f"Demo API keys (also in {settings.data_dir / 'demo-api-keys.json'}):")
        for did, key in keys.keys.items():
            print(f"  {did}: {key}")
    base = f"http://{settings.host}:{settings.port}"
    if args.workers > 1:
        return _serve_processes(args.workers, settings, office, base, anchor_here=anchor_here)
    print(f"Suixin office on {base}  — API docs {base}/docs  — health {base}/healthz", flush=True)
    app = create_app(office, settings, start_worker=anchor_here)
    settle_heap()
    uvicorn.run(app, host=settings.host, port=settings.port, **UVICORN_OPTIONS)
    return 0


def _serve_processes(
    workers: int, settings: Settings, office: Office, base: str, *, anchor_here: bool
) -> int:
    """``workers`` uvicorn processes, each opening the office from the same settings, and
    (``anchor_here``) one anchoring worker process beside them (never one per API process:
    on SQLite they could not coordinate)."""
    import subprocess

    import uvicorn

    office.db.dispose()
    office.chain.close()
    env = os.environ | settings.environment()
    os.environ.update(settings.environment())  # uvicorn's processes read their settings here
    anchoring = None
    if anchor_here:
        code = "import sys; from service.cli import main; sys.exit(main(['worker']))"
        anchoring = subprocess.Popen([sys.executable, "-c", code], env=env)
    print(f"Suixin office on {base} ({workers} processes)  — API docs {base}/docs", flush=True)
    try:
        uvicorn.run(
            "service.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            **UVICORN_OPTIONS,
        )
    finally:
        if anchoring is not None:
            anchoring.terminate()
            anchoring.wait(timeout=30)
    return 0


def _node(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    return run_node(settings, args.port, worker=not args.no_worker, watch_stdin=args.watch_stdin)


def _worker(args: argparse.Namespace) -> int:
    from service.runtime import open_office, settle_heap

    settings = settings_of(args)
    configure_logging()
    office = open_office(settings, allow_deploy=False)
    settle_heap()
    worker = worker_from_settings(office, settings)
    try:
        if args.once:
            worker.drain()
            print(json.dumps(office.counts()))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        size, age = settings.batch_size, settings.batch_age_seconds
        print(f"worker {os.getpid()} anchoring (batches of {size} or every {age} s)", flush=True)
        worker.run(stop)
        return 0
    finally:  # the embedded chain's journal file and the database connections
        office.db.dispose()
        office.chain.close()


def run_node(settings: Settings, port: int, *, worker: bool, watch_stdin: bool) -> int:
    """``suixin node``: the office on the embedded chain in this process (deploying the
    registries on a first start in development), its JSON-RPC server on ``port``, and the
    anchoring worker, until SIGTERM or SIGINT, or (``watch_stdin``) until stdin closes."""
    if settings.chain != "embedded":
        raise InvalidInput(f"suixin node serves the embedded chain, not {settings.chain!r}")
    configure_logging()
    office = open_office(settings)
    chain = office.chain
    if not isinstance(chain, EmbeddedChain):  # connect() found a node already serving it
        office.db.dispose()
        chain.close()
        raise InvalidInput(
            f"the embedded chain in {settings.data_dir} is already served by a node at "
            f"{getattr(chain, 'url', '?')} / 该内嵌链已有节点在运行"
        )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if watch_stdin:
        threading.Thread(target=_stop_on_eof, args=(stop,), daemon=True).start()
    try:
        server = ChainNodeServer(chain, port=port).start()
    except OSError as e:
        office.db.dispose()
        chain.close()
        raise InvalidInput(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from e
    # how other commands on this data directory reach the chain while this process holds it
    node_file = settings.data_dir / NODE_NAME
    node_file.write_text(json.dumps({"url": server.url, "pid": os.getpid()}), encoding="utf-8")
    print(f"embedded chain node on {server.url}", flush=True)
    # a burst of fewer than snapshot_every blocks is checkpointed once the chain goes quiet,
    # so a crash after it replays nothing
    threading.Thread(
        target=_checkpoint_when_idle, args=(chain, stop), name="suixin-idle-checkpoint", daemon=True
    ).start()
    settle_heap()
    try:
        if not worker:
            stop.wait()
            return 0
        worker_from_settings(office, settings).run(stop)
        return 0
    finally:
        node_file.unlink(missing_ok=True)
        server.stop()
        office.db.dispose()
        chain.close()


IDLE_CHECKPOINT_SECONDS = 5.0


def _checkpoint_when_idle(chain: EmbeddedChain, stop: threading.Event) -> None:
    while not stop.wait(IDLE_CHECKPOINT_SECONDS / 2):
        try:
            chain.checkpoint_if_idle(IDLE_CHECKPOINT_SECONDS)
        except Exception:  # logged by the checkpoint itself; the node serves on regardless
            log.exception("idle checkpoint failed")


def _stop_on_eof(stop: threading.Event) -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read holds the buffer's
    # lock, and the interpreter aborts at exit when it cannot take it ("Fatal Python error")
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    stop.set()
