"""``suixin registry …`` as the province root runs it, on a real embedded chain kept on disk.

The office enrols in two steps (``keys init``), the root accredits it with its offline key
(``--root-key``), the office issues and anchors, and the root suspends, reinstates and removes
the authority while a verifier reads the chain: each verdict is the documented policy's.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.anchoring.worker import AnchorWorker
from service.cli import main
from service.config import Settings
from service.issuing.office import IssueRequest, Office
from service.runtime import open_office
from service.trust.deployment import ROOT_KEY_FILE
from tests.verifier.factories import residence_permit_subject
from verifier.policy import Policy
from verifier.verify import Verifier

DID = "did:web:lsj.gz.gov.cn"
USCC = "11440100007502156G"
NAME_ZH, NAME_EN = "广州市来穗人员服务管理局", "Guangzhou Migrant Services"


@pytest.fixture
def root_key(data_dir: Path, tmp_path: Path) -> Path:
    """The registries deployed; the province keeps its root key offline, not in the data dir."""
    assert main(["chain", "deploy"]) == 0
    offline = tmp_path / "province-root.key"
    shutil.move(data_dir / ROOT_KEY_FILE, offline)
    return offline


@contextmanager
def office() -> Iterator[Office]:
    opened = open_office(Settings())
    try:
        yield opened
    finally:
        opened.db.dispose()
        opened.chain.close()


def registry(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["registry", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verdicts(credential_ids: list[str]) -> list[tuple[str, str, str]]:
    """(default-policy verdict, strict-policy verdict, issuer check code) per credential."""
    out = []
    with office() as o:
        for credential_id in credential_ids:
            bundle = o.bundle(credential_id)
            row = []
            for strict in (False, True):
                policy = Policy(
                    sync_interval=timedelta(0), accept_suspended_authority_history=not strict
                )
                verifier = Verifier.from_chain(o.chain, o.deployment.anchor_registry, policy)
                report = verifier.verify(bundle)
                row.append(report.verdict.value)
            out.append((row[0], row[1], report.check("issuer").reason.code))
    return out


def issue_and_anchor(seed: int) -> str:
    with office() as o:
        authority = o.authority_by_did(DID)
        subject = residence_permit_subject(random.Random(seed))
        bundle, _ = o.issue(authority.id, IssueRequest("ResidencePermit", subject))
        AnchorWorker(o, log=lambda _: None).drain(timeout=5)
    credential_id: str = bundle["credential"]["id"]
    return credential_id


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, _ = registry(capsys, "list", "--json")
    assert code == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_accredit_issue_suspend_reinstate_remove(
    data_dir: Path, root_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init = ["keys", "init", "--did", DID, "--name-zh", NAME_ZH, "--name-en", NAME_EN]
    init += ["--region", "440100", "--type", "ResidencePermit", "--uscc", USCC]
    capsys.readouterr()
    assert main(init) == 0
    account = re.search(r"account\s+(0x[0-9a-fA-F]{40})", capsys.readouterr().out)
    assert account is not None

    root = ["--root-key", str(root_key)]
    code, out, _ = registry(
        capsys,
        "accredit",
        "--did",
        DID,
        "--name-zh",
        NAME_ZH,
        "--name-en",
        NAME_EN,
        "--region",
        "440100",
        "--type",
        "ResidencePermit",
        "--account",
        account[1],
        "--uscc",
        USCC,
        *root,
    )
    assert code == 0 and "accredited" in out and "已认证" in out and USCC in out
    assert main(init) == 0
    assert "ready to issue" in capsys.readouterr().out

    before = issue_and_anchor(1)
    assert verdicts([before]) == [("VALID", "VALID", "issuer_accredited")]

    # without the root key nothing changes
    code, _, err = registry(capsys, "suspend", "--did", DID)
    assert code == 1 and "--root-key" in err and "root_key_missing" in err

    code, out, _ = registry(capsys, "suspend", "--did", DID, *root)
    assert code == 0 and "suspended" in out
    assert [a["status"] for a in listed(capsys)] == ["suspended"]
    # anchored before the suspension: VALID by default, INVALID under the strict policy
    assert verdicts([before]) == [("VALID", "INVALID", "authority_suspended")]

    code, out, _ = registry(capsys, "reinstate", "--did", DID, *root)
    assert code == 0 and "reinstated" in out
    after = issue_and_anchor(2)
    assert verdicts([before, after]) == [("VALID", "VALID", "issuer_accredited")] * 2

    code, _, err = registry(capsys, "remove", "--did", DID, *root)
    assert code == 1 and "--yes" in err  # removal is final: it must be confirmed
    code, out, _ = registry(capsys, "remove", "--did", DID, "--yes", *root)
    assert code == 0 and "removed" in out
    assert verdicts([before, after]) == [("INVALID", "INVALID", "authority_removed")] * 2

    [authority] = listed(capsys)
    assert (authority["did"], authority["status"], authority["region"]) == (DID, "removed", 440100)
    assert (authority["types"], authority["account"]) == (["ResidencePermit"], account[1])
    code, out, _ = registry(capsys, "keys", "--json")
    [key] = json.loads(out)
    assert (key["did"], key["keyId"], key["revokedAt"]) == (DID, "key-1", None)
    assert key["publicKeyMultibase"].startswith("z6Mk") and key["validFrom"].endswith("Z")
    # the tables show the same, in both languages
    code, table, _ = registry(capsys, "list")
    assert code == 0 and NAME_ZH in table and "removed" in table and "已撤销" in table
    code, table, _ = registry(capsys, "keys", "--did", DID)
    assert code == 0 and key["publicKeyMultibase"] in table


def test_errors_are_clear_and_change_nothing(
    data_dir: Path, root_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ["--root-key", str(root_key)]
    accredit = ["accredit", "--did", "did:web:ga.sz.gov.cn", "--name-zh", "深圳市公安局"]
    accredit += ["--name-en", "Shenzhen PSB", "--account", "0x" + "ab" * 20, *root]

    code, _, err = registry(capsys, "suspend", "--did", "did:web:nobody.gov.cn", *root)
    assert code == 1
    assert "链上没有以 did:web:nobody.gov.cn 认证的签发机关" in err
    assert "No authority with the DID did:web:nobody.gov.cn" in err
    assert "authority_unknown" in err

    code, _, err = registry(capsys, *accredit, "--region", "999999", "--type", "ResidencePermit")
    assert code == 1 and "999999" in err and "GB/T 2260" in err and "region_invalid" in err

    code, _, err = registry(capsys, *accredit, "--region", "440300", "--type", "Passport")
    assert code == 1 and "Passport" in err and "未知的凭证类型" in err
    assert "credential_type_invalid" in err

    bad_key = root_key.with_name("garbage.key")
    bad_key.write_text("not-a-key\n", encoding="utf-8")
    argv = [*accredit[:-2], "--root-key", str(bad_key), "--region", "440300"]
    code, _, err = registry(capsys, *argv, "--type", "ResidencePermit")
    assert code == 1 and "root_key_invalid" in err and "not-a-key" not in err

    assert listed(capsys) == []  # nothing was accredited
