"""The three pages in real headless Chromium against a real server (uvicorn, embedded chain,
SQLite): claim a permit into the wallet, answer a counter's request for three fields, see VALID
and only those fields, revoke in the office console and see the same presentation revoked; a
tampered disclosure and a replayed presentation are refused. Screenshots of every page at phone
and desktop widths go to ``build/screenshots``."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import uvicorn

from service.api import create_app
from service.config import Settings
from service.deploy import deploy_registries
from service.keys import MasterKey
from service.office import Office
from service.storage.db import Database
from service.worker import AnchorWorker
from tests.conftest import funded
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.receipts import verify_receipt
from verifier.sdjwt import Disclosure, b64url_encode

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Server:
    url: str
    office: Office
    key: str

    def drain(self) -> None:
        """Anchor what is queued and send queued status changes (the worker's pass)."""
        AnchorWorker(self.office).drain()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("web")
    chain = EmbeddedChain(None)
    root = funded(chain)
    db = Database(f"sqlite:///{tmp / 'office.sqlite'}")
    db.migrate()
    office = Office(
        db, chain, deploy_registries(chain, root), MasterKey("browser-test-" + "k" * 28)
    )
    permits = office.create_authority(
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        "Guangzhou Migrant Population Service Administration",
        440100,
        ("ResidencePermit",),
        root=root,
    )
    key = office.create_api_key(
        permits.id, ("issue:ResidencePermit", "lifecycle", "revoke", "admin"), label="console"
    )[1]
    settings = Settings(_env_file=None, data_dir=tmp, public_rate_per_minute=100_000)  # type: ignore[call-arg]
    app = create_app(office, settings, start_worker=False)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "the server did not start"
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield Server(f"http://127.0.0.1:{port}", office, key)
    uv.should_exit = True
    thread.join(timeout=10)
    db.dispose()
    chain.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready='1']")


def test_claim_present_revoke_tamper_replay(server: Server, browser: Any) -> None:
    office_ctx = browser.new_context(viewport=DESKTOP)
    wallet_ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    counter_ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    errors: list[str] = []
    for ctx in (office_ctx, wallet_ctx, counter_ctx):
        ctx.on("weberror", lambda e: errors.append(str(e.error)))

    # ---- office console: sign in (cookie), issue with live validation, offer to a wallet
    office = office_ctx.new_page()
    office.goto(f"{server.url}/office")
    ready(office)
    shot(office, "office-login-desktop")
    office.get_by_label("API 密钥").fill(server.key)
    office.keyboard.press("Enter")
    office.wait_for_selector("#issue-form")
    ready(office)
    assert server.key not in office.url
    cookies = office_ctx.cookies()
    assert cookies and all(c["httpOnly"] and server.key not in c["value"] for c in cookies)
    subject = residence_permit_subject(random.Random(5), name="陈晓明")
    office.get_by_label("公民身份号码").fill(subject["citizenId"][:-1] + "0")
    office.wait_for_selector("#f-citizenId-error:not(:empty)")
    assert "校验" in office.inner_text("#f-citizenId-error")
    for field, value in subject.items():
        if field == "sex":
            office.select_option("#f-sex", value)
        elif isinstance(value, str) and office.locator(f"#f-{field}").count():
            office.fill(f"#f-{field}", value)
    office.wait_for_selector("#f-citizenId-error:empty", state="attached")
    office.click("#issue-button")
    office.wait_for_selector("#issue-result:has-text('urn:uuid:')")
    credential_id = office.inner_text("#issue-result").split("：")[-1].split(": ")[-1].strip()
    office.wait_for_selector(f"tr[data-credential='{credential_id}']")
    office.click(f"tr[data-credential='{credential_id}'] button[data-action='offer']")
    office.wait_for_selector("#offer-qr svg")
    offer_link = office.get_attribute("#offer-link", "href")
    assert offer_link and "#offer=" in offer_link and subject["citizenId"] not in offer_link
    shot(office, "office-console-desktop")

    # ---- wallet (phone): claim with a WebCrypto key, pending until anchored, then valid
    wallet = wallet_ctx.new_page()
    wallet.goto(offer_link)
    ready(wallet)
    wallet.get_by_role("button", name="领取到本钱包").click()
    wallet.wait_for_selector(".card .badge[data-status='pending']")
    assert "#" not in wallet.url  # the one-time code left the address bar
    server.drain()
    wallet.reload()
    ready(wallet)
    wallet.wait_for_selector(".card .badge[data-status='valid']")
    extractable = wallet.evaluate(
        "async () => (await window.suixinWallet.getAll('keys')).map(k => k.privateKey.extractable)"
    )
    assert extractable == [False]
    shot(wallet, "wallet-cards-phone")

    # ---- counter asks for three fields; the wallet reveals exactly those
    counter = counter_ctx.new_page()
    counter.goto(f"{server.url}/counter")
    ready(counter)
    for label in ("姓名", "性别", "居住地址"):
        counter.get_by_role("checkbox", name=label, exact=True).check()
    counter.click("#create-request")
    counter.wait_for_selector("#qr svg")
    request_link = counter.get_attribute("#wallet-link", "href")
    shot(counter, "counter-request-desktop")

    wallet.goto(request_link)
    ready(wallet)
    wallet.wait_for_selector("#share:not([hidden])")
    checked = wallet.eval_on_selector_all(
        "#share-fields input:checked", "els => els.map(e => e.value)"
    )
    assert sorted(checked) == ["name", "residenceAddress", "sex"]
    shot(wallet, "wallet-share-phone")
    wallet.click("#share-button")
    wallet.wait_for_selector("#share-result[data-verdict='VALID']")
    wallet.wait_for_selector("#log li[data-kind='present']")

    counter.wait_for_selector("#verdict[data-verdict='VALID']")
    shown = counter.eval_on_selector_all(
        "#disclosed tbody tr", "rows => rows.map(r => r.dataset.field)"
    )
    assert sorted(shown) == ["name", "residenceAddress", "sex"]
    text = counter.inner_text("main")
    assert (
        "陈晓明" in text and subject["citizenId"] not in text and subject["birthDate"] not in text
    )
    assert counter.locator("#checks tbody tr").count() == 8
    with counter.expect_download() as download:
        counter.click("#download-receipt")
    receipt = json.loads(Path(download.value.path()).read_text())
    assert receipt["credentialSubject"]["verdict"] == "VALID" and verify_receipt(receipt).ok
    shot(counter, "counter-valid-desktop")
    counter.set_viewport_size(PHONE)
    shot(counter, "counter-valid-phone")
    counter.set_viewport_size(DESKTOP)

    # ---- a second counter tab: a tampered disclosure, then a replayed presentation
    other = counter_ctx.new_page()
    other.goto(f"{server.url}/counter")
    ready(other)
    other.get_by_role("checkbox", name="姓名", exact=True).check()
    other.click("#create-request")
    other.wait_for_selector("#qr svg")
    uri = unquote(other.get_attribute("#wallet-link", "href").split("#request_uri=")[1])
    envelope = wallet.evaluate(
        """async (uri) => {
            const request = await window.suixinWallet.loadRequest(uri);
            const [credential] = await window.suixinWallet.getAll('credentials');
            return window.suixinWallet.makePresentation(request, credential, ['name']);
        }""",
        uri,
    )
    jwt, disclosure, kb = envelope["presentation"].split("~")
    d = Disclosure.parse(disclosure)
    forged = b64url_encode(json.dumps([d.salt, d.name, "王二"]).encode())
    tampered = {**envelope, "presentation": "~".join([jwt, forged, kb])}
    other.fill("#paste", json.dumps(tampered))
    other.click("#verify-paste")
    other.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert other.get_attribute("tr[data-check='signature']", "data-code") == (
        "disclosure_not_signed"
    )
    assert other.locator("#disclosed tbody tr:not([data-missing])").count() == 0
    shot(other, "counter-tampered-desktop")

    # the untampered presentation made for that request, replayed to a new request
    other.click("#create-request")
    other.wait_for_function(
        "u => document.getElementById('wallet-link').href !== u",
        arg=other.get_attribute("#wallet-link", "href"),
    )
    other.wait_for_selector("#result", state="hidden")
    other.fill("#paste", json.dumps(envelope))
    other.click("#verify-paste")
    other.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert other.get_attribute("tr[data-check='holder']", "data-code") == "kb_nonce_mismatch"
    shot(other, "counter-replayed-desktop")

    # ---- revoke in the office console (with confirmation); the same presentation is revoked
    office.fill("#search", "陈晓明")
    office.wait_for_selector(f"tr[data-credential='{credential_id}']")
    office.once("dialog", lambda dialog: dialog.accept())
    office.click(f"tr[data-credential='{credential_id}'] button[data-action='revoke']")
    office.wait_for_selector("#action-result[data-result='ok']")
    office.wait_for_selector(f"tr[data-credential='{credential_id}'] td[data-status='revoked']")
    server.drain()  # the status change goes on chain
    office.reload()
    ready(office)
    office.wait_for_selector("#audit tr[data-action='credential.revoke']")
    shot(office, "office-revoked-desktop")
    office.set_viewport_size(PHONE)
    shot(office, "office-console-phone")

    counter.click("#recheck")
    counter.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert counter.get_attribute("tr[data-check='status']", "data-code") == "credential_revoked"
    shot(counter, "counter-revoked-desktop")

    wallet.goto(f"{server.url}/wallet")
    ready(wallet)
    wallet.wait_for_selector(".card .badge[data-status='revoked']")
    wallet.click("#lang-switch")
    assert wallet.locator("#cards-title").count() == 1
    shot(wallet, "wallet-revoked-phone-en")
    assert errors == []
