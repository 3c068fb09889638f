"""``suixin chain``: deploy the registries and keep the data directory's deployment record."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from service.cli._common import add_common, settings_of
from service.trust.deployment import DEPLOYMENT_FILE, ensure_deployment
from verifier.chain import connect

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin chain deploy``."""
    chain = commands.add_parser("chain", help="the chain and its registries")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    deploy = chain_commands.add_parser("deploy", help="deploy TrustRegistry and AnchorRegistry")
    add_common(deploy)
    deploy.add_argument("--force", action="store_true", help="deploy again even if deployed")
    deploy.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    settings = settings_of(args)
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
