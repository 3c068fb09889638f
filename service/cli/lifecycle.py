"""``suixin lifecycle``: the sweep and a credential's history from the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

from service.cli._common import add_common, office_from
from service.lifecycle.history import history
from service.lifecycle.sweep import sweep

__all__ = ["register"]


def register(commands: Any) -> None:
    """``suixin lifecycle sweep|history``."""
    group = commands.add_parser("lifecycle", help="credential life cycle: sweep, history")
    sub = group.add_subparsers(dest="lifecycle_command", required=True)

    sweep_cmd = sub.add_parser(
        "sweep",
        help="suspend active permits whose term has ended (endorsement lapsed)",
        description="Marks every active residence permit whose term has ended as suspended "
        "(reason endorsement_lapsed) and queues the change for the chain; the worker sends it.",
    )
    add_common(sweep_cmd)
    sweep_cmd.add_argument("--json", action="store_true", help="print {suspended: N} as JSON")

    def run_sweep(args: argparse.Namespace) -> int:
        with office_from(args) as (office, _settings):
            count = sweep(office, actor="cli")
        if args.json:
            print(json.dumps({"suspended": count}))
        else:
            print(f"已暂停 {count} 张逾期未签注的居住证 / {count} permits suspended (lapsed)")
        return 0

    sweep_cmd.set_defaults(handler=run_sweep)

    show = sub.add_parser("history", help="every version of a credential, as JSON")
    add_common(show)
    show.add_argument("credential_id", metavar="ID", help="any version's id (urn:uuid:…)")

    def run_history(args: argparse.Namespace) -> int:
        cid = args.credential_id
        cid = cid if cid.startswith("urn:") else f"urn:uuid:{cid}"
        with office_from(args) as (office, _settings):
            story = history(office, cid)
        print(json.dumps(story, ensure_ascii=False, indent=2))
        return 0

    show.set_defaults(handler=run_history)
