"""Shared fixtures: the two chain backends, deployed registries, and the no-skip rule under CI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.anchoring.devnode import AnvilNode, anvil_binary
from service.anchoring.node import ChainNodeServer
from service.trust.deployment import deploy_registries, fund_if_dev
from verifier.chain import Chain, EmbeddedChain, Receipt, RpcChain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------- no skips under CI


FIGURES_PROPERTY = "suixin_figures"
# the figures of the tests whose reports this process logged (the controller's: all of them)
REPORTED_FIGURES: list[str] = []
UNTRACKED = pytest.StashKey[set[str]]()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _untracked() -> set[str]:
    """Files in the checkout git does not know and does not ignore (empty outside a checkout)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(listed.stdout.splitlines()) if listed.returncode == 0 else set()


def _controller(config: pytest.Config) -> bool:
    """Whether this process runs the session as a whole: the only one without pytest-xdist,
    the controller with it (a worker has ``workerinput``; its reports reach the controller)."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _controller(session.config):
        session.config.stash[UNTRACKED] = _untracked()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> list[str]:
    """Lines a test reports (fuzzing and property-test example counts, seeds), printed in the
    run's summary under "Suixin figures". They travel in the test's report (user_properties),
    so they reach the summary from a pytest-xdist worker too."""
    lines: list[str] = []
    request.node.user_properties.append((FIGURES_PROPERTY, lines))
    return lines


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    for name, value in report.user_properties:
        if name == FIGURES_PROPERTY:
            REPORTED_FIGURES.extend(value)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reported = REPORTED_FIGURES
    if reported:
        terminalreporter.section("Suixin figures")
        for line in reported:
            terminalreporter.write_line(line)
    skipped = terminalreporter.stats.get("skipped", [])
    if CI and skipped:
        terminalreporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; under CI nothing may skip", red=True
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # the controller judges the whole run: its reporter holds every worker's reports, and it
    # finishes after all of them (a worker's exit status does not decide pytest-xdist's)
    if not _controller(session.config):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if CI and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # a test writes in its tmp_path, never in the checkout (a stray file gets committed)
    strays = sorted(_untracked() - session.config.stash.get(UNTRACKED, set()))
    if strays and reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"tests left files in the checkout: {', '.join(strays)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require(available: bool, reason: str) -> None:
    """Skip with ``reason`` when a real component is missing; under CI=true fail instead."""
    if available:
        return
    if CI:
        pytest.fail(f"{reason} (CI=true: required, not skipped)")
    pytest.skip(reason)


# --------------------------------------------------------------------------- chains


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """One anvil process for the session on a free loopback port, stopped afterwards."""
    require(anvil_binary() is not None, "anvil not installed: run `npm ci` (@foundry-rs/anvil)")
    with AnvilNode() as node:
        yield node


@pytest.fixture(params=["embedded", "node", pytest.param("rpc", marks=pytest.mark.chain_rpc)])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The same test on both backends: a fresh in-process chain; a fresh embedded chain served
    as a JSON-RPC node (as ``suixin serve`` runs it) through the RPC backend; the session's
    anvil."""
    if request.param == "embedded":
        c: Chain = EmbeddedChain(None)
    elif request.param == "node":
        server = ChainNodeServer(EmbeddedChain(None)).start()
        request.addfinalizer(server.stop)
        c = RpcChain(server.url)
    else:
        c = RpcChain(request.getfixturevalue("anvil_node").url)
    yield c
    c.close()


def funded(chain: Chain) -> LocalAccount:
    """A new account with development funds."""
    account = Account.create()
    fund_if_dev(chain, account.address)
    return account


@dataclass
class Registries:
    """Freshly deployed registries and helpers to drive them in tests."""

    chain: Chain
    root: LocalAccount
    deployment: Deployment
    trust_abi: list[dict[str, Any]] = field(
        default_factory=lambda: load_artifact("TrustRegistry").abi
    )
    anchor_abi: list[dict[str, Any]] = field(
        default_factory=lambda: load_artifact("AnchorRegistry").abi
    )

    @property
    def trust(self) -> str:
        return self.deployment.trust_registry

    @property
    def anchor(self) -> str:
        return self.deployment.anchor_registry

    def trust_tx(self, fn: str, args: list[Any], sender: LocalAccount | None = None) -> Receipt:
        return self.chain.transact(self.trust, self.trust_abi, fn, args, sender or self.root)

    def anchor_tx(self, fn: str, args: list[Any], sender: LocalAccount) -> Receipt:
        return self.chain.transact(self.anchor, self.anchor_abi, fn, args, sender)

    def trust_call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.trust, self.trust_abi, fn, args)

    def anchor_call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.anchor, self.anchor_abi, fn, args)

    def accredit(
        self,
        did: str = "did:web:lsj.gz.gov.cn",
        *,
        name_zh: str = "广州市来穗人员服务管理局",
        name_en: str = "Guangzhou Migrant Population Service Administration",
        region: int = 440100,
        types: tuple[str, ...] = ("ResidencePermit",),
        account: LocalAccount | None = None,
        uscc: str = "",
    ) -> LocalAccount:
        """Accredit an authority (with its 统一社会信用代码 ``uscc``, "" for none) and return
        its funded chain account."""
        account = account or funded(self.chain)
        self.trust_tx(
            "accredit", [did, name_zh, name_en, region, list(types), account.address, uscc]
        )
        return account


@pytest.fixture
def registries(chain: Chain) -> Registries:
    """Both registries deployed on ``chain`` by a fresh governance root."""
    root = funded(chain)
    return Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))


# --------------------------------------------------------------------------- browser

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (``make install`` installs it)."""
    require(os.path.exists(CHROMIUM), f"{CHROMIUM} missing: run `make install` (Debian chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        require(False, "playwright not installed: run `make install`")
        raise
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()
