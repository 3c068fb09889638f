"""What every ``suixin`` command shares: settings from arguments, the office, the console."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from service.config import Settings
from service.issuing.office import Office

__all__ = ["add_common", "console", "office_from", "package_version", "settings_of", "when"]


def package_version() -> str:
    """The installed version of the ``suixin`` package."""
    try:
        return version("suixin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def settings_of(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--data-dir``, ``--chain``, ``--database-url``."""
    overrides = {}
    for name in ("data_dir", "chain", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options every command that opens the office takes."""
    parser.add_argument("--data-dir", type=Path, help="data directory (SUIXIN_DATA_DIR, ./data)")
    parser.add_argument("--chain", help="'embedded' or a JSON-RPC URL (SUIXIN_CHAIN)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (SUIXIN_DATABASE_URL)")


def console(file: IO[str] | None = None) -> Console:
    """A console on stdout (or ``file``); wide when not a terminal, so ids never wrap."""
    target = file or sys.stdout
    return Console(file=target, width=None if target.isatty() else 200, highlight=False)


@contextmanager
def office_from(args: argparse.Namespace) -> Iterator[tuple[Office, Settings]]:
    """The office the arguments name, closed (database, chain) on the way out."""
    from service.runtime import open_office

    settings = settings_of(args)
    office = open_office(settings)
    try:
        yield office, settings
    finally:
        office.db.dispose()
        office.chain.close()


def when(value: Any) -> str:
    """A stored time as the tables show it."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""
