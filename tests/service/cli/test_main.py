"""The ``suixin`` CLI through ``main([...])``: keys, API keys, bulk issuance, the demo.

Every test runs in its own data directory on the embedded chain and SQLite, configured through
``SUIXIN_*`` variables as an operator would.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.cli import main
from service.config import Settings
from service.issuing.office import IssueRequest, Office
from service.runtime import open_office
from service.storage.models import Credential
from service.trust.deployment import ROOT_KEY_FILE, governance_root
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.contracts import load_artifact
from verifier.keys import encode_multikey_ed25519, multibase_encode

PERMITS = "did:web:lsj.gz.gov.cn"
LICENCES = "did:web:amr.gz.gov.cn"
USCCS = {PERMITS: "11440100007502156G", LICENCES: "11440100007502233T"}
PERMIT_FIELDS = (
    "name",
    "sex",
    "ethnicity",
    "birthDate",
    "citizenId",
    "hukouAddress",
    "residenceAddress",
    "residenceRegion",
)


@contextmanager
def office() -> Iterator[Office]:
    """The office the CLI works on (same settings), for checking what it stored."""
    opened = open_office(Settings())
    try:
        yield opened
    finally:
        opened.db.dispose()
        opened.chain.close()


def init(
    did: str, *types: str, name: str = "广州市来穗人员服务管理局", algorithm: str | None = None
) -> int:
    argv = ["keys", "init", "--did", did, "--name-zh", name, "--name-en", "Guangzhou bureau"]
    argv += ["--region", "440100", "--uscc", USCCS[did]]
    for t in types:
        argv += ["--type", t]
    if algorithm is not None:
        argv += ["--algorithm", algorithm]
    return main(argv)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------------- keys


class TestKeys:
    def test_init_in_development_accredits_and_registers(
        self, data_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        out = capsys.readouterr().out
        assert "ready to issue" in out

        [listed] = run_json(capsys, "keys", "list")
        assert listed["did"] == PERMITS
        assert listed["keyId"] == "key-1"
        assert listed["active"] is True
        assert listed["types"] == ["ResidencePermit"]
        assert listed["account"] in out
        with office() as o:
            authority = o.authority_by_did(PERMITS)
            signer = o.signer(authority.id)
            assert listed["publicKeyMultibase"] == encode_multikey_ed25519(signer.public_key)
            on_chain = o.chain.call(
                o.deployment.trust_registry,
                load_artifact("TrustRegistry").abi,
                "keyOf",
                [PERMITS, "key-1"],
            )
            assert bytes(on_chain[0]) == signer.public_key
            private = signer.pair.private_bytes()
            account_key = bytes(o.account(authority.id).key)

        # The table view too, and never a private key in any form.
        capsys.readouterr()
        assert main(["keys", "list"]) == 0
        table = capsys.readouterr().out
        assert listed["publicKeyMultibase"] in table and listed["account"] in table
        for shown in (out, table, json.dumps(listed)):
            assert private.hex() not in shown
            assert multibase_encode(private) not in shown
            assert account_key.hex() not in shown

    def test_init_twice_changes_nothing(
        self, data_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        assert init(PERMITS, "ResidencePermit") == 0
        assert "already enrolled" in capsys.readouterr().out
        assert len(run_json(capsys, "keys", "list")) == 1
        # Different details for an enrolled DID are refused, not silently ignored.
        assert init(PERMITS, "BusinessLicense") == 1
        assert "already enrolled" in capsys.readouterr().err

    def test_without_the_root_the_account_waits_for_accreditation(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["chain", "deploy"]) == 0
        # The province keeps its root offline: the office has no root key file.
        offline = tmp_path / "province-root.key"
        shutil.move(data_dir / ROOT_KEY_FILE, offline)
        capsys.readouterr()

        assert init(PERMITS, "ResidencePermit") == 0
        out = capsys.readouterr().out
        assert "Awaiting accreditation" in out
        [listed] = run_json(capsys, "keys", "list")
        assert listed["active"] is False
        assert listed["account"] in out
        with office() as o, pytest.raises(Exception, match="no active issuer key"):
            o.signer(o.authority_by_did(PERMITS).id)

        # Not accredited yet: running init again still waits.
        assert init(PERMITS, "ResidencePermit") == 0
        assert "Awaiting accreditation" in capsys.readouterr().out

        # The province accredits the printed account with its root.
        shutil.move(offline, data_dir / ROOT_KEY_FILE)
        root = governance_root(data_dir, create=False)
        assert root is not None
        with office() as o:
            o.chain.transact(
                o.deployment.trust_registry,
                load_artifact("TrustRegistry").abi,
                "accredit",
                [
                    PERMITS,
                    "广州市来穗人员服务管理局",
                    "GZ",
                    440100,
                    ["ResidencePermit"],
                    listed["account"],
                    USCCS[PERMITS],
                ],
                root,
            )
        (data_dir / ROOT_KEY_FILE).unlink()

        assert init(PERMITS, "ResidencePermit") == 0
        assert "ready to issue" in capsys.readouterr().out
        [listed] = run_json(capsys, "keys", "list")
        assert listed["active"] is True
        with office() as o:
            subject = residence_permit_subject(random.Random(1))
            bundle, _ = o.issue(
                o.authority_by_did(PERMITS).id, IssueRequest("ResidencePermit", subject)
            )
            assert bundle["credential"]["proof"]["verificationMethod"] == f"{PERMITS}#key-1"


# ---------------------------------------------------------------------- API keys


class TestApiKeys:
    def test_create_list_revoke(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        capsys.readouterr()
        argv = ["apikeys", "create", "--did", PERMITS, "--scope", "issue:ResidencePermit"]
        assert main([*argv, "--scope", "revoke", "--label", "窗口 counter 3"]) == 0
        created = capsys.readouterr()
        whole = created.out.strip().splitlines()[-1]
        assert whole.startswith("sx_")
        assert "shown only this once" in created.err
        secret = whole.split("_", 2)[2]

        [listed] = run_json(capsys, "apikeys", "list")
        assert whole.split("_")[1] == listed["id"]
        assert listed["authority"] == PERMITS
        assert listed["scopes"] == ["issue:ResidencePermit", "revoke"]
        assert listed["label"] == "窗口 counter 3"
        assert listed["revoked"] is None
        assert main(["apikeys", "list"]) == 0
        table = capsys.readouterr().out
        assert listed["id"] in table
        for shown in (table, json.dumps(listed)):
            assert secret not in shown

        with office() as o:
            context = o.authenticate(whole)
            assert context is not None and context.scopes == {"issue:ResidencePermit", "revoke"}

        assert main(["apikeys", "revoke", listed["id"]]) == 0
        [listed] = run_json(capsys, "apikeys", "list")
        assert listed["revoked"] is not None
        with office() as o:
            assert o.authenticate(whole) is None

    def test_unknown_scope_authority_or_key_is_refused(
        self, data_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        with pytest.raises(SystemExit) as exited:
            main(["apikeys", "create", "--did", PERMITS, "--scope", "everything"])
        assert exited.value.code == 2
        assert main(["apikeys", "create", "--did", "did:web:nobody", "--scope", "admin"]) == 1
        assert main(["apikeys", "revoke", "0123456789abcdef"]) == 1
        err = capsys.readouterr().err
        assert "no authority did:web:nobody" in err and "no API key 0123456789abcdef" in err
        assert run_json(capsys, "apikeys", "list") == []


# ---------------------------------------------------------------------- bulk issuance


def stored(did: str) -> list[dict[str, Any]]:
    with office() as o, o.db.session() as s:
        authority = o.authority_by_did(did)
        rows = s.scalars(select(Credential).where(Credential.authority_id == authority.id))
        return [o.document(r) for r in rows]


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestBulkIssue:
    def test_csv_with_invalid_rows(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        rng = random.Random(7)
        subjects = [residence_permit_subject(rng) for _ in range(8)]
        subjects[2]["citizenId"] = subjects[2]["citizenId"][:-1] + (
            "0" if subjects[2]["citizenId"][-1] != "0" else "1"
        )
        subjects[5]["residenceRegion"] = "440300"  # 深圳: outside Guangzhou
        source = tmp_path / "permits.csv"
        with source.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(PERMIT_FIELDS)
            for i, subject in enumerate(subjects):
                writer.writerow([subject[k] for k in PERMIT_FIELDS])
                if i == 3:
                    writer.writerow(["王五", "male"])  # too few cells
                    writer.writerow([])  # blank lines are skipped, but counted
        report, out = tmp_path / "errors.jsonl", tmp_path / "issued.jsonl"
        capsys.readouterr()
        argv = ["issue", "--did", PERMITS, "--type", "ResidencePermit", "--from", str(source)]
        code = main([*argv, "--report", str(report), "--out", str(out), "--chunk", "3"])

        assert code == 1
        summary = capsys.readouterr().out
        assert "issued 6, 拒绝 rejected 3" in summary and str(report) in summary
        # Header line 1; subjects on lines 2-5, the short row on 6, a blank line 7, then 8-11.
        assert report_lines(report) == [
            {
                "line": 4,
                "errors": [
                    {
                        "path": "citizenId",
                        "code": "citizen_id_checksum",
                        "zh": "公民身份号码校验码不正确，请逐位核对号码是否录入有误",
                        "en": "The check digit of the citizen ID number is wrong; please check "
                        "the number for typos",
                    }
                ],
            },
            {
                "line": 6,
                "errors": [
                    {
                        "path": "",
                        "code": "csv_columns",
                        "zh": "此行有 2 列，表头有 8 列",
                        "en": "this row has 2 cells, the header 8",
                    }
                ],
            },
            {"line": 9, "errors": [report_lines(report)[2]["errors"][0]]},
        ]
        assert report_lines(report)[2]["errors"][0]["path"] == "residenceRegion"
        assert report_lines(report)[2]["errors"][0]["code"] == "region_outside_authority"

        documents = stored(PERMITS)
        ids = sorted(d["credentialSubject"]["citizenId"] for d in documents)
        valid = [s for i, s in enumerate(subjects) if i not in (2, 5)]
        assert ids == sorted(s["citizenId"] for s in valid)
        issued = report_lines(out)
        assert [r["line"] for r in issued] == [2, 3, 5, 8, 10, 11]
        assert {r["id"] for r in issued} == {d["id"] for d in documents}

    def test_the_same_file_twice_issues_nothing_new_and_says_why(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        rng = random.Random(9)
        subjects = [residence_permit_subject(rng) for _ in range(5)]
        source = tmp_path / "permits.csv"
        with source.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(PERMIT_FIELDS)
            for subject in [*subjects, subjects[1]]:  # the same person twice in the file
                writer.writerow([subject[k] for k in PERMIT_FIELDS])
        argv = ["issue", "--did", PERMITS, "--type", "ResidencePermit", "--from", str(source)]
        report = tmp_path / "errors.jsonl"
        assert main([*argv, "--report", str(report), "--chunk", "2"]) == 1
        assert [(r["line"], r["errors"][0]["code"]) for r in report_lines(report)] == [
            (7, "credential_in_force")  # the second time in the file
        ]
        first = {d["id"] for d in stored(PERMITS)}
        assert len(first) == 5
        capsys.readouterr()
        # the same file again: its stored lines are recognised as this file's, not refused
        assert main([*argv, "--report", str(report), "--out", str(tmp_path / "out.jsonl")]) == 1
        said = capsys.readouterr().out
        assert "issued 0, 拒绝 rejected 1" in said and "5 lines were issued by an earlier" in said
        assert [(r["line"], r["errors"][0]["code"]) for r in report_lines(report)] == [
            (7, "credential_in_force")
        ]
        assert {d["id"] for d in stored(PERMITS)} == first  # nothing new
        earlier = report_lines(tmp_path / "out.jsonl")
        assert [r["line"] for r in earlier] == [2, 3, 4, 5, 6]
        assert {r["id"] for r in earlier} == first

        # the same people in another file: each refused, in force already
        other = tmp_path / "again.csv"
        other.write_bytes(source.read_bytes().replace(b"\r\n", b"\n"))
        argv[-1] = str(other)
        capsys.readouterr()
        assert main([*argv, "--report", str(report)]) == 1
        assert "issued 0, 拒绝 rejected 6" in capsys.readouterr().out
        rows = report_lines(report)
        assert {r["errors"][0]["code"] for r in rows} == {"credential_in_force"}
        assert {r["errors"][0]["path"] for r in rows} == {"citizenId"}
        assert {d["id"] for d in stored(PERMITS)} == first

    def test_a_run_stopped_by_an_error_leaves_an_exact_out_file(
        self,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from sqlalchemy.exc import OperationalError

        from service.issuing.office import Office

        assert init(PERMITS, "ResidencePermit") == 0
        rng = random.Random(10)
        source = tmp_path / "permits.jsonl"
        subjects = [residence_permit_subject(rng) for _ in range(7)]
        source.write_text(
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in subjects), encoding="utf-8"
        )
        real = Office.store_chunk
        calls = {"n": 0}

        def dies_on_the_third_chunk(self: Office, *args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OperationalError("INSERT", {}, Exception("the database went away"))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Office, "store_chunk", dies_on_the_third_chunk)
        out = tmp_path / "issued.jsonl"
        argv = ["issue", "--did", PERMITS, "--type", "ResidencePermit", "--from", str(source)]
        with pytest.raises(OperationalError):
            main([*argv, "--out", str(out), "--chunk", "3"])
        written = report_lines(out)
        assert [r["line"] for r in written] == [1, 2, 3, 4, 5, 6]  # the two chunks stored
        assert {r["id"] for r in written} == {d["id"] for d in stored(PERMITS)}

        # the database is back: the same command goes on with line 7, and issues it once
        monkeypatch.setattr(Office, "store_chunk", real)
        capsys.readouterr()
        assert main([*argv, "--out", str(out), "--chunk", "3"]) == 0
        said = capsys.readouterr().out
        assert "issued 1, 拒绝 rejected 0" in said and "6 lines were issued by an earlier" in said
        assert [r["line"] for r in report_lines(out)] == [1, 2, 3, 4, 5, 6, 7]
        documents = stored(PERMITS)
        assert sorted(d["credentialSubject"]["citizenId"] for d in documents) == sorted(
            s["citizenId"] for s in subjects
        )

    def test_a_crash_after_a_chunk_committed_still_issues_each_line_once(
        self,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The worst moment: the chunk's transaction committed, the run died before it wrote
        anything down (out file, progress). The stored rows carry their line's key, so the
        next run finds them."""
        from service.issuing.office import Office

        assert init(PERMITS, "ResidencePermit") == 0
        rng = random.Random(14)
        subjects = [residence_permit_subject(rng) for _ in range(10)]
        source = tmp_path / "permits.jsonl"
        source.write_text(
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in subjects), encoding="utf-8"
        )
        real = Office.store_chunk
        calls = {"n": 0}

        def dies_after_the_second_commit(self: Office, *args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            stored_now = real(self, *args, **kwargs)
            if calls["n"] == 2:
                raise KeyboardInterrupt  # killed between the commit and anything else
            return stored_now

        monkeypatch.setattr(Office, "store_chunk", dies_after_the_second_commit)
        out = tmp_path / "issued.jsonl"
        argv = ["issue", "--did", PERMITS, "--type", "ResidencePermit", "--from", str(source)]
        with pytest.raises(KeyboardInterrupt):
            main([*argv, "--out", str(out), "--chunk", "4"])
        assert [r["line"] for r in report_lines(out)] == [1, 2, 3, 4]  # the second chunk unsaid
        assert len(stored(PERMITS)) == 8

        monkeypatch.setattr(Office, "store_chunk", real)
        capsys.readouterr()
        assert main([*argv, "--out", str(out), "--chunk", "4"]) == 0
        said = capsys.readouterr().out
        assert "issued 2, 拒绝 rejected 0" in said and "8 lines were issued by an earlier" in said
        assert [r["line"] for r in report_lines(out)] == list(range(1, 11))
        documents = stored(PERMITS)
        assert len(documents) == 10  # each line once
        assert {r["id"] for r in report_lines(out)} == {d["id"] for d in documents}

    def test_jsonl_licences_and_a_csv_with_nested_columns(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(LICENCES, "BusinessLicense", name="广州市市场监督管理局") == 0
        rng = random.Random(11)
        good = [business_license_subject(rng) for _ in range(3)]
        bad = business_license_subject(rng, uscc="91440106MA59C2K45")  # 17 characters
        source = tmp_path / "licences.jsonl"
        lines = [json.dumps(s, ensure_ascii=False) for s in good[:2]]
        lines += ["{not json", json.dumps(bad, ensure_ascii=False), "", "[1, 2]"]
        lines += [json.dumps(good[2], ensure_ascii=False)]
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        argv = ["issue", "--did", LICENCES, "--type", "BusinessLicense", "--from", str(source)]
        assert main(argv) == 1
        report = tmp_path / "licences.jsonl.errors.jsonl"  # the default report path
        rows = report_lines(report)
        assert [(r["line"], r["errors"][0]["code"]) for r in rows] == [
            (3, "json_invalid"),
            (4, "uscc_length"),
            (6, "json_not_object"),
        ]
        assert rows[1]["errors"][0]["path"] == "uscc"
        assert len(stored(LICENCES)) == 3

        # CSV: operatingTerm.from / operatingTerm.until, empty until = 长期 (null).
        term = business_license_subject(random.Random(12))
        fields = [k for k in term if k != "operatingTerm"]
        source = tmp_path / "licences.csv"
        with source.open("w", encoding="utf-8-sig", newline="") as f:  # Excel writes a BOM
            writer = csv.writer(f)
            writer.writerow([*fields, "operatingTerm.from", "operatingTerm.until"])
            writer.writerow([*(term[k] for k in fields), "2020-05-01", ""])
            other = business_license_subject(random.Random(13))
            writer.writerow([*(other[k] for k in fields), "2020-05-01", "2040-04-30"])
        argv[-1] = str(source)
        capsys.readouterr()
        assert main(argv) == 0
        assert "issued 2, 拒绝 rejected 0" in capsys.readouterr().out
        assert not (tmp_path / "licences.csv.errors.jsonl").exists()
        terms = {
            d["credentialSubject"]["uscc"]: d["credentialSubject"]["operatingTerm"]
            for d in stored(LICENCES)
        }
        assert terms[term["uscc"]] == {"from": "2020-05-01", "until": None}
        assert terms[other["uscc"]] == {"from": "2020-05-01", "until": "2040-04-30"}

    def test_usage_and_file_errors_exit_2_and_issue_nothing(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert init(PERMITS, "ResidencePermit") == 0
        source = tmp_path / "one.jsonl"
        source.write_text(json.dumps(residence_permit_subject()) + "\n", encoding="utf-8")
        # the report of an earlier run of this file: a refused run must not delete it
        earlier = tmp_path / "one.jsonl.errors.jsonl"
        earlier.write_text('{"line": 2, "errors": []}\n', encoding="utf-8")
        base = ["issue", "--did", PERMITS, "--type", "ResidencePermit", "--from"]
        assert main([*base, str(tmp_path / "missing.csv")]) == 2
        (tmp_path / "subjects.txt").write_text("x", encoding="utf-8")
        assert main([*base, str(tmp_path / "subjects.txt")]) == 2
        (tmp_path / "empty.csv").write_text("", encoding="utf-8")
        assert main([*base, str(tmp_path / "empty.csv")]) == 2
        assert main([*base, str(source), "--chunk", "0"]) == 2
        wrong_did = ["issue", "--did", "did:web:nobody", "--type", "ResidencePermit"]
        assert main([*wrong_did, "--from", str(source)]) == 2
        wrong_type = ["issue", "--did", PERMITS, "--type", "BusinessLicense"]
        assert main([*wrong_type, "--from", str(source)]) == 2
        err = capsys.readouterr().err
        assert "missing.csv" in err and "unknown input format" in err and "header" in err
        assert "no authority did:web:nobody" in err and "not accredited" in err
        assert stored(PERMITS) == []
        assert earlier.read_text(encoding="utf-8") == '{"line": 2, "errors": []}\n'


# ---------------------------------------------------------------------- demo


def test_demo_tells_the_story_and_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the reasons on one line each
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "every outcome as expected (8/8)" in out
    assert "revoked" in out and "signature is invalid" in out
    # a lost card is revoked for the reason "lost" of the one reason table (verifier.status),
    # not shown as "damaged"
    assert "原因：遗失补领（原因代码 1）" in out and "reason code 1" in out
    assert "damaged" not in out and "损坏" not in out
