// The office console: sign-in (session cookie), issue with live validation, list and search,
// life-cycle actions with confirmation, wallet offers, anchoring queue, audit trail.
"use strict";
(function () {
  const sx = window.sx;
  const H = { "Content-Type": "application/json", "X-Suixin-Console": "1" };
  const api = (url, options) => sx.json(url, { ...(options || {}), headers: { ...H, ...((options || {}).headers || {}) } });

  const login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async (event) => {
      event.preventDefault();
      const got = await api("/office/login", { method: "POST", body: JSON.stringify({ apiKey: document.getElementById("api-key").value }) });
      if (got.ok) location.reload();
      else document.getElementById("login-error").textContent = got.body ? got.body.detail : String(got.status);
    });
    document.body.dataset.ready = "1";
    return;
  }
  const consoleEl = document.getElementById("console");
  const type = consoleEl.dataset.types.split(",")[0];
  const scopes = consoleEl.dataset.scopes.split(",");
  document.getElementById("logout").addEventListener("click", async () => { await api("/office/logout", { method: "POST" }); location.reload(); });

  const FORM = {
    ResidencePermit: [["name", "text"], ["sex", "select:male,female"], ["ethnicity", "text"], ["birthDate", "date"], ["citizenId", "text"], ["hukouAddress", "text"], ["residenceAddress", "text"], ["residenceRegion", "text"]],
    BusinessLicense: [["uscc", "text"], ["name", "text"], ["entityType", "text"], ["legalRepresentative", "text"], ["businessScope", "text"], ["registeredCapital", "text"], ["establishmentDate", "date"], ["domicile", "text"], ["registrationAuthority", "text"]],
  };
  const EXTRA = { residenceRegion: ["居住地区划代码", "Residence region code"] };
  const fieldsBox = document.getElementById("issue-fields");
  for (const [name, kind] of FORM[type] || []) {
    const id = "f-" + name;
    const label = sx.el("label", { for: id }, EXTRA[name] ? sx.bi(...EXTRA[name]) : sx.label(type, name));
    let input;
    if (kind.startsWith("select:")) {
      input = sx.el("select", { id, name });
      for (const v of kind.slice(7).split(",")) input.append(sx.el("option", { value: v, text: v === "male" ? "男 male" : "女 female" }));
    } else input = sx.el("input", { id, name, type: kind, "aria-describedby": id + "-error" });
    fieldsBox.append(sx.el("div", {}, label, input, sx.el("p", { id: id + "-error", class: "field-error", "aria-live": "polite" })));
  }
  function subject() {
    const out = {};
    for (const [name] of FORM[type] || []) {
      const v = document.getElementById("f-" + name).value.trim();
      if (v) out[name] = v;
    }
    if (type === "BusinessLicense" && out.establishmentDate) out.operatingTerm = { from: out.establishmentDate, until: null };
    return out;
  }
  function showErrors(errors, touchedOnly) {
    for (const [name] of FORM[type] || []) {
      const input = document.getElementById("f-" + name);
      const error = errors.find((e) => e.path === name || e.path.startsWith(name + "."));
      const show = error && (!touchedOnly || input.dataset.touched);
      document.getElementById("f-" + name + "-error").replaceChildren(show ? sx.bi(error.zh, error.en) : "");
      input.setAttribute("aria-invalid", show ? "true" : "false");
    }
  }
  let pending = null;
  fieldsBox.addEventListener("input", (event) => {
    event.target.dataset.touched = "1";
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const got = await api("/office/api/validate", { method: "POST", body: JSON.stringify({ type, subject: subject() }) });
      if (got.ok) showErrors(got.body.errors, true);
    }, 250);
  });
  document.getElementById("issue-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const got = await api("/office/api/v1/credentials", { method: "POST", body: JSON.stringify({ type, subject: subject() }) });
    const out = document.getElementById("issue-result");
    if (got.ok) { out.replaceChildren(sx.bi("已签发：", "Issued: "), got.body.credential.id); await loadList(); }
    else { showErrors((got.body && got.body.errors) || [], false); out.textContent = got.body ? got.body.detail : String(got.status); }
  });

  const STATUS = { active: ["有效", "active"], suspended: ["暂停", "suspended"], superseded: ["已取代", "superseded"], revoked: ["已吊销", "revoked"], cancelled: ["已注销", "cancelled"] };
  async function loadList() {
    const q = document.getElementById("search").value;
    const got = await api("/office/api/credentials?q=" + encodeURIComponent(q));
    const body = document.querySelector("#credentials tbody");
    body.replaceChildren(...(got.ok ? got.body.items : []).map((c) => {
      const offer = sx.el("button", { type: "button", class: "secondary", "data-action": "offer" }, sx.bi("钱包领取码", "Wallet offer"));
      offer.onclick = () => makeOffer(c.id);
      const revoke = sx.el("button", { type: "button", "data-action": "revoke" }, sx.bi("吊销", "Revoke"));
      revoke.onclick = () => act(c, "revoke");
      const words = STATUS[c.status] || [c.status, c.status];
      return sx.el("tr", { "data-credential": c.id }, sx.el("td", { text: c.id.replace("urn:uuid:", "").slice(0, 8) + "…" }), sx.el("td", { text: c.name || "" }),
        sx.el("td", { "data-status": c.status }, sx.bi(words[0], words[1])), sx.el("td", { text: c.anchorState }),
        sx.el("td", {}, ...(c.status === "active" ? [offer, " ", revoke] : [])));
    }));
  }
  async function makeOffer(id) {
    const got = await api("/office/api/v1/credentials/" + encodeURIComponent(id) + "/offer", { method: "POST", body: "{}" });
    if (!got.ok) { document.getElementById("action-result").textContent = got.body ? got.body.detail : String(got.status); return; }
    document.getElementById("offer").hidden = false;
    document.getElementById("offer-qr").innerHTML = got.body.qrSvg;
    document.getElementById("offer-link").href = got.body.walletLink;
  }
  async function act(c, action) {
    const ok = window.confirm("确认吊销 " + (c.name || c.id) + "？此操作不可撤销。\nRevoke " + c.id + "? This cannot be undone.");
    if (!ok) return;
    const reason = c.type === "BusinessLicense" ? "licence_revoked" : "issuer_error";
    const got = await api("/office/api/v1/credentials/" + encodeURIComponent(c.id) + "/" + action, { method: "POST", body: JSON.stringify({ reason }) });
    const out = document.getElementById("action-result");
    out.dataset.result = got.ok ? "ok" : "error";
    if (got.ok) out.replaceChildren(sx.bi("已吊销，状态变更正在上链", "Revoked; the status change is on its way to the chain"));
    else out.textContent = got.body ? got.body.detail : String(got.status);
    await loadList(); await loadAnchoring(); await loadAudit();
  }
  async function loadAnchoring() {
    const got = await api("/office/api/anchoring");
    if (!got.ok) return;
    const c = got.body.credentials;
    document.getElementById("queue").replaceChildren(sx.bi(
      `待上链 ${(c.pending || 0) + (c.batched || 0)} 份，已上链 ${c.anchored || 0} 份，钱包 SD-JWT 待上链 ${got.body.sdJwtPending} 份`,
      `${(c.pending || 0) + (c.batched || 0)} waiting, ${c.anchored || 0} anchored, ${got.body.sdJwtPending} wallet SD-JWTs waiting`));
    document.querySelector("#batches tbody").replaceChildren(...got.body.batches.map((b) =>
      sx.el("tr", {}, sx.el("td", { text: String(b.id) }), sx.el("td", { text: String(b.size) }), sx.el("td", { text: String(b.block ?? "") }), sx.el("td", { text: b.tx || b.state }))));
  }
  async function loadAudit() {
    if (!scopes.includes("admin")) { document.getElementById("audit-note").replaceChildren(sx.bi("需要 admin 权限", "Needs the admin scope")); return; }
    const got = await api("/office/api/v1/audit?limit=20");
    if (!got.ok) return;
    // rows not chained yet (the worker chains them within a poll interval) first, marked
    const rows = [...(got.body.pending || []).map((r) => ({ ...r, pending: true })), ...got.body.items].slice(0, 20);
    document.querySelector("#audit tbody").replaceChildren(...rows.map((r) =>
      sx.el("tr", { "data-action": r.action, "data-pending": r.pending ? "1" : null }, sx.el("td", {}, String(r.at).replace("T", " ").slice(0, 19), ...(r.pending ? [" ", sx.bi("（待入链）", "(not chained yet)")] : [])), sx.el("td", { text: r.actor }), sx.el("td", { text: r.action }), sx.el("td", { text: r.credentialId || "" }))));
  }
  let searchTimer = null;
  document.getElementById("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadList, 250); });
  Promise.all([loadList(), loadAnchoring(), loadAudit()]).then(() => { document.body.dataset.ready = "1"; });
})();
