"""``suixin chain``: deploy the registries and keep the data directory's deployment record."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from service.cli._common import add_common, settings_of
from service.trust.deployment import DEPLOYMENT_FILE, ensure_deployment
from verifier.chain import connect
from verifier.errors import InvalidInput

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin chain deploy``."""
    chain = commands.add_parser("chain", help="the chain and its registries")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    deploy = chain_commands.add_parser("deploy", help="deploy TrustRegistry and AnchorRegistry")
    add_common(deploy)
    deploy.add_argument(
        "--force",
        action="store_true",
        help="deploy new registries even if this data directory has a deployment (the old "
        "record is kept as deployment.replaced-<time>.json)",
    )
    deploy.add_argument(
        "--confirmations",
        type=int,
        help="blocks on top of an anchor before it counts (default: 0 on a development chain, "
        "12 elsewhere; 0 or 1 for an instant-finality consortium chain)",
    )
    deploy.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    chain = connect(settings.chain, settings.data_dir)
    try:
        record_path = settings.data_dir / DEPLOYMENT_FILE
        if args.confirmations is not None and args.confirmations < 0:
            raise InvalidInput("--confirmations must be 0 or more")
        deployment = ensure_deployment(
            chain,
            settings.data_dir,
            allow_deploy=True,
            redeploy=args.force,
            confirmations=args.confirmations,
        )
        print(json.dumps(deployment.to_json(), indent=2))
        print(f"(deployment record: {record_path})", file=sys.stderr)
        return 0
    finally:
        chain.close()
