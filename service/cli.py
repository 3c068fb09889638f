"""The ``suixin`` command: deploy the registries (more office commands join as they are built)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.deploy import deploy_registries, fund_if_dev
from verifier.chain import Chain, connect
from verifier.deployment import Deployment
from verifier.errors import InvalidInput, SuixinError

__all__ = ["main"]

DEPLOYMENT_FILE = "deployment.json"
ROOT_KEY_FILE = Path("keys") / "governance-root.key"


def _version() -> str:
    try:
        return version("suixin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suixin", description="Suixin (穗信) issuing office: trusted credentials on chain."
    )
    parser.add_argument("--version", action="version", version=f"suixin {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    chain = commands.add_parser("chain", help="the chain and its registries")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    deploy = chain_commands.add_parser("deploy", help="deploy TrustRegistry and AnchorRegistry")
    deploy.add_argument(
        "--chain",
        default=os.environ.get("SUIXIN_CHAIN", "embedded"),
        help="'embedded' (default; kept under --data-dir) or a JSON-RPC URL",
    )
    deploy.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SUIXIN_DATA_DIR", "data")),
        help="where the chain journal, keys and deployment record live (default: ./data)",
    )
    deploy.add_argument(
        "--root-key-file",
        type=Path,
        help="hex private key of the deploying governance root (default: created in the data dir)",
    )
    deploy.add_argument(
        "--force", action="store_true", help="deploy again even if a deployment exists"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "chain" and args.chain_command == "deploy":
            return _deploy(args)
    except SuixinError as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse rejects unknown commands first


def _deploy(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    chain = connect(args.chain, data_dir)
    try:
        record_path = data_dir / DEPLOYMENT_FILE
        existing = _existing_deployment(chain, record_path)
        if existing is not None and not args.force:
            print(json.dumps(existing.to_json(), indent=2))
            print(f"(already deployed; record at {record_path})", file=sys.stderr)
            return 0
        root = _root_account(
            args.root_key_file or data_dir / ROOT_KEY_FILE, create=not args.root_key_file
        )
        fund_if_dev(chain, root.address)
        deployment = deploy_registries(chain, root)
        deployment.save(record_path)
        print(json.dumps(deployment.to_json(), indent=2))
        print(f"(record written to {record_path})", file=sys.stderr)
        return 0
    finally:
        chain.close()


def _existing_deployment(chain: Chain, path: Path) -> Deployment | None:
    if not path.exists():
        return None
    record = Deployment.load(path)
    if record.chain_id != chain.chain_id:
        return None
    if chain.block_number() < record.block_number:
        return None
    if chain.block(record.block_number).hash != record.block_hash:
        return None  # the chain was reset under the record
    return record


def _root_account(path: Path, *, create: bool) -> LocalAccount:
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        try:
            loaded: LocalAccount = Account.from_key(text)
            return loaded
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"{path} does not hold a hex private key") from e
    if not create:
        raise InvalidInput(f"key file {path} does not exist")
    account: LocalAccount = Account.create()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(account.key.hex() + "\n")
    return account
