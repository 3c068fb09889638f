"""``suixin-verify batch``: a JSON Lines file of bundles on every core (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Registries
from tests.verifier.office import Office
from tests.verifier.test_cli import city, source  # noqa: F401 (the fixture)
from tests.verifier.test_foreign import signed
from verifier.batch import verify_lines
from verifier.bundle import make_bundle
from verifier.cli import main
from verifier.keys import Ed25519KeyPair
from verifier.registry import CredentialStatus

pytestmark = pytest.mark.chain_rpc


def lines_file(tmp: Path, gz: Office) -> tuple[Path, dict[int, str]]:
    """40 anchored permits, one revoked, one not anchored, a line that is not JSON and a
    blank line; returns the file and the verdict expected on each line."""
    bundles = gz.anchor(*(gz.permit() for _ in range(40)))
    gz.set_status(bundles[7]["credential"], CredentialStatus.REVOKED)
    rows: list[Any] = [
        *bundles[:20],
        "",
        "{not json",
        *bundles[20:],
        make_bundle(gz.permit(), None),
    ]
    expected: dict[int, str] = {}
    text = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str):
            text.append(row)
            if row:
                expected[number] = "unreadable"
            continue
        text.append(json.dumps(row, ensure_ascii=False))
        expected[number] = "VALID"
    expected[8] = "INVALID"  # bundles[7]
    expected[len(rows)] = "PENDING"
    path = tmp / "bundles.jsonl"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path, expected


def test_every_line_verified_in_order_on_two_processes(
    city: tuple[Registries, Office, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    registries, gz, tmp = city
    path, expected = lines_file(tmp, gz)
    out = tmp / "reports.jsonl"
    code = main(["batch", str(path), *source(registries), "--workers", "2", "-o", str(out)])
    assert code == 1  # one INVALID
    said = capsys.readouterr()
    assert "41 bundles: 39 VALID, 1 INVALID, 1 PENDING, 1 unreadable lines" in said.out
    assert "as of block" in said.err
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    found = {r["line"]: r.get("verdict", "unreadable") for r in reports}
    assert found == expected
    assert [r["line"] for r in reports] == sorted(expected)  # file order
    revoked = next(r for r in reports if r["line"] == 8)
    status = next(c for c in revoked["checks"] if c["name"] == "status")
    assert status["code"] == "credential_revoked"
    unreadable = next(r for r in reports if r["line"] == 22)
    assert unreadable["error"]["code"] == "line_unreadable"


def test_one_process_from_a_snapshot_agrees_and_the_summary_is_json(
    city: tuple[Registries, Office, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    registries, gz, tmp = city
    path, expected = lines_file(tmp, gz)
    snapshot = tmp / "trust.json"
    assert main(["snapshot", *source(registries), "-o", str(snapshot)]) == 0
    capsys.readouterr()
    assert main(["batch", str(path), "--snapshot", str(snapshot), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdicts"] == {"VALID": 39, "INVALID": 1, "PENDING": 1, "NOT_ACCREDITED": 0}
    assert summary["unreadable"] == 1 and summary["bundles"] == 41
    one = {r.line: r.verdict or "unreadable" for r in verify_lines(path, snapshot, workers=1)}
    assert one == expected


def test_a_foreign_credential_is_counted_apart_and_never_valid(
    city: tuple[Registries, Office, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    registries, gz, tmp = city
    (permit,) = gz.anchor(gz.permit())
    foreign = signed(Ed25519KeyPair.generate())  # a did:key issuer nobody accredited
    path = tmp / "mixed.jsonl"
    path.write_text(json.dumps(permit) + "\n" + json.dumps(foreign) + "\n", encoding="utf-8")
    assert main(["batch", str(path), *source(registries), "--workers", "1"]) == 6
    assert "2 bundles: 1 VALID, 0 INVALID, 0 PENDING, 1 NOT_ACCREDITED" in capsys.readouterr().out


def test_usage_errors_exit_2(
    city: tuple[Registries, Office, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    registries, _, tmp = city
    assert main(["batch", str(tmp / "none.jsonl"), *source(registries)]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert main(["batch", str(empty), *source(registries), "--workers", "0"]) == 2
    assert main(["batch", str(empty), "--snapshot", str(tmp / "nope.json")]) == 2
