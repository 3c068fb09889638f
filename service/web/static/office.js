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
    BusinessLicense: [["uscc", "text"], ["name", "text"], ["entityType", "text"], ["legalRepresentative", "text"], ["businessScope", "text"], ["registeredCapital", "text"], ["establishmentDate", "date"], ["operatingTermUntil", "date"], ["domicile", "text"], ["registrationAuthority", "text"]],
  };
  const EXTRA = { residenceRegion: ["居住地区划代码", "Residence region code"], operatingTermUntil: ["营业期限至（空为长期）", "Operating term until (empty: no end)"] };
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
    if (type === "BusinessLicense") {   // 营业期限: from the establishment date, until a date or 长期 (null)
      const until = out.operatingTermUntil || null;
      delete out.operatingTermUntil;
      if (out.establishmentDate) out.operatingTerm = { from: out.establishmentDate, until };
    }
    return out;
  }
  function showErrors(errors, touchedOnly) {
    for (const [name] of FORM[type] || []) {
      const input = document.getElementById("f-" + name);
      // paths are the subject's (live check) or the request's ("subject.…", on submit)
      const paths = name === "operatingTermUntil" ? ["operatingTerm.until"] : name === "establishmentDate" ? ["establishmentDate", "operatingTerm.from"] : [name];
      const error = errors.find((e) => {
        const p = e.path.replace(/^subject\./, "");
        return paths.some((n) => p === n || p.startsWith(n + ".")) || (name === "establishmentDate" && p === "operatingTerm");
      });
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
  const statusWords = (s) => sx.bi(...(STATUS[s] || [s, s]));
  const idPath = (id) => "/office/api/v1/credentials/" + encodeURIComponent(id);
  async function loadList() {
    const q = document.getElementById("search").value;
    const got = await api("/office/api/credentials?q=" + encodeURIComponent(q));
    const body = document.querySelector("#credentials tbody");
    body.replaceChildren(...(got.ok ? got.body.items : []).map((c) => {
      const details = sx.el("button", { type: "button", class: "secondary", "data-action": "details" }, sx.bi("详情", "Details"));
      details.onclick = () => openDetail(c.id);
      const offer = sx.el("button", { type: "button", class: "secondary", "data-action": "offer" }, sx.bi("钱包领取码", "Wallet offer"));
      offer.onclick = () => makeOffer(c.id);
      const revoke = sx.el("button", { type: "button", "data-action": "revoke" }, sx.bi("吊销", "Revoke"));
      revoke.onclick = () => runOp(c, opsFor(c.type).find((o) => o.op === "revoke"));
      const live = c.status === "active";
      return sx.el("tr", { "data-credential": c.id, "data-selected": c.id === selected ? "1" : null },
        sx.el("td", { text: c.id.replace("urn:uuid:", "").slice(0, 8) + "…" }), sx.el("td", { text: c.name || "" }),
        sx.el("td", { "data-status": c.status }, statusWords(c.status)), sx.el("td", { text: c.anchorState }),
        sx.el("td", {}, details, ...(live ? [" ", offer] : []), ...(live && scopes.includes("revoke") ? [" ", revoke] : [])));
    }));
  }
  async function makeOffer(id) {
    const got = await api(idPath(id) + "/offer", { method: "POST", body: "{}" });
    if (!got.ok) { document.getElementById("action-result").textContent = got.body ? got.body.detail : String(got.status); return; }
    document.getElementById("offer").hidden = false;
    document.getElementById("offer-qr").innerHTML = got.body.qrSvg;
    document.getElementById("offer-link").href = got.body.walletLink;
  }

  // ---------------------------------------------------------------- life-cycle steps
  // Each step: what it is called, what it does (shown in the confirmation), the scope it needs
  // and the body it sends (from the dialog's fields, if any).
  const OPS = {
    ResidencePermit: [
      { op: "endorse", zh: "签注", en: "Endorse", scope: "lifecycle",
        what: ["签发新版本至下一年度，旧版本标记为已取代（签注）。", "Issues a new version for the next year; the old one is superseded (endorsed)."] },
      { op: "renew", zh: "换领", en: "Renew (damaged)", scope: "lifecycle",
        what: ["证件损坏换领：内容与有效期不变的新版本，旧版本标记为已取代（损坏换领）。", "Damaged card: a new version, same content and term; the old one is superseded (damaged)."] },
      { op: "replace", zh: "补领", en: "Replace (lost)", scope: "lifecycle",
        what: ["证件遗失补领：新版本，旧版本在链上吊销（遗失补领），不可撤销。", "Lost card: a new version; the old one is revoked on chain (lost). This cannot be undone."] },
      { op: "change-address", zh: "变更居住地址", en: "Change address", scope: "lifecycle", fields: "address",
        what: ["本市内：新版本，签发日期不变；迁往区域内另一城市：新证，居住年限重新起算。旧版本标记为已取代。", "Same city: a new version, issue date kept; another city in the region: a fresh permit, residence years restart. The old one is superseded."] },
      { op: "cancel", zh: "注销", en: "Cancel", scope: "revoke", fields: "cancel",
        what: ["注销后在链上吊销，不可撤销。", "Cancelled: revoked on chain. This cannot be undone."] },
      { op: "revoke", zh: "吊销（签发错误）", en: "Revoke (issuer error)", scope: "revoke", body: () => ({ reason: "issuer_error" }),
        what: ["因签发错误吊销，在链上吊销，不可撤销。", "Revoked for an issuer error, on chain. This cannot be undone."] },
    ],
    BusinessLicense: [
      { op: "amend", zh: "变更登记", en: "Amend", scope: "lifecycle", fields: "amend",
        what: ["以变更后的登记事项签发新版本（发照日期为今日），旧版本标记为已取代（变更登记）。", "Issues a new version with the changed fields (issued today); the old one is superseded (amended)."] },
      { op: "revoke", zh: "吊销", en: "Revoke", scope: "revoke", body: () => ({ reason: "licence_revoked" }),
        what: ["吊销营业执照，在链上吊销，不可撤销。", "Revokes the licence on chain. This cannot be undone."] },
      { op: "cancel", zh: "注销", en: "Cancel", scope: "revoke", body: () => ({ reason: "licence_cancelled" }),
        what: ["注销登记，在链上吊销，不可撤销。", "Cancels the registration; revoked on chain. This cannot be undone."] },
    ],
  };
  const opsFor = (kind) => OPS[kind] || [];
  const AMENDABLE = ["name", "entityType", "legalRepresentative", "businessScope", "registeredCapital", "domicile", "registrationAuthority"];
  const FACTS = { windowStart: ["签注办理期开始", "Window opens"], validUntil: ["有效期至", "Valid until"], newestId: ["最新版本", "Newest version"], residenceSince: ["连续居住起算", "Resident since"] };

  let selected = null;        // the credential shown in the detail view
  let selectedDoc = null;     // its signed document (for the dialog's current values)

  function showProblem(box, body, status) {
    // RFC 9457 problem details: title and detail (中文 first), the stable code, the facts
    if (!body) { box.replaceChildren(sx.bi("请求失败 " + status, "Request failed " + status)); box.hidden = false; return; }
    const facts = Object.entries(body).filter(([k]) => !["type", "title", "status", "detail", "code", "errors"].includes(k));
    box.dataset.code = body.code || "";
    box.replaceChildren(
      sx.el("strong", { text: body.title || String(status) }),
      sx.el("p", { class: "problem-detail", text: body.detail || "" }),
      ...(body.code ? [sx.el("p", {}, sx.bi("代码：", "Code: "), sx.el("code", { text: body.code }))] : []),
      ...(facts.length ? [sx.el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [
        sx.el("dt", { "data-fact": k }, FACTS[k] ? sx.bi(...FACTS[k]) : document.createTextNode(k)),
        sx.el("dd", { "data-fact": k, text: sx.show(v) })]))] : []));
    box.hidden = false;
  }

  async function openDetail(id) {
    selected = id;
    const section = document.getElementById("detail");
    const [bundle, story] = await Promise.all([api(idPath(id)), api(idPath(id) + "/history")]);
    document.getElementById("problem").hidden = true;
    if (!bundle.ok) { section.hidden = false; showProblem(document.getElementById("problem"), bundle.body, bundle.status); return; }
    selectedDoc = bundle.body.credential;
    const kind = selectedDoc.type.find((t) => t !== "VerifiableCredential");
    const subject = selectedDoc.credentialSubject || {};
    document.getElementById("detail-title").replaceChildren(sx.bi(kind === "BusinessLicense" ? "营业执照 " : "居住证 ", kind === "BusinessLicense" ? "Business licence " : "Residence permit "), subject.name || "");
    const facts = [["ID", id], ...(kind === "BusinessLicense" ? [["uscc", subject.uscc], ["legalRepresentative", subject.legalRepresentative], ["domicile", subject.domicile]] : [["residenceAddress", subject.residenceAddress], ["residenceRegion", subject.residenceRegion]]), ["validUntil", selectedDoc.validUntil || "长期 / none"]];
    document.getElementById("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [
      sx.el("dt", {}, k === "ID" ? document.createTextNode("ID") : k === "validUntil" ? sx.bi("有效期至", "Valid until") : k === "residenceRegion" ? sx.bi("居住地区划", "Residence region") : sx.label(kind, k)),
      sx.el("dd", { text: v || "" })]));
    const current = story.ok ? story.body.versions.find((v) => v.id === id) : null;
    const status = current ? current.status : "active";
    const actions = opsFor(kind).filter((o) => scopes.includes(o.scope) && (status === "active" || (status === "suspended" && ["endorse", "cancel", "revoke"].includes(o.op))));
    document.getElementById("detail-actions").replaceChildren(...actions.map((o) => {
      const b = sx.el("button", { type: "button", "data-op": o.op }, sx.bi(o.zh, o.en));
      b.onclick = () => runOp({ id, type: kind, name: subject.name }, o);
      return b;
    }));
    renderHistory(story);
    section.hidden = false;
    document.querySelectorAll("#credentials tr").forEach((tr) => { tr.dataset.selected = tr.dataset.credential === id ? "1" : ""; });
  }

  function renderHistory(story) {
    const tbody = document.querySelector("#history tbody");
    if (!story.ok) { tbody.replaceChildren(); return; }
    const h = story.body;
    document.getElementById("history-summary").replaceChildren(...(h.residenceSince ? [sx.bi(`连续居住自 ${h.residenceSince}（${h.residenceYears ?? 0} 年）`, `Resident since ${h.residenceSince} (${h.residenceYears ?? 0} years)`)] : []));
    tbody.replaceChildren(...h.versions.map((v) => sx.el("tr", { "data-version": String(v.version), "data-id": v.id, "data-status": v.status, "data-reason": v.reason || "", "data-current": v.id === h.current ? "1" : null },
      sx.el("td", { text: "v" + v.version }),
      sx.el("td", { text: v.id.replace("urn:uuid:", "").slice(0, 8) + "…", title: v.id }),
      sx.el("td", {}, statusWords(v.status)),
      sx.el("td", {}, v.reason ? sx.bi(v.reasonZh || v.reason, v.reasonEn || v.reason) : ""),
      sx.el("td", { text: [(v.validFrom || "").slice(0, 10), (v.validUntil || "").slice(0, 10)].join(" – ") }),
      sx.el("td", { text: v.anchor.state + (v.statusOnChain === false ? " · 状态待上链 status pending" : "") }))));
  }

  // ---------------------------------------------------------------- the confirmation dialog
  const dialog = document.getElementById("confirm-dialog");
  const dialogFields = document.getElementById("confirm-fields");
  const dialogProblem = document.getElementById("confirm-problem");
  let dialogRun = null;
  function field(name, labelNode, value, attrs) {
    const id = "d-" + name;
    const input = sx.el("input", { id, name, value: value ?? "", "aria-describedby": id + "-error", ...(attrs || {}) });
    return sx.el("div", {}, sx.el("label", { for: id }, labelNode), input, sx.el("p", { id: id + "-error", class: "field-error", "aria-live": "polite" }));
  }
  function dialogErrors(errors, paths) {
    for (const name of paths) {
      const input = document.getElementById("d-" + name);
      if (!input) continue;
      const error = errors.find((e) => { const p = e.path.replace(/^subject\./, ""); return p === name || p.startsWith(name + "."); });
      document.getElementById("d-" + name + "-error").replaceChildren(error ? sx.bi(error.zh, error.en) : "");
      input.setAttribute("aria-invalid", error ? "true" : "false");
    }
  }
  function buildFields(o, c) {
    const subject = (selectedDoc && selectedDoc.id === c.id ? selectedDoc.credentialSubject : null) || {};
    if (o.fields === "address") {
      dialogFields.replaceChildren(
        field("residenceAddress", sx.label("ResidencePermit", "residenceAddress"), subject.residenceAddress, { required: "" }),
        field("residenceRegion", sx.bi("居住地区划代码", "Residence region code"), subject.residenceRegion, { required: "", inputmode: "numeric" }));
      let timer = null;
      dialogFields.oninput = () => {
        clearTimeout(timer);
        timer = setTimeout(async () => {   // live validation, as in the issue form
          const draft = { ...subject, residenceAddress: document.getElementById("d-residenceAddress").value.trim(), residenceRegion: document.getElementById("d-residenceRegion").value.trim() };
          const got = await api("/office/api/validate", { method: "POST", body: JSON.stringify({ type: "ResidencePermit", subject: draft }) });
          if (got.ok) dialogErrors(got.body.errors, ["residenceAddress", "residenceRegion"]);
        }, 250);
      };
      return () => ({ residenceAddress: document.getElementById("d-residenceAddress").value.trim(), residenceRegion: document.getElementById("d-residenceRegion").value.trim() });
    }
    if (o.fields === "amend") {
      dialogFields.replaceChildren(...AMENDABLE.map((n) => field(n, sx.label("BusinessLicense", n), subject[n])),
        field("operatingTermUntil", sx.bi("营业期限至（空为长期）", "Operating term until (empty: no end)"), (subject.operatingTerm || {}).until, { type: "date" }));
      const changed = () => {
        const out = {};
        for (const n of AMENDABLE) { const v = document.getElementById("d-" + n).value.trim(); if (v !== (subject[n] || "")) out[n] = v; }
        const until = document.getElementById("d-operatingTermUntil").value || null;
        if (until !== ((subject.operatingTerm || {}).until || null)) out.operatingTerm = { ...(subject.operatingTerm || {}), until };
        return out;
      };
      let timer = null;
      dialogFields.oninput = () => {
        clearTimeout(timer);
        timer = setTimeout(async () => {
          const got = await api("/office/api/validate", { method: "POST", body: JSON.stringify({ type: "BusinessLicense", subject: { ...subject, ...changed() } }) });
          if (got.ok) dialogErrors(got.body.errors, [...AMENDABLE, "operatingTermUntil"].map((n) => n === "operatingTermUntil" ? "operatingTerm" : n));
        }, 250);
      };
      return () => ({ subject: changed() });
    }
    if (o.fields === "cancel") {
      const select = sx.el("select", { id: "d-reason", name: "reason" },
        sx.el("option", { value: "hukou_registered", text: "落户注销 hukou registered" }),
        sx.el("option", { value: "deceased", text: "死亡注销 deceased" }));
      dialogFields.replaceChildren(sx.el("label", { for: "d-reason" }, sx.bi("注销原因", "Reason")), select);
      dialogFields.oninput = null;
      return () => ({ reason: select.value });
    }
    dialogFields.replaceChildren();
    dialogFields.oninput = null;
    return o.body || (() => ({}));
  }
  function runOp(c, o) {
    if (!o) return;
    document.getElementById("confirm-title").replaceChildren(sx.bi("确认" + o.zh, "Confirm: " + o.en));
    document.getElementById("confirm-text").replaceChildren(sx.bi(`${c.name || ""}（${c.id}）：${o.what[0]}`, `${c.name || ""} (${c.id}): ${o.what[1]}`));
    document.getElementById("confirm-ok").replaceChildren(sx.bi("确认" + o.zh, o.en));
    document.getElementById("confirm-ok").dataset.op = o.op;
    dialogProblem.replaceChildren();
    const body = buildFields(o, c);
    const idempotency = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    dialogRun = async () => {
      const got = await api(idPath(c.id) + "/" + o.op, { method: "POST", body: JSON.stringify(body()), headers: { "Idempotency-Key": idempotency } });
      if (!got.ok && got.status === 422 && got.body && got.body.errors) {   // fixable here: keep the dialog open
        dialogErrors(got.body.errors, ["residenceAddress", "residenceRegion", ...AMENDABLE, "operatingTerm"]);
        showProblem(dialogProblem, got.body, got.status);
        return false;
      }
      const out = document.getElementById("detail-result");
      const problem = document.getElementById("problem");
      const action = document.getElementById("action-result");
      action.dataset.result = out.dataset.result = got.ok ? "ok" : "error";
      out.dataset.op = o.op;
      if (got.ok) {
        problem.hidden = true;
        const newId = got.body.credential ? got.body.credential.id : null;
        const words = newId ? [`已${o.zh}，新版本 ${newId}，正在上链`, `${o.en}: new version ${newId}, on its way to the chain`] : [`已${o.zh}，状态变更正在上链`, `${o.en}: the status change is on its way to the chain`];
        out.replaceChildren(sx.bi(...words));
        action.replaceChildren(sx.bi(...words));
        selected = newId || c.id;
      } else {
        out.replaceChildren(sx.bi(o.zh + "未办理", o.en + " refused"));
        action.replaceChildren(sx.bi(o.zh + "未办理", o.en + " refused"));
        showProblem(problem, got.body, got.status);
      }
      await Promise.all([loadList(), loadAnchoring(), loadAudit()]);
      const problemShown = !problem.hidden;
      await openDetail(selected);
      if (problemShown) showProblem(problem, got.body, got.status);  // openDetail clears it
      return true;
    };
    dialog.showModal();
    const first = dialogFields.querySelector("input, select");
    (first || document.getElementById("confirm-cancel")).focus();
  }
  document.getElementById("confirm-cancel").addEventListener("click", () => dialog.close("cancel"));
  document.getElementById("confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = document.getElementById("confirm-ok");
    if (!dialogRun || ok.disabled) return;
    ok.disabled = true;
    try { if (await dialogRun()) dialog.close("done"); } finally { ok.disabled = false; }
  });
  dialog.addEventListener("close", () => { dialogRun = null; if (selected) { const d = document.getElementById("detail"); if (!d.hidden) d.focus(); } });
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
