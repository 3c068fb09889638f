"""``suixin demo``: the whole story on the embedded chain, told as a table of expected verdicts.

Guangzhou's two demo authorities issue two residence permits and a business licence; the batch
is anchored; a 肇庆 counter, holding nothing but the chain, verifies them; 来穗局 revokes one
permit; someone alters the licence's company name; the counter verifies again. Each step says
what a careful operator expects, what the verifier answered, and whether the two agree.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.table import Table

from service.anchoring.batches import set_statuses
from service.anchoring.worker import AnchorWorker
from service.cli._common import console
from service.config import Settings
from service.issuing.office import IssueRequest, Office
from service.runtime import DEMO_AUTHORITIES, bootstrap_demo, open_office
from verifier.identifiers import citizen_id_check_digit, uscc_check_character
from verifier.policy import Policy
from verifier.status import reason_by_name, status_code
from verifier.verify import Report, Verdict, Verifier

__all__ = ["DemoStep", "register", "run_demo"]

# the one reason table (verifier.status): the card was reported lost and replaced (补领)
STATUS_REVOKED = status_code("revoked")
REASON_LOST = reason_by_name("lost").code


@dataclass(frozen=True)
class DemoStep:
    """One line of the story: what was done, to which credential, expected and actual verdict."""

    step_zh: str
    step_en: str
    credential: str
    expected: Verdict
    report: Report
    caught_by: str | None = None  # the check expected to fail, for an INVALID step

    @property
    def actual(self) -> Verdict:
        """The verifier's verdict."""
        return self.report.verdict

    @property
    def ok(self) -> bool:
        """Whether the verdict is the expected one (and the expected check caught it)."""
        if self.actual is not self.expected:
            return False
        return self.caught_by is None or self.caught_by in {c.name for c in self.report.failed}

    @property
    def reason(self) -> tuple[str, str]:
        """The first failed check's reason (中文, English), or empty strings."""
        failed = self.report.failed
        return (failed[0].reason.zh, failed[0].reason.en) if failed else ("", "")


def _citizen_id(region: str, birth: str, sequence: int) -> str:
    body = f"{region}{birth.replace('-', '')}{sequence:03d}"
    return body + citizen_id_check_digit(body)


def _uscc(region: str, organization: str) -> str:
    body = f"91{region}{organization}"
    return body + uscc_check_character(body)


def permit_subjects() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two residence-permit applicants (a man from 长沙, a woman from 赣州)."""
    return (
        {
            "name": "张伟",
            "sex": "male",
            "ethnicity": "汉",
            "birthDate": "1990-03-07",
            "citizenId": _citizen_id("430104", "1990-03-07", 123),
            "hukouAddress": "湖南省长沙市岳麓区麓山南路1号",
            "residenceAddress": "广州市天河区天河路100号",
            "residenceRegion": "440106",
        },
        {
            "name": "刘芳",
            "sex": "female",
            "ethnicity": "畲",
            "birthDate": "1995-11-20",
            "citizenId": _citizen_id("360702", "1995-11-20", 246),
            "hukouAddress": "江西省赣州市章贡区红旗大道8号",
            "residenceAddress": "广州市海珠区新港中路397号",
            "residenceRegion": "440105",
        },
    )


def licence_subject() -> dict[str, Any]:
    """A Tianhe software company's business licence."""
    return {
        "uscc": _uscc("440106", "MA59C2K45"),
        "name": "广州穗信科技有限公司",
        "entityType": "有限责任公司（自然人投资或控股）",
        "legalRepresentative": "陈晓明",
        "businessScope": "软件开发；信息技术咨询服务",
        "registeredCapital": "100万元人民币",
        "establishmentDate": "2020-05-01",
        "operatingTerm": {"from": "2020-05-01", "until": None},
        "domicile": "广州市天河区天河路200号",
        "registrationAuthority": "广州市天河区市场监督管理局",
    }


def run_demo(
    data_dir: Path | None = None, *, on_step: Callable[[DemoStep], None] | None = None
) -> list[DemoStep]:
    """Run the story in ``data_dir`` (default: a temporary directory, removed afterwards)."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="suixin-demo-") as tmp:
            return run_demo(Path(tmp), on_step=on_step)
    overrides: dict[str, Any] = {
        "mode": "development",
        "data_dir": data_dir,
        "chain": "embedded",
        "database_url": "",
    }
    settings = Settings(**overrides)
    office = open_office(settings, allow_deploy=True)
    try:
        return _story(office, data_dir, on_step or (lambda step: None))
    finally:
        office.db.dispose()
        office.chain.close()


def _story(office: Office, data_dir: Path, on_step: Callable[[DemoStep], None]) -> list[DemoStep]:
    bootstrap_demo(office, data_dir)
    bureau = office.authority_by_did(DEMO_AUTHORITIES[0][0])  # 来穗局
    market = office.authority_by_did(DEMO_AUTHORITIES[1][0])  # 市场监管局
    first, second = permit_subjects()
    permit_a, _ = office.issue(bureau.id, IssueRequest("ResidencePermit", first))
    permit_b, _ = office.issue(bureau.id, IssueRequest("ResidencePermit", second))
    licence, _ = office.issue(market.id, IssueRequest("BusinessLicense", licence_subject()))

    # The 肇庆 counter: its own verifier, reading only the chain and the registry address.
    policy = Policy(
        chain_id=office.chain.chain_id,
        anchor_registry=office.deployment.anchor_registry,
        sync_interval=timedelta(0),
    )
    counter = Verifier.from_chain(office.chain, office.deployment.anchor_registry, policy)
    steps: list[DemoStep] = []

    def check(
        zh: str, en: str, label: str, bundle: Any, expected: Verdict, caught_by: str | None = None
    ) -> None:
        step = DemoStep(zh, en, label, expected, counter.verify(bundle), caught_by)
        steps.append(step)
        on_step(step)

    label_a = f"居住证 Residence permit · {first['name']}"
    label_b = f"居住证 Residence permit · {second['name']}"
    label_l = "营业执照 Business licence · 广州穗信科技有限公司"

    check("签发后、上链前核验", "verify before anchoring", label_a, permit_a, Verdict.PENDING)

    AnchorWorker(office, log=lambda message: None).drain()
    anchored = {
        name: office.bundle(b["credential"]["id"])
        for name, b in (("a", permit_a), ("b", permit_b), ("l", licence))
    }
    check(
        "批量上链后，肇庆窗口核验",
        "anchored; 肇庆 counter verifies",
        label_a,
        anchored["a"],
        Verdict.VALID,
    )
    check(
        "批量上链后，肇庆窗口核验",
        "anchored; 肇庆 counter verifies",
        label_b,
        anchored["b"],
        Verdict.VALID,
    )
    check(
        "批量上链后，肇庆窗口核验",
        "anchored; 肇庆 counter verifies",
        label_l,
        anchored["l"],
        Verdict.VALID,
    )

    set_statuses(
        office.chain,
        office.deployment,
        office.account(bureau.id),
        [(anchored["b"]["credential"]["id"], STATUS_REVOKED, REASON_LOST)],
    )
    check(
        "来穗局吊销后再核验",
        "verify after 来穗局 revokes it",
        label_b,
        anchored["b"],
        Verdict.INVALID,
        "status",
    )

    forged = copy.deepcopy(anchored["l"])
    forged["credential"]["credentialSubject"]["name"] = "广州穗信控股集团有限公司"
    check(
        "篡改企业名称后核验",
        "verify after the company name is altered",
        label_l,
        forged,
        Verdict.INVALID,
        "signature",
    )
    check(
        "未改动的原件再核验", "the unaltered original, again", label_l, anchored["l"], Verdict.VALID
    )
    check(
        "另一张居住证不受影响",
        "the other permit is unaffected",
        label_a,
        anchored["a"],
        Verdict.VALID,
    )
    return steps


def register(commands: Any) -> None:
    """``suixin demo``."""
    demo = commands.add_parser("demo", help="the whole story on the embedded chain, as a table")
    demo.add_argument("--keep", type=Path, help="run in this data directory and keep it")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    out = console()
    out.print("穗信演示：广州签发，肇庆核验 / Suixin demo: issued in Guangzhou, verified in 肇庆")
    out.print("(embedded chain, temporary data directory; this takes a few seconds)")

    def show(step: DemoStep) -> None:
        mark = "[green]✓[/green]" if step.ok else "[red]✗[/red]"
        out.print(f"  {mark} {step.step_zh} / {step.step_en}: {step.actual.value}")

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    steps = run_demo(args.keep, on_step=show)
    table = Table(title="穗信演示 Suixin demo", show_lines=True)
    for column in (
        "#",
        "步骤 Step",
        "凭证 Credential",
        "预期 Expected",
        "实际 Actual",
        "原因 Reason",
        "",
    ):
        table.add_column(column, overflow="fold")
    for number, step in enumerate(steps, start=1):
        zh, en = step.reason
        table.add_row(
            str(number),
            f"{step.step_zh}\n{step.step_en}",
            step.credential,
            step.expected.value,
            step.actual.value,
            f"{zh}\n{en}" if zh else "",
            "[green]✓[/green]" if step.ok else "[red]✗[/red]",
        )
    out.print(table)
    good = sum(step.ok for step in steps)
    if good == len(steps):
        out.print(f"全部符合预期 / every outcome as expected ({good}/{len(steps)})")
        return 0
    out.print(f"[red]{len(steps) - good} 项不符合预期 / not as expected[/red]")
    return 1
