"""``suixin audit verify|show|anchor`` through ``main([...])``, and the anchorer killed (-9) in
each phase and run again: the head is anchored exactly once.

Every test runs in its own data directory on the embedded chain (journaled there) and SQLite.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.audit.anchor import PAUSE_ENV
from service.cli import main
from service.cli.audit import EXIT_CHAIN_UNAVAILABLE, EXIT_TAMPERED
from service.config import Settings
from service.issuing.office import IssueRequest, Office
from service.runtime import open_office
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EventDecoder
from verifier.contracts import load_artifact

PERMITS = "did:web:lsj.gz.gov.cn"
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def office() -> Iterator[Office]:
    opened = open_office(Settings())
    try:
        yield opened
    finally:
        opened.db.dispose()
        opened.chain.close()


def enrol_and_issue(n: int) -> list[str]:
    """Enrol the permits bureau (development: accredited at once) and issue ``n`` permits."""
    argv = ["keys", "init", "--did", PERMITS, "--name-zh", "广州市来穗人员服务管理局"]
    argv += ["--uscc", "11440100007502156G"]
    assert main([*argv, "--name-en", "GZ", "--region", "440100", "--type", "ResidencePermit"]) == 0
    rng = random.Random(5)
    with office() as o:
        authority = o.authority_by_did(PERMITS).id
        return [
            o.issue(authority, IssueRequest("ResidencePermit", residence_permit_subject(rng)))[0][
                "credential"
            ]["id"]
            for _ in range(n)
        ]


def tamper(data_dir: Path, statement: str) -> None:
    with sqlite3.connect(data_dir / "suixin.sqlite") as connection:
        connection.execute(statement)


def audit_roots_on_chain() -> list[tuple[bytes, str]]:
    """(root, transaction) of every RootAnchored event whose root is an audit anchor."""
    decoder = EventDecoder(load_artifact("AnchorRegistry").abi)
    with office() as o, o.db.session() as s:
        from sqlalchemy import select

        from service.storage.models import AuditAnchor

        ours = {bytes(r) for r in s.scalars(select(AuditAnchor.root))}
        logs = o.chain.get_logs([o.deployment.anchor_registry], o.deployment.block_number)
    events = [e for e in map(decoder.decode, logs) if e and e.event == "RootAnchored"]
    return [(bytes(e.args["root"]), e.tx_hash) for e in events if bytes(e.args["root"]) in ours]


def test_verify_an_intact_trail_then_a_tampered_one(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol_and_issue(3)  # rows: authority.create, 3 × credential.issue
    assert main(["audit", "anchor"]) == 0  # row 5: audit.anchor
    assert "anchored audit head seq 5" in capsys.readouterr().out
    created = main(["apikeys", "create", "--did", PERMITS, "--scope", "admin"])
    assert created == 0  # row 6, not anchored yet
    capsys.readouterr()

    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "audit trail intact" in out and "审计日志完好" in out
    assert "rows: 6" in out
    assert "last anchored head: seq 5" in out
    assert "rows not yet anchored: 1" in out
    assert "protected only by the hash chain" in out  # what it cannot prove, said

    tamper(data_dir, "UPDATE audit_log SET actor = 'apikey:forged' WHERE seq = 3")
    assert main(["audit", "verify"]) == EXIT_TAMPERED
    out = capsys.readouterr().out
    assert "AUDIT TRAIL TAMPERED" in out and "审计日志被篡改" in out
    assert "first bad row: 3" in out and "[row_edited]" in out
    assert "row 3 was edited" in out and "第 3 行被篡改" in out

    assert main(["audit", "verify", "--json"]) == EXIT_TAMPERED
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] is False
    assert report["firstBadRow"]["code"] == "row_edited" and report["firstBadRow"]["seq"] == 3


def test_verify_names_a_truncated_tail(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enrol_and_issue(4)
    assert main(["audit", "anchor"]) == 0  # head 6
    tamper(data_dir, "DELETE FROM audit_log WHERE seq >= 4")
    with sqlite3.connect(data_dir / "suixin.sqlite") as connection:
        (last_hash,) = connection.execute("SELECT row_hash FROM audit_log WHERE seq = 3").fetchone()
        connection.execute("UPDATE audit_head SET seq = 3, hash = ?", (last_hash,))
    capsys.readouterr()
    assert main(["audit", "verify"]) == EXIT_TAMPERED
    out = capsys.readouterr().out
    assert "first bad row: 4" in out and "[tail_truncated]" in out
    assert "row 6 is anchored on chain but the log ends at row 3" in out


def test_anchor_refuses_when_a_row_was_forged_beyond_the_head(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol_and_issue(1)
    assert main(["audit", "verify"]) == 0  # chains rows 1 and 2
    tamper(
        data_dir,
        "INSERT INTO audit_log (seq, at, actor, action, details, prev_hash, row_hash) "
        "SELECT 3, at, 'cli', 'forged', '{}', row_hash, row_hash FROM audit_log WHERE seq = 2",
    )
    capsys.readouterr()
    assert main(["audit", "anchor"]) == EXIT_TAMPERED
    err = capsys.readouterr().err
    assert "[audit_rows_beyond_head]" in err and "row 3" in err and "第 3 行" in err
    assert main(["audit", "verify"]) == EXIT_TAMPERED
    assert "first bad row: 3" in capsys.readouterr().out


def test_verify_without_a_chain(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enrol_and_issue(1)
    assert main(["audit", "anchor"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--chain", "http://127.0.0.1:9"]) == EXIT_CHAIN_UNAVAILABLE
    err = capsys.readouterr().err
    assert "chain cannot be reached" in err and "not a finding" in err and "--no-chain" in err
    assert main(["audit", "verify", "--no-chain"]) == 0
    out = capsys.readouterr().out
    assert "audit trail intact" in out and "NOT checked on chain" in out


def test_show_prints_rows_and_filters_by_credential(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = enrol_and_issue(3)
    capsys.readouterr()
    assert main(["audit", "show"]) == 0
    table = capsys.readouterr().out
    assert "authority.create" in table and table.count("credential.issue") == 3
    assert PERMITS in table

    bare = ids[1].removeprefix("urn:uuid:")
    assert main(["audit", "show", "--credential", bare, "--json"]) == 0
    [one] = json.loads(capsys.readouterr().out)
    assert (one["credentialId"], one["action"]) == (ids[1], "credential.issue")

    assert main(["audit", "show", "--limit", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["seq"] for r in rows] == [3, 4]  # the newest two, oldest first
    assert rows[1]["credentialId"] == ids[2] and rows[1]["actor"] == "system"

    assert main(["audit", "show", "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


# ---------------------------------------------------------------------- kill -9


def start_anchor(phase: str) -> subprocess.Popen[str]:
    env = {**os.environ, PAUSE_ENV: phase}
    code = "import sys; from service.cli import main; sys.exit(main(['audit', 'anchor']))"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> None:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} not seen; the process said: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("phase", ["prepared", "sent"])
def test_kill_9_while_anchoring_then_again_anchors_exactly_once(
    data_dir: Path, capsys: pytest.CaptureFixture[str], phase: str
) -> None:
    enrol_and_issue(2)
    process = start_anchor(phase)
    try:
        wait_for(process, f"PAUSED at {phase}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    on_chain = audit_roots_on_chain()
    assert len(on_chain) == (1 if phase == "sent" else 0)

    capsys.readouterr()
    assert main(["audit", "anchor"]) == 0
    assert "anchored audit head seq 4" in capsys.readouterr().out
    after = audit_roots_on_chain()
    assert len(after) == 1  # one anchor of that head, never two
    if on_chain:
        assert after == on_chain  # found on chain, not sent again
    assert main(["audit", "anchor"]) == 0
    assert "nothing to anchor" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert "last anchored head: seq 4" in capsys.readouterr().out
