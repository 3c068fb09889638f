"""``suixin-verify`` as a partner city runs it: files in, a table or JSON out, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.anchoring.devnode import AnvilNode, free_port
from service.trust.deployment import deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.office import GZ_PERMITS, Office
from verifier.bundle import make_bundle
from verifier.chain import RpcChain
from verifier.cli import main
from verifier.registry import CredentialStatus

pytestmark = pytest.mark.chain_rpc


@pytest.fixture
def city(anvil_node: AnvilNode, tmp_path: Path) -> tuple[Registries, Office, Path]:
    chain = RpcChain(anvil_node.url)
    root = funded(chain)
    registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    return registries, Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",)), tmp_path


def write(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return path


def source(registries: Registries) -> list[str]:
    assert isinstance(registries.chain, RpcChain)
    return ["--rpc", registries.chain.url, "--registry", registries.anchor]


def test_a_valid_bundle_prints_every_check_and_exits_0(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    code = main([str(write(tmp / "permit.json", bundle)), *source(registries)])
    out = capsys.readouterr().out
    assert code == 0
    for check in ("format", "signature", "issuer", "key_validity", "anchor", "status"):
        assert check in out
    assert "✓" in out and "VALID" in out and "广州市来穗人员服务管理局" in out


def test_json_report_and_english(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    gz.set_status(bundle["credential"], CredentialStatus.REVOKED)
    path = write(tmp / "revoked.json", bundle)
    assert main([str(path), *source(registries), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "INVALID"
    status = next(c for c in report["checks"] if c["name"] == "status")
    assert status["code"] == "credential_revoked" and status["outcome"] == "fail"
    assert main([str(path), *source(registries), "--lang", "en"]) == 1
    assert "was revoked" in capsys.readouterr().out


def test_several_files_give_a_summary_and_the_worst_exit_code(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (valid,) = gz.anchor(gz.permit())
    pending = make_bundle(gz.permit(), None)
    files = [str(write(tmp / "a.json", valid)), str(write(tmp / "b.json", pending))]
    assert main([*files, *source(registries)]) == 3
    assert "2 bundles: 1 VALID, 0 INVALID, 1 PENDING" in capsys.readouterr().out


def test_snapshot_then_offline(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    snap = tmp / "trust.json"
    assert main(["snapshot", *source(registries), "-o", str(snap)]) == 0
    assert "written to" in capsys.readouterr().out
    assert main([str(write(tmp / "p.json", bundle)), "--snapshot", str(snap)]) == 0
    assert "snapshot: chain" in capsys.readouterr().out


def test_usage_and_io_errors_exit_2(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    assert main([str(tmp / "missing.json"), *source(registries)]) == 2
    assert "cannot read bundle" in capsys.readouterr().err
    (bundle,) = gz.anchor(gz.permit())
    path = str(write(tmp / "p.json", bundle))
    assert main([path]) == 2
    assert "trust source" in capsys.readouterr().err
    assert main([path, "--snapshot", str(tmp / "nope.json")]) == 2
    assert main([]) == 2


def test_an_unreachable_node_exits_4(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    dead = ["--rpc", f"http://127.0.0.1:{free_port()}", "--registry", registries.anchor]
    assert main([str(write(tmp / "p.json", bundle)), *dead]) == 4
    assert "cannot be reached" in capsys.readouterr().err


def test_a_bad_file_is_reported_and_the_other_files_verified(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    valid = write(tmp / "valid.json", bundle)
    latin1 = tmp / "latin1.json"
    latin1.write_bytes(b'{"credential": "\xe9"}')  # not UTF-8
    digits = tmp / "digits.json"
    digits.write_text('{"n": ' + "9" * 5000 + "}", encoding="utf-8")  # beyond any int parse
    files = [str(latin1), str(valid), str(digits)]
    assert main([*files, *source(registries)]) == 2  # unreadable files, nothing INVALID
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"cannot read bundle {latin1}: not UTF-8 text" in captured.err
    assert f"cannot read bundle {digits}: not JSON" in captured.err
    assert f"cannot read bundle {digits}: not JSON (a number has 5000 digits" in captured.err
    assert "valid.json — ResidencePermit" in captured.out  # still verified
    assert "3 bundles: 1 VALID, 0 INVALID, 0 PENDING, 2 unreadable" in captured.out

    # --json: one JSON document, whatever the number of files; the summary goes to stderr
    assert main([*files, *source(registries), "--json"]) == 2
    captured = capsys.readouterr()
    entries = json.loads(captured.out)
    assert [e["file"] for e in entries] == [str(valid), str(latin1), str(digits)]
    assert entries[0]["verdict"] == "VALID"
    assert {e["error"]["code"] for e in entries[1:]} == {"file_unreadable"}
    assert "2 unreadable" in captured.err


def test_hostile_bundles_are_invalid_with_a_reason_not_a_traceback(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    registries, gz, tmp = city
    (bundle,) = gz.anchor(gz.permit())
    surrogate = json.loads(json.dumps(bundle))
    surrogate["credential"]["credentialSubject"]["name"] = "张\ud800三"
    far = json.loads(json.dumps(bundle))
    far["credential"]["validUntil"] = "9999-12-31T23:59:59-12:00"
    huge = json.loads(json.dumps(bundle))
    huge["anchor"]["leafIndex"] = 2**256
    files = []
    for name, body in (("surrogate", surrogate), ("far", far), ("huge", huge)):
        path = tmp / f"{name}.json"  # json.dumps escapes the lone surrogate as \ud800
        path.write_text(json.dumps(body), encoding="utf-8")
        files.append(str(path))
    assert main([*files, *source(registries), "--json"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    reports = json.loads(captured.out)
    assert [r["verdict"] for r in reports] == ["INVALID"] * 3
    codes = [next(c["code"] for c in r["checks"] if c["name"] == "format") for r in reports]
    assert codes == [
        "text_forbidden_character",
        "field_datetime_out_of_range",
        "number_out_of_range",
    ]


def test_an_office_that_cannot_be_asked_is_a_clear_exit_2(
    city: tuple[Registries, Office, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, gz, tmp = city
    path = str(write(tmp / "p.json", make_bundle(gz.permit(), None)))
    dead = f"http://127.0.0.1:{free_port()}"
    assert main([path, "--office", dead]) == 2
    assert f"cannot read the deployment record from {dead}/v1/deployment" in (
        capsys.readouterr().err
    )
    assert main([path, "--office", "ftp://example.org"]) == 2
    assert main([path, "--office", dead, "--snapshot", str(tmp / "s.json")]) == 2
    assert "takes the place of" in capsys.readouterr().err
