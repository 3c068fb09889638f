// The counter: create an OpenID4VP request, show its QR code, poll for the answer, show the
// verdict with every check and the disclosed fields only; paste/upload a file; download a receipt.
"use strict";
(function () {
  const sx = window.sx;
  const CHECKS = {
    format: ["格式", "Format"], signature: ["签名", "Signature"], issuer: ["签发机关", "Issuer"],
    key_validity: ["密钥有效期", "Key validity"], anchor: ["上链存证", "Anchor"], status: ["状态", "Status"],
    validity_period: ["有效期", "Validity period"], holder: ["持有人", "Holder"],
  };
  const VERDICTS = {
    VALID: ["有效", "VALID"], INVALID: ["无效", "INVALID"], PENDING: ["待上链", "PENDING"],
    // a foreign credential: its proof holds, but its issuer is on no TrustRegistry
    NOT_ACCREDITED: ["签发方未获认可", "Issuer not accredited"],
  };
  const OUTCOMES = {
    pass: ["通过", "pass"], fail: ["未通过", "fail"], skipped: ["未检查", "not checked"], pending: ["待定", "pending"],
  };
  // times as a clerk in China reads them: Beijing time, whatever the device's zone
  function beijing(iso) {
    const when = new Date(iso);
    if (!iso || isNaN(when)) return sx.bi(String(iso || "—"), String(iso || "—"));
    const zh = when.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
    const en = when.toLocaleString("en-GB", { timeZone: "Asia/Shanghai", hour12: false });
    return sx.bi(zh + "（北京时间）", en + " (Beijing time)");
  }
  let current = null;
  let currentType = "ResidencePermit";
  let lastReceiptSource = null;
  let timer = null;

  function drawChoices() {
    const type = document.getElementById("credential-type").value;
    const box = document.getElementById("field-choices");
    box.replaceChildren(...sx.FIELDS[type].map(([name]) => {
      const id = "want-" + name;
      const input = sx.el("input", { type: "checkbox", id, value: name });
      return sx.el("div", { class: "check" }, input, " ", sx.el("label", { for: id }, sx.label(type, name)));
    }));
  }

  function showResult(report, type) {
    const section = document.getElementById("result");
    section.hidden = false;
    const verdict = document.getElementById("verdict");
    const words = VERDICTS[report.verdict] || [report.verdict, report.verdict];
    verdict.dataset.verdict = report.verdict;
    verdict.replaceChildren(sx.bi(words[0], words[1]));
    const summary = document.getElementById("summary");
    const issuer = report.issuerName ? sx.bi(report.issuerName.zh, report.issuerName.en) : sx.bi(report.issuer || "—", report.issuer || "—");
    const anchored = report.anchoredIn
      ? sx.bi("区块 " + report.anchoredIn.blockNumber + "，交易 " + report.anchoredIn.transactionHash,
        "block " + report.anchoredIn.blockNumber + ", transaction " + report.anchoredIn.transactionHash)
      : sx.bi("未上链", "not anchored");
    summary.replaceChildren(
      sx.el("dt", {}, sx.bi("签发机关", "Issuer")), sx.el("dd", { "data-item": "issuer" }, issuer),
      sx.el("dt", {}, sx.bi("有效期至", "Valid until")), sx.el("dd", { "data-item": "validUntil" }, beijing(report.validUntil)),
      sx.el("dt", {}, sx.bi("上链存证", "Anchored")), sx.el("dd", { "data-item": "anchor" }, anchored));
    const disclosed = document.querySelector("#disclosed tbody");
    if (report.verdict === "INVALID") {
      // nothing of a presentation that failed is shown as fact; say why the table is empty
      disclosed.replaceChildren(sx.el("tr", { "data-withheld": "1" }, sx.el("td", { colspan: "2" },
        sx.bi("核验未通过，出示的内容不予显示", "Verification failed: the content is not shown"))));
    } else {
      disclosed.replaceChildren(...Object.entries(report.disclosed || {}).map(([k, v]) =>
        sx.el("tr", { "data-field": k }, sx.el("th", { scope: "row" }, sx.label(type, k)), sx.el("td", { text: sx.show(v) }))));
      for (const k of report.notProvided || []) {
        disclosed.append(sx.el("tr", { "data-field": k, "data-missing": "1" }, sx.el("th", { scope: "row" }, sx.label(type, k)), sx.el("td", {}, sx.bi("持证人未提供", "not provided"))));
      }
    }
    const checks = document.querySelector("#checks tbody");
    checks.replaceChildren(...report.checks.map((c) => {
      const name = CHECKS[c.name] || [c.name, c.name];
      const outcome = OUTCOMES[c.outcome] || [c.outcome, c.outcome];
      return sx.el("tr", { "data-check": c.name, "data-code": c.code },
        sx.el("th", { scope: "row" }, sx.bi(name[0], name[1])),
        sx.el("td", { "data-outcome": c.outcome }, sx.bi(outcome[0], outcome[1])),
        sx.el("td", {}, sx.bi(c.zh, c.en)));
    }));
  }

  // the request's session secret: only this counter may read its answer
  const own = (extra) => ({ ...(extra || {}), headers: { "X-Counter-Secret": current.sessionSecret } });

  async function poll() {
    if (!current) return;
    const got = await sx.json("/v1/oid4vp/requests/" + current.requestId + "/result", own());
    if (got.ok && got.body.state === "declined") {
      // shown at once; the request still takes the holder's own presentation (a decline can
      // come from whoever read the QR code), so the page goes on asking
      // access_denied: the holder declined; another OpenID4VP error: the wallet could not answer
      const error = got.body.error;
      document.getElementById("request-state").replaceChildren(error
        ? sx.bi("持证人的钱包未能应答（" + error + "）", "The holder's wallet could not answer (" + error + ")")
        : sx.bi("持证人拒绝出示", "The holder declined"));
    }
    if (got.ok && got.body.state === "answered") {
      clearInterval(timer);
      document.getElementById("request").hidden = true;  // the next holder never sees this code
      document.getElementById("request-state").replaceChildren(sx.bi("已收到出示", "Answer received"));
      lastReceiptSource = "request";
      showResult(got.body.report, currentType);
    }
  }

  document.getElementById("credential-type").addEventListener("change", drawChoices);
  document.getElementById("request-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = [...document.querySelectorAll("#field-choices input:checked")].map((b) => b.value);
    currentType = document.getElementById("credential-type").value;
    const got = await sx.json("/v1/oid4vp/requests", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ credentialType: currentType, fields, verifierName: document.getElementById("verifier-name").value, purpose: document.getElementById("purpose").value }),
    });
    if (!got.ok) { document.getElementById("paste-error").textContent = got.body ? got.body.detail : String(got.status); return; }
    current = got.body;
    document.getElementById("request").hidden = false;
    document.getElementById("result").hidden = true;
    document.getElementById("qr").innerHTML = current.qrSvg;  // server-made SVG (segno)
    document.getElementById("wallet-link").href = current.walletLink;
    document.getElementById("request-state").replaceChildren(sx.bi("等待持证人出示…", "Waiting for the holder…"));
    clearInterval(timer);
    timer = setInterval(poll, 1000);
  });

  document.getElementById("recheck").addEventListener("click", async () => {
    if (!current) return;
    const got = await sx.json("/v1/oid4vp/requests/" + current.requestId + "/recheck", own({ method: "POST" }));
    if (got.ok) showResult(got.body.report, currentType);
  });

  let pastedReceipt = null;
  document.getElementById("download-receipt").addEventListener("click", async () => {
    let receipt = pastedReceipt;
    if (lastReceiptSource === "request" && current) {
      const got = await sx.json("/v1/oid4vp/requests/" + current.requestId + "/receipt", own({ method: "POST" }));
      receipt = got.body;
    }
    if (!receipt) return;
    const blob = new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
    const a = sx.el("a", { href: URL.createObjectURL(blob), download: "suixin-receipt.json" });
    document.body.append(a); a.click(); a.remove();
  });

  document.getElementById("upload").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) document.getElementById("paste").value = await file.text();
  });
  document.getElementById("verify-paste").addEventListener("click", async () => {
    const error = document.getElementById("paste-error");
    error.textContent = "";
    let body;
    try { body = JSON.parse(document.getElementById("paste").value); } catch (e) {
      error.replaceChildren(sx.bi("不是有效的 JSON 文件", "Not a valid JSON file")); return;
    }
    if (body && body.format === "dc+sd-jwt" && current && !body.requestId) body.requestId = current.requestId;
    const got = await sx.json("/v1/oid4vp/verify", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    // a presentation not signed for this request is refused with its report: shown, while the
    // request goes on waiting for its real answer
    if (!got.ok && got.body && got.body.report) { lastReceiptSource = null; showResult(got.body.report, currentType); return; }
    if (!got.ok) { error.textContent = got.body ? got.body.detail : String(got.status); return; }
    if (got.body.receipt) { pastedReceipt = got.body.receipt; lastReceiptSource = "paste"; showResult(got.body.report, got.body.report.credentialType || currentType); }
    else { clearInterval(timer); lastReceiptSource = "request"; showResult(got.body.report, currentType); }
  });

  drawChoices();
  document.body.dataset.ready = "1";
})();
