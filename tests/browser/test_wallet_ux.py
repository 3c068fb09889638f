"""The citizen's wallet in headless Chromium on a 390×844 phone: who asks (a counter whose key
is an accredited authority's, shown verified with its registered name, and counters that are
not), and every new state under axe-core and the 44 px tap-target rule.

A 广州 office (issuer and wallet) runs on one origin; 肇庆 counters run as standalone counter
apps on others, over the same embedded chain, where 肇庆's authority is accredited and has
registered a dedicated counter key."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from eth_account.signers.local import LocalAccount

from service.anchoring.worker import AnchorWorker
from service.issuing.office import Office
from service.web.pages import JSQR
from tests.browser.office import (
    COUNTER_KEY_ID,
    ZHAOQING_DID,
    ZHAOQING_EN,
    ZHAOQING_ZH,
    offered,
    running_office,
    serve,
    trust_tx,
)
from tests.browser.test_pages import PHONE, axe, ready, shot, tap_targets
from tests.conftest import CHROMIUM, require
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.counter.app import create_counter_app
from verifier.keys import Ed25519KeyPair
from verifier.status_tokens import FetchedLists, office_locator
from verifier.verify import Verifier

pytestmark = pytest.mark.browser


@dataclass
class World:
    url: str
    office: Office
    key: str
    zhaoqing: LocalAccount  # 肇庆 authority's chain account
    counter_key: Ed25519KeyPair  # the key it registered for its counter
    licence_key: str  # an API key of the 广州 licence authority

    def serve(self, app: Any) -> tuple[str, Any]:
        served = serve(app)
        return f"http://localhost:{served.port}", served.server

    def counter(
        self, key: Ed25519KeyPair, name: str, claims: tuple[str, str] | None = None
    ) -> tuple[str, Any]:
        """A standalone counter (``suixin-verify counter``'s app) with ``key``; ``claims``
        (DID, kid) makes it a forger that names another identity than its key's."""
        deployment = self.office.deployment
        verifier = Verifier.from_chain(
            self.office.chain, deployment.anchor_registry, deployment=deployment
        )
        app = create_counter_app(
            verifier,
            key,
            name=name,
            wallet_url=f"{self.url}/wallet",
            status_lists=FetchedLists(locate=office_locator(self.url)),  # over HTTP
        )
        if claims is not None:
            app.state.counter.client_id = f"decentralized_identifier:{claims[0]}"
            app.state.counter.kid = claims[1]
        return self.serve(app)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    counter_key = Ed25519KeyPair.generate()
    with running_office(
        tmp_path_factory.mktemp("ux"),
        "browser-ux-" + "k" * 32,
        "ux",
        counter_key=counter_key,
        verify_sync_seconds=0.5,
    ) as running:
        assert running.zhaoqing is not None
        yield World(
            running.url,
            running.office,
            running.key,
            running.zhaoqing,
            counter_key,
            running.licence_key,
        )


def claimed_wallet(world: World, browser: Any, name: str, seed: int) -> tuple[Any, Any, list[str]]:
    """A phone wallet holding a valid (anchored, refreshed) 居住证 of ``name``."""
    subject = residence_permit_subject(random.Random(seed), name=name)
    _, link = offered(world.url, world.key, {"type": "ResidencePermit", "subject": subject})
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    wallet = ctx.new_page()
    wallet.goto(link)
    ready(wallet)
    wallet.get_by_role("button", name="领取到本钱包").click()
    wallet.wait_for_selector(".card .badge[data-status='pending']")
    AnchorWorker(world.office).drain()
    wallet.click("#cards-refresh")
    wallet.wait_for_selector(".card .badge[data-status='valid']")
    return ctx, wallet, errors


def ask(counter_url: str, name: str = "窗口") -> str:
    made = httpx.post(
        f"{counter_url}/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": name},
    )
    assert made.status_code == 201, made.text
    link: str = made.json()["walletLink"]
    return link


def requester(wallet: Any, link: str) -> str:
    wallet.goto(link)
    ready(wallet)
    wallet.wait_for_selector("#share:not([hidden])")
    state: str = wallet.get_attribute("#share-verifier [data-requester]", "data-requester")
    return state


def test_an_accredited_counter_is_verified_and_others_are_not(world: World, browser: Any) -> None:
    verified_url, verified_uv = world.counter(world.counter_key, "肇庆市政务服务中心 3 号窗口")
    # another counter that calls itself by 肇庆's registered name, with a key of its own
    impostor_url, impostor_uv = world.counter(Ed25519KeyPair.generate(), ZHAOQING_ZH)
    ctx, wallet, errors = claimed_wallet(world, browser, "梁嘉欣", 41)
    asked: list[str] = []
    wallet.on("request", lambda r: asked.append(r.url))
    try:
        # ---- the accredited authority's key: its registered name with a verified mark
        assert requester(wallet, ask(verified_url, "3 号窗口")) == "verified"
        who = wallet.inner_text("#share-verifier")
        assert ZHAOQING_ZH in who and "✓" in who and "链上认证的机关" in who
        assert ZHAOQING_DID in who and "3 号窗口" in who
        assert "未经" not in who and "更新的信任列表" in who
        only_chinese(wallet, "wallet, a verified requester asks")
        # the wallet decided from its kept trust list: it asked its office nothing now
        assert not [u for u in asked if world.url in u and "/v1/" in u], asked
        shot(wallet, "wallet-consent-verified-phone")
        axe(wallet, "wallet, a verified requester asks")
        tap_targets(wallet, "wallet, a verified requester asks")
        wallet.click("#lang-switch")
        who_en = wallet.inner_text("#share-verifier")
        assert ZHAOQING_EN in who_en and "accredited on chain" in who_en
        wallet.click("#lang-switch")
        wallet.click("#share-button")
        wallet.wait_for_selector("#share-result[data-verdict='VALID']")
        # the clerk's page says in whose name the counter asks
        clerk = ctx.new_page()
        clerk.goto(f"{verified_url}/counter")
        ready(clerk)
        assert ZHAOQING_ZH in clerk.inner_text("header .identity[data-identity='accredited']")
        axe(clerk, "standalone counter asking as an accredited authority")
        clerk.close()

        # ---- a counter naming itself 肇庆's registered name: unverified, its DID, its claim
        assert requester(wallet, ask(impostor_url, ZHAOQING_ZH)) == "unverified"
        who = wallet.inner_text("#share-verifier")
        assert "未经链上认证的核验方" in who and "did:key:z6Mk" in who
        assert f"自称「{ZHAOQING_ZH}」（未经核实）" in who and "✓" not in who
        assert wallet.locator("[data-requester='verified']").count() == 0
        shot(wallet, "wallet-consent-impostor-phone")
        axe(wallet, "wallet, an unverified requester with an authority's name")
        only_chinese(wallet, "wallet, an unverified requester with an authority's name")

        # ---- 肇庆 revokes the counter key (compromised, from its first moment); the counter
        # still asks in its name, but the wallet, once refreshed, no longer believes it
        trust_tx(
            world.office,
            world.zhaoqing,
            "revokeKey",
            [ZHAOQING_DID, COUNTER_KEY_ID, _valid_from(world), 2],
        )
        time.sleep(0.6)  # the office's index syncs at most every 0.5 s here
        wallet.goto(f"{world.url}/wallet")
        ready(wallet)
        wallet.click("#cards-refresh")
        wallet.wait_for_selector("#cards-refreshed:has-text('已刷新')")
        assert requester(wallet, ask(verified_url, "3 号窗口")) == "unverified"
        who = wallet.inner_text("#share-verifier")
        assert ZHAOQING_DID in who and "密钥已不在有效期内" in who and "✓" not in who
        assert "自称「3 号窗口」" in who
        shot(wallet, "wallet-consent-revoked-key-phone")
        axe(wallet, "wallet, a requester whose key was revoked")
        assert errors == []
    finally:
        ctx.close()
        verified_uv.should_exit = True
        impostor_uv.should_exit = True


def _valid_from(world: World) -> int:
    deployment = world.office.deployment
    verifier = Verifier.from_chain(
        world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    verifier.refresh(force=True)
    authority = verifier.index.authority(ZHAOQING_DID)
    assert authority is not None
    key = verifier.index.key(authority.id, COUNTER_KEY_ID)
    assert key is not None
    return key.valid_from


RAW_CREDENTIALS = """async () => {
    const db = await new Promise((ok) => {
        const q = indexedDB.open("suixin-wallet");
        q.onsuccess = () => ok(q.result);
    });
    return await new Promise((ok) => {
        const q = db.transaction("credentials").objectStore("credentials").getAll();
        q.onsuccess = () => { db.close(); ok(JSON.stringify(q.result)); };
    });
}"""


def only_chinese(page: Any, state: str) -> None:
    """In 中文 mode the visible text has no English words: identifiers (DIDs, links, base58 and
    base64url strings) and the acronyms PIN, DID, HTTP, QR aside, and the language button."""
    text = page.evaluate("document.getElementById('main').innerText")
    # identifiers: DIDs, links, long encoded strings, codes mixing digits and letters (USCC)
    text = re.sub(
        r"(did:|https?://)\S+|[A-Za-z0-9_-]{20,}|[A-Za-z0-9]*[0-9][A-Za-z0-9]*", " ", text
    )
    words = set(re.findall(r"[A-Za-z]{2,}", text)) - {"PIN", "DID", "HTTP", "QR"}
    assert not words, f"{state}: English in 中文 mode: {sorted(words)}"


def pin_states(page: Any, state: str) -> None:
    shot(page, "wallet-" + state.replace(" ", "-").replace(",", "") + "-phone")
    axe(page, "wallet, " + state)
    tap_targets(page, "wallet, " + state)
    only_chinese(page, "wallet, " + state)


def test_the_pin_seals_the_wallet_asks_on_open_and_before_presenting_and_locks(
    world: World, browser: Any
) -> None:
    ctx, wallet, errors = claimed_wallet(world, browser, "何文静", 43)
    try:
        # ---- no PIN yet: the wallet asks for one; what it holds is still readable at rest
        wallet.wait_for_selector("#pin-setup:not([hidden])")
        assert "sdJwt" in wallet.evaluate(RAW_CREDENTIALS)
        pin_states(wallet, "PIN set")
        wallet.fill("#pin-new", "12345")
        wallet.click("#pin-setup-button")
        assert "6 位数字" in wallet.inner_text("#pin-setup-problem")
        wallet.fill("#pin-new", "246810")
        wallet.fill("#pin-repeat", "246811")
        wallet.click("#pin-setup-button")
        assert "不一致" in wallet.inner_text("#pin-setup-problem")
        wallet.fill("#pin-new", "246810")
        wallet.fill("#pin-repeat", "246810")
        wallet.click("#pin-setup-button")
        wallet.wait_for_selector("#wallet-status:has-text('PIN 码已设置')")
        # at rest: sealed records, no name, no SD-JWT; the holder key still non-extractable
        raw = wallet.evaluate(RAW_CREDENTIALS)
        assert '"sealed"' in raw and "何文静" not in raw and "sdJwt" not in raw and "~" not in raw
        extractable = wallet.evaluate(
            "async () => (await window.suixinWallet.getAll('keys'))"
            ".map(k => k.privateKey.extractable)"
        )
        # the wallet's own key and one per single-use copy (a batch of 10), none extractable
        assert extractable == [False] * 10

        # ---- opening asks the PIN; nothing of the cards is on the page until then
        wallet.reload()
        wallet.wait_for_selector("#pin-unlock:not([hidden])")
        assert wallet.is_hidden("#wallet-body") and "何文静" not in wallet.content()
        pin_states(wallet, "PIN enter")
        wallet.fill("#pin-unlock-input", "111111")
        wallet.click("#pin-unlock-button")
        wallet.wait_for_selector("#pin-unlock-problem[data-problem='wrong']")
        assert "还可尝试 4 次" in wallet.inner_text("#pin-unlock-problem")
        wallet.wait_for_selector("#pin-unlock-button:not([disabled])")  # after the back-off
        wallet.fill("#pin-unlock-input", "246810")
        wallet.click("#pin-unlock-button")
        ready(wallet)
        wallet.wait_for_selector(".card .badge[data-status='valid']")
        assert "何文静" in wallet.inner_text(".card")

        # ---- presenting asks the PIN again
        made = httpx.post(
            f"{world.url}/v1/oid4vp/requests",
            json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "窗口"},
        )
        assert made.status_code == 201, made.text
        wallet.goto(made.json()["walletLink"])
        wallet.wait_for_selector("#pin-unlock:not([hidden])")  # a new link opens the wallet anew
        wallet.fill("#pin-unlock-input", "246810")
        wallet.click("#pin-unlock-button")
        ready(wallet)
        wallet.wait_for_selector("#share:not([hidden]) #share-pin-row:not([hidden])")
        wallet.click("#share-button")
        assert "6 位数字" in wallet.inner_text("#share-pin-problem")
        assert wallet.inner_text("#share-result") == ""  # nothing was sent
        pin_states(wallet, "PIN before presenting")
        wallet.fill("#share-pin", "246810")
        wallet.click("#share-button")
        wallet.wait_for_selector("#share-result[data-verdict='VALID']")

        # ---- change the PIN: the old one no longer opens the wallet, the new one does
        wallet.click("#pin-change")
        wallet.wait_for_selector("#pin-old-row:not([hidden])")
        wallet.fill("#pin-old", "246810")
        wallet.fill("#pin-new", "135790")
        wallet.fill("#pin-repeat", "135790")
        wallet.click("#pin-setup-button")
        wallet.wait_for_selector("#wallet-status:has-text('PIN 码已更改')")
        wallet.reload()
        wallet.wait_for_selector("#pin-unlock:not([hidden])")
        wallet.fill("#pin-unlock-input", "246810")
        wallet.click("#pin-unlock-button")
        wallet.wait_for_selector("#pin-unlock-problem[data-problem='wrong']")
        wallet.wait_for_selector("#pin-unlock-button:not([disabled])")
        wallet.fill("#pin-unlock-input", "135790")
        wallet.click("#pin-unlock-button")
        ready(wallet)
        wallet.wait_for_selector(".card .badge[data-status='valid']")
        kinds = wallet.eval_on_selector_all("#log li", "els => els.map(e => e.dataset.kind)")
        assert kinds == ["present", "claim"]  # the sealed log re-sealed under the new PIN

        # ---- five wrong PINs in a row lock the wallet, across reloads
        wallet.reload()
        wallet.wait_for_selector("#pin-unlock:not([hidden])")
        for _ in range(5):
            wallet.wait_for_selector("#pin-unlock-button:not([disabled])", timeout=20_000)
            wallet.fill("#pin-unlock-input", "000000")
            wallet.click("#pin-unlock-button")
            wallet.wait_for_selector("#pin-unlock-problem[data-problem]:not([data-problem=''])")
        wallet.wait_for_selector("#pin-unlock-problem[data-problem='locked']")
        assert "钱包已锁定至" in wallet.inner_text("#pin-unlock-problem")
        assert wallet.is_disabled("#pin-unlock-button")
        pin_states(wallet, "PIN locked")
        wallet.reload()
        wallet.wait_for_selector("#pin-unlock-problem[data-problem='locked']")
        wallet.click("#lang-switch")
        assert "locked until" in wallet.inner_text("#pin-unlock-problem")
        wallet.click("#lang-switch")

        # ---- a forgotten PIN: only emptying the wallet goes on (after a second tap)
        wallet.click("#pin-forgot")
        wallet.wait_for_selector("#pin-reset:not([hidden])")
        pin_states(wallet, "PIN forgotten")
        wallet.click("#pin-reset-confirm")
        ready(wallet)
        wallet.wait_for_selector("#pin-setup:not([hidden])")
        assert wallet.is_visible("#cards-empty") and wallet.locator(".card").count() == 0
        assert wallet.evaluate("localStorage.getItem('suixin-pin')") is None
        assert errors == []
    finally:
        ctx.close()


def y4m_of_qr(text: str, path: Path) -> None:
    """A one-frame Y4M video (640×480, 4:2:0) of the QR code of ``text`` on white, what
    Chromium's fake camera plays in a loop."""
    width, height, scale = 640, 480, 5
    rows = [list(r) for r in segno.make(text, error="m").matrix_iter(scale=scale, border=4)]
    assert len(rows) <= height, "the QR code does not fit the frame"
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    luma = bytearray(b"\xeb" * (width * height))  # white (video range)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 0x10
    chroma = b"\x80" * (width * height // 4)
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + bytes(luma) + chroma + chroma)


def camera_showing(browser: Any, text: str, tmp_path: Path) -> Any:
    """A Chromium whose fake camera films the QR code of ``text`` (permission granted)."""
    video = tmp_path / f"qr-{abs(hash(text))}.y4m"
    y4m_of_qr(text, video)
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


def test_scanning_the_counter_qr_with_the_phone_camera(
    world: World, browser: Any, tmp_path: Path
) -> None:
    # Debian's Chromium has no BarcodeDetector: the scan runs on jsQR from node_modules
    require(JSQR.is_file(), f"{JSQR} missing: run `npm ci` (package.json pins jsqr)")
    made = httpx.post(
        f"{world.url}/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "窗口"},
    )
    assert made.status_code == 201, made.text
    link = made.json()["walletLink"]
    errors: list[str] = []

    # ---- a QR code that is not a wallet link: the camera view stays, the page says so
    camera = camera_showing(browser, "https://example.org/not-a-wallet", tmp_path)
    try:
        ctx = camera.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        ctx.grant_permissions(["camera"], origin=world.url)
        ctx.on("weberror", lambda e: errors.append(str(e.error)))
        wallet = ctx.new_page()
        wallet.goto(f"{world.url}/wallet")
        ready(wallet)
        wallet.click("#scan-button")
        wallet.wait_for_selector("#scan-status[data-state='foreign']", timeout=30_000)
        assert wallet.get_attribute("#scan", "data-scanner") in ("barcode-detector", "jsqr")
        assert wallet.is_visible("#scan-video") and wallet.is_visible("#scan-stop")
        assert "这不是穗信的办事二维码" in wallet.inner_text("#scan-status")
        shot(wallet, "wallet-scanning-phone")
        axe(wallet, "wallet, scanning")
        tap_targets(wallet, "wallet, scanning")
        wallet.click("#scan-stop")
        wallet.wait_for_selector("#scan-status[data-state='stopped']")
        assert wallet.is_hidden("#scan-video")
    finally:
        camera.close()

    # ---- the counter's QR code: read from the camera, the request opens
    camera = camera_showing(browser, link, tmp_path)
    try:
        ctx = camera.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        ctx.grant_permissions(["camera"], origin=world.url)
        ctx.on("weberror", lambda e: errors.append(str(e.error)))
        wallet = ctx.new_page()
        wallet.goto(f"{world.url}/wallet")
        ready(wallet)
        wallet.click("#scan-button")
        wallet.wait_for_selector("#share:not([hidden])", timeout=30_000)
        assert "窗口" in wallet.inner_text("#share-verifier")
        assert wallet.url.split("#", 1)[1] == link.split("#", 1)[1]
        shot(wallet, "wallet-scanned-request-phone")
    finally:
        camera.close()
    assert errors == []


def test_without_a_decoder_the_scan_button_says_so_and_a_pasted_link_opens(
    world: World, browser: Any
) -> None:
    made = httpx.post(
        f"{world.url}/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "窗口"},
    )
    link = made.json()["walletLink"]
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.add_init_script("delete window.BarcodeDetector")
    ctx.route("**/vendor/jsqr.js", lambda route: route.fulfill(status=404, body="absent"))
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        wallet = ctx.new_page()
        wallet.goto(f"{world.url}/wallet")
        ready(wallet)
        wallet.click("#scan-button")
        wallet.wait_for_selector("#scan-status[data-state='unsupported']")
        assert "此浏览器不能扫码，请粘贴" in wallet.inner_text("#scan-status")
        shot(wallet, "wallet-scan-unsupported-phone")
        axe(wallet, "wallet, cannot scan")
        tap_targets(wallet, "wallet, cannot scan")
        wallet.fill("#scan-paste", "https://example.org/not-a-wallet")
        wallet.click("#scan-open")
        wallet.wait_for_selector("#scan-status[data-state='invalid']")
        wallet.fill("#scan-paste", link)
        wallet.click("#scan-open")
        wallet.wait_for_selector("#share:not([hidden])")
        assert errors == []
    finally:
        ctx.close()


def test_a_licence_card_consent_with_purpose_and_a_broken_link(world: World, browser: Any) -> None:
    """A 营业执照 held by its representative: its own card face and detail layout; the consent
    screen says who asks, for what, which fields; the verdict in words; a broken request link
    says so and the cards stay."""
    subject = business_license_subject(random.Random(47), name="肇庆穗信测试贸易有限公司")
    body = {"type": "BusinessLicense", "subject": subject}
    _, link = offered(world.url, world.licence_key, body)
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        wallet = ctx.new_page()
        wallet.goto(link)
        ready(wallet)
        wallet.get_by_role("button", name="领取到本钱包").click()
        wallet.wait_for_selector(".card[data-type='BusinessLicense'] .badge")
        AnchorWorker(world.office).drain()
        wallet.click("#cards-refresh")
        wallet.wait_for_selector(".card .badge[data-status='valid']")
        # ---- the card: company name, USCC, legal representative, issuer's registered name
        card = ".card[data-type='BusinessLicense']"
        assert wallet.inner_text(f"{card} h3") == "营业执照"
        assert wallet.inner_text(f"{card} .holder") == "肇庆穗信测试贸易有限公司"
        face = wallet.inner_text(f"{card} .face[data-field='uscc']")
        assert "统一社会信用代码" in face and subject["uscc"] in face
        assert subject["legalRepresentative"] in wallet.inner_text(
            f"{card} .face[data-field='legalRepresentative']"
        )
        assert "广州市市场监督管理局" in wallet.inner_text(f"{card} .issuer")
        # ---- the detail: the licence's own order, the operating term in words (no JSON)
        wallet.click(f"{card} summary")
        fields = wallet.eval_on_selector_all(
            f"{card} .facts dd[data-field]", "ds => ds.map(d => d.dataset.field)"
        )
        assert fields[:4] == ["uscc", "name", "entityType", "legalRepresentative"]
        term = wallet.inner_text(f"{card} .facts dd[data-field='operatingTerm']")
        assert term == "2020-05-01 至 长期" and "{" not in wallet.inner_text(f"{card} .facts")
        shot(wallet, "wallet-licence-card-phone")
        axe(wallet, "wallet, a licence card")
        only_chinese(wallet, "wallet, a licence card")
        tap_targets(wallet, "wallet, a licence card")
        wallet.click("#lang-switch")
        assert wallet.inner_text(f"{card} .facts dd[data-field='operatingTerm']") == (
            "2020-05-01 to no end date"
        )
        assert "Business licence" in wallet.inner_text(f"{card} h3")
        wallet.click("#lang-switch")

        # ---- the consent screen: who (unverified here), for what, which fields
        made = httpx.post(
            f"{world.url}/v1/oid4vp/requests",
            json={
                "credentialType": "BusinessLicense",
                "fields": ["name", "uscc", "legalRepresentative"],
                "verifierName": "肇庆市政务服务中心",
                "purpose": "办理食品经营许可",
            },
        )
        assert made.status_code == 201, made.text
        wallet.goto(made.json()["walletLink"])
        ready(wallet)
        wallet.wait_for_selector("#share:not([hidden])")
        assert wallet.get_attribute("#share-purpose", "data-purpose") == "given"
        assert "用途（核验方自述）：办理食品经营许可" in wallet.inner_text("#share-purpose")
        labels = wallet.inner_text("#share-fields")
        assert "名称" in labels and "统一社会信用代码" in labels and "法定代表人" in labels
        assert "未经链上认证的核验方" in wallet.inner_text("#share-verifier")
        shot(wallet, "wallet-consent-licence-phone")
        axe(wallet, "wallet, consent for a licence")
        only_chinese(wallet, "wallet, consent for a licence")
        tap_targets(wallet, "wallet, consent for a licence")
        wallet.click("#share-button")
        wallet.wait_for_selector("#share-result[data-verdict='VALID']")
        result = wallet.inner_text("#share-result")
        assert result == "已出示，核验结果：有效" and "VALID" not in result

        # ---- a broken request link: an error in words, and the wallet still shows its cards
        wallet.goto(f"{world.url}/wallet#request_uri=%%%broken&client_id=x")
        ready(wallet)
        wallet.wait_for_selector("#wallet-status[data-problem='request_invalid']")
        status = wallet.inner_text("#wallet-status")
        assert status.startswith("无法读取核验请求：") and "Failed" not in status
        assert wallet.is_hidden("#share") and wallet.is_hidden("#cards-empty")
        assert wallet.locator(".card").count() == 1
        shot(wallet, "wallet-broken-request-link-phone")
        axe(wallet, "wallet, a broken request link")
        only_chinese(wallet, "wallet, a broken request link")
        assert errors == []
    finally:
        ctx.close()


def test_a_forged_or_unknown_identity_is_never_verified(world: World, browser: Any) -> None:
    """A counter naming 肇庆's DID and registered key but signing with a key of its own is
    refused outright (the signature does not verify against the listed key); one naming a DID
    the trust list does not have is shown unverified, its signature unchecked."""
    forger_url, forger_uv = world.counter(
        Ed25519KeyPair.generate(), ZHAOQING_ZH, (ZHAOQING_DID, f"{ZHAOQING_DID}#{COUNTER_KEY_ID}")
    )
    unknown_did = "did:web:zwfw.example.org"
    unknown_url, unknown_uv = world.counter(
        Ed25519KeyPair.generate(), "某某窗口", (unknown_did, f"{unknown_did}#key-1")
    )
    ctx, wallet, errors = claimed_wallet(world, browser, "欧阳明", 53)
    try:
        wallet.goto(ask(forger_url, ZHAOQING_ZH))
        ready(wallet)
        wallet.wait_for_selector("#wallet-status[data-problem='request_invalid']")
        assert "请求的签名无效" in wallet.inner_text("#wallet-status")
        assert wallet.is_hidden("#share")
        assert wallet.locator("[data-requester='verified']").count() == 0

        assert requester(wallet, ask(unknown_url, "某某窗口")) == "unchecked"
        who = wallet.inner_text("#share-verifier")
        assert unknown_did in who and "无法按信任列表核对" in who and "✓" not in who
        axe(wallet, "wallet, a requester the trust list does not know")
        only_chinese(wallet, "wallet, a requester the trust list does not know")
        assert errors == []
    finally:
        ctx.close()
        forger_uv.should_exit = True
        unknown_uv.should_exit = True
