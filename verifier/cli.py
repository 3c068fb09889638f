"""``suixin-verify``: check credential bundles against the chain or an offline trust snapshot.

Exit codes: 0 every bundle VALID; 1 at least one INVALID; 3 none INVALID but at least one
PENDING; 2 usage or I/O errors (bad snapshot; a file that cannot be read is reported, the
other files are still verified, and the run exits 2 unless one is INVALID); 4 the chain cannot
be reached;
5 the node serves another chain than the deployment's (``--deployment`` pins it; without one,
the chain is pinned at the first registry event found) — never a verdict; 6 none INVALID or
PENDING but at least one NOT_ACCREDITED: a foreign credential (``verifier.foreign``) whose proof
and status hold, by an issuer the TrustRegistry does not accredit — not a government credential.

A foreign credential file holds the credential itself or ``{"credential", "didDocuments",
"statusListCredentials"}``; ``--did-document`` and ``--status-list`` add DID documents (for
did:web issuers) and Bitstring status list credentials for every file. Nothing is fetched.

With ``--receipt-key KEYFILE --receipt OUT`` each verification also yields a signed receipt
(``verifier.receipts``) made with the verifying office's own key, here, offline: nobody else,
the issuer least of all, hears of it. ``suixin-verify keygen -o KEYFILE`` creates such a key;
``suixin-verify check-receipt FILE`` checks receipts later (exit 0 intact, 1 not).

``suixin-verify batch FILE.jsonl`` verifies a JSON Lines file of bundles on every core
(``verifier.batch``), with progress, a summary and, with ``-o``, one report per line.

``suixin-verify counter`` serves a partner's own counter (``verifier.counter``): the counter
page and the OpenID4VP endpoints over the same trust source, receipts signed by its own key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from verifier.chain import RpcChain
from verifier.deployment import Deployment
from verifier.errors import ChainMismatch, ChainUnavailable, InvalidInput, SuixinError
from verifier.foreign import ForeignMaterial
from verifier.interop import parse_json
from verifier.keys import (
    Ed25519KeyPair,
    decode_multikey,
    encode_private_multikey_ed25519,
)
from verifier.messages import Language
from verifier.policy import Policy
from verifier.proofs import split_verification_method
from verifier.receipts import make_receipt, verify_receipt
from verifier.registry import RegistryIndex
from verifier.status_list import (
    MAX_STATUS_LIST_BYTES,
    StatusListError,
    StatusListSet,
    list_id_hash,
)
from verifier.status_tokens import list_document_digest
from verifier.verify import Outcome, Report, Verdict, Verifier

__all__ = ["main"]

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_PENDING, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
EXIT_MISMATCH = 5
EXIT_NOT_ACCREDITED = 6
_MARKS = {Outcome.PASS: "✓", Outcome.FAIL: "✗", Outcome.PENDING: "…", Outcome.SKIPPED: "-"}
_STYLES = {
    Outcome.PASS: "green",
    Outcome.FAIL: "red",
    Outcome.PENDING: "yellow",
    Outcome.SKIPPED: "dim",
}
_VERDICT_STYLES = {
    Verdict.VALID: "bold green",
    Verdict.INVALID: "bold red",
    Verdict.PENDING: "bold yellow",
    Verdict.NOT_ACCREDITED: "bold magenta",
}
_LABELS = {
    "zh": {"check": "检查项", "result": "结果", "reason": "说明", "verdict": "结论"},
    "en": {"check": "check", "result": "result", "reason": "reason", "verdict": "verdict"},
}


class _UsageError(Exception):
    pass


def _verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify",
        description="Verify Suixin credential bundles (居住证, 营业执照) against the chain alone. "
        "`suixin-verify snapshot --help` writes an offline trust snapshot; "
        "`suixin-verify counter --help` runs a counter.",
    )
    p.add_argument("bundles", nargs="+", type=Path, help="bundle JSON files")
    source = p.add_argument_group("trust source (one of)")
    source.add_argument("--rpc", help="JSON-RPC URL of a chain node")
    source.add_argument("--registry", help="AnchorRegistry address (with --rpc)")
    source.add_argument(
        "--deployment",
        type=Path,
        help="the deployment record (deployment.json of the issuing office): with --rpc it "
        "names the registry and pins the chain, so a reset or other chain is refused",
    )
    source.add_argument(
        "--office",
        metavar="URL",
        help="the issuing office's address (https://…): its /v1/deployment names the chain, "
        "the registries and a node (--rpc overrides the node)",
    )
    source.add_argument("--snapshot", type=Path, help="offline trust snapshot file")
    p.add_argument("--from-block", type=int, default=0, help="first block to index (with --rpc)")
    p.add_argument("--cache", type=Path, help="SQLite file caching the indexed registry")
    p.add_argument("--max-snapshot-age", type=float, default=24.0, metavar="HOURS")
    p.add_argument(
        "--grace",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="how long an unanchored credential is PENDING (default 60)",
    )
    foreign = p.add_argument_group(
        "foreign credentials (VC 2.0, eddsa-jcs-2022, did:key or did:web issuers; never fetched)"
    )
    foreign.add_argument(
        "--did-document",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a DID document of a did:web issuer (repeatable)",
    )
    foreign.add_argument(
        "--status-list",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a BitstringStatusListCredential a credential's status entry names (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON reports")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the table")
    receipts = p.add_argument_group(
        "verification receipts (signed by this office's own key; nothing is sent anywhere)"
    )
    receipts.add_argument(
        "--receipt-key", type=Path, metavar="KEYFILE", help="secret Multikey file (keygen)"
    )
    receipts.add_argument(
        "--receipt", type=Path, metavar="OUT", help="write the signed receipt(s) here"
    )
    receipts.add_argument(
        "--receipt-method",
        metavar="DID#KEY",
        help="verification method of the key (default: its did:key)",
    )
    return p


def _counter_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify counter",
        description="Run a counter (核验窗口): the counter page and the OpenID4VP endpoints, "
        "verifying against the chain or a snapshot; no issuing office needed.",
    )
    source = p.add_argument_group("trust source (one of)")
    source.add_argument("--office", metavar="URL", help="an issuing office: its chain and node")
    source.add_argument("--rpc", help="JSON-RPC URL of a chain node")
    source.add_argument("--registry", help="AnchorRegistry address (with --rpc)")
    source.add_argument("--deployment", type=Path, help="the deployment record (with --rpc)")
    source.add_argument("--snapshot", type=Path, help="offline trust snapshot file")
    p.add_argument("--from-block", type=int, default=0, help="first block to index (with --rpc)")
    p.add_argument("--cache", type=Path, help="SQLite file caching the indexed registry")
    p.add_argument("--max-snapshot-age", type=float, default=24.0, metavar="HOURS")
    p.add_argument("--grace", type=float, default=60.0, metavar="MINUTES")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8300, help="port to listen on (8300)")
    p.add_argument(
        "--key",
        type=Path,
        default=Path("counter.key"),
        help="the counter's own key (made on first start, 0600; hex or a z3u2 multikey from "
        "`suixin-verify keygen`): its did:key signs receipts; if it is an accredited "
        "authority's registered Ed25519 key, the counter asks in that authority's name",
    )
    p.add_argument("--name", default="核验窗口", help="the counter's name on its page")
    p.add_argument(
        "--wallet",
        metavar="URL",
        help="the wallet page a QR code opens (default: the --office's /wallet)",
    )
    p.add_argument(
        "--status-lists",
        metavar="URL",
        help="an issuing office that serves the issuers' Status List Tokens "
        "(/v1/authorities/<DID>/status-lists/…), fetched whole for SD-JWT status (default: "
        "the --office; else each list at its own URL, the issuer's did:web host)",
    )
    return p


def _counter(args: argparse.Namespace) -> int:
    import uvicorn

    from verifier.counter.app import create_counter_app
    from verifier.counter.core import load_or_create_key
    from verifier.status_tokens import FetchedLists, office_locator

    office = args.office
    verifier = _verifier(args)
    verifier.refresh(force=True)
    key = load_or_create_key(args.key)
    wallet = args.wallet or (office.rstrip("/") + "/wallet" if office else None)
    # SD-JWT status: the Status List Tokens fetched whole (from the office when given, else
    # where they are published), or offline the snapshot's
    lists_from = args.status_lists or office
    lists = (
        None
        if args.snapshot
        else FetchedLists(locate=office_locator(lists_from) if lists_from else None)
    )
    app = create_counter_app(verifier, key, name=args.name, wallet_url=wallet, status_lists=lists)
    asks_as = app.state.counter.client_id.removeprefix("decentralized_identifier:")
    print(
        f"suixin-verify counter: http://{args.host}:{args.port}/counter as {asks_as}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_VALID


def _keygen_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify keygen",
        description="Create an Ed25519 key for signing verification receipts (a did:key).",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="key file to create (0600)")
    return p


def _check_receipt_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify check-receipt",
        description="Check verification receipts: exit 0 if every one is intact, 1 otherwise.",
    )
    p.add_argument("receipts", nargs="+", type=Path, help="receipt JSON files")
    p.add_argument("--public-key", metavar="MULTIKEY", help="the signer's key (z6Mk…)")
    p.add_argument("--rpc", help="JSON-RPC URL (signer is an accredited authority)")
    p.add_argument("--registry", help="AnchorRegistry address (with --rpc)")
    p.add_argument("--snapshot", type=Path, help="offline trust snapshot file")
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    return p


def _snapshot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify snapshot",
        description="Export the trust registry at the current block for offline verification.",
    )
    p.add_argument("--rpc", help="JSON-RPC URL of a chain node")
    p.add_argument("--registry", help="AnchorRegistry address (or --deployment)")
    p.add_argument("--deployment", type=Path, help="the deployment record: pins the chain")
    p.add_argument("--office", metavar="URL", help="read the record and a node from the office")
    p.add_argument("--from-block", type=int, default=0, help="first block to index")
    p.add_argument(
        "--status-lists",
        metavar="URL",
        action="append",
        default=[],
        help="an office whose status lists the snapshot carries (its /v1/status-lists); "
        "with --office, that office's are taken too",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="snapshot file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        if args and args[0] == "snapshot":
            return _snapshot(_snapshot_parser().parse_args(args[1:]), console)
        if args and args[0] == "counter":
            return _counter(_counter_parser().parse_args(args[1:]))
        if args and args[0] == "keygen":
            return _keygen(_keygen_parser().parse_args(args[1:]))
        if args and args[0] == "check-receipt":
            return _check_receipts(_check_receipt_parser().parse_args(args[1:]))
        if args and args[0] == "batch":
            return _batch(_batch_parser().parse_args(args[1:]), console)
        return _verify(_verify_parser().parse_args(args), console)
    except SystemExit as e:  # argparse: --help or a usage error
        return EXIT_VALID if e.code == 0 else EXIT_USAGE
    except _UsageError as e:
        print(f"suixin-verify: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ChainUnavailable as e:
        print(f"suixin-verify: {e.diagnostics()}\n链节点无法连接，未作出结论。", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ChainMismatch as e:
        print(f"suixin-verify: {e.diagnostics()}", file=sys.stderr)
        return EXIT_MISMATCH
    except SuixinError as e:
        print(f"suixin-verify: {e.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE


def _office_record(url: str) -> tuple[Deployment, str | None]:
    """The deployment record an office publishes at ``URL/v1/deployment``, and its node."""
    import urllib.error
    import urllib.request

    target = url.rstrip("/") + "/v1/deployment"
    if not target.startswith(("http://", "https://")):
        raise _UsageError(f"--office needs an http(s) URL, not {url!r}")
    try:
        with urllib.request.urlopen(target, timeout=15) as response:
            data = parse_json(response.read(1 << 20).decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise _UsageError(f"cannot read the deployment record from {target}: {e}") from e
    if not isinstance(data, dict):
        raise _UsageError(f"{target} did not answer with a deployment record")
    rpc = data.get("rpcUrl")
    return Deployment.from_json(data), rpc if isinstance(rpc, str) and rpc else None


def _resolve_office(args: argparse.Namespace) -> None:
    """With ``--office``: the record it publishes in place of ``--deployment``, and its node
    unless ``--rpc`` names one (said on stderr, so a clerk sees what is trusted)."""
    if not getattr(args, "office", None):
        args.office_record = None
        return
    if args.deployment is not None or getattr(args, "snapshot", None):
        raise _UsageError("--office takes the place of --deployment and --snapshot")
    record, rpc = _office_record(args.office)
    args.office_record = record
    args.rpc = args.rpc or rpc
    if not args.rpc:
        raise _UsageError(f"{args.office} publishes no node URL: give --rpc")
    print(
        f"suixin-verify: trust source from {args.office}: chain {record.chain_id}, "
        f"AnchorRegistry {record.anchor_registry}, node {args.rpc}",
        file=sys.stderr,
    )


def _deployment(args: argparse.Namespace) -> Deployment | None:
    office: Deployment | None = getattr(args, "office_record", None)
    if office is not None:
        if args.registry and args.registry.lower() != office.anchor_registry.lower():
            raise _UsageError("--registry differs from the office's AnchorRegistry")
        return office
    if args.deployment is None:
        if not args.registry:
            raise _UsageError("--registry ADDRESS or --deployment FILE is needed with --rpc")
        return None
    record = Deployment.load(args.deployment)
    if args.registry and args.registry.lower() != record.anchor_registry.lower():
        raise _UsageError("--registry differs from the deployment record's AnchorRegistry")
    return record


def _snapshot(args: argparse.Namespace, console: Console) -> int:
    _resolve_office(args)
    if not args.rpc:
        raise _UsageError("--rpc URL (or --office URL) is needed")
    chain = RpcChain(args.rpc)
    deployment = _deployment(args)
    if deployment is not None:
        deployment.check_chain(chain)
        index = RegistryIndex.for_deployment(deployment)
    else:
        index = RegistryIndex.for_anchor_registry(chain, args.registry, start_block=args.from_block)
    offices = [*args.status_lists, *([args.office] if args.office else [])]
    documents = [d for url in offices for d in _office_lists(url)]
    index.sync(chain)
    kept, stale = _committed_lists(index, documents)
    if stale:  # published after the fetch, before the sync: fetch once more, sync again
        documents = [d for url in offices for d in _office_lists(url)]
        index.sync(chain)
        kept, stale = _committed_lists(index, documents)
    index.list_documents = {str(d["id"]): d for d in kept}
    header = index.export_snapshot(args.output)
    console.print(
        f"snapshot of chain {header['chainId']} at block {header['block']['number']} "
        f"({header['block']['hash']}) written to {args.output}"
    )
    if offices:
        console.print(
            f"status lists: {len(kept)} documents committed on chain carried"
            + (f", {len(stale)} not committed left out" if stale else "")
        )
    return EXIT_VALID


def _office_lists(url: str) -> list[dict[str, Any]]:
    """Every list set and list credential an office serves (``URL/v1/status-lists``)."""
    import urllib.error
    import urllib.request

    target = url.rstrip("/") + "/v1/status-lists"
    if not target.startswith(("http://", "https://")):
        raise _UsageError(f"--status-lists needs an http(s) URL, not {url!r}")
    try:
        with urllib.request.urlopen(target, timeout=30) as response:
            data = parse_json(response.read(MAX_STATUS_LIST_BYTES * 4).decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise _UsageError(f"cannot read the status lists from {target}: {e}") from e
    if not isinstance(data, dict):
        raise _UsageError(f"{target} did not answer with status lists")
    documents = [*data.get("sets", []), *data.get("lists", [])]
    return [d for d in documents if isinstance(d, dict) and isinstance(d.get("id"), str)]


def _committed_lists(
    index: RegistryIndex, documents: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sets whose digest is on chain and the lists they commit to, and the rest."""
    committed: dict[str, bytes] = {}
    kept: list[dict[str, Any]] = []
    for document in documents:
        if document.get("type") != "SuixinStatusListSet":
            continue
        try:
            listed = StatusListSet.from_json(document)
        except StatusListError:
            continue
        auth = index.authority(listed.issuer)
        record = index.status_list(auth.id, list_id_hash(listed.url)) if auth else None
        if record is not None and record.digest == listed.digest:
            kept.append(document)
            committed.update(listed.lists)
    for document in documents:
        if document.get("type") == "SuixinStatusListSet":
            continue
        with suppress(SuixinError):
            # a W3C list credential or a Status List Token (the digest each kind commits to)
            if committed.get(str(document["id"])) == list_document_digest(document):
                kept.append(document)
    return kept, [d for d in documents if d not in kept]


def _verifier(args: argparse.Namespace) -> Verifier:
    policy = Policy(
        pending_grace=timedelta(minutes=args.grace),
        max_snapshot_age=timedelta(hours=args.max_snapshot_age),
    )
    _resolve_office(args)
    if args.snapshot and (args.rpc or args.registry or args.deployment):
        raise _UsageError("use either --snapshot or --rpc with --registry/--deployment, not both")
    if args.snapshot:
        return Verifier.from_snapshot(args.snapshot, policy)
    if not args.rpc:
        raise _UsageError(
            "a trust source is needed: --office URL, --rpc URL with --registry ADDRESS or "
            "--deployment FILE, or --snapshot FILE"
        )
    deployment = _deployment(args)
    registry = deployment.anchor_registry if deployment is not None else args.registry
    return Verifier.from_rpc(
        args.rpc,
        registry,
        policy,
        start_block=args.from_block,
        cache_path=args.cache,
        deployment=deployment,
    )


def _read(path: Path) -> Any:
    """The JSON in ``path``; raises _UsageError naming the file and what is wrong with it."""
    try:
        return parse_json(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise _UsageError(f"cannot read bundle {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise _UsageError(f"cannot read bundle {path}: not UTF-8 text ({e.reason})") from e
    except (ValueError, RecursionError) as e:  # not JSON; a number or nesting beyond reason
        reason = e if isinstance(e, ValueError) else "nested too deeply"
        raise _UsageError(f"cannot read bundle {path}: not JSON ({reason})") from e


def _verify(args: argparse.Namespace, console: Console) -> int:
    receipt_signer = _receipt_signer(args)
    bundles: list[tuple[Path, Any]] = []
    unreadable: list[tuple[Path, str]] = []
    for path in args.bundles:  # a bad file is reported and skipped; the others are verified
        try:
            bundles.append((path, _read(path)))
        except _UsageError as e:
            print(f"suixin-verify: {e}", file=sys.stderr)
            unreadable.append((path, str(e)))
    if not bundles:
        return EXIT_USAGE
    material = ForeignMaterial.from_json(
        [_read(p) for p in args.did_document], [_read(p) for p in args.status_list]
    )
    verifier = _verifier(args)
    reports = [(path, verifier.verify(bundle, material)) for path, bundle in bundles]
    if receipt_signer is not None:
        key, method = receipt_signer
        receipts = [
            make_receipt(bundle, report, key, method)
            for (_, bundle), (_, report) in zip(bundles, reports, strict=True)
        ]
        _write_receipts(args.receipt, receipts)
        print(
            f"核验回执已签署 / {len(receipts)} receipt(s) signed by {method}: {args.receipt}",
            file=sys.stderr,
        )
    counts = {v: sum(r.verdict is v for _, r in reports) for v in Verdict}
    summary = (
        f"{len(args.bundles)} bundles: {counts[Verdict.VALID]} VALID, "
        f"{counts[Verdict.INVALID]} INVALID, {counts[Verdict.PENDING]} PENDING"
        + (
            f", {counts[Verdict.NOT_ACCREDITED]} NOT_ACCREDITED"
            if counts[Verdict.NOT_ACCREDITED]
            else ""
        )
        + (f", {len(unreadable)} unreadable" if unreadable else "")
    )
    if args.json:  # one JSON document on stdout, whatever the number of files
        entries: list[dict[str, Any]] = [{"file": str(p), **r.to_json()} for p, r in reports]
        entries += [
            {"file": str(p), "error": {"code": "file_unreadable", "message": m}}
            for p, m in unreadable
        ]
        only = len(entries) == 1
        console.print_json(json.dumps(entries[0] if only else entries, ensure_ascii=False))
        if len(args.bundles) > 1:
            print(summary, file=sys.stderr)
    else:
        for path, report in reports:
            _print_table(console, path, report, args.lang)
        if len(args.bundles) > 1:
            console.print(summary)
    if counts[Verdict.INVALID]:
        return EXIT_INVALID
    if unreadable:
        return EXIT_USAGE
    if counts[Verdict.PENDING]:
        return EXIT_PENDING
    if counts[Verdict.NOT_ACCREDITED]:
        return EXIT_NOT_ACCREDITED
    return EXIT_VALID


def _receipt_signer(args: argparse.Namespace) -> tuple[Ed25519KeyPair, str] | None:
    """The receipt key and its verification method, read before any verification runs."""
    if (args.receipt_key is None) != (args.receipt is None):
        raise _UsageError("--receipt-key and --receipt go together")
    if args.receipt_key is None:
        if args.receipt_method:
            raise _UsageError("--receipt-method needs --receipt-key and --receipt")
        return None
    key = _read_key(args.receipt_key)
    method = args.receipt_method or key.verification_method
    try:
        did, _ = split_verification_method(method)
    except InvalidInput as e:
        raise _UsageError(f"--receipt-method: {e}") from e
    if did.startswith("did:key:") and method != key.verification_method:
        raise _UsageError(
            f"--receipt-method {method} is not the did:key of the key in {args.receipt_key} "
            f"({key.verification_method})"
        )
    return key, method


def _read_key(path: Path) -> Ed25519KeyPair:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise _UsageError(f"cannot read key file {path}: {e}") from e
    try:
        return Ed25519KeyPair.from_private_multikey(text)
    except InvalidInput as e:
        raise _UsageError(
            f"{path} does not hold an Ed25519 secret Multikey (z3u2…; see "
            f"`suixin-verify keygen`): {e}"
        ) from e


def _write_receipts(path: Path, receipts: list[dict[str, Any]]) -> None:
    body: Any = receipts[0] if len(receipts) == 1 else receipts
    try:
        path.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as e:
        raise _UsageError(f"cannot write receipts to {path}: {e}") from e


def _keygen(args: argparse.Namespace) -> int:
    key = Ed25519KeyPair.generate()
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise _UsageError(f"cannot create key file {args.output}: {e}") from e
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(encode_private_multikey_ed25519(key.private_bytes()) + "\n")
    # plain print: rich would turn the ":key:" of "did:key:" into an emoji
    print(f"receipt key written to {args.output} (keep it secret)")
    print(f"DID                 {key.did}")
    print(f"verification method {key.verification_method}")
    return EXIT_VALID


def _check_receipts(args: argparse.Namespace) -> int:
    public_key = None
    registry: RegistryIndex | None = None
    if args.public_key:
        try:
            public_key = decode_multikey(args.public_key)
        except InvalidInput as e:
            raise _UsageError(f"--public-key: {e}") from e
    if args.snapshot and (args.rpc or args.registry):
        raise _UsageError("use either --snapshot or --rpc/--registry, not both")
    if args.snapshot:
        registry = RegistryIndex.from_snapshot(args.snapshot)
    elif args.rpc or args.registry:
        if not (args.rpc and args.registry):
            raise _UsageError("--rpc and --registry go together")
        chain = RpcChain(args.rpc)
        registry = RegistryIndex.for_anchor_registry(chain, args.registry)
        registry.sync(chain)
    bad = 0
    for path in args.receipts:
        document = _read(path)
        items = document if isinstance(document, list) else [document]
        for item in items:
            check = verify_receipt(item, public_key, registry=registry)
            mark = "✓" if check.ok else "✗"
            verdict = f" ({check.verdict})" if check.ok and check.verdict else ""
            print(f"{mark} {path.name}{verdict}: {check.reason.text(args.lang)}")
            bad += not check.ok
    return EXIT_INVALID if bad else EXIT_VALID


def _print_table(console: Console, path: Path, report: Report, lang: Language) -> None:
    labels = _LABELS[lang]
    kind = report.credential_type or ("foreign" if report.foreign else "?")
    title = f"{path.name} — {kind} {report.credential_id or ''}"
    table = Table(title=title, title_justify="left")
    table.add_column(labels["check"])
    table.add_column(labels["result"], justify="center")
    table.add_column(labels["reason"])
    for check in report.checks:
        style = _STYLES[check.outcome]
        table.add_row(check.name, f"[{style}]{_MARKS[check.outcome]}[/]", check.reason.text(lang))
    console.print(table)
    trust = report.trust
    source = (
        f"{trust.kind}: chain {trust.chain_id}, block {trust.block_number}, "
        f"age {trust.age_seconds // 3600}h{trust.age_seconds % 3600 // 60:02d}m"
    )
    console.print(f"  {source}")
    for warning in report.warnings:
        console.print(f"  [yellow]! {warning.text(lang)}[/]")
    colour = _VERDICT_STYLES[report.verdict]
    console.print(f"  {labels['verdict']}: [{colour}]{report.verdict.value}[/]")
    if report.verdict is Verdict.NOT_ACCREDITED:
        note = (
            "签名等检查成立，但签发方未经信任注册表认证：不是政府凭证"
            if lang == "zh"
            else "The checks hold, but the issuer is not accredited on the TrustRegistry: "
            "not a government credential"
        )
        console.print(f"  [magenta]{note}[/]")
    console.print()


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------------------- batch


def _batch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suixin-verify batch",
        description="Verify a JSON Lines file of bundles (one per line) on every core, against "
        "one trust state: a snapshot, or the chain as read when the run begins. Exit codes as "
        "for single files; an unreadable line counts as a usage error (2) unless a bundle is "
        "INVALID.",
    )
    p.add_argument("bundles", type=Path, help="FILE.jsonl, one bundle per line")
    source = p.add_argument_group("trust source (one of)")
    source.add_argument("--rpc", help="JSON-RPC URL of a chain node")
    source.add_argument("--registry", help="AnchorRegistry address (with --rpc)")
    source.add_argument("--deployment", type=Path, help="the deployment record (with --rpc)")
    source.add_argument("--office", metavar="URL", help="read the record and a node from it")
    source.add_argument("--snapshot", type=Path, help="offline trust snapshot file")
    p.add_argument("--from-block", type=int, default=0, help="first block to index (with --rpc)")
    p.add_argument("--cache", type=Path, help="SQLite file caching the indexed registry")
    p.add_argument("--max-snapshot-age", type=float, default=24.0, metavar="HOURS")
    p.add_argument("--grace", type=float, default=60.0, metavar="MINUTES")
    p.add_argument(
        "--workers", type=int, help="verifying processes (default: one per core; 1: this one)"
    )
    p.add_argument(
        "-o", "--output", type=Path, help="write every line's report here (JSON Lines, in order)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _batch(args: argparse.Namespace, console: Console) -> int:
    import tempfile
    import time

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from verifier.batch import BatchSummary, result_line, verify_lines

    if args.workers is not None and args.workers < 1:
        raise _UsageError("--workers must be at least 1")
    try:
        size = args.bundles.stat().st_size
    except OSError as e:
        raise _UsageError(f"cannot read {args.bundles}: {e.strerror or e}") from e
    err = Console(stderr=True, highlight=False)
    with tempfile.TemporaryDirectory(prefix="suixin-batch-") as scratch:
        snapshot = args.snapshot
        if snapshot is None:  # the chain, read once: every worker answers as of this block
            verifier = _verifier(args)
            verifier.refresh(force=True)
            snapshot = Path(scratch) / "trust.json"
            header = verifier.index.export_snapshot(snapshot)
            err.print(
                f"trust: chain {header['chainId']} as of block {header['block']['number']} "
                f"({header['block']['hash']})"
            )
        summary = BatchSummary()
        progress = Progress(
            TextColumn("核验 verifying"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[done]:,} bundles, {task.fields[rate]:,.0f}/s"),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        started = time.perf_counter()

        def advance(now: BatchSummary) -> None:
            seconds = max(time.perf_counter() - started, 1e-9)
            done = now.bundles + now.unreadable
            progress.update(task, completed=now.bytes_read, done=done, rate=done / seconds)

        output = args.output.open("w", encoding="utf-8") if args.output is not None else None
        try:
            with progress:
                task = progress.add_task("verify", total=size, done=0, rate=0.0)
                for result in verify_lines(
                    args.bundles,
                    snapshot,
                    workers=args.workers,
                    grace_minutes=args.grace,
                    max_snapshot_age_hours=args.max_snapshot_age,
                    summary=summary,
                    on_chunk=advance,
                ):
                    if output is not None:
                        output.write(result_line(result))
                    elif result.verdict is None:
                        err.print(f"suixin-verify: {result.document['error']['message']}")
        except OSError as e:
            raise _UsageError(f"cannot read {args.bundles}: {e.strerror or e}") from e
        finally:
            if output is not None:
                output.close()
    seconds = time.perf_counter() - started
    counts = summary.counts
    done = summary.bundles + summary.unreadable
    if args.json:
        document = {
            "bundles": summary.bundles,
            "verdicts": counts,
            "unreadable": summary.unreadable,
            "seconds": round(seconds, 3),
            "perSecond": round(done / seconds, 1) if seconds else None,
        }
        print(json.dumps(document, ensure_ascii=False))
    else:
        foreign = counts[Verdict.NOT_ACCREDITED.value]
        console.print(
            f"{summary.bundles} bundles: {counts['VALID']} VALID, {counts['INVALID']} INVALID, "
            f"{counts['PENDING']} PENDING"
            + (f", {foreign} NOT_ACCREDITED" if foreign else "")
            + (f", {summary.unreadable} unreadable lines" if summary.unreadable else "")
            + f"; {seconds:.1f} s, {done / seconds if seconds else 0:,.0f}/s"
        )
    if counts["INVALID"]:
        return EXIT_INVALID
    if summary.unreadable or not done:
        return EXIT_USAGE
    if counts["PENDING"]:
        return EXIT_PENDING
    if counts[Verdict.NOT_ACCREDITED.value]:
        return EXIT_NOT_ACCREDITED
    return EXIT_VALID
