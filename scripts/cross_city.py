"""跨域通办 on one chain: 广州, 深圳 and 肇庆 as three office processes, the story step by step.

    python scripts/cross_city.py [--keep DIR] [--revocations 3]      (also: make demo-cross-city)

Starts anvil (npm @foundry-rs/anvil) and, on loopback, three ``suixin serve`` processes, each
with its own data directory, SQLite database, master key and authority keys, sharing one
deployment of the registries:

- the province root deploys the registries once (``suixin chain deploy``) and every city's
  office reads the same deployment record (copied into its data directory, where
  ``service.trust.deployment.ensure_deployment`` finds it);
- 广州 enrols 来穗局 (ResidencePermit) and 市场监管局 (BusinessLicense), region 440100; 深圳 enrols
  公安局 (ResidencePermit) and 市场监管局 (BusinessLicense), region 440300 — each through the real
  flow: ``suixin keys init`` prints the account, the root runs ``suixin registry accredit``,
  ``keys init`` again registers the issuer key;
- 肇庆 (441200) enrols nothing: it is a verifying counter (its own ``POST /v1/verify``, and
  ``suixin-verify`` offline from a trust snapshot).

Then the story, each step with the verdict expected and the one given: a Guangzhou permit at
the 肇庆 counter; a Shenzhen licence in Guangzhou; a Guangzhou residence-years credential
(居住年限证明) at 肇庆, and a tampered one; Guangzhou revokes permits and the time until 肇庆
answers INVALID is measured (from the revoke call to 肇庆's first INVALID, polled); an
unaccredited impostor's "Guangzhou" permit; 深圳 issuing outside its region (its office refuses,
so the permit is forged with 深圳's own key and anchored with its own account) and outside its
type; 肇庆 offline from a snapshot, told how old it is. Exit 0 when every verdict is the
expected one, 1 otherwise, 2 when the set-up fails.

The administrative commands (deploy, enrol, accredit, API keys, suixin-verify) run through the
commands' own ``main`` in this process; the offices are separate processes talking HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: python scripts/cross_city.py
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from eth_account import Account  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from service.anchoring.batches import anchor_batch  # noqa: E402
from service.anchoring.devnode import AnvilNode, free_port  # noqa: E402
from service.cli import main as suixin  # noqa: E402
from service.config import Settings  # noqa: E402
from service.issuing.issuance import status_entry  # noqa: E402
from service.issuing.office import Office  # noqa: E402
from service.runtime import open_office  # noqa: E402
from service.trust.deployment import (  # noqa: E402
    DEPLOYMENT_FILE,
    ROOT_KEY_FILE,
    fund_if_dev,
)
from verifier.bundle import credential_digest, credential_id_hash, make_bundle  # noqa: E402
from verifier.chain import RpcChain  # noqa: E402
from verifier.cli import main as suixin_verify  # noqa: E402
from verifier.contracts import load_artifact  # noqa: E402
from verifier.credential import CHINA_TIME, build_credential  # noqa: E402
from verifier.deployment import Deployment  # noqa: E402
from verifier.errors import ContractReverted  # noqa: E402
from verifier.identifiers import citizen_id_check_digit, uscc_check_character  # noqa: E402
from verifier.keys import Ed25519KeyPair  # noqa: E402
from verifier.merkle import MerkleTree  # noqa: E402
from verifier.policy import Policy  # noqa: E402
from verifier.proofs import sign_credential  # noqa: E402

__all__ = ["CITIES", "Federation", "Step", "Story", "main", "run_story"]

# how long the counter's /v1/verify waits between chain reads (Policy's default, which
# service.app uses), and what a revocation may take on top: the issuing office's worker
# poll and one transaction
SYNC_INTERVAL = Policy().sync_interval.total_seconds()
REVOCATION_SLACK = 3.0
WORKER_POLL = 0.2
BATCH_AGE = 0.5
STATUS_REVOKED = 1  # on-chain status code


# ------------------------------------------------------------------------------ the cities


@dataclass(frozen=True)
class AuthoritySpec:
    """An authority an office enrols, and the API key scopes the story needs (None: none)."""

    did: str
    name_zh: str
    name_en: str
    region: int
    types: tuple[str, ...]
    scopes: tuple[str, ...] | None
    uscc: str  # 统一社会信用代码 (made-up values with valid check characters)


@dataclass(frozen=True)
class CitySpec:
    """A city's office: its names, region and the authorities it acts for."""

    code: str
    name_zh: str
    name_en: str
    region: int
    authorities: tuple[AuthoritySpec, ...]


GZ_PERMITS = AuthoritySpec(
    "did:web:lsj.gz.gov.cn",
    "广州市来穗人员服务管理局",
    "Guangzhou Migrant Population Service Administration",
    440100,
    ("ResidencePermit",),
    ("issue:ResidencePermit", "lifecycle", "revoke"),
    "11440100007502156G",
)
GZ_LICENCES = AuthoritySpec(
    "did:web:amr.gz.gov.cn",
    "广州市市场监督管理局",
    "Guangzhou Administration for Market Regulation",
    440100,
    ("BusinessLicense",),
    None,
    "11440100007502233T",
)
SZ_PERMITS = AuthoritySpec(
    "did:web:ga.sz.gov.cn",
    "深圳市公安局",
    "Shenzhen Public Security Bureau",
    440300,
    ("ResidencePermit",),
    ("issue:ResidencePermit",),
    "11440300MB2E66230L",
)
SZ_LICENCES = AuthoritySpec(
    "did:web:amr.sz.gov.cn",
    "深圳市市场监督管理局",
    "Shenzhen Administration for Market Regulation",
    440300,
    ("BusinessLicense",),
    ("issue:BusinessLicense",),
    "11440300MB2F44180Q",
)
CITIES = (
    CitySpec("gz", "广州", "Guangzhou", 440100, (GZ_PERMITS, GZ_LICENCES)),
    CitySpec("sz", "深圳", "Shenzhen", 440300, (SZ_PERMITS, SZ_LICENCES)),
    CitySpec("zq", "肇庆", "Zhaoqing", 441200, ()),  # a verifying counter: nothing to enrol
)
IMPOSTOR_DID = "did:web:lsj-gz.gov.cn"  # looks like 来穗局's, accredited by nobody


@dataclass
class City:
    """A running office: data directory, master key, port, process, API keys by DID."""

    spec: CitySpec
    data_dir: Path
    master_key: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    api_keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def environment(self) -> dict[str, str]:
        """The office's own settings (production mode: a real master key, no demo root)."""
        return {
            "SUIXIN_MODE": "production",
            "SUIXIN_DATA_DIR": str(self.data_dir),
            "SUIXIN_MASTER_KEY": self.master_key,
        }


class SetupError(RuntimeError):
    """The federation could not be set up (a command failed, a process did not come up)."""


@contextlib.contextmanager
def _settings_environment(values: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run a command with exactly these ``SUIXIN_*`` variables, in ``cwd`` (no stray .env)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SUIXIN_")}
    here = Path.cwd()
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        for key in [k for k in os.environ if k.startswith("SUIXIN_")]:
            del os.environ[key]
        os.environ.update(saved)


class Federation:
    """anvil, one deployment of the registries, and the three offices; a context manager."""

    def __init__(self, workdir: Path, say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.say = say
        self.anvil = AnvilNode()
        self.province = workdir / "province"
        self.cities = {
            spec.code: City(spec, workdir / spec.code, "mk-" + os.urandom(24).hex())
            for spec in CITIES
        }
        self.deployment: Deployment | None = None

    # -- commands

    def run(self, program: Callable[[Sequence[str]], int], who: str, *argv: str) -> str:
        """Run ``suixin`` or ``suixin-verify`` with ``who``'s settings; its standard output.
        Raises SetupError when it exits non-zero (with what it printed)."""
        env = {"SUIXIN_MODE": "production", "SUIXIN_MASTER_KEY": "mk-" + "0" * 48}
        if who in self.cities:
            env = self.cities[who].environment()
        out, err = io.StringIO(), io.StringIO()
        with (
            _settings_environment(env, self.workdir),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = program(list(argv))
        if code != 0 and not (program is suixin_verify and code == 1):  # 1: some INVALID
            raise SetupError(f"{' '.join(argv[:2])} exited {code}: {err.getvalue()[-2000:]}")
        return out.getvalue()

    def suixin(self, who: str, *argv: str) -> str:
        prefix = f"{self.workdir}{os.sep}"
        shown = " ".join(a.removeprefix(prefix) for a in argv)
        self.say(f"  [{who}] $ suixin {shown}")
        return self.run(suixin, who, *argv)

    # -- set-up

    def __enter__(self) -> Federation:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        """anvil, the deployment, every enrolment, then the three office processes."""
        started = time.monotonic()
        self.anvil.start()
        self.say(f"anvil on {self.anvil.url}")
        self.province.mkdir(parents=True)
        self.suixin(
            "province", "chain", "deploy", "--data-dir", str(self.province), "--chain", self.url
        )
        self.deployment = Deployment.load(self.province / DEPLOYMENT_FILE)
        for city in self.cities.values():
            city.data_dir.mkdir(parents=True)
            # every office anchors into the same registries: the province's deployment record
            shutil.copy(self.province / DEPLOYMENT_FILE, city.data_dir / DEPLOYMENT_FILE)
            for authority in city.spec.authorities:
                self._enrol(city, authority)
        for city in self.cities.values():
            self._serve(city)
        for city in self.cities.values():
            self._wait_up(city)
        self.say(f"set-up done in {time.monotonic() - started:.1f} s")

    @property
    def url(self) -> str:
        return self.anvil.url

    def _enrol(self, city: City, authority: AuthoritySpec) -> None:
        common = ["--data-dir", str(city.data_dir), "--chain", self.url]
        identity = [  # what the office enrols and the province accredits: the same words
            "--did",
            authority.did,
            "--name-zh",
            authority.name_zh,
            "--name-en",
            authority.name_en,
            "--region",
            str(authority.region),
            *[arg for t in authority.types for arg in ("--type", t)],
            "--uscc",
            authority.uscc,
        ]
        init = ["keys", "init", *identity, *common]  # run again once accredited
        printed = self.suixin(city.spec.code, *init)
        found = re.search(r"^account\s+(0x[0-9a-fA-F]{40})$", printed, re.MULTILINE)
        if found is None or "Awaiting accreditation" not in printed:
            raise SetupError(f"keys init did not ask for accreditation:\n{printed}")
        self.suixin(
            "province",
            "registry",
            "accredit",
            *identity,
            "--account",
            found.group(1),
            "--root-key",
            str(self.province / ROOT_KEY_FILE),
            "--data-dir",
            str(self.province),
            "--chain",
            self.url,
        )
        printed = self.suixin(city.spec.code, *init)
        if "issuer key registered" not in printed:
            raise SetupError(f"keys init did not register the issuer key:\n{printed}")
        if authority.scopes:
            scopes = [arg for s in authority.scopes for arg in ("--scope", s)]
            printed = self.suixin(
                city.spec.code,
                "apikeys",
                "create",
                "--did",
                authority.did,
                *scopes,
                "--label",
                "cross-city story",
                *common,
            )
            city.api_keys[authority.did] = printed.strip().splitlines()[-1]

    def _serve(self, city: City) -> None:
        city.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
        env |= city.environment() | {
            "SUIXIN_CHAIN": self.url,
            "SUIXIN_BATCH_AGE_SECONDS": str(BATCH_AGE),
            "SUIXIN_WORKER_POLL_SECONDS": str(WORKER_POLL),
            "SUIXIN_PUBLIC_RATE_PER_MINUTE": "100000",  # the story polls /v1/verify
            "SUIXIN_AUDIT_ANCHOR_SECONDS": "3600",
            "SUIXIN_NODE_PORT": "0",  # several offices at once: any free port each
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
        }
        code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
        argv = [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port"]
        with city.log_path.open("wb") as log:
            city.process = subprocess.Popen(
                [*argv, str(city.port)], env=env, cwd=self.workdir, stdout=log, stderr=log
            )
        self.say(
            f"  [{city.spec.code}] $ suixin serve --port {city.port}  (pid {city.process.pid})"
        )

    def _wait_up(self, city: City, timeout: float = 90.0) -> None:
        assert city.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if city.process.poll() is not None:
                raise SetupError(f"{city.spec.name_en} office exited:\n{self.log_tail(city)}")
            try:
                if httpx.get(f"{city.url}/healthz", timeout=2).status_code == 200:
                    self.say(f"{city.spec.name_zh} {city.spec.name_en} office up on {city.url}")
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SetupError(f"{city.spec.name_en} office did not come up:\n{self.log_tail(city)}")

    def log_tail(self, city: City, size: int = 3000) -> str:
        try:
            return city.log_path.read_text(encoding="utf-8", errors="replace")[-size:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the offices (SIGINT, then SIGKILL) and anvil."""
        for city in self.cities.values():
            process = city.process
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGINT)
        for city in self.cities.values():
            process = city.process
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            city.process = None
        self.anvil.stop()

    # -- the libraries, as an office (or a forger holding its keys) uses them

    @contextlib.contextmanager
    def office(self, code: str) -> Iterator[Office]:
        """The office of city ``code`` opened in this process (its database, its keys)."""
        city = self.cities[code]
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            mode="production",
            data_dir=city.data_dir,
            chain=self.url,
            master_key=city.master_key,
            database_url="",
        )
        office = open_office(settings)
        try:
            yield office
        finally:
            office.db.dispose()
            office.chain.close()


# ------------------------------------------------------------------------------ sample data


def citizen_id(birth: date, sequence: int, region: str = "430104") -> str:
    """A valid GB 11643 number (odd sequence: male)."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + citizen_id_check_digit(body)


def permit_subject(n: int, **overrides: Any) -> dict[str, Any]:
    """A residence permit request's subject; ``n`` varies the person."""
    birth = date(1985, 1, 1) + timedelta(days=97 * n)
    subject: dict[str, Any] = {
        "name": ("陈晓明", "李秀英", "王建国", "刘芳", "张伟", "黄丽")[n % 6],
        "sex": "male" if n % 2 == 0 else "female",
        "ethnicity": "汉",
        "birthDate": birth.isoformat(),
        "citizenId": citizen_id(birth, 101 + (n % 2 == 1) + 2 * n),
        "hukouAddress": "湖南省长沙市岳麓区麓山南路1号",
        "residenceAddress": "广州市天河区天河路100号",
        "residenceRegion": "440106",
    }
    subject.update(overrides)
    return subject


def licence_subject() -> dict[str, Any]:
    """A Shenzhen company's business licence."""
    body = "91440300MA5F7KQ2X"
    return {
        "uscc": body + uscc_check_character(body),
        "name": "深圳市前海鹏城科技有限公司",
        "entityType": "有限责任公司",
        "legalRepresentative": "赵敏",
        "businessScope": "软件开发；信息系统集成服务",
        "registeredCapital": "500万元人民币",
        "establishmentDate": "2021-06-18",
        "operatingTerm": {"from": "2021-06-18", "until": None},
        "domicile": "深圳市南山区粤海街道科技园1号",
        "registrationAuthority": "深圳市市场监督管理局",
    }


# ------------------------------------------------------------------------------ the story


@dataclass(frozen=True)
class Step:
    """One step: what happened, where, the expected and the actual answer, and why."""

    zh: str
    en: str
    where: str
    expected: str
    actual: str
    detail: str
    ok: bool


@dataclass
class Story:
    """Every step, and the measured revocation-visibility times (seconds)."""

    steps: list[Step] = field(default_factory=list)
    revocation_seconds: list[float] = field(default_factory=list)  # revoke call → 肇庆 INVALID
    on_chain_seconds: list[float] = field(default_factory=list)  # revoke call → status on chain
    snapshot_age_seconds: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def step(self, name: str) -> Step:
        """The first step whose English text starts with ``name``."""
        return next(s for s in self.steps if s.en.startswith(name))


def _outcome(report: dict[str, Any]) -> str:
    """``VALID`` or ``INVALID (check: code, …)`` from a report's JSON."""
    failed = [f"{c['name']}: {c['code']}" for c in report["checks"] if c["outcome"] == "fail"]
    return report["verdict"] + (f" ({', '.join(failed)})" if failed else "")


def _caught(report: dict[str, Any], check: str | None, code: str | None) -> bool:
    if check is None:
        return True
    return any(
        c["name"] == check and c["outcome"] == "fail" and (code is None or c["code"] == code)
        for c in report["checks"]
    )


class Teller:
    """Runs the story's steps against the federation and keeps what happened."""

    def __init__(self, federation: Federation, say: Callable[[str], None]) -> None:
        self.fed = federation
        self.say = say
        self.story = Story()
        self.http = {
            code: httpx.Client(base_url=city.url, timeout=30)
            for code, city in federation.cities.items()
        }
        self.chain = RpcChain(federation.url)
        self._authority_ids: dict[str, int] = {}

    def close(self) -> None:
        for client in self.http.values():
            client.close()
        self.chain.close()

    def revoked_on_chain(self, did: str, credential_id: str) -> bool:
        """Whether the AnchorRegistry records the credential as revoked (read directly)."""
        deployment = self.fed.deployment
        assert deployment is not None
        if did not in self._authority_ids:
            trust = load_artifact("TrustRegistry").abi
            record = self.chain.call(deployment.trust_registry, trust, "authorityByDid", [did])
            self._authority_ids[did] = int(record[0])
        abi = load_artifact("AnchorRegistry").abi
        status = self.chain.call(
            deployment.anchor_registry,
            abi,
            "statusOf",
            [self._authority_ids[did], credential_id_hash(credential_id)],
        )
        return int(status[0]) == STATUS_REVOKED

    def record(self, step: Step) -> Step:
        self.story.steps.append(step)
        mark = "✓" if step.ok else "✗"
        self.say(
            f"{mark} {step.zh} / {step.en} [{step.where}]: {step.actual}"
            + ("" if step.ok else f"  — expected {step.expected}")
            + (f"  ({step.detail})" if step.detail else "")
        )
        return step

    # -- office calls

    def key(self, code: str, did: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fed.cities[code].api_keys[did]}"}

    def issue(self, code: str, did: str, kind: str, subject: dict[str, Any]) -> dict[str, Any]:
        response = self.http[code].post(
            "/v1/credentials", json={"type": kind, "subject": subject}, headers=self.key(code, did)
        )
        if response.status_code != 201:
            raise SetupError(f"{code} refused to issue a {kind}: {response.text}")
        credential: dict[str, Any] = response.json()["credential"]
        return credential

    def anchored(self, code: str, did: str, credential_id: str, timeout: float = 60) -> Any:
        """The bundle once the office's worker has anchored it."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.http[code].get(
                f"/v1/credentials/{credential_id}", headers=self.key(code, did)
            )
            bundle = response.json()
            if response.status_code == 200 and bundle.get("anchor") is not None:
                return bundle
            if time.monotonic() > deadline:
                raise SetupError(f"{credential_id} was not anchored within {timeout:.0f} s")
            time.sleep(0.1)

    def verify(self, code: str, bundle: Any) -> dict[str, Any]:
        response = self.http[code].post("/v1/verify", json=bundle)
        if response.status_code != 200:
            raise SetupError(f"{code} /v1/verify answered {response.status_code}: {response.text}")
        report: dict[str, Any] = response.json()
        return report

    def check(
        self,
        zh: str,
        en: str,
        where: str,
        bundle: Any,
        expected: str,
        check: str | None = None,
        code: str | None = None,
        detail: str = "",
    ) -> dict[str, Any]:
        """Verify at ``where`` and record the step; ``check``/``code`` the failure expected."""
        report = self.verify(where, bundle)
        wanted = expected + (f" ({check}: {code})" if check else "")
        ok = report["verdict"] == expected and _caught(report, check, code)
        self.record(
            Step(zh, en, self.fed.cities[where].spec.name_zh, wanted, _outcome(report), detail, ok)
        )
        return report

    # -- forging with keys an accredited office holds

    def forge(self, code: str, did: str, kind: str, subject: dict[str, Any]) -> dict[str, Any]:
        """Sign ``subject`` with ``did``'s issuer key and anchor it with its chain account,
        bypassing its office's checks (as misbehaving software at that office could)."""
        with self.fed.office(code) as office:
            authority = office.authority_by_did(did)
            signer = office.signer(authority.id)
            now = datetime.now(UTC).replace(microsecond=0)
            cid = uuid.uuid4()
            unsigned = build_credential(
                kind,
                subject,
                credential_id=cid,
                issuer_did=did,
                authority_name=authority.name_zh,
                issue_date=now.astimezone(CHINA_TIME).date(),
                valid_from=now,
                valid_until=now + timedelta(days=365),
                status=status_entry(
                    cid.urn, office.deployment.chain_id, office.deployment.anchor_registry
                ),
            )
            credential = sign_credential(
                unsigned, signer, f"{did}#{signer.key_id}", now.isoformat().replace("+00:00", "Z")
            )
            [bundle] = anchor_batch(
                office.chain, office.deployment, office.account(authority.id), [credential]
            )
        return bundle


def run_story(
    federation: Federation, *, revocations: int = 3, say: Callable[[str], None] = print
) -> Story:
    """Tell the story against a started federation; returns every step and the timings."""
    teller = Teller(federation, say)
    try:
        _tell(teller, revocations)
    finally:
        teller.close()
    return teller.story


def _tell(t: Teller, revocations: int) -> None:
    fed = t.fed
    gz, lsj, sz_ga, sz_amr = "gz", GZ_PERMITS.did, SZ_PERMITS.did, SZ_LICENCES.did

    say = t.say
    say("\n— 广州签发，肇庆核验 / issued in Guangzhou, verified at the 肇庆 counter")
    permit = t.issue(gz, lsj, "ResidencePermit", permit_subject(0, residenceSince="2019-03-01"))
    extra = [
        t.issue(gz, lsj, "ResidencePermit", permit_subject(n)) for n in range(1, revocations + 1)
    ]
    licence = t.issue("sz", sz_amr, "BusinessLicense", licence_subject())
    permit_bundle = t.anchored(gz, lsj, permit["id"])
    t.check(
        "广州居住证在肇庆窗口核验",
        "Guangzhou permit at the 肇庆 counter",
        "zq",
        permit_bundle,
        "VALID",
    )

    say("\n— 深圳营业执照在广州核验 / a Shenzhen licence verified in Guangzhou")
    licence_bundle = t.anchored("sz", sz_amr, licence["id"])
    t.check(
        "深圳营业执照在广州核验",
        "Shenzhen licence verified in Guangzhou",
        "gz",
        licence_bundle,
        "VALID",
    )

    say("\n— 居住年限互认 / recognised residence years")
    response = t.http[gz].post(
        f"/v1/credentials/{permit['id']}/residence-years", headers=t.key(gz, lsj)
    )
    if response.status_code != 201:
        raise SetupError(f"residence years refused: {response.text}")
    derived = response.json()
    years_id = derived["bundle"]["credential"]["id"]
    years_bundle = t.anchored(gz, lsj, years_id)
    subject = years_bundle["credential"]["credentialSubject"]
    t.check(
        "广州居住年限证明在肇庆核验",
        "Guangzhou residence years at the 肇庆 counter",
        "zq",
        years_bundle,
        "VALID",
        detail=f"连续居住 {subject['residenceYears']} 年 / {subject['residenceYears']} years "
        f"in {subject['residenceRegion']} since {subject['residenceSince']}, "
        f"name {subject['name']}",
    )
    tampered = copy.deepcopy(years_bundle)
    tampered["credential"]["credentialSubject"]["residenceYears"] += 5
    t.check(
        "篡改年限后在肇庆核验",
        "tampered years at the 肇庆 counter",
        "zq",
        tampered,
        "INVALID",
        "format",
        "residence_years_mismatch",
    )

    say("\n— 广州吊销，肇庆可见 / revoked in Guangzhou, seen in 肇庆")
    bound = SYNC_INTERVAL + REVOCATION_SLACK
    revoked_bundle = None
    bundles = [t.anchored(gz, lsj, credential["id"]) for credential in extra]
    for n, bundle in enumerate(bundles, start=1):  # the counter has seen them in force
        before = t.verify("zq", bundle)
        if before["verdict"] != "VALID":
            raise SetupError(f"permit {n} was not VALID at 肇庆 before its revocation: {before}")
    for n, (credential, bundle) in enumerate(zip(extra, bundles, strict=True), start=1):
        # a revocation comes at any moment of the counter's sync cycle, not just after a sync
        time.sleep(random.uniform(0, SYNC_INTERVAL))
        started = time.monotonic()
        answer = t.http[gz].post(
            f"/v1/credentials/{credential['id']}/revoke",
            json={"reason": "issuer_error", "note": "cross-city story"},
            headers=t.key(gz, lsj),
        )
        if answer.status_code != 200:
            raise SetupError(f"revoke refused: {answer.text}")
        deadline = started + bound + 10
        on_chain: float | None = None
        while True:
            if on_chain is None and t.revoked_on_chain(lsj, credential["id"]):
                on_chain = time.monotonic() - started
            report = t.verify("zq", bundle)
            if (  # it reached the chain between the check above and this verification
                report["verdict"] == "INVALID"
                and on_chain is None
                and t.revoked_on_chain(lsj, credential["id"])
            ):
                on_chain = time.monotonic() - started
            if report["verdict"] == "INVALID" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - started
        t.story.revocation_seconds.append(seconds)
        if on_chain is not None:
            t.story.on_chain_seconds.append(on_chain)
        ok = _caught(report, "status", "credential_revoked") and seconds <= bound
        chain_part = f"on chain after {on_chain:.2f} s, " if on_chain is not None else ""
        t.record(
            Step(
                f"广州吊销第 {n} 张居住证后肇庆核验",
                f"revocation {n} seen at 肇庆",
                "肇庆",
                f"INVALID (status: credential_revoked) within {bound:.1f} s",
                f"{_outcome(report)} after {seconds:.2f} s",
                f"{chain_part}counter sync interval {SYNC_INTERVAL:.0f} s",
                ok,
            )
        )
        revoked_bundle = bundle

    say("\n— 冒充者 / an unaccredited impostor")
    impostor = Ed25519KeyPair.generate()
    account = Account.create()
    chain = RpcChain(fed.url)
    assert fed.deployment is not None
    try:
        fund_if_dev(chain, account.address)
        now = datetime.now(UTC).replace(microsecond=0)
        fake = _impostor_permit(fed.deployment, impostor, IMPOSTOR_DID, now)
        root = MerkleTree([credential_digest(fake)]).root
        try:
            abi = load_artifact("AnchorRegistry").abi
            chain.transact(fed.deployment.anchor_registry, abi, "anchor", [root, 1], account)
            refused, why = False, "anchored"
        except ContractReverted as e:
            refused, why = True, e.name
    finally:
        chain.close()
    t.record(
        Step(
            "冒充者试图上链",
            "impostor tries to anchor",
            "chain",
            "REFUSED",
            f"REFUSED ({why})" if refused else "ACCEPTED",
            "AnchorRegistry",
            refused,
        )
    )
    t.check(
        "冒充者签发的“广州”居住证在肇庆核验",
        "impostor's 'Guangzhou' permit at 肇庆",
        "zq",
        make_bundle(fake, None),
        "INVALID",
        "issuer",
        "issuer_not_accredited",
        detail=IMPOSTOR_DID,
    )
    stolen_name = _impostor_permit(fed.deployment, impostor, lsj, now)
    t.check(
        "冒用来穗局 DID、自有密钥签发后核验",
        "impostor using 来穗局's DID with its own key",
        "zq",
        make_bundle(stolen_name, None),
        "INVALID",
        "issuer",
        "issuer_key_unknown",
    )

    say("\n— 超出辖区或类型 / outside its region or type")
    outside = permit_subject(
        7, residenceAddress="广州市天河区天河路100号", residenceRegion="440106"
    )
    answer = t.http["sz"].post(
        "/v1/credentials",
        json={"type": "ResidencePermit", "subject": outside},
        headers=t.key("sz", sz_ga),
    )
    codes = [e.get("code") for e in answer.json().get("errors", [])]
    t.record(
        Step(
            "深圳公安局签发广州居住地居住证（办公系统）",
            "Shenzhen office asked for a Guangzhou residence",
            "深圳",
            "REFUSED 422 region_outside_authority",
            f"{answer.status_code} {codes}",
            "",
            answer.status_code == 422 and "region_outside_authority" in codes,
        )
    )
    forged = t.forge("sz", sz_ga, "ResidencePermit", outside)
    t.check(
        "深圳密钥伪造广州居住证并上链后在肇庆核验",
        "Shenzhen key forges a Guangzhou-region permit",
        "zq",
        forged,
        "INVALID",
        "issuer",
        "issuer_region_outside",
        detail="signed with 深圳公安局's key, anchored by its account",
    )
    wrong_type = t.forge("sz", sz_ga, "BusinessLicense", licence_subject())
    t.check(
        "深圳公安局伪造营业执照并上链后在肇庆核验",
        "Shenzhen public security forges a licence",
        "zq",
        wrong_type,
        "INVALID",
        "issuer",
        "issuer_type_not_accredited",
    )

    say("\n— 肇庆离线核验 / 肇庆 offline, from a trust snapshot")
    offline = fed.workdir / "zq-offline"
    offline.mkdir()
    snapshot = offline / "trust.json"
    fed.say("  [zq] $ suixin-verify snapshot --rpc … --registry … -o trust.json")
    fed.run(
        suixin_verify,
        "zq",
        "snapshot",
        "--rpc",
        fed.url,
        "--registry",
        fed.deployment.anchor_registry,
        "--from-block",
        str(fed.deployment.block_number),
        "-o",
        str(snapshot),
    )
    files = {"permit": permit_bundle, "years": years_bundle, "revoked": revoked_bundle}
    for name, bundle in files.items():
        (offline / f"{name}.json").write_text(json.dumps(bundle, ensure_ascii=False), "utf-8")
    fed.say(
        "  [zq] $ suixin-verify permit.json years.json revoked.json --snapshot trust.json --json"
    )
    printed = fed.run(
        suixin_verify,
        "zq",
        *[str(offline / f"{n}.json") for n in files],
        "--snapshot",
        str(snapshot),
        "--json",
    )
    reports, _end = json.JSONDecoder().raw_decode(printed)  # then a one-line summary
    expected = {"permit": "VALID", "years": "VALID", "revoked": "INVALID"}
    for name, report in zip(files, reports, strict=True):
        age = report["trust"]["ageSeconds"]
        t.story.snapshot_age_seconds = age
        t.record(
            Step(
                f"离线核验（{name}）",
                f"offline verification of the {name} bundle",
                "肇庆",
                expected[name],
                _outcome(report),
                f"snapshot of block {report['trust']['blockNumber']}, {age} s old",
                report["verdict"] == expected[name] and report["trust"]["kind"] == "snapshot",
            )
        )
    time.sleep(1.5)  # (ages are whole seconds) older than the 0.72 s allowed below
    printed = fed.run(
        suixin_verify,
        "zq",
        str(offline / "permit.json"),
        "--snapshot",
        str(snapshot),
        "--max-snapshot-age",
        "0.0002",
        "--json",
    )
    report = json.loads(printed)
    warnings = [w["code"] for w in report["warnings"]]
    warned = next((w for w in report["warnings"] if w["code"] == "snapshot_stale"), None)
    t.record(
        Step(
            "快照超过允许时长后离线核验",
            "offline with a snapshot older than allowed",
            "肇庆",
            "VALID + warning snapshot_stale",
            f"{report['verdict']} + {warnings}",
            f"snapshot {report['trust']['ageSeconds']} s old, policy allows 0.72 s "
            "(--max-snapshot-age 0.0002 h): told to refresh it",
            report["verdict"] == "VALID" and warned is not None,
        )
    )


def _impostor_permit(
    deployment: Deployment, key: Ed25519KeyPair, did: str, now: datetime
) -> dict[str, Any]:
    cid = uuid.uuid4()
    unsigned = build_credential(
        "ResidencePermit",
        permit_subject(9),
        credential_id=cid,
        issuer_did=did,
        authority_name="广州市来穗人员服务管理局",
        issue_date=now.astimezone(CHINA_TIME).date(),
        valid_from=now,
        valid_until=now + timedelta(days=365),
        status=status_entry(cid.urn, deployment.chain_id, deployment.anchor_registry),
    )
    return sign_credential(unsigned, key, f"{did}#key-2", now.isoformat().replace("+00:00", "Z"))


# ------------------------------------------------------------------------------ command


def _table(story: Story) -> Table:
    table = Table(title="跨域通办 / cross-city story", title_justify="left")
    for column in ("", "步骤 / step", "核验方 / where", "预期 / expected", "结果 / actual"):
        table.add_column(column, overflow="fold")
    for step in story.steps:
        mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
        table.add_row(mark, f"{step.zh}\n{step.en}", step.where, step.expected, step.actual)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run the federation and the story; exit 0 when every verdict is the expected one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--revocations", type=int, default=3, help="revocations to time (3)")
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="suixin-cross-city-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with Federation(workdir, say) as federation:
            try:
                story = run_story(federation, revocations=args.revocations, say=say)
            except SetupError as e:
                say(f"cross_city: {e}")
                for city in federation.cities.values():
                    say(f"--- {city.spec.name_en} log ---\n{federation.log_tail(city)}")
                return 2
    except SetupError as e:
        say(f"cross_city: set-up failed: {e}")
        return 2
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(_table(story))
    times = story.revocation_seconds
    if times:
        say(
            "吊销到肇庆可见 / revocation to visibility at 肇庆: "
            + ", ".join(f"{s:.2f} s" for s in times)
            + f"; median {statistics.median(times):.2f} s (sync interval {SYNC_INTERVAL:.0f} s, "
            f"worker poll {WORKER_POLL} s)"
        )
    if story.on_chain_seconds:
        say(
            "其中上链 / of which to the chain: "
            + ", ".join(f"{s:.2f} s" for s in story.on_chain_seconds)
            + f"; median {statistics.median(story.on_chain_seconds):.2f} s"
        )
    bad = [s for s in story.steps if not s.ok]
    say(
        f"{len(story.steps) - len(bad)}/{len(story.steps)} steps as expected in "
        f"{time.monotonic() - started:.0f} s"
    )
    return 0 if story.ok else 1


if __name__ == "__main__":
    sys.exit(main())
