"""The ``suixin`` command: deploy the registries, serve the office, run the anchoring worker."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from service.config import Settings
from service.runtime import DEPLOYMENT_FILE, ensure_deployment
from verifier.chain import connect
from verifier.errors import SuixinError

__all__ = ["main"]


def _version() -> str:
    try:
        return version("suixin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("data_dir", "chain", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data directory (SUIXIN_DATA_DIR, ./data)")
    parser.add_argument("--chain", help="'embedded' or a JSON-RPC URL (SUIXIN_CHAIN)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (SUIXIN_DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="suixin", description="Suixin (穗信) issuing office: trusted credentials on chain."
    )
    parser.add_argument("--version", action="version", version=f"suixin {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    chain = commands.add_parser("chain", help="the chain and its registries")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    deploy = chain_commands.add_parser("deploy", help="deploy TrustRegistry and AnchorRegistry")
    _common(deploy)
    deploy.add_argument("--force", action="store_true", help="deploy again even if deployed")
    deploy.set_defaults(handler=_deploy)

    serve = commands.add_parser("serve", help="run the office API (and, embedded, its worker)")
    _common(serve)
    serve.add_argument("--host", help="listen address (SUIXIN_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (SUIXIN_PORT, 8000)")
    serve.add_argument("--demo", action="store_true", help="set up the demo authorities")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run the anchoring worker in this process")
    _common(worker)
    worker.add_argument("--once", action="store_true", help="anchor what is pending, then exit")
    worker.set_defaults(handler=_worker)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SuixinError as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr)
        return 1


def _deploy(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    chain = connect(settings.chain, settings.data_dir)
    try:
        record_path = settings.data_dir / DEPLOYMENT_FILE
        if args.force and record_path.exists():
            record_path.unlink()
        deployment = ensure_deployment(chain, settings.data_dir, allow_deploy=True)
        print(json.dumps(deployment.to_json(), indent=2))
        print(f"(deployment record: {record_path})", file=sys.stderr)
        return 0
    finally:
        chain.close()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.app import create_app
    from service.runtime import bootstrap_demo, open_office

    settings = _settings(args)
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    office = open_office(settings)
    if args.demo:
        keys = bootstrap_demo(office, settings.data_dir)
        print("Demo API keys (also in data/demo-api-keys.json):")
        for did, key in keys.keys.items():
            print(f"  {did}: {key}")
    base = f"http://{settings.host}:{settings.port}"
    print(f"Suixin office on {base}  — API docs {base}/docs  — health {base}/healthz", flush=True)
    app = create_app(office, settings, start_worker=settings.in_process_worker)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from service.runtime import open_office
    from service.worker import AnchorWorker

    settings = _settings(args)
    office = open_office(settings, allow_deploy=False)
    worker = AnchorWorker(
        office,
        batch_size=settings.batch_size,
        batch_age_seconds=settings.batch_age_seconds,
        poll_seconds=settings.worker_poll_seconds,
    )
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
