"""The ``suixin`` command: its parser, built from one module per command group, and ``main``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from service.cli import apikeys, audit, chain, demo, issue, keys, lifecycle, registry, serve
from service.cli._common import package_version
from verifier.errors import ChainMismatch, ChainUnavailable, SuixinError

__all__ = ["EXIT_CHAIN_MISMATCH", "EXIT_CHAIN_UNAVAILABLE", "build_parser", "main"]

# exit codes every command shares (a command may add its own: 0 done, 1 failed, 2 usage)
EXIT_CHAIN_UNAVAILABLE = 4  # the chain node cannot be reached
EXIT_CHAIN_MISMATCH = 5  # the node serves another chain than the deployment's

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
    os.umask(0o077)  # what the office writes (database, journal, keys, reports) is its own
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SuixinError as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr)
        if isinstance(e, ChainMismatch):
            return EXIT_CHAIN_MISMATCH
        if isinstance(e, ChainUnavailable):
            return EXIT_CHAIN_UNAVAILABLE
        return 1
