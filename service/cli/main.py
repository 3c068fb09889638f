"""The ``suixin`` command: its parser, built from one module per command group, and ``main``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.cli import apikeys, audit, chain, demo, issue, keys, lifecycle, registry, serve
from service.cli._common import package_version
from verifier.errors import SuixinError

__all__ = ["build_parser", "main"]

# the command groups in the order ``suixin --help`` lists them
_GROUPS = (chain, serve, keys, apikeys, issue, audit, lifecycle, registry, demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="suixin", description="Suixin (穗信) issuing office: trusted credentials on chain."
    )
    parser.add_argument("--version", action="version", version=f"suixin {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SuixinError as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr)
        return 1
