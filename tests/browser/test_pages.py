"""The three pages in real headless Chromium against a real server (uvicorn, embedded chain,
SQLite): claim a permit into the wallet, answer a counter's request for three fields, see VALID
and only those fields, revoke in the office console and see the same presentation revoked; a
tampered disclosure and a replayed presentation are refused. Screenshots of every page at phone
and desktop widths go to ``build/screenshots``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from service.anchoring.worker import AnchorWorker
from service.issuing.office import Office
from service.storage.models import Grant
from tests.browser.office import offered, running_office
from tests.verifier.factories import business_license_subject, residence_permit_subject
from tests.verifier.test_foreign import signed
from verifier.http_signatures import sign_request
from verifier.keys import Ed25519KeyPair
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
    licence_key: str

    def drain(self) -> None:
        """Anchor what is queued and send queued status changes (the worker's pass)."""
        AnchorWorker(self.office).drain()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_office(
        tmp_path_factory.mktemp("web"), "browser-test-" + "k" * 28, "console"
    ) as running:
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield Server(running.url, running.office, running.key, running.licence_key)


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe(page: Any, state: str) -> None:
    """axe-core (WCAG 2.x A and AA rules) over the page as it is now: no serious or critical
    violation. The script is evaluated through the browser's debugging channel, so the
    pages' CSP (script-src 'self') stays as it is."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    results = page.evaluate(
        """async () => (await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
        })).violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                   target: v.nodes[0].target.join(' ')}))"""
    )
    bad = [v for v in results if v["impact"] in ("serious", "critical")]
    assert not bad, f"{state}: {bad}"


def tap_targets(page: Any, state: str) -> None:
    """Every visible button, link and form control on a phone page is at least 44 px high and
    wide (WCAG 2.5.5), except links inside running text (a paragraph, a list item, a cell)."""
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, a[href], input, select, summary')]
            .filter(e => e.offsetParent !== null)
            .filter(e => !(e.tagName === 'A' && e.closest('p, li, td, dd')))
            .map(e => {
                const tick = e.type === 'checkbox' || e.type === 'radio';
                const r = (tick ? e.closest('label, .check') || e : e).getBoundingClientRect();
                return {what: e.tagName.toLowerCase() + '#' + (e.id || ''), r};
            })
            .filter(({r}) => r.height < 44 || r.width < 44)
            .map(({what, r}) => `${what} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )
    assert not small, f"{state}: tap targets under 44 px: {small}"
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= page.viewport_size["width"], f"{state}: {wide} px wide, wider than the phone"


def request_uri_of(link: str) -> str:
    """The request_uri of a wallet link (``…/wallet#request_uri=…&client_id=…``)."""
    return parse_qs(link.split("#", 1)[1])["request_uri"][0]


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
    # opening the wallet asks the issuer nothing (it would learn when a card is shown) ...
    asked: list[str] = []
    wallet.on("request", lambda r: asked.append(r.url) if "/v1/" in r.url else None)
    wallet.reload()
    ready(wallet)
    wallet.wait_for_selector(".card .badge[data-status='pending']")
    assert asked == [], asked
    # ... until the holder refreshes the status, a visible action
    wallet.click("#cards-refresh")
    wallet.wait_for_selector(".card .badge[data-status='valid']")
    assert any("/v1/oid4vci/credentials/" in url for url in asked)
    # the card: holder, the issuer's registered name, the end in Beijing time; every field
    card = wallet.inner_text(".card")
    assert "陈晓明" in card and "广州市来穗人员服务管理局" in card and "北京时间" in card
    wallet.click(".card summary")
    details = wallet.inner_text(".card .facts")
    assert "公民身份号码" in details and subject["citizenId"] in details and "年满18周岁" in details
    # a key per copy (the wallet's own key for authorised use, and one per single-use copy),
    # none extractable
    extractable = wallet.evaluate(
        "async () => (await window.suixinWallet.getAll('keys')).map(k => k.privateKey.extractable)"
    )
    assert extractable == [False] * 10
    assert wallet.get_attribute(".card .copies", "data-copies-left") == "9"
    assert "可出示 9 次" in wallet.inner_text(".card .copies")
    shot(wallet, "wallet-cards-phone")
    axe(wallet, "wallet, a card")
    tap_targets(wallet, "wallet, a card")

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
    axe(wallet, "wallet, a counter asks")
    tap_targets(wallet, "wallet, a counter asks")
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
    axe(counter, "counter, VALID")
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
    uri = request_uri_of(other.get_attribute("#wallet-link", "href"))
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
    # each presentation spends a copy of its own: a used copy is never shown again, its key
    # is forgotten, and the card counts down
    again = wallet.evaluate(
        """async (uri) => {
            const request = await window.suixinWallet.loadRequest(uri);
            const [credential] = await window.suixinWallet.getAll('credentials');
            const used = credential.copies.filter(k => k.used).map(k => k.id);
            const next = await window.suixinWallet.makePresentation(request, credential, ['name']);
            const keys = (await window.suixinWallet.getAll('keys')).length;
            return {used, next: next.presentation.split('~')[0], keys};
        }""",
        uri,
    )
    assert len(again["used"]) == 2 and again["keys"] == 10 - 3
    wire_jwts = {jwt, again["next"]}
    assert len(wire_jwts) == 2  # different copies: different issuer-signed JWTs
    # new copies only on the holder's visible action (the refresh token, spent on use)
    wallet.goto(f"{server.url}/wallet")
    ready(wallet)
    assert wallet.get_attribute(".card .copies", "data-copies-left") == "6"
    wallet.click(".card button[data-action='more-copies']")
    wallet.wait_for_selector(".card .copies[data-copies-left='16']")
    keys_now = wallet.evaluate("async () => (await window.suixinWallet.getAll('keys')).length")
    assert keys_now == 7 + 10
    other.fill("#paste", json.dumps(tampered))
    other.click("#verify-paste")
    other.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert other.get_attribute("tr[data-check='signature']", "data-code") == (
        "disclosure_not_signed"
    )
    assert other.locator("#disclosed tbody tr[data-field]").count() == 0
    # the clerk is told why: verification failed, so nothing is shown (not "not provided")
    assert "核验未通过，出示的内容不予显示" in other.inner_text("#disclosed")
    shot(other, "counter-tampered-desktop")
    axe(other, "counter, INVALID")

    # the untampered presentation made for that request, replayed to a new request
    before = other.get_attribute("#wallet-link", "href")  # read before the click: no race
    other.click("#create-request")
    other.wait_for_function("u => document.getElementById('wallet-link').href !== u", arg=before)
    other.wait_for_selector("#result", state="hidden")
    other.fill("#paste", json.dumps(envelope))
    other.click("#verify-paste")
    other.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert other.get_attribute("tr[data-check='holder']", "data-code") == "kb_nonce_mismatch"
    shot(other, "counter-replayed-desktop")

    # ---- revoke in the office console (with confirmation); the same presentation is revoked
    office.fill("#search", "陈晓明")
    office.wait_for_selector(f"tr[data-credential='{credential_id}']")
    office.click(f"tr[data-credential='{credential_id}'] button[data-action='revoke']")
    office.wait_for_selector("#confirm-dialog[open]")
    office.click("#confirm-ok")
    office.wait_for_selector("#action-result[data-result='ok']")
    office.wait_for_selector(f"tr[data-credential='{credential_id}'] td[data-status='revoked']")
    server.drain()  # the status change goes on chain
    office.reload()
    ready(office)
    office.wait_for_selector("#audit tr[data-action='credential.revoke']")
    shot(office, "office-revoked-desktop")
    axe(office, "office console, a credential revoked")
    office.set_viewport_size(PHONE)
    shot(office, "office-console-phone")
    axe(office, "office console on a phone")

    counter.click("#recheck")
    counter.wait_for_selector("#verdict[data-verdict='INVALID']")
    assert counter.get_attribute("tr[data-check='status']", "data-code") == "credential_revoked"
    shot(counter, "counter-revoked-desktop")

    wallet.goto(f"{server.url}/wallet#offer=%7B%22credential_issuer%22")  # a broken link
    ready(wallet)
    assert wallet.get_attribute("#wallet-status", "data-problem") == "offer_invalid"
    assert "领取链接无效" in wallet.inner_text("#wallet-status")
    assert wallet.locator(".card").count() == 1  # never an empty wallet
    wallet.goto(f"{server.url}/wallet")
    ready(wallet)
    wallet.click("#cards-refresh")
    wallet.wait_for_selector(".card .badge[data-status='revoked']")
    assert "签发错误" in (wallet.text_content(".card .facts") or "")  # the reason in words
    # a revoked card is not offered to a counter
    revoked_request = counter_ctx.new_page()
    revoked_request.goto(f"{server.url}/counter")
    ready(revoked_request)
    revoked_request.get_by_role("checkbox", name="姓名", exact=True).check()
    revoked_request.click("#create-request")
    revoked_request.wait_for_selector("#qr svg")
    wallet.goto(revoked_request.get_attribute("#wallet-link", "href"))
    ready(wallet)
    wallet.wait_for_selector("#share:not([hidden])")
    assert wallet.locator("#share-credential option").count() == 0
    wallet.goto(f"{server.url}/wallet")
    ready(wallet)
    wallet.click("#lang-switch")
    assert wallet.locator("#cards-title").count() == 1
    shot(wallet, "wallet-revoked-phone-en")
    axe(wallet, "wallet, revoked, English")
    tap_targets(wallet, "wallet, revoked, English")
    assert errors == []


# --------------------------------------------------------------------------- office life cycle


def sign_in(ctx: Any, server: Server, key: str) -> Any:
    page = ctx.new_page()
    page.goto(f"{server.url}/office")
    ready(page)
    page.get_by_label("API 密钥").fill(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#issue-form")
    ready(page)
    return page


def open_detail(page: Any, credential_id: str) -> None:
    page.fill("#search", credential_id)
    page.click(f"tr[data-credential='{credential_id}'] button[data-action='details']")
    page.wait_for_selector(f"#history tr[data-id='{credential_id}']")


def history(page: Any) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = page.eval_on_selector_all(
        "#history tbody tr",
        "rows => rows.map(r => [r.dataset.version, r.dataset.status, r.dataset.reason])",
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_office_console_licence_issue_and_amend(server: Server, browser: Any) -> None:
    ctx = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    page = sign_in(ctx, server, server.licence_key)

    # ---- the licence issue form: live USCC check, then issue
    subject = business_license_subject(random.Random(11), name="广州穗信测试科技有限公司")
    uscc = subject["uscc"]
    page.fill("#f-uscc", uscc[:-1] + ("0" if uscc[-1] != "0" else "1"))
    page.wait_for_selector("#f-uscc-error:not(:empty)")
    assert "校验" in page.inner_text("#f-uscc-error")
    for name in (
        "uscc",
        "name",
        "entityType",
        "legalRepresentative",
        "businessScope",
        "registeredCapital",
        "establishmentDate",
        "domicile",
        "registrationAuthority",
    ):
        page.fill(f"#f-{name}", subject[name])
    page.wait_for_selector("#f-uscc-error:empty", state="attached")
    page.click("#issue-button")
    page.wait_for_selector("#issue-result:has-text('urn:uuid:')")
    licence_id = page.inner_text("#issue-result").split("：")[-1].split(": ")[-1].strip()
    issued = server.office.bundle(licence_id)["credential"]["credentialSubject"]
    assert issued["uscc"] == uscc and issued["operatingTerm"] == {
        "from": "2020-05-01",
        "until": None,
    }

    # ---- amend with confirmation: Escape changes nothing; confirming makes version 2
    open_detail(page, licence_id)
    assert history(page) == [("1", "active", "")]
    page.click("#detail-actions button[data-op='amend']")
    page.wait_for_selector("#confirm-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "d-name"  # focus moved into the dialog
    page.fill("#d-legalRepresentative", "王五")
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm-dialog:not([open])", state="attached")
    assert history(page) == [("1", "active", "")]
    page.click("#detail-actions button[data-op='amend']")
    page.wait_for_selector("#confirm-dialog[open]")
    assert page.input_value("#d-legalRepresentative") == subject["legalRepresentative"]
    page.fill("#d-legalRepresentative", "王五")
    shot(page, "office-amend-dialog-desktop")
    axe(page, "office console, amend dialog")
    page.click("#confirm-ok")
    page.wait_for_selector("#history tr[data-version='2'][data-status='active']")
    assert history(page) == [("1", "superseded", "amended"), ("2", "active", "")]
    new_id = page.get_attribute("#history tr[data-version='2']", "data-id")
    assert new_id and new_id != licence_id
    amended = server.office.bundle(new_id)["credential"]["credentialSubject"]
    assert amended["legalRepresentative"] == "王五" and amended["uscc"] == uscc
    assert "王五" in page.inner_text("#detail-facts")  # the detail view follows the new version
    shot(page, "office-amended-history-desktop")
    assert errors == []


def test_office_console_permit_endorse_refused_and_replace(server: Server, browser: Any) -> None:
    response = httpx.post(
        f"{server.url}/v1/credentials",
        json={
            "type": "ResidencePermit",
            "subject": residence_permit_subject(random.Random(12), name="林小红"),
        },
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert response.status_code == 201, response.text
    permit_id = response.json()["credential"]["id"]
    ctx = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    page = sign_in(ctx, server, server.key)
    open_detail(page, permit_id)
    assert page.eval_on_selector_all(
        "#detail-actions button", "bs => bs.map(b => b.dataset.op)"
    ) == ["endorse", "renew", "replace", "change-address", "cancel", "revoke"]

    # ---- endorse too early, entirely by keyboard: the API's refusal with the window start
    page.focus("#detail-actions button[data-op='endorse']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"  # the safe default
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "confirm-ok"
    page.keyboard.press("Enter")
    page.wait_for_selector("#problem[data-code='endorsement_not_due']:not([hidden])")
    text = page.inner_text("#problem")
    assert "尚未到签注办理期" in text and "not due" in text
    assert text.index("尚未到签注办理期") < text.index("not due")  # 中文 first
    window_start = page.inner_text("#problem dd[data-fact='windowStart']")
    opens = datetime.fromisoformat(window_start.replace("Z", "+00:00"))
    assert timedelta(days=330) < opens - datetime.now(UTC) < timedelta(days=336)  # term - 30 d
    assert history(page) == [("1", "active", "")]
    shot(page, "office-endorse-refused-desktop")

    # ---- change address: live validation of the region, like the issue form; then cancel
    page.click("#detail-actions button[data-op='change-address']")
    page.wait_for_selector("#confirm-dialog[open]")
    page.fill("#d-residenceRegion", "440305")  # 深圳南山: outside this authority's region
    page.wait_for_selector("#d-residenceRegion-error:not(:empty)")
    assert page.get_attribute("#d-residenceRegion", "aria-invalid") == "true"
    page.click("#confirm-cancel")
    page.wait_for_selector("#confirm-dialog:not([open])", state="attached")

    # ---- replace a lost permit: the old version revoked (lost), a new version
    page.click("#detail-actions button[data-op='replace']")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")
    page.wait_for_selector("#history tr[data-version='2'][data-status='active']")
    assert history(page) == [("1", "revoked", "lost"), ("2", "active", "")]
    assert page.get_attribute("#detail-result", "data-result") == "ok"
    shot(page, "office-replaced-history-desktop")
    axe(page, "office console, history")

    # ---- cancel the new version (注销, deceased): asked for the reason
    page.click("#detail-actions button[data-op='cancel']")
    page.wait_for_selector("#confirm-dialog[open]")
    page.select_option("#d-reason", "deceased")
    page.click("#confirm-ok")
    page.wait_for_selector("#history tr[data-version='2'][data-status='cancelled']")
    assert history(page) == [("1", "revoked", "lost"), ("2", "cancelled", "deceased")]
    assert page.locator("#detail-actions button").count() == 0  # nothing left to do
    assert errors == []


# --------------------------------------------------------------------------- authorised use


def test_wallet_grant_partner_access_and_withdraw(server: Server, browser: Any) -> None:
    subject = residence_permit_subject(random.Random(13), name="赵子龙")
    body = {"type": "ResidencePermit", "subject": subject}
    credential_id, link = offered(server.url, server.key, body)
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    wallet = ctx.new_page()
    wallet.goto(link)
    ready(wallet)
    wallet.get_by_role("button", name="领取到本钱包").click()
    wallet.wait_for_selector(".card .badge[data-status='pending']")

    # ---- authorise a partner office (a verifier-only did:key), signed in the browser
    partner = Ed25519KeyPair.generate()
    partner_did = partner.verification_method.partition("#")[0]
    wallet.click(".card button[data-action='grant']")
    wallet.wait_for_selector("#grant-dialog[open]")
    assert wallet.evaluate("document.activeElement.id") == "grant-partner"
    wallet.fill("#grant-partner", partner_did)
    wallet.fill("#grant-purpose", "肇庆市政务服务中心办理子女入学")
    shot(wallet, "wallet-grant-dialog-phone")
    axe(wallet, "wallet, grant dialog")
    tap_targets(wallet, "wallet, grant dialog")
    wallet.click("#grant-ok")
    wallet.wait_for_selector("#grants li[data-state='active']")
    grant_id = wallet.get_attribute("#grants li[data-state='active']", "data-grant")
    assert grant_id
    wallet_did = wallet.evaluate("() => window.suixinWallet.walletDid()")
    with server.office.db.session() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None
        assert (grant.holder_did, grant.partner_did) == (wallet_did, partner_did)
        assert grant.credential_id == credential_id
        assert 'alg="ecdsa-p256-sha256"' in grant.consent["signatureInput"]

    # ---- the partner fetches the credential with its own signed request
    def fetch() -> httpx.Response:
        path = f"/v1/grants/{grant_id}/credential"
        body = json.dumps({"purpose": "肇庆市政务服务中心办理子女入学"}).encode()
        headers = sign_request(
            "POST", path, key=partner, keyid=partner.verification_method, body=body
        )
        return httpx.post(
            server.url + path, content=body, headers={**headers, "Content-Type": "application/json"}
        )

    served = fetch()
    assert served.status_code == 200, served.text
    assert served.json()["credential"]["id"] == credential_id

    # ---- the wallet's log shows the access; withdraw; the partner is refused
    wallet.click("#grants-refresh")
    wallet.wait_for_selector(f"#grants li[data-grant='{grant_id}'] li[data-outcome='served']")
    assert partner_did in wallet.inner_text(f"#grants li[data-grant='{grant_id}']")
    shot(wallet, "wallet-grants-phone")
    axe(wallet, "wallet, grants")
    tap_targets(wallet, "wallet, grants")
    wallet.click(f"#grants li[data-grant='{grant_id}'] button[data-action='withdraw']")
    wallet.wait_for_selector(f"#grants li[data-grant='{grant_id}'][data-state='withdrawn']")
    refused = fetch()
    assert refused.status_code == 403 and refused.json()["code"] == "grant_withdrawn"
    wallet.click("#grants-refresh")
    refusal = "li[data-outcome='refused'][data-code='grant_withdrawn']"
    wallet.wait_for_selector(f"#grants li[data-grant='{grant_id}'] {refusal}")
    assert wallet.locator(f"#grants li[data-grant='{grant_id}'] button").count() == 0
    kinds = wallet.eval_on_selector_all("#log li", "els => els.map(e => e.dataset.kind)")
    assert kinds[:3] == ["withdraw", "grant", "claim"]
    shot(wallet, "wallet-grant-withdrawn-phone")
    assert errors == []


def test_counter_names_a_foreign_credential_not_accredited(server: Server, browser: Any) -> None:
    """A did:key credential with a sound proof pasted at the counter: the verdict reads
    签发方未获认可 / Issuer not accredited, in the warning colour of its own (not PENDING's)."""
    ctx = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    page = ctx.new_page()
    page.goto(f"{server.url}/counter")
    ready(page)
    page.fill("#paste", json.dumps(signed(Ed25519KeyPair.generate())))
    page.click("#verify-paste")
    page.wait_for_selector("#verdict[data-verdict='NOT_ACCREDITED']")
    assert "签发方未获认可" in page.inner_text("#verdict")
    # the proof holds; the issuer is on no TrustRegistry
    assert page.locator("tr[data-check='signature'] td[data-outcome='pass']").count() == 1
    assert page.locator("tr[data-check='issuer'] td[data-outcome='fail']").count() == 1
    background = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(163, 71, 0)"  # --warn
    shot(page, "counter-not-accredited-desktop")
    axe(page, "counter, NOT_ACCREDITED")
    page.click("#lang-switch")
    assert "Issuer not accredited" in page.inner_text("#verdict")
    ctx.close()
    assert errors == []


def test_api_docs_render_offline(server: Server, browser: Any) -> None:
    """/docs and /redoc with every request outside the office refused, as in a government
    network without internet: both pages render the API from assets the office serves."""
    ctx = browser.new_context(viewport=DESKTOP)
    outside: list[str] = []

    def only_the_office(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_the_office)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    page = ctx.new_page()
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/credentials" in paths and "/v1/deployment" in paths
    shot(page, "api-docs-desktop")
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector("h1", timeout=30_000)
    assert "Suixin" in page.locator("h1").first.inner_text()
    page.get_by_text("/v1/verify", exact=False).first.wait_for(state="attached")
    shot(page, "api-redoc-desktop")
    ctx.close()
    # ReDoc's "API docs by Redocly" badge tries one image of its CDN and hides itself when it
    # cannot load; nothing else leaves the office
    assert set(outside) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, outside
    assert errors == []


# --------------------------------------------------------------------------- every page


def test_every_page_passes_axe_and_phone_tap_targets(server: Server, browser: Any) -> None:
    """The office's pages; the standalone counter's are checked in test_two_origins.py."""
    desktop = browser.new_context(viewport=DESKTOP)
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    for ctx, url, state in [
        (phone, f"{server.url}/wallet", "wallet, empty"),
        (desktop, f"{server.url}/counter", "counter"),
        (desktop, f"{server.url}/office", "office, signed out"),
        (phone, f"{server.url}/counter", "counter on a phone"),
    ]:
        page = ctx.new_page()
        page.goto(url)
        ready(page)
        axe(page, state)
        if ctx is phone:
            tap_targets(page, state)
        if url.endswith("/counter"):
            page.get_by_role("checkbox", name="姓名", exact=True).check()
            page.click("#create-request")
            page.wait_for_selector("#qr svg")
            axe(page, state + ", request shown")
            if ctx is phone:
                tap_targets(page, state + ", request shown")
        page.close()
    office = desktop.new_page()
    office.goto(f"{server.url}/office")
    ready(office)
    office.get_by_label("API 密钥").fill(server.key)
    office.keyboard.press("Enter")
    office.wait_for_selector("#issue-form")
    ready(office)
    axe(office, "office, signed in")
