"""``suixin keys rotate|revoke|affected|reissue|rotate-account`` and the validity in ``keys list``.

Each test runs the commands through ``main([...])`` in its own data directory (embedded chain
journaled there, SQLite), as an operator would; the domain behaviour itself is tested in
``test_keyops.py``.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.anchoring.worker import AnchorWorker
from service.cli import main
from service.issuing.office import IssueRequest
from service.storage.models import Batch, Credential
from tests.service.cli.test_main import LICENCES, PERMITS, init, office, run_json
from tests.verifier.factories import residence_permit_subject
from verifier.credential import CHINA_TIME


def issue(n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Issue ``n`` permits of the permits authority; returns their ids and citizen IDs."""
    subjects = [residence_permit_subject(rng) for _ in range(n)]
    with office() as o:
        authority = o.authority_by_did(PERMITS)
        bundles = o.issue_many(authority.id, [IssueRequest("ResidencePermit", s) for s in subjects])
    return [b["credential"]["id"] for b in bundles], [s["citizenId"] for s in subjects]


def anchor(capsys: pytest.CaptureFixture[str]) -> int:
    """Anchor what is queued (the worker, in process); returns the newest batch's block time.

    (``suixin worker --once`` would do the same but leaves the embedded chain's journal open.)
    """
    with office() as o:
        AnchorWorker(o, log=lambda _m: None).drain()
        with o.db.session() as s:
            return int(s.scalar(select(func.max(Batch.block_time))) or 0)


def test_rotate_and_list_validity(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(PERMITS, "ResidencePermit") == 0
    issue(2, random.Random(1))  # queued with key-1: anchored by the rotation first
    capsys.readouterr()

    assert main(["keys", "rotate", "--settle", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{PERMITS}#key-2" in out and "revoked from" in out and "anchored first: 2" in out

    old, new = run_json(capsys, "keys", "list")
    assert (old["keyId"], old["active"], old["revocationReason"]) == ("key-1", False, "rotation")
    assert old["validFrom"] and old["revokedAt"] and old["revokedAt"] >= old["validFrom"]
    assert (new["keyId"], new["active"], new["revokedAt"]) == ("key-2", True, None)
    assert new["validFrom"] is not None
    assert main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert "已吊销 revoked (rotation)" in table and "签发中 active" in table
    with office() as o:
        assert o.counts() == {"anchored": 2}
        assert o.signer(o.authority_by_did(PERMITS).id).key_id == "key-2"
    assert main(["keys", "affected", "key-1"]) == 0  # anchored before the revocation: all good
    assert "no credential is affected" in capsys.readouterr().out

    # keep the old key: it stops signing but stays valid on chain
    assert main(["keys", "rotate", "--keep-old", "--settle", "0"]) == 0
    assert "still valid on chain" in capsys.readouterr().out
    listed = run_json(capsys, "keys", "list")
    assert [(k["keyId"], k["active"], k["revokedAt"] is None) for k in listed] == [
        ("key-1", False, False),
        ("key-2", False, True),
        ("key-3", True, True),
    ]
    assert main(["keys", "list"]) == 0
    assert "停用 retired (valid on chain)" in capsys.readouterr().out


def test_init_and_rotate_between_sm2_and_ed25519(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(PERMITS, "ResidencePermit", algorithm="sm2") == 0
    out = capsys.readouterr().out
    assert f"{PERMITS}#key-1  SM2  zEP" in out
    [key] = run_json(capsys, "keys", "list")
    assert (key["algorithm"], key["publicKeyMultibase"][:3]) == ("SM2", "zEP")
    [first], _ = issue(1, random.Random(3))

    assert main(["keys", "rotate", "--algorithm", "ed25519", "--settle", "0"]) == 0
    assert f"{PERMITS}#key-2" in capsys.readouterr().out
    old, new = run_json(capsys, "keys", "list")
    assert (old["algorithm"], old["revocationReason"]) == ("SM2", "rotation")
    assert (new["algorithm"], new["publicKeyMultibase"][:4]) == ("Ed25519", "z6Mk")
    [second], _ = issue(1, random.Random(4))
    with office() as o:
        suites = [o.bundle(c)["credential"]["proof"]["cryptosuite"] for c in (first, second)]
    assert suites == ["suixin-sm2-jcs-2025", "eddsa-jcs-2022"]
    on_chain = run_json(capsys, "registry", "keys")
    assert [(k["keyId"], k["algorithm"]) for k in on_chain] == [
        ("key-1", "SM2"),
        ("key-2", "Ed25519"),
    ]
    assert on_chain[0]["publicKeyMultibase"] == old["publicKeyMultibase"]


def test_compromise_affected_and_reissue(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(PERMITS, "ResidencePermit") == 0
    rng = random.Random(2)
    early, early_ids = issue(2, rng)
    anchor(capsys)
    late, late_ids = issue(2, rng)
    since = anchor(capsys)
    pending, pending_ids = issue(1, rng)
    when = datetime.fromtimestamp(since, CHINA_TIME).isoformat()  # …+08:00

    assert main(["keys", "revoke", "key-1", "--since", when]) == 0
    out = capsys.readouterr().out
    assert f"{PERMITS}#key-2" in out and "affected credentials: 3" in out

    listed = run_json(capsys, "keys", "affected", f"{PERMITS}#key-1")
    assert [c["id"] for c in listed["credentials"]] == [*late, *pending]
    assert [c["anchoredAt"] is None for c in listed["credentials"]] == [False, False, True]
    assert all(c["needsReissue"] for c in listed["credentials"])
    assert main(["keys", "affected", "key-1"]) == 0
    table = capsys.readouterr().out
    assert all(cid in table for cid in (*late, *pending)) and early[0] not in table
    for shown in (table, json.dumps(listed)):
        assert not any(number in shown for number in (*early_ids, *late_ids, *pending_ids))

    assert main(["keys", "reissue", "key-1"]) == 0  # a dry run
    assert "would re-issue 3" in capsys.readouterr().out
    with office() as o, o.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 5

    out_file = tmp_path / "reissued.jsonl"
    assert main(["keys", "reissue", "key-1", "--yes", "--chunk", "2", "--out", str(out_file)]) == 0
    assert "re-issued 3" in capsys.readouterr().out
    pairs = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [p["previousId"] for p in pairs] == [*late, *pending]
    assert main(["keys", "reissue", "key-1", "--yes"]) == 0
    assert "re-issued 0" in capsys.readouterr().out
    listed = run_json(capsys, "keys", "affected", "key-1")
    assert [c["successorId"] for c in listed["credentials"]] == [p["id"] for p in pairs]
    assert not any(c["needsReissue"] for c in listed["credentials"])


def test_rotate_account(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(PERMITS, "ResidencePermit") == 0
    [before] = run_json(capsys, "keys", "list")
    assert main(["keys", "rotate-account"]) == 0
    out = capsys.readouterr().out
    assert before["account"] in out
    [after] = run_json(capsys, "keys", "list")
    assert after["account"] != before["account"] and after["account"] in out
    issue(1, random.Random(3))
    anchor(capsys)
    with office() as o:
        assert o.counts() == {"anchored": 1}  # anchored by the new account


def test_refusals(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(PERMITS, "ResidencePermit") == 0
    capsys.readouterr()
    cases: list[tuple[list[str], str]] = [
        (["keys", "revoke", "key-9", "--since", "now"], "unknown_key"),
        (["keys", "revoke", "key-1", "--since", "last tuesday"], "time_invalid"),
        (["keys", "revoke", "did:web:other#key-1", "--since", "now"], "unknown_authority"),
        (
            ["keys", "revoke", "did:web:other#key-1", "--authority", PERMITS, "--since", "now"],
            "authority_mismatch",
        ),
        (["keys", "reissue", "key-1", "--yes"], "key_not_revoked"),
        (["keys", "rotate", "--revoke-old-at", "soon"], "time_invalid"),
    ]
    for argv, code in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert f"[{code}]" in err, (argv, err)
    with pytest.raises(SystemExit) as exited:
        main(["keys", "rotate", "--keep-old", "--revoke-old-at", "now"])
    assert exited.value.code == 2
    capsys.readouterr()
    [key] = run_json(capsys, "keys", "list")
    assert (key["keyId"], key["active"], key["revokedAt"]) == ("key-1", True, None)

    assert init(LICENCES, "BusinessLicense", name="广州市市场监督管理局") == 0
    capsys.readouterr()
    assert main(["keys", "rotate", "--settle", "0"]) == 1
    assert "[authority_required]" in capsys.readouterr().err
    assert main(["keys", "affected", "key-1", "--authority", LICENCES]) == 0
    assert "not revoked" in capsys.readouterr().out


@pytest.mark.slow
def test_rotate_and_revoke_while_the_nodes_worker_anchors_under_load(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the make-run topology: `suixin node` holds the embedded chain and runs the worker; key
    # operations from the command line send from the same authority account meanwhile. Every
    # send takes the office's lock of that account and reads its nonce from the chain: no
    # collision, no crash of the node, ten times over
    import contextlib
    import os
    import subprocess
    import sys
    import threading
    import time

    assert init(PERMITS, "ResidencePermit") == 0
    env = {k: v for k, v in os.environ.items()} | {
        "SUIXIN_BATCH_AGE_SECONDS": "0.2",
        "SUIXIN_WORKER_POLL_SECONDS": "0.05",
        "SUIXIN_RECONCILE_SECONDS": "1",
    }
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    node = subprocess.Popen(
        [sys.executable, "-c", code, "node", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stop = threading.Event()
    issued: list[str] = []
    try:
        assert node.stdout is not None
        assert "embedded chain node on" in node.stdout.readline()
        rng = random.Random(42)

        from service.issuing.office import NotFound

        def keep_issuing() -> None:
            while not stop.is_set():
                # between a compromised key and the next, no key signs: the request is refused
                with contextlib.suppress(NotFound):
                    issued.extend(issue(20, rng)[0])
                time.sleep(0.05)

        issuer = threading.Thread(target=keep_issuing, daemon=True)
        issuer.start()
        outcomes = []
        for attempt in range(10):
            key = f"key-{attempt + 1}"
            if attempt % 2 == 0:
                argv = ["keys", "rotate", "--settle", "0"]
            else:  # the signing key compromised from now: a new key takes over
                argv = ["keys", "revoke", key, "--since", "now", "--reason", "compromise"]
            done = subprocess.run(
                [sys.executable, "-c", code, *argv],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            outcomes.append((argv[1], done.returncode, done.stdout + done.stderr))
            assert node.poll() is None, "the node died"
            if done.returncode != 0:  # the whole story of the first failure, not a repr
                pytest.fail(f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        stop.set()
        issuer.join(timeout=60)
        assert [(verb, code) for verb, code, _ in outcomes] == [
            (("rotate", "revoke")[i % 2], 0) for i in range(10)
        ], outcomes
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with office() as o:
                if o.queue_depth() == 0:
                    break
            time.sleep(0.3)
        with office() as o:
            assert o.queue_depth() == 0 and len(issued) > 100
    finally:
        stop.set()
        node.terminate()
        out, _ = node.communicate(timeout=60)
    assert "nonce" not in out.lower(), out[-3000:]
    assert "Expected" not in out
