"""Two origins as separate processes on one anvil chain, driven in Chromium.

- **广州** — the issuing office (issuer and wallet): ``suixin serve --demo`` over anvil, a process
  of its own, on ``http://127.0.0.1:<port>``.
- **肇庆** — a partner's standalone counter: ``suixin-verify counter --rpc URL --registry ADDR
  --port … --status-lists <the office>``, another process, with the verifier alone (no office
  database, no issuer keys; it fetches the issuers' Status List Tokens whole from the office), on
  ``http://localhost:<port>`` (another origin).

The holder, on a 390×844 phone, claims a 居住证 into the 广州 wallet, scans the 肇庆 counter's
QR code with the phone's camera (a fake camera filming the QR image) and consents to name +
age_over_18 + residence city only: VALID at 肇庆. What went on the wire is read back: the
encrypted answer (direct_post.jwt) is opened with the counter's own request key (by jwcrypto,
not our code) and holds exactly those claims, and no birth date, ID number, district or address
anywhere. Then: a decline (the counter shows it at once), the
captured answer replayed (refused, nothing changes), a presentation made for another counter
(refused), a bystander who read the QR code (cannot read the result, cannot spoil the request
with junk or a forged decline; the holder still answers), and a revocation at the office that
the 肇庆 counter reports (from the Token Status List) once it is on chain. axe-core and the
44 px tap targets run over every state; screenshots are ``zhaoqing-*`` in ``build/screenshots``.

How the test reads the counter's request key: the counter process is started through a small
launcher (``COUNTER``) that runs ``verifier.cli.main(["counter", …])`` — exactly what the
``suixin-verify`` script runs — after wrapping ``ec.generate_private_key`` so that each key the
counter makes is also written, as PEM, into the test's temporary directory. Nothing else of the
counter is changed.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from service.anchoring.devnode import AnvilNode, free_port
from service.web.pages import JSQR
from tests.browser.test_pages import (
    DESKTOP,
    PHONE,
    axe,
    ready,
    request_uri_of,
    shot,
    tap_targets,
)
from tests.browser.test_wallet_ux import y4m_of_qr
from tests.conftest import CHROMIUM, require
from tests.service.processes import start_office, stop_office
from tests.verifier.factories import residence_permit_subject

pytestmark = [pytest.mark.browser, pytest.mark.chain_rpc, pytest.mark.slow]

LSJ = "did:web:lsj.gz.gov.cn"  # the demo office's 来穗局, which issues 居住证

# ``suixin-verify counter``, with the request keys it makes written to SUIXIN_TEST_KEY_ESCROW
COUNTER = """
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

escrow, made = Path(os.environ["SUIXIN_TEST_KEY_ESCROW"]), ec.generate_private_key

def escrowed(curve, *args, **kwargs):
    key = made(curve, *args, **kwargs)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (escrow / f"{key.public_key().public_numbers().x:064x}.pem").write_bytes(pem)
    return key

ec.generate_private_key = escrowed
from verifier.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Cities:
    office: str  # 广州: issuer and wallet
    counter: str  # 肇庆: the standalone counter
    key: str  # the office's API key for 来穗局
    escrow: Path  # the counter's request keys, as PEM files named by their x coordinate

    def request_key(self, request_object: dict[str, Any]) -> Any:
        """The counter's private key of a request (jwcrypto JWK), from its public JWK."""
        from jwcrypto import jwk

        (public,) = request_object["client_metadata"]["jwks"]["keys"]
        x = int.from_bytes(_unb64(public["x"]), "big")
        return jwk.JWK.from_pem((self.escrow / f"{x:064x}.pem").read_bytes())


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _wait(what: str, condition: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return value


@pytest.fixture(scope="module")
def cities(
    anvil_node: AnvilNode, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cities]:
    """anvil (the session's), the 广州 office and the 肇庆 counter, each a process."""
    tmp = tmp_path_factory.mktemp("two-origins")
    office_dir, escrow = tmp / "guangzhou", tmp / "escrow"
    office_dir.mkdir()
    escrow.mkdir()
    office_port, counter_port = free_port(), free_port()
    office = start_office(
        office_dir,
        anvil_node.url,
        office_port,
        log=tmp / "office.log",
        env={"SUIXIN_PUBLIC_RATE_PER_MINUTE": "100000"},
    )
    office_url = f"http://127.0.0.1:{office_port}"
    counter: subprocess.Popen[str] | None = None
    try:
        key = json.loads((office_dir / "demo-api-keys.json").read_text(encoding="utf-8"))[LSJ]
        registry = json.loads((office_dir / "deployment.json").read_text(encoding="utf-8"))[
            "anchorRegistry"
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
        log = (tmp / "counter.log").open("w", encoding="utf-8")
        counter = subprocess.Popen(
            [sys.executable, "-c", COUNTER, "counter", "--rpc", anvil_node.url,
             "--registry", registry, "--port", str(counter_port), "--key",
             str(tmp / "counter.key"), "--name", "肇庆市政务服务中心",
             "--wallet", f"{office_url}/wallet", "--status-lists", office_url],
            env={**env, "SUIXIN_TEST_KEY_ESCROW": str(escrow)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        log.close()  # the child holds its own copy
        counter_url = f"http://localhost:{counter_port}"  # another origin than 127.0.0.1's

        def up() -> bool:
            assert counter is not None and counter.poll() is None, (tmp / "counter.log").read_text(
                encoding="utf-8"
            )[-3000:]
            try:
                return httpx.get(f"{counter_url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait("the 肇庆 counter did not come up", up)
        yield Cities(office_url, counter_url, key, escrow)
    finally:
        if counter is not None:
            counter.terminate()
            counter.wait(timeout=30)
        stop_office(office)


def open_request(wallet: Any, link: str, camera: Path) -> None:
    """The holder scans the counter's QR code with the phone's camera: the fake camera
    (``--use-file-for-fake-video-capture``) films the QR image of ``link`` (what the counter's
    code holds, its ``#wallet-link``); the wallet's scan button reads it (jsQR: Debian's
    Chromium has no BarcodeDetector) and opens the request."""
    y4m_of_qr(link, camera)  # read when the capture starts, so each scan films its own code
    wallet.goto(link.split("#", 1)[0])  # the wallet page, without the request
    ready(wallet)
    wallet.click("#scan-button")
    wallet.wait_for_selector("#share:not([hidden])", timeout=30_000)
    # the page was opened bare: the request it shows now is what the camera read
    assert wallet.url.split("#", 1)[1] == link.split("#", 1)[1]


def new_request(counter: Any, *labels: str) -> str:
    """The clerk asks for ``labels`` (the field names on the page); the wallet link."""
    before = (
        counter.get_attribute("#wallet-link", "href") if counter.locator("#qr svg").count() else ""
    )
    for box in counter.locator("#field-choices input:checked").all():
        box.uncheck()
    for label in labels:
        counter.get_by_role("checkbox", name=label, exact=True).check()
    counter.click("#create-request")
    counter.wait_for_function(
        "u => { const a = document.getElementById('wallet-link');"
        " return a.href && a.href !== u && !document.getElementById('request').hidden; }",
        arg=before,
    )
    link: str = counter.get_attribute("#wallet-link", "href")
    return link


def decoded_parts(presentation: str) -> str:
    """Every part of an SD-JWT+KB presentation decoded: JWT headers and payloads, the
    disclosures; what a counter can read of it."""
    out = []
    for piece in presentation.split("~"):
        for segment in piece.split(".")[:2] if piece.count(".") == 2 else [piece]:
            if segment:
                out.append(_unb64(segment).decode("utf-8", "replace"))
    return "\n".join(out)


def test_two_cities_claim_present_decline_replay_wrong_audience_bystander_revoked(
    cities: Cities, browser: Any
) -> None:
    from jwcrypto import jwe

    office, zhaoqing = cities.office, cities.counter
    auth = {"Authorization": f"Bearer {cities.key}"}
    subject = residence_permit_subject(random.Random(29), name="林小燕")
    issued = httpx.post(
        f"{office}/v1/credentials",
        json={"type": "ResidencePermit", "subject": subject},
        headers=auth,
        timeout=30,
    )
    assert issued.status_code == 201, issued.text
    credential_id = issued.json()["credential"]["id"]
    offer = httpx.post(f"{office}/v1/credentials/{credential_id}/offer", headers=auth, timeout=30)
    assert offer.status_code == 201, offer.text

    # the phone: a Chromium whose camera films whatever QR image the holder points it at
    require(JSQR.is_file(), f"{JSQR} missing: run `npm ci` (package.json pins jsqr)")
    camera = cities.escrow.parent / "camera.y4m"
    y4m_of_qr("https://example.org/nothing-yet", camera)
    phone = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ],
    )
    wallet_ctx = phone.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    wallet_ctx.grant_permissions(["camera"], origin=office)
    counter_ctx = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    for ctx in (wallet_ctx, counter_ctx):
        ctx.on("weberror", lambda e: errors.append(str(e.error)))

    # ---- 广州: the holder claims the 居住证 into the phone's wallet; the office anchors it
    wallet = wallet_ctx.new_page()
    wallet.goto(offer.json()["walletLink"])
    ready(wallet)
    wallet.get_by_role("button", name="领取到本钱包").click()
    wallet.wait_for_selector(".card .badge[data-status='pending']")

    def anchored() -> bool:
        wallet.click("#cards-refresh")
        wallet.wait_for_selector("#cards-refreshed:not(:empty)")
        return wallet.locator(".card .badge[data-status='valid']").count() == 1

    _wait("the office never anchored the wallet's SD-JWT", anchored)
    shot(wallet, "zhaoqing-wallet-claimed-phone")

    # ---- 肇庆: the clerk asks for the name, over 18 and the city of residence, nothing more
    counter = counter_ctx.new_page()
    counter.goto(f"{zhaoqing}/counter")
    ready(counter)
    assert "肇庆市政务服务中心" in counter.inner_text("header")
    axe(counter, "standalone counter")
    counter.set_viewport_size(PHONE)
    axe(counter, "standalone counter on a phone")
    tap_targets(counter, "standalone counter on a phone")
    link = new_request(counter, "姓名", "年满18周岁", "居住城市")
    assert link.startswith(f"{office}/wallet#request_uri=")
    request_uri = request_uri_of(link)
    assert request_uri.startswith(zhaoqing)
    shot(counter, "zhaoqing-counter-request-desktop")
    axe(counter, "standalone counter on a phone, request shown")
    tap_targets(counter, "standalone counter on a phone, request shown")
    counter.set_viewport_size(DESKTOP)
    axe(counter, "standalone counter, request shown")
    request_object = httpx.get(request_uri, timeout=10).json()
    assert request_object["response_mode"] == "direct_post.jwt"
    response_uri, state = request_object["response_uri"], request_object["state"]
    assert response_uri.startswith(zhaoqing)

    # ---- a bystander who read the QR code: reads nothing, spoils nothing
    base = request_uri
    for path, method in (("/result", "GET"), ("/receipt", "POST"), ("/recheck", "POST")):
        peek = httpx.request(method, base + path, timeout=10)
        assert peek.status_code == 401 and peek.json()["code"] == "counter_secret_invalid", path
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    junk = httpx.post(response_uri, content=urlencode({"response": "x.y.z"}), headers=form)
    assert junk.status_code == 400 and junk.json()["code"] == "response_undecryptable"
    junk = httpx.post(
        response_uri,
        content=urlencode({"vp_token": json.dumps({"q0": ["eyJ.junk~"]}), "state": state}),
        headers=form,
    )
    assert junk.status_code == 400 and junk.json()["code"] == "presentation_not_for_request"
    # a decline needs no key (OpenID4VP's error response): the counter shows it, and still
    # takes the holder's own answer below
    forged = httpx.post(
        response_uri, content=urlencode({"error": "access_denied", "state": state}), headers=form
    )
    assert forged.status_code == 200
    counter.wait_for_selector("#request-state:has-text('持证人拒绝出示')")

    # ---- wrong audience: a presentation the holder made for another counter (广州's own)
    other = httpx.post(
        f"{office}/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "广州"},
        timeout=10,
    ).json()
    wallet.goto(f"{office}/wallet")
    ready(wallet)
    made_elsewhere = wallet.evaluate(
        """async ([uri, relayed]) => {
            const request = await window.suixinWallet.loadRequest(uri);
            const [credential] = await window.suixinWallet.getAll('credentials');
            const exact = await window.suixinWallet.makePresentation(request, credential, ['name']);
            // a counter relaying 肇庆's nonce as its own: right nonce, wrong audience
            const relay = await window.suixinWallet.makePresentation(
                {...request, nonce: relayed}, credential, ['name']);
            return [exact, relay];
        }""",
        [other["requestUri"], request_object["nonce"]],
    )
    for envelope, code in zip(
        made_elsewhere, ("kb_nonce_mismatch", "kb_audience_mismatch"), strict=True
    ):
        refused = httpx.post(
            response_uri,
            content=urlencode({"vp_token": json.dumps({"q0": [envelope]}), "state": state}),
            headers=form,
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "presentation_not_for_request"
        holder = refused.json()["report"]["checks"][-1]
        assert (holder["name"], holder["code"]) == ("holder", code)
    assert counter.is_visible("#request") and counter.is_hidden("#result")  # still open

    # ---- the holder consents at 肇庆; what leaves the phone is recorded
    sent: list[Any] = []
    wallet.on("request", lambda r: sent.append(r))
    open_request(wallet, link, camera)
    who = wallet.inner_text("#share-verifier")
    assert "肇庆市政务服务中心" in who and "未经链上认证的核验方" in who and "did:key:z6Mk" in who
    offered = wallet.eval_on_selector_all("#share-fields input:checked", "e => e.map(b => b.value)")
    assert sorted(offered) == ["age_over_18", "name", "residenceCity"]
    shot(wallet, "zhaoqing-wallet-share-phone")
    axe(wallet, "wallet, a standalone counter asks")
    tap_targets(wallet, "wallet, a standalone counter asks")
    wallet.click("#share-button")
    wallet.wait_for_selector("#share-result[data-verdict='VALID']")
    counter.wait_for_selector("#verdict[data-verdict='VALID']")
    shown = counter.eval_on_selector_all(
        "#disclosed tbody tr:not([data-missing])", "rows => rows.map(r => r.dataset.field)"
    )
    assert sorted(shown) == ["age_over_18", "name", "residenceCity"]
    disclosed = counter.inner_text("#disclosed")
    assert "林小燕" in disclosed and "440100" in disclosed
    summary = counter.inner_text("#summary")
    assert "广州市来穗人员服务管理局" in summary and "北京时间" in summary and "区块" in summary
    assert counter.is_hidden("#request")  # the next holder never sees the answered code
    # 中文 mode reads 中文: no raw outcome words or English verdicts
    assert "pass" not in counter.inner_text("#checks")
    assert "VALID" not in counter.inner_text("#verdict")
    shot(counter, "zhaoqing-counter-valid-desktop")
    axe(counter, "standalone counter, VALID")
    counter.set_viewport_size(PHONE)
    shot(counter, "zhaoqing-counter-valid-phone")
    axe(counter, "standalone counter on a phone, VALID")
    counter.set_viewport_size(DESKTOP)

    # ---- on the wire: the phone spoke only to 肇庆, with one JWE only 肇庆 can open
    posts = [r for r in sent if r.method == "POST"]
    assert [r.url for r in posts] == [response_uri], [r.url for r in posts]
    assert not [r.url for r in sent if r.url.startswith(office + "/v1/")]  # 广州 learns nothing
    body = posts[0].post_data
    assert posts[0].headers["content-type"].startswith("application/x-www-form-urlencoded")
    (captured,) = parse_qs(body)["response"]
    token = jwe.JWE()
    token.deserialize(captured, key=cities.request_key(request_object))
    assert token.jose_header["alg"] == "ECDH-ES" and token.jose_header["enc"] == "A128GCM"
    opened = json.loads(token.payload)
    # OpenID4VP 1.0 §8.1: vp_token keyed by the DCQL query id, an array of one SD-JWT+KB
    # string; beside it only the state and the issuer JWT's anchor receipt
    assert set(opened) == {"vp_token", "suixin_anchors", "state"} and opened["state"] == state
    assert set(opened["vp_token"]) == {"q0"} == set(opened["suixin_anchors"])
    (text,) = opened["vp_token"]["q0"]
    assert isinstance(text, str) and text.count("~") >= 2
    issuer_jwt = json.loads(_unb64(text.split("~")[0].split(".")[1]))
    disclosures = [json.loads(_unb64(d)) for d in text.split("~")[1:-1] if d]
    names = {d[1] for d in disclosures}
    # exactly what was asked: name and age_over_18 as disclosures; the city either disclosed or
    # in the issuer-signed part every presentation shows (never the district)
    city_shown_always = "residenceCity" in issuer_jwt
    assert names == {"name", "age_over_18"} | (set() if city_shown_always else {"residenceCity"})
    assert {d[1]: d[2] for d in disclosures}["age_over_18"] is True
    readable = json.dumps(opened, ensure_ascii=False) + "\n" + decoded_parts(text)
    for what in ("citizenId", "birthDate", "residenceRegion", "residenceAddress", "hukouAddress"):
        assert subject[what] not in readable, what
        assert what not in issuer_jwt and what not in names, what
    assert subject["citizenId"] not in body and subject["birthDate"] not in body
    # no correlator: no credential id; the status is this copy's own Token Status List entry
    assert "credentialId" not in issuer_jwt and set(issuer_jwt["status"]) == {"status_list"}
    assert "/status-lists/token/" in issuer_jwt["status"]["status_list"]["uri"]
    assert credential_id.removeprefix("urn:uuid:") not in readable

    # ---- the captured answer replayed: refused, and nothing changes
    replay = httpx.post(response_uri, content=body, headers=form)
    assert replay.status_code == 409 and replay.json()["code"] == "nonce_already_used"
    assert counter.get_attribute("#verdict", "data-verdict") == "VALID"
    # the same answer posted to a new request (another tab of the same counter)
    other_tab = counter_ctx.new_page()
    other_tab.goto(f"{zhaoqing}/counter")
    ready(other_tab)
    second = new_request(other_tab, "姓名")
    second_object = httpx.get(request_uri_of(second), timeout=10).json()
    elsewhere = httpx.post(second_object["response_uri"], content=body, headers=form)
    assert elsewhere.status_code == 400 and elsewhere.json()["code"] == "response_undecryptable"

    # ---- that second request still waits: the holder declines it, the counter knows at once
    open_request(wallet, second, camera)
    wallet.click("#share-decline")
    other_tab.wait_for_selector("#request-state:has-text('持证人拒绝出示')", timeout=5_000)
    shot(other_tab, "zhaoqing-counter-declined-desktop")
    axe(other_tab, "standalone counter, declined")
    other_tab.set_viewport_size(PHONE)
    tap_targets(other_tab, "standalone counter on a phone, declined")

    # ---- 广州 revokes; once on chain, 肇庆's re-check of the first answer says revoked
    revoked = httpx.post(
        f"{office}/v1/credentials/{credential_id}/revoke",
        json={"reason": "issuer_error"},
        headers=auth,
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text

    def rechecked_revoked() -> bool:
        counter.click("#recheck")
        time.sleep(0.5)
        return counter.get_attribute("#verdict", "data-verdict") == "INVALID"

    _wait("肇庆 never saw the revocation", rechecked_revoked)
    status = counter.locator("tr[data-check='status']")
    assert status.get_attribute("data-code") == "credential_revoked"
    # the Token Status List says revoked, not why: the reason (签发错误) stays with the issuer,
    # since a list entry is all a counter may learn without a credential id
    assert "已吊销" in status.inner_text() and "签发错误" not in status.inner_text()
    assert counter.locator("#disclosed tbody tr[data-field]").count() == 0  # withheld
    shot(counter, "zhaoqing-counter-revoked-desktop")
    axe(counter, "standalone counter, revoked")
    assert errors == []
    wallet_ctx.close()
    phone.close()
    counter_ctx.close()
