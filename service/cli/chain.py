"""``suixin chain``: deploy the registries, keep the data directory's deployment record, and
reconcile what the office believes is on chain with the chain.

``suixin chain reconcile`` exits 0 when everything matched, 3 when it repaired something, 1
when something cannot be repaired here (it says what and why), 2 for usage errors, 4 when the
chain cannot be reached and 5 when the node serves another chain than the deployment's.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from service.cli._common import add_common, console, office_from, settings_of
from service.trust.deployment import (
    DEPLOYMENT_FILE,
    check_anchoring_hash_change,
    ensure_deployment,
)
from verifier.chain import connect
from verifier.deployment import Deployment
from verifier.errors import InvalidInput
from verifier.merkle import MERKLE_HASHES

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
    deploy.add_argument(
        "--anchoring-hash",
        choices=MERKLE_HASHES,
        help="the hash of the credential Merkle trees and their leaves, recorded in the "
        "deployment: sha-256 (the default) or sm3 (GB/T 32905, 国密); --force keeps the replaced "
        "record's unless told",
    )
    deploy.set_defaults(handler=_deploy)
    reconcile = chain_commands.add_parser(
        "reconcile",
        help="compare what the office believes is on chain with the chain, and repair",
        description="Reads back every batch root, status change, issuer key, accreditation "
        "and audit head the office holds as on chain, and sends again what is missing. Exit 0: "
        "all matched; 3: repaired; 1: something cannot be repaired here; 4: chain unreachable; "
        "5: not the deployment's chain.",
    )
    add_common(reconcile)
    reconcile.add_argument(
        "--full",
        action="store_true",
        help="check everything (default: what was recorded since the last run, or the last "
        "SUIXIN_RECONCILE_WINDOW_HOURS when the chain lost blocks)",
    )
    reconcile.add_argument("--report-only", action="store_true", help="repair nothing")
    reconcile.add_argument("--json", action="store_true", help="the report as JSON")
    reconcile.set_defaults(handler=_reconcile)


def _deploy(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    chain = connect(settings.chain, settings.data_dir)
    try:
        record_path = settings.data_dir / DEPLOYMENT_FILE
        if args.confirmations is not None and args.confirmations < 0:
            raise InvalidInput("--confirmations must be 0 or more")
        if args.force and args.anchoring_hash and record_path.exists():
            check_anchoring_hash_change(
                settings.effective_database_url(),
                Deployment.load(record_path).anchoring_hash,
                args.anchoring_hash,
            )
        deployment = ensure_deployment(
            chain,
            settings.data_dir,
            allow_deploy=True,
            redeploy=args.force,
            confirmations=args.confirmations,
            anchoring_hash=args.anchoring_hash,
        )
        print(json.dumps(deployment.to_json(), indent=2))
        print(f"(deployment record: {record_path})", file=sys.stderr)
        return 0
    finally:
        chain.close()


EXIT_REPAIRED = 3


def _reconcile(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from service.anchoring.reconcile import Reconciler
    from service.trust.deployment import governance_root

    with office_from(args) as (office, settings):
        root = None
        if settings.mode == "development":
            root = governance_root(settings.data_dir, create=False)
        reconciler = Reconciler(
            office,
            root=root,
            window=timedelta(hours=settings.reconcile_window_hours),
            repair=not args.report_only,
        )
        report = reconciler.run(full=args.full)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        out = console()
        scope = "全部 everything" if report.full else f"自 since {report.since:%Y-%m-%d %H:%M} UTC"
        checked = ", ".join(f"{name} {n}" for name, n in report.checked.items())
        out.print(f"核对范围 checked ({scope}): {checked}; {report.seconds:.1f} s")
        for f in report.findings:
            out.print(f"  [{f.action}] {f.kind} {f.subject}: {f.problem} — {f.detail}")
        if report.clean:
            out.print("链上与本办公室记录一致 / the chain holds everything the office believes")
    if report.unrepairable:
        return 1
    return EXIT_REPAIRED if report.repaired else 0
