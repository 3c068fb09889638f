// The citizen wallet: ES256 keys made by WebCrypto (non-extractable) and the wallet's own
// credentials, both in this browser's IndexedDB; OpenID4VCI claim and OpenID4VP presentation.
// A claim brings a batch of single-use copies, each with its own key; each is shown once.
"use strict";
(function () {
  const sx = window.sx;
  const enc = new TextEncoder();
  const TYPES = { ResidencePermit: ["居住证", "Residence permit"], BusinessLicense: ["营业执照", "Business licence"] };
  const STATUS = {
    valid: ["有效", "Valid"], pending: ["上链中", "Anchoring pending"], suspended: ["暂停使用", "Suspended"],
    revoked: ["已吊销", "Revoked"], cancelled: ["已注销", "Cancelled"], superseded: ["已被取代", "Superseded"],
  };

  // ---------------------------------------------------------------- storage (IndexedDB)
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("suixin-wallet", 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("keys");
        db.createObjectStore("credentials", { keyPath: "id" });
        db.createObjectStore("log", { autoIncrement: true });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function tx(store, mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const t = db.transaction(store, mode);
      const result = fn(t.objectStore(store));
      t.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      t.onerror = () => reject(t.error);
    });
  }
  // credentials and log entries are sealed under the PIN key once a PIN is set (see the PIN lock)
  const getAll = async (store) => Promise.all((await tx(store, "readonly", (s) => s.getAll())).map((v) => openRecord(store, v)));
  const put = async (store, value, key) => { const sealed = await sealRecord(store, value); return tx(store, "readwrite", (s) => (key === undefined ? s.put(sealed) : s.put(sealed, key))); };
  const addLog = async (entry) => { const sealed = await sealRecord("log", { at: new Date().toISOString(), ...entry }); return tx("log", "readwrite", (s) => s.add(sealed)); };

  // ---------------------------------------------------------------- the PIN lock
  // A 6-digit PIN derives (PBKDF2-SHA-256, 600,000 iterations, a random salt) a non-extractable
  // AES-GCM key held in memory only while the wallet is open; credentials and log entries are
  // stored encrypted under it (the record's store and id as associated data). The holder key
  // pair stays a non-extractable WebCrypto key: WebCrypto cannot wrap a key it may not export,
  // so the PIN guards what the key is used for (the credentials), not the key itself. Wrong PINs
  // wait 1, 2, 4, 8 s; the fifth in a row locks the wallet for 15 minutes.
  const PIN = { iterations: 600000, tries: 5, lockMs: 15 * 60 * 1000, check: "suixin-wallet-pin-check" };
  const SEALED_STORES = ["credentials", "log"];
  let pinKey = null;
  const pinState = () => { try { return JSON.parse(localStorage.getItem("suixin-pin") || "null"); } catch (e) { return null; } };
  const savePinState = (state) => localStorage.setItem("suixin-pin", JSON.stringify(state));
  async function derivePinKey(pin, salt, iterations) {
    const base = await crypto.subtle.importKey("raw", enc.encode(pin), "PBKDF2", false, ["deriveKey"]);
    return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: unb64u(salt), iterations }, base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  }
  async function seal(key, text, aad) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(aad) }, key, enc.encode(text));
    return { iv: b64u(iv), ct: b64u(ct) };
  }
  async function unseal(key, sealed, aad) {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64u(sealed.iv), additionalData: enc.encode(aad) }, key, unb64u(sealed.ct));
    return new TextDecoder().decode(plain);
  }
  const aadOf = (store, value) => store + ":" + (value.id === undefined ? "" : value.id);
  async function sealRecord(store, value, key) {
    const k = key || pinKey;
    if (!k || !SEALED_STORES.includes(store)) return value;
    const shell = value.id === undefined ? {} : { id: value.id };
    return { ...shell, sealed: await seal(k, JSON.stringify(value), aadOf(store, shell)) };
  }
  async function openRecord(store, value, key) {
    if (!value || !value.sealed) return value;
    const k = key || pinKey;
    if (!k) throw new Error("the wallet is locked");
    return JSON.parse(await unseal(k, value.sealed, aadOf(store, value)));
  }
  // every stored record opened with one key (none: as stored) and sealed again with another
  async function resealAll(from, to) {
    for (const store of SEALED_STORES) {
      const db = await openDb();
      const [keys, values, keyPath] = await new Promise((resolve, reject) => {
        const t = db.transaction(store, "readonly");
        const s = t.objectStore(store);
        const k = s.getAllKeys(); const v = s.getAll();
        t.oncomplete = () => resolve([k.result, v.result, s.keyPath]);
        t.onerror = () => reject(t.error);
      });
      const out = [];
      for (const v of values) out.push(await sealRecord(store, await openRecord(store, v, from), to));
      await tx(store, "readwrite", (s) => { out.forEach((v, i) => (keyPath ? s.put(v) : s.put(v, keys[i]))); });
    }
  }
  // the PIN as the holder typed it: 6 digits, or a reason in both languages
  function pinProblem(pin) {
    return /^[0-9]{6}$/.test(pin) ? null : ["PIN 码须为 6 位数字", "The PIN must be 6 digits"];
  }
  async function setPin(oldPin, newPin) {
    const state = pinState();
    let oldKey = null;
    if (state) {
      oldKey = await tryPin(oldPin);  // counts as an attempt: wrong ones back off and lock
      if (!oldKey) return false;
    }
    const salt = b64u(crypto.getRandomValues(new Uint8Array(16)));
    const key = await derivePinKey(newPin, salt, PIN.iterations);
    await resealAll(oldKey, key);
    savePinState({ salt, iterations: PIN.iterations, check: await seal(key, PIN.check, "pin"), failures: 0, lockedUntil: 0 });
    pinKey = key;
    return true;
  }
  // null when wrong (or locked): a wrong PIN is counted, waits, and the fifth locks
  async function tryPin(pin) {
    const state = pinState();
    if (!state) return null;
    if (state.lockedUntil > Date.now()) return null;
    const key = await derivePinKey(pin, state.salt, state.iterations);
    try {
      if ((await unseal(key, state.check, "pin")) !== PIN.check) throw new Error("check");
    } catch (e) {
      state.failures = (state.failures || 0) + 1;
      state.lockedUntil = state.failures >= PIN.tries ? Date.now() + PIN.lockMs : 0;
      state.waitUntil = Date.now() + 1000 * 2 ** (state.failures - 1);
      savePinState(state);
      return null;
    }
    savePinState({ ...state, failures: 0, lockedUntil: 0, waitUntil: 0 });
    return key;
  }
  // what to say after a wrong PIN, or when locked (times in Beijing time)
  function pinRefusal() {
    const state = pinState() || {};
    if (state.lockedUntil > Date.now()) {
      const until = when(new Date(state.lockedUntil).toISOString());
      return ["PIN 码错误次数过多，钱包已锁定至 " + until, "Too many wrong PINs: the wallet is locked until " + until, "locked"];
    }
    const left = PIN.tries - (state.failures || 0);
    return ["PIN 码不正确，还可尝试 " + left + " 次", "Wrong PIN: " + left + " attempts left", "wrong"];
  }
  // a button that waits out the back-off before the next attempt
  function holdBack(button) {
    const state = pinState() || {};
    const until = Math.max(state.waitUntil || 0, state.lockedUntil || 0);
    if (until <= Date.now()) return;
    button.disabled = true;
    setTimeout(() => { button.disabled = false; }, Math.min(until - Date.now(), 2 ** 31 - 1));
  }
  function showPinProblem(id, words) {
    const p = document.getElementById(id);
    p.dataset.problem = words ? words[2] || "invalid" : "";
    p.replaceChildren(...(words ? [sx.bi(words[0], words[1])] : []));
  }
  // asks the PIN when one is set; resolves once the wallet is open
  function unlock() {
    const state = pinState();
    if (!state) return Promise.resolve();
    const panel = document.getElementById("pin-unlock");
    const body = document.getElementById("wallet-body");
    const form = document.getElementById("pin-unlock-form");
    const input = document.getElementById("pin-unlock-input");
    const button = document.getElementById("pin-unlock-button");
    panel.hidden = false; body.hidden = true;
    document.body.dataset.pin = "locked";
    installPinReset();
    if (state.lockedUntil > Date.now()) showPinProblem("pin-unlock-problem", pinRefusal());
    holdBack(button);
    input.focus();
    return new Promise((resolve) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (button.disabled) return;
        const pin = input.value;
        const bad = pinProblem(pin);
        if (bad) { showPinProblem("pin-unlock-problem", bad); return; }
        button.disabled = true;
        const key = await tryPin(pin);
        button.disabled = false;
        input.value = "";
        if (!key) { showPinProblem("pin-unlock-problem", pinRefusal()); holdBack(button); input.focus(); return; }
        pinKey = key;
        showPinProblem("pin-unlock-problem", null);
        panel.hidden = true; body.hidden = false;
        document.body.dataset.pin = "open";
        resolve();
      });
    });
  }
  // a forgotten PIN: the sealed records cannot be opened by anyone, so the only way on is to
  // delete them (and the holder key) and claim again
  function installPinReset() {
    document.getElementById("pin-forgot").onclick = () => { document.getElementById("pin-reset").hidden = false; };
    document.getElementById("pin-reset-confirm").onclick = async () => {
      localStorage.removeItem("suixin-pin");
      await new Promise((resolve) => { const q = indexedDB.deleteDatabase("suixin-wallet"); q.onsuccess = q.onerror = q.onblocked = resolve; });
      location.replace("/wallet");
    };
  }

  // the set/change form: shown when no PIN is set, or when the holder asks to change it
  function pinSetup() {
    const panel = document.getElementById("pin-setup");
    const change = document.getElementById("pin-change");
    const show = (changing) => {
      panel.hidden = false;
      document.getElementById("pin-old-row").hidden = !changing;
      change.hidden = true;
    };
    if (!pinState()) show(false); else change.hidden = false;
    change.onclick = () => { show(true); document.getElementById("pin-old").focus(); };
    document.getElementById("pin-setup-form").onsubmit = async (event) => {
      event.preventDefault();
      const button = document.getElementById("pin-setup-button");
      if (button.disabled) return;
      const fresh = document.getElementById("pin-new").value;
      const bad = pinProblem(fresh) || (fresh !== document.getElementById("pin-repeat").value ? ["两次输入的 PIN 码不一致", "The two PINs differ"] : null);
      if (bad) { showPinProblem("pin-setup-problem", bad); return; }
      button.disabled = true;
      const had = !!pinState();
      const done = await setPin(document.getElementById("pin-old").value, fresh);
      button.disabled = false;
      for (const id of ["pin-old", "pin-new", "pin-repeat"]) document.getElementById(id).value = "";
      if (!done) { showPinProblem("pin-setup-problem", pinRefusal()); holdBack(button); return; }
      showPinProblem("pin-setup-problem", null);
      panel.hidden = true; change.hidden = false;
      document.body.dataset.pin = "open";
      setStatus(had ? "PIN 码已更改" : "PIN 码已设置：证照已加密保存", had ? "PIN changed" : "PIN set: the credentials are stored encrypted");
    };
  }
  // before presenting: the PIN again, when one is set
  async function confirmPin() {
    if (!pinState()) return true;
    const row = document.getElementById("share-pin-row");
    const input = document.getElementById("share-pin");
    row.hidden = false;
    const bad = pinProblem(input.value);
    if (bad) { showPinProblem("share-pin-problem", bad); input.focus(); return false; }
    const key = await tryPin(input.value);
    input.value = "";
    if (!key) { showPinProblem("share-pin-problem", pinRefusal()); holdBack(document.getElementById("share-button")); input.focus(); return false; }
    showPinProblem("share-pin-problem", null);
    return true;
  }

  // an error with its reason in both languages (e.message the English)
  function fail(zh, en) { const e = new Error(en); e.zh = zh; return e; }
  // the 中文 of an error: its own, or plainly that something failed (never English in 中文 mode)
  const zhOf = (e) => e.zh || "网络不通或内容无效";

  // ---------------------------------------------------------------- encodings and JWS
  function b64u(bytes) {
    let s = "";
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(text) {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  }
  const b64uJson = (value) => b64u(enc.encode(JSON.stringify(value)));
  const fromB64uJson = (text) => JSON.parse(new TextDecoder().decode(unb64u(text)));
  async function sha256b64u(text) { return b64u(await crypto.subtle.digest("SHA-256", enc.encode(text))); }

  async function holderKey() {
    const found = await tx("keys", "readonly", (s) => s.get("holder"));
    if (found) return found;
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    await put("keys", pair, "holder");
    return pair;
  }
  async function publicJwk(pair) {
    const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
    return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  }
  async function signJwt(header, payload, pair) {
    const input = b64uJson(header) + "." + b64uJson(payload);
    // WebCrypto's ECDSA signature is already r||s (IEEE P1363), as JWS ES256 wants
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, enc.encode(input));
    return input + "." + b64u(sig);
  }
  function parseSdJwt(sdJwt) {
    const parts = sdJwt.split("~");
    const payload = fromB64uJson(parts[0].split(".")[1]);
    const disclosures = parts.slice(1, -1).map((d) => { const [, name, value] = fromB64uJson(d); return { name, value, encoded: d }; });
    return { jwt: parts[0], payload, disclosures };
  }

  // ---------------------------------------------------------------- claim (OpenID4VCI)
  // an OAuth error: error_description is ASCII (English); the office adds the 中文 beside it
  const oauthError = (got, what) => fail(
    (got.body && got.body["error_description#zh-CN"])
      || (what === "token" ? "领取码无效或已使用" : "签发机关未能发放凭证") + "（HTTP " + got.status + "）",
    (got.body && got.body.error_description) || what + " " + got.status);
  async function claim(offer) {
    const issuer = offer.credential_issuer;
    const code = offer.grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"];
    const form = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:pre-authorized_code", "pre-authorized_code": code });
    const token = await sx.json(issuer + "/v1/oid4vci/token", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString() });
    if (!token.ok) throw oauthError(token, "token");
    // a batch (OpenID4VCI batch issuance): the first copy is bound to the wallet's own key and
    // only signs authorised use (授权调用), never shown to a counter; every other copy has a
    // non-extractable key of its own and is shown at one counter only, so no two counters see
    // the same JWT, key, salts or status index
    const { got, ids } = await fetchCopies(issuer, token.body, offer.credential_configuration_ids[0], true);
    const copies = ids.slice(1).map((id, i) => ({ id, sdJwt: got[i + 1], anchor: null, used: false }));
    const parsed = parseSdJwt(got[0]);
    const type = parsed.payload.vct.split("/").pop();
    await put("credentials", { id: ids[0], issuer, sdJwt: got[0], copies, type, configuration: offer.credential_configuration_ids[0],
      refreshToken: token.body.refresh_token, anchor: null, status: "pending", claimedAt: new Date().toISOString() });
    await addLog({ kind: "claim", type, issuer: parsed.payload.iss });
  }

  // One batch: a fresh non-extractable key per copy (the first, when ``own``, is the wallet's
  // own key, for authorised use), one proof each over the c_nonce; the keys of the copies kept.
  async function fetchCopies(issuer, token, configuration, own) {
    const meta = await sx.json(issuer + "/.well-known/openid-credential-issuer");
    const size = Math.max(2, Math.min(10, (meta.ok && meta.body.batch_credential_issuance && meta.body.batch_credential_issuance.batch_size) || 2));
    const pairs = own ? [await holderKey()] : [];
    while (pairs.length < size) pairs.push(await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]));
    const iat = Math.floor(Date.now() / 1000);
    const proofs = [];
    for (const pair of pairs) {
      proofs.push(await signJwt({ typ: "openid4vci-proof+jwt", alg: "ES256", jwk: await publicJwk(pair) },
        { aud: issuer, iat, nonce: token.c_nonce }, pair));
    }
    const answer = await sx.json(issuer + "/v1/oid4vci/credential", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token.access_token },
      body: JSON.stringify({ credential_configuration_id: configuration, proofs: { jwt: proofs } }),
    });
    if (!answer.ok) throw oauthError(answer, "credential");
    const got = answer.body.credentials.map((c) => c.credential);
    const ids = answer.body.walletCredentialIds || [answer.body.walletCredentialId];
    for (let i = own ? 1 : 0; i < got.length; i++) await put("keys", pairs[i], "copy:" + ids[i]);
    return { got, ids };
  }

  // New copies only when the holder asks (the issuer learns of it): the refresh token, spent
  // on use, for a batch of fresh single-use copies; a credential no longer in force gets none.
  async function moreCopies(shown) {
    const c = (await getAll("credentials")).find((x) => x.id === shown.id) || shown;  // as stored now
    if (!c.refreshToken) throw fail("没有可用的刷新令牌：请到签发机关重新领取", "no refresh token: claim again at the office");
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: c.refreshToken });
    const token = await sx.json(c.issuer + "/v1/oid4vci/token", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString() });
    if (!token.ok) throw oauthError(token, "token");
    c.refreshToken = token.body.refresh_token;
    await put("credentials", c);  // the spent token is gone before anything else happens
    const { got, ids } = await fetchCopies(c.issuer, token.body, c.configuration || (c.type + "_sd_jwt"), false);
    c.copies = [...(c.copies || []), ...ids.map((id, i) => ({ id, sdJwt: got[i], anchor: null, used: false }))];
    await put("credentials", c);
  }

  // the single-use copies a card has left to show (a card claimed before copies: its own one)
  const unused = (c) => (c.copies ? c.copies.filter((k) => !k.used) : [{ id: c.id, sdJwt: c.sdJwt, anchor: c.anchor, legacy: true }]);

  async function refresh() {
    for (const c of await getAll("credentials")) {
      const state = await sx.json(c.issuer + "/v1/oid4vci/credentials/" + c.id);
      if (!state.ok) continue;
      c.anchor = state.body.anchor;
      const office = state.body.status;
      c.status = office === "active" ? (state.body.anchorState === "anchored" ? "valid" : "pending") : office;
      c.statusReason = state.body.statusReason;
      c.statusReasonText = state.body.statusReasonText;
      c.issuerName = state.body.issuerName;
      c.credentialId = state.body.credentialId;  // the holder's own, for authorised use only
      for (const copy of (c.copies || []).filter((k) => !k.used && !k.anchor)) {  // each copy's own receipt
        const own = await sx.json(c.issuer + "/v1/oid4vci/credentials/" + copy.id);
        if (own.ok) copy.anchor = own.body.anchor;
      }
      await put("credentials", c);
    }
  }

  // ---------------------------------------------------------------- present (OpenID4VP)
  // Each copy is shown once: it is marked used, and its key and text forgotten, before the
  // answer leaves, so a failed post never lets it be shown again.
  async function makePresentation(request, credential, names) {
    const fresh = (await getAll("credentials")).find((c) => c.id === credential.id) || credential;
    const copy = unused(fresh).find((k) => k.anchor) || unused(fresh)[0];
    if (!copy) throw fail("出示副本已用完：请领取新副本", "no unused copy left");
    const pair = copy.legacy ? await holderKey() : await tx("keys", "readonly", (st) => st.get("copy:" + copy.id));
    if (!pair) throw fail("该副本的密钥已不存在", "the copy's key is gone");
    const parsed = parseSdJwt(copy.sdJwt);
    const kept = parsed.disclosures.filter((d) => names.includes(d.name)).map((d) => d.encoded);
    const presented = [parsed.jwt, ...kept].join("~") + "~";
    const kb = await signJwt({ typ: "kb+jwt", alg: "ES256" },
      { iat: Math.floor(Date.now() / 1000), aud: request.client_id, nonce: request.nonce, sd_hash: await sha256b64u(presented) },
      pair);
    if (!copy.legacy) {
      const stored = fresh.copies.find((k) => k.id === copy.id);
      stored.used = true; stored.sdJwt = null; stored.usedAt = new Date().toISOString();
      await put("credentials", fresh);
      await tx("keys", "readwrite", (st) => st.delete("copy:" + copy.id));
    }
    return { format: "dc+sd-jwt", presentation: presented + kb, anchor: copy.anchor };
  }

  // did:key (Ed25519): multibase base58btc of the multicodec 0xed01 and the 32-byte key
  const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  function unb58(text) {
    let n = 0n;
    for (const c of text) { const v = B58.indexOf(c); if (v < 0) throw new Error("not base58"); n = n * 58n + BigInt(v); }
    const out = [];
    while (n > 0n) { out.unshift(Number(n % 256n)); n /= 256n; }
    for (const c of text) { if (c !== "1") break; out.unshift(0); }
    return Uint8Array.from(out);
  }
  function didKeyEd25519(did) {
    const m = /^did:key:z([1-9A-HJ-NP-Za-km-z]+)$/.exec(did);
    const raw = m ? unb58(m[1]) : null;
    if (!raw || raw.length !== 34 || raw[0] !== 0xed || raw[1] !== 0x01) throw fail("核验方的密钥不是 Ed25519 did:key", "the requester's key is not an Ed25519 did:key");
    return raw.slice(2);
  }
  // ---------------------------------------------------------------- the trust list
  // Every accredited authority with its registered names and keys (validFrom, revokedAt), as
  // the holder's own office reads them from the TrustRegistry: fetched whole at claim or
  // refresh (nobody learns which counter asks) and kept in this origin's localStorage (public
  // facts; no IndexedDB schema change).
  async function refreshTrustList() {
    const got = await sx.json(location.origin + "/v1/trust-list", { cache: "no-cache" });  // a revocation shows at once
    if (!got.ok || !got.body || got.body.version !== "suixin-trust-list/1" || !Array.isArray(got.body.authorities)) {
      throw fail("无法取得信任列表（HTTP " + got.status + "）", "cannot fetch the trust list (HTTP " + got.status + ")");
    }
    localStorage.setItem("suixin-trust-list", JSON.stringify({ fetchedAt: new Date().toISOString(), list: got.body }));
  }
  function storedTrustList() {
    try { return JSON.parse(localStorage.getItem("suixin-trust-list") || "null"); } catch (e) { return null; }
  }

  // who signed a request object named by another DID than a did:key: an accredited
  // authority's key, valid now, on the kept trust list is "verified" with its registered name;
  // a key the list has but not valid now (revoked, rotated out, authority suspended) is
  // checked and shown unverified; a DID the list does not know cannot be checked at all
  async function requesterOf(header, signingInput, sig, did) {
    const kept = storedTrustList();
    const authority = kept ? kept.list.authorities.find((a) => a.did === did) : null;
    const key = authority ? authority.keys.find((k) => k.id === header.kid) : null;
    if (!key || !key.publicKeyJwk || !String(header.kid).startsWith(did + "#")) return { signed: false, checked: false, did, asOf: kept && kept.fetchedAt };
    const verifyKey = await crypto.subtle.importKey("jwk", key.publicKeyJwk, { name: "Ed25519" }, false, ["verify"]);
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, verifyKey, sig, signingInput))) throw fail("请求的签名无效", "the request's signature does not verify");
    // now: the device's clock, but never before the block the list was read at
    const now = Math.max(Math.floor(Date.now() / 1000), (kept.list.block && kept.list.block.timestamp) || 0);
    const valid = authority.status === "active" && key.validFrom <= now && (key.revokedAt === 0 || now < key.revokedAt);
    return valid
      ? { signed: true, verified: true, did, nameZh: authority.nameZh, nameEn: authority.nameEn, asOf: kept.fetchedAt }
      : { signed: true, verified: false, did, why: authority.status !== "active" ? "authority_" + authority.status : "key_not_valid", asOf: kept.fetchedAt };
  }

  // the counter's request, fetched by reference: a signed request object (OpenID4VP 1.0) is
  // checked against the key its client_id and kid name: a did:key's own, or an accredited
  // authority's on the trust list; the counter's name stays its own claim unless verified
  async function loadRequest(uri, expectedClient) {
    const response = await fetch(uri, { headers: { Accept: "application/oauth-authz-req+jwt" } });
    const text = await response.text();
    if (!response.ok) { let detail = text; try { detail = JSON.parse(text).detail; } catch (e) { /* text */ } throw fail("核验窗口拒绝或无法提供该请求（HTTP " + response.status + "）", detail || "request " + response.status); }
    if (!(response.headers.get("content-type") || "").startsWith("application/oauth-authz-req+jwt")) {
      const request = JSON.parse(text);
      request._requester = { signed: false };
      return request;
    }
    const [h, p, sig] = text.trim().split(".");
    const header = fromB64uJson(h);
    const request = fromB64uJson(p);
    const did = String(header.kid || "").split("#")[0];
    if (header.alg !== "EdDSA" || request.client_id !== "decentralized_identifier:" + did) throw fail("请求并非由其声明的核验方密钥签名", "the request is not signed by the key its client_id names");
    if (expectedClient && expectedClient !== request.client_id) throw fail("请求与二维码所指的核验方不符", "the request is not the one the code names");
    if (request.exp && request.exp * 1000 < Date.now()) throw fail("请求已过期，请让窗口重新生成二维码", "the request has expired: ask the counter for a new code");
    if (!did.startsWith("did:key:")) {
      request._requester = await requesterOf(header, enc.encode(h + "." + p), unb64u(sig), did);
      return request;
    }
    const key = await crypto.subtle.importKey("raw", didKeyEd25519(did), { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, unb64u(sig), enc.encode(h + "." + p));
    if (!ok) throw fail("请求的签名无效", "the request's signature does not verify");
    request._requester = { signed: true, verified: false, did };
    return request;
  }

  // The answer goes to the counter's response_uri: encrypted to the request's own key when it
  // asks for direct_post.jwt (JWE, ECDH-ES + A128GCM, Concat KDF of RFC 7518 §4.6.2), so only
  // that counter reads it; plain direct_post otherwise.
  function uint32(n) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  async function encryptResponse(request, fields) {
    const jwk = request.client_metadata.jwks.keys.find((k) => k.kty === "EC" && k.crv === "P-256" && (k.use === "enc" || k.alg === "ECDH-ES"));
    if (!jwk) throw fail("核验窗口未提供加密密钥", "the counter offers no P-256 encryption key");
    const offered = request.client_metadata.encrypted_response_enc_values_supported || ["A128GCM"];
    const encName = offered.includes("A128GCM") ? "A128GCM" : offered[0];
    const size = encName === "A256GCM" ? 32 : 16;
    const theirs = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const mine = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const z = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: theirs }, mine.privateKey, 256));
    const epk = await crypto.subtle.exportKey("jwk", mine.publicKey);
    const field = (bytes) => concat(uint32(bytes.length), bytes);
    const other = concat(field(enc.encode(encName)), field(new Uint8Array()), field(new Uint8Array()), uint32(size * 8));
    const cek = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(uint32(1), z, other))).slice(0, size);
    const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt"]);
    const header = b64uJson({ alg: "ECDH-ES", enc: encName, kid: jwk.kid, epk: { kty: "EC", crv: "P-256", x: epk.x, y: epk.y } });
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(header), tagLength: 128 }, key, enc.encode(JSON.stringify(fields))));
    return [header, "", b64u(iv), b64u(sealed.slice(0, -16)), b64u(sealed.slice(-16))].join(".");
  }
  async function postAnswer(request, fields) {
    if (request.response_mode === "direct_post.jwt" && request.client_metadata && request.client_metadata.jwks) {
      const body = new URLSearchParams({ response: await encryptResponse(request, fields) });
      return sx.json(request.response_uri, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: body.toString() });
    }
    // direct_post: a form, objects as JSON (OpenID4VP 1.0 §8.2)
    const form = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    return sx.json(request.response_uri, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString() });
  }
  // the response parameters of a presentation (OpenID4VP 1.0 §8.1): vp_token keyed by the DCQL
  // query id, an array of one SD-JWT+KB string; the issuer JWT's anchor receipt beside it
  function answerFields(queryId, envelope, state) {
    return { vp_token: { [queryId]: [envelope.presentation] }, suixin_anchors: { [queryId]: [envelope.anchor] }, state };
  }

  // ---------------------------------------------------------------- authorised use (授权调用)
  // The wallet key bound at claim proves the holder: every /v1/grants request is signed here
  // with RFC 9421 HTTP Message Signatures, alg ecdsa-p256-sha256 (WebCrypto ES256, r||s), keyid
  // the key's did:jwk. The covered components and rules are those of verifier.http_signatures.
  function b64(bytes) { let s = ""; for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b); return btoa(s); }
  async function walletDid(pair) {
    const jwk = await publicJwk(pair);
    return "did:jwk:" + b64uJson({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  }
  async function signedFetch(url, method, payload) {
    const pair = await holderKey();
    const u = new URL(url, location.href);
    const body = payload === undefined ? "" : JSON.stringify(payload);
    const headers = {};
    const values = [["@method", method], ["@path", u.pathname], ["@query", "?" + u.search.replace(/^\?/, "")]];
    if (body) {
      headers["Content-Type"] = "application/json";
      headers["Content-Digest"] = "sha-256=:" + b64(await crypto.subtle.digest("SHA-256", enc.encode(body))) + ":";
      values.push(["content-digest", headers["Content-Digest"]]);
    }
    const nonce = b64u(crypto.getRandomValues(new Uint8Array(18)));
    const keyid = (await walletDid(pair)) + "#0";
    const params = "(" + values.map(([c]) => '"' + c + '"').join(" ") + ");created=" + Math.floor(Date.now() / 1000) +
      ';nonce="' + nonce + '";keyid="' + keyid + '";alg="ecdsa-p256-sha256"';
    const base = values.map(([c, v]) => '"' + c + '": ' + v).join("\n") + '\n"@signature-params": ' + params;
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, enc.encode(base));
    headers["Signature-Input"] = "sig1=" + params;
    headers["Signature"] = "sig1=:" + b64(sig) + ":";
    return sx.json(u.href, { method, headers, body: body || undefined });
  }
  // times as this device shows them (the office answers in UTC)
  const when = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) + "（北京时间）" : "");
  const problemText = (got) => (got.body && got.body.detail) ? got.body.detail : "HTTP " + got.status;

  const VERDICT_WORDS = { VALID: ["有效", "valid"], INVALID: ["无效", "invalid"], PENDING: ["待上链确认", "pending anchoring"], NOT_ACCREDITED: ["签发方未获认可", "issuer not accredited"] };
  const GRANT_STATES = { active: ["生效中", "Active"], scheduled: ["未开始", "Scheduled"], expired: ["已到期", "Expired"], withdrawn: ["已撤回", "Withdrawn"] };
  const ACCESS = { served: ["已调取", "served"], refused: ["被拒绝", "refused"] };
  async function issuers() { return [...new Set((await getAll("credentials")).map((c) => c.issuer))]; }
  async function renderGrants() {
    const list = document.getElementById("grants");
    const status = document.getElementById("grants-status");
    const items = [];
    for (const issuer of await issuers()) {
      const got = await signedFetch(issuer + "/v1/grants", "GET");
      if (!got.ok) { status.textContent = problemText(got); continue; }
      for (const g of got.body.items) {
        const one = await signedFetch(issuer + "/v1/grants/" + g.id, "GET");   // with every access
        items.push({ issuer, grant: one.ok ? one.body : g });
      }
    }
    list.replaceChildren(...items.map(({ issuer, grant }) => {
      const words = GRANT_STATES[grant.state] || [grant.state, grant.state];
      const accesses = grant.accesses || [];
      const li = sx.el("li", { "data-grant": grant.id, "data-state": grant.state },
        sx.el("strong", { text: grant.partner }), " ", sx.el("span", { class: "badge", "data-status": grant.state === "active" ? "valid" : grant.state === "withdrawn" ? "revoked" : "superseded" }, sx.bi(words[0], words[1])),
        sx.el("div", { text: grant.purpose }),
        sx.el("div", {}, sx.bi("期限：", "Window: "), when(grant.validFrom) + " – " + when(grant.validUntil)),
        sx.el("ol", { class: "accesses", "aria-label": "调取记录 / Accesses" }, ...accesses.map((a) => {
          const w = ACCESS[a.outcome] || [a.outcome, a.outcome];
          return sx.el("li", { "data-outcome": a.outcome, "data-code": a.code }, sx.el("time", { datetime: a.at, text: when(a.at) }), " ", sx.bi(w[0], w[1]), " · " + a.partner + (a.outcome === "refused" ? " · " + a.code : ""));
        })));
      if (!accesses.length) li.append(sx.el("p", { class: "muted" }, sx.bi("尚无调取", "No access yet")));
      if (grant.state === "active" || grant.state === "scheduled") {
        const withdraw = sx.el("button", { type: "button", class: "secondary", "data-action": "withdraw" }, sx.bi("撤回授权", "Withdraw"));
        withdraw.onclick = async () => {
          withdraw.disabled = true;
          const got = await signedFetch(issuer + "/v1/grants/" + grant.id, "DELETE");
          if (got.ok) { await addLog({ kind: "withdraw", verifier: grant.partner }); setGrantsStatus("已撤回授权", "Grant withdrawn"); }
          else status.textContent = problemText(got);
          await renderGrants(); await renderLog();
        };
        li.append(withdraw);
      }
      return li;
    }));
    document.getElementById("grants-empty").hidden = items.length > 0;
    list.dataset.loaded = String(Date.now());
  }
  function setGrantsStatus(zh, en) { document.getElementById("grants-status").replaceChildren(sx.bi(zh, en)); }

  const grantDialog = document.getElementById("grant-dialog");
  let granting = null;
  function openGrant(c) {
    granting = c;
    const title = TYPES[c.type] || [c.type, c.type];
    document.getElementById("grant-text").replaceChildren(sx.bi(
      `允许该机构在期限内向签发机关调取这张${title[0]}（完整凭证）；您可随时撤回。`,
      `Lets the office fetch this ${title[1].toLowerCase()} (the full credential) from its issuer within the window; you can withdraw at any time.`));
    document.getElementById("grant-problem").replaceChildren();
    const until = new Date(Date.now() + 7 * 86400e3);
    document.getElementById("grant-until").value = until.toISOString().slice(0, 10);
    grantDialog.showModal();
    document.getElementById("grant-partner").focus();
  }
  document.getElementById("grant-cancel").addEventListener("click", () => grantDialog.close("cancel"));
  document.getElementById("grant-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const c = granting;
    if (!c) return;
    const problem = document.getElementById("grant-problem");
    const partner = document.getElementById("grant-partner").value.trim();
    const purpose = document.getElementById("grant-purpose").value.trim();
    const from = document.getElementById("grant-from").value;
    const until = document.getElementById("grant-until").value;
    if (!partner || !purpose || !until) { problem.replaceChildren(sx.bi("请填写机构 DID、用途和截止日期", "Give the office DID, the purpose and the end date")); return; }
    const body = { credentialId: c.credentialId || parseSdJwt(c.sdJwt).payload.credentialId, partner, purpose,
      validUntil: until + "T23:59:59+08:00", ...(from ? { validFrom: from + "T00:00:00+08:00" } : {}) };  // Beijing days
    const ok = document.getElementById("grant-ok");
    ok.disabled = true;
    try {
      const got = await signedFetch(c.issuer + "/v1/grants", "POST", body);
      if (!got.ok) { problem.dataset.code = (got.body && got.body.code) || ""; problem.textContent = problemText(got); return; }
      await addLog({ kind: "grant", verifier: partner, fields: [purpose] });
      grantDialog.close("done");
      setGrantsStatus("已授权", "Granted");
      await renderGrants(); await renderLog();
    } finally { ok.disabled = false; }
  });
  document.getElementById("grants-refresh").addEventListener("click", async () => {
    try { await renderGrants(); } catch (e) { setGrantsStatus("无法读取授权记录：" + zhOf(e), "Cannot read the grants: " + e.message); }
  });
  document.getElementById("cards-refresh").addEventListener("click", async () => {
    const shown = document.getElementById("cards-refreshed");
    try {
      await refresh();
      await refreshTrustList();
      shown.replaceChildren(sx.bi("已刷新：" + when(new Date().toISOString()), "Refreshed: " + when(new Date().toISOString())));
    } catch (e) { shown.replaceChildren(sx.bi("无法刷新：" + zhOf(e), "Cannot refresh: " + e.message)); }
    await renderCards();
  });

  // ---------------------------------------------------------------- rendering
  function setStatus(zh, en) { const p = document.getElementById("wallet-status"); p.replaceChildren(sx.bi(zh, en)); }

  async function renderCards() {
    const list = document.getElementById("cards");
    const credentials = await getAll("credentials");
    list.replaceChildren();
    document.getElementById("cards-empty").hidden = credentials.length > 0;
    for (const c of credentials) {
      const parsed = parseSdJwt(c.sdJwt);
      const values = Object.fromEntries(parsed.disclosures.map((d) => [d.name, d.value]));
      const words = STATUS[c.status] || [c.status, c.status];
      const title = TYPES[c.type] || [c.type, c.type];
      // the issuer as the chain registers it (learnt at claim or refresh), never a bare URL
      const issuer = c.issuerName ? sx.bi(c.issuerName.zh, c.issuerName.en) : sx.bi("签发机关（未刷新）", "Issuer (not refreshed)");
      const expiry = parsed.payload.exp ? when(new Date(parsed.payload.exp * 1000).toISOString()) : "—";
      const card = sx.el("li", { class: "card", "data-credential": c.id, "data-type": c.type },
        sx.el("h3", {}, sx.bi(title[0], title[1])),
        sx.el("p", {}, sx.el("span", { class: "badge", "data-status": c.status }, sx.bi(words[0], words[1]))),
        sx.el("p", { class: "holder", text: values.name || "" }),
        ...cardFace(c.type, values),
        sx.el("p", { class: "issuer" }, issuer),
        sx.el("p", { class: "expiry" }, sx.bi("有效期至 ", "Valid until "), expiry),
        // how many single-use copies are left to show (each counter gets one of its own)
        sx.el("p", { class: "copies", "data-copies-left": String(c.copies ? unused(c).length : 1) },
          c.copies && !unused(c).length
            ? sx.bi("出示副本已用完：请向签发机关重新领取", "No copies left to show: claim again at the office")
            : sx.bi("可出示 " + (c.copies ? unused(c).length : 1) + " 次（每次用一份新副本）", (c.copies ? unused(c).length : 1) + " presentations left (a fresh copy each)")));
      // every field, the status and its reason in words
      const facts = sx.el("dl", { class: "facts" });
      const row = (label, value) => facts.append(sx.el("dt", {}, label), sx.el("dd", {}, value));
      row(sx.bi("状态", "Status"), sx.bi(words[0], words[1]));
      if (c.statusReasonText) row(sx.bi("原因", "Reason"), sx.bi(c.statusReasonText.zh, c.statusReasonText.en));
      if (parsed.payload.residenceCity) row(sx.label(c.type, "residenceCity"), document.createTextNode(parsed.payload.residenceCity));
      for (const [name, value] of detailOrder(c.type, values)) {
        const dd = valueText(name, value);
        row(sx.label(c.type, name), dd);
        facts.lastChild.dataset.field = name;
      }
      const details = sx.el("details", { class: "card-details" }, sx.el("summary", {}, sx.bi("详情", "Details")), facts);
      card.append(details);
      if ((c.status === "valid" || c.status === "pending") && c.refreshToken) {
        const more = sx.el("button", { type: "button", class: "secondary", "data-action": "more-copies" }, sx.bi("领取新副本", "Get new copies"));
        more.onclick = async () => {
          more.disabled = true;
          try { await moreCopies(c); setStatus("已领取新副本", "New copies received"); }
          catch (e) { setStatus("领取新副本失败：" + e.message, "Could not get new copies: " + e.message); }
          await renderCards();
        };
        card.append(more);
      }
      if (c.status === "valid" || c.status === "pending") {
        const grant = sx.el("button", { type: "button", class: "secondary", "data-action": "grant" }, sx.bi("授权", "Authorise"));
        grant.onclick = () => openGrant(c);
        card.append(grant);
      }
      list.append(card);
    }
  }

  // the card's face beyond the holder's name: for a 营业执照, what identifies the company
  const FACE = { BusinessLicense: ["uscc", "legalRepresentative", "entityType"], ResidencePermit: [] };
  function cardFace(type, values) {
    return (FACE[type] || []).filter((name) => values[name] !== undefined).map((name) =>
      sx.el("p", { class: "face", "data-field": name }, sx.label(type, name), "：", valueText(name, values[name])));
  }
  // the detail rows in the document's own order (as the paper credential lists them), then
  // anything else it holds
  function detailOrder(type, values) {
    const known = (sx.FIELDS[type] || []).map((f) => f[0]).filter((name) => name in values);
    return [...known, ...Object.keys(values).filter((name) => !known.includes(name))].map((name) => [name, values[name]]);
  }
  // a value in words: an operating term reads "from … until …" (长期 when open), no raw JSON
  function valueText(name, value) {
    if (name === "operatingTerm" && value && typeof value === "object") {
      return sx.bi((value.from || "") + " 至 " + (value.until || "长期"), (value.from || "") + " to " + (value.until || "no end date"));
    }
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return document.createTextNode(Object.values(value).map((v) => sx.show(v)).join(" "));
    }
    return sx.bi(sx.showIn(value, "zh"), sx.showIn(value, "en"));
  }

  // a log entry's who, which fields and verdict in words (fields by their labels, not codes)
  function logDetail(e) {
    const label = (name, lang) => {
      for (const fields of Object.values(sx.FIELDS)) { const f = fields.find((x) => x[0] === name); if (f) return f[lang === "zh" ? 1 : 2]; }
      return name;
    };
    const said = VERDICT_WORDS[e.verdict] || (e.verdict ? ["出错", "error"] : null);
    const line = (lang) => [e.verifier, (e.fields || []).map((f) => label(f, lang)).join(lang === "zh" ? "、" : ", "), said && said[lang === "zh" ? 0 : 1]].filter(Boolean).join(" · ");
    return sx.bi(line("zh"), line("en"));
  }

  async function renderLog() {
    const list = document.getElementById("log");
    list.replaceChildren();
    const KINDS = { claim: ["领取", "Claimed"], present: ["出示", "Presented"], decline: ["拒绝", "Declined"], grant: ["授权", "Authorised"], withdraw: ["撤回授权", "Withdrew"] };
    for (const e of (await getAll("log")).reverse()) {
      const kind = KINDS[e.kind] || [e.kind, e.kind];
      const item = sx.el("li", { "data-kind": e.kind }, sx.el("time", { datetime: e.at, text: when(e.at) }), " ", sx.bi(kind[0], kind[1]), " ", logDetail(e));
      list.append(item);
    }
  }

  // who asks: an accredited authority's registered name with a verified mark, only when its
  // key is valid on the kept trust list; otherwise "unverified", its DID, and any name it
  // gives as its own claim
  function renderRequester(request) {
    const who = document.getElementById("share-verifier");
    const r = request._requester;
    const claimed = String((request.client_metadata || {}).client_name || "");
    // how fresh the list this rests on is (a revocation after it is not known yet)
    const asOf = r.asOf ? sx.el("span", { class: "as-of", "data-as-of": r.asOf }, sx.bi("（按 " + when(r.asOf) + " 更新的信任列表）", " (trust list of " + when(r.asOf) + ")")) : null;
    if (r.verified) {
      who.replaceChildren(sx.el("span", { class: "verified", "data-requester": "verified" },
        sx.el("span", { "aria-hidden": "true", text: "✓ " }), sx.el("strong", {}, sx.bi(r.nameZh, r.nameEn)),
        sx.bi("（链上认证的机关）", " (an authority accredited on chain)")),
        sx.el("span", { class: "did", text: " " + r.did }));
      if (claimed) who.append(sx.el("span", { class: "claimed" }, sx.bi("，窗口：" + claimed, ", counter: " + claimed)));
      if (asOf) who.append(asOf);
      return;
    }
    const note = !r.signed && r.checked === false
      ? sx.bi("未经认证的核验方（其签名无法按信任列表核对），标识 " + r.did, "an unverified requester (its signature cannot be checked against the trust list), identified as " + r.did)
      : !r.signed
        ? sx.bi("未签名的请求，核验方身份未知", "an unsigned request: the requester is unknown")
        : r.why
          ? sx.bi("未经认证的核验方：其密钥已不在有效期内或机关已停用，标识 " + r.did, "an unverified requester: its key is no longer valid or its authority is not active, identified as " + r.did)
          : sx.bi("未经链上认证的核验方，标识 " + r.did, "a requester not accredited on chain, identified as " + r.did);
    const state = r.signed ? "unverified" : r.checked === false ? "unchecked" : "unsigned";
    who.replaceChildren(sx.el("span", { class: "unverified", "data-requester": state }, sx.el("span", { "aria-hidden": "true", text: "⚠ " }), note));
    if (claimed) who.append(sx.el("span", { class: "claimed" }, sx.bi("；自称「" + claimed + "」（未经核实）", "; calls itself “" + claimed + "” (not checked)")));
    if (asOf && r.did && !r.did.startsWith("did:key:")) who.append(asOf);
  }

  // a card as the holder tells it apart: its type, holder and end of validity (no hex ids)
  function optionText(c) {
    const parsed = parseSdJwt(c.sdJwt);
    const name = (parsed.disclosures.find((d) => d.name === "name") || {}).value || "";
    const zh = sx.lang() === "zh";
    const until = parsed.payload.exp ? new Date(parsed.payload.exp * 1000).toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai" }) : "";
    return [(TYPES[c.type] || [c.type, c.type])[zh ? 0 : 1], name, until && (zh ? "有效期至 " : "valid until ") + until].filter(Boolean).join(" · ");
  }

  // for what: the counter's own words, never checked by anyone
  function renderPurpose(request) {
    const purpose = typeof request.purpose === "string" ? request.purpose.trim().slice(0, 200) : "";
    const p = document.getElementById("share-purpose");
    p.dataset.purpose = purpose ? "given" : "none";
    p.replaceChildren(purpose
      ? sx.bi("用途（核验方自述）：" + purpose, "Purpose (in the requester's words): " + purpose)
      : sx.bi("核验方未说明用途", "The requester gives no purpose"));
  }

  async function showShare(uri, client) {
    const request = await loadRequest(uri, client);
    const query = request.dcql_query.credentials[0];
    const wanted = query.claims.map((c) => c.path[0]);
    // a revoked, suspended or superseded card is never offered (as last refreshed)
    const candidates = (await getAll("credentials")).filter((c) => query.meta.vct_values.includes(parseSdJwt(c.sdJwt).payload.vct) && (c.status === "valid" || c.status === "pending") && unused(c).length > 0);
    const section = document.getElementById("share");
    section.hidden = false;
    renderRequester(request);
    renderPurpose(request);
    const select = document.getElementById("share-credential");
    select.replaceChildren(...candidates.map((c) => sx.el("option", { value: c.id, text: optionText(c) })));
    const fields = document.getElementById("share-fields");
    function drawFields() {
      const chosen = candidates.find((c) => c.id === select.value);
      // what can be shown: each disclosure, and the claims every presentation shows anyway
      const parsed = chosen ? parseSdJwt(chosen.sdJwt) : null;
      const available = parsed ? [...parsed.disclosures.map((d) => d.name), ...["residenceCity", "endorsedUntil"].filter((k) => k in parsed.payload)] : [];
      fields.replaceChildren(...wanted.map((name) => {
        const id = "reveal-" + name;
        const has = available.includes(name);
        const box = sx.el("input", { type: "checkbox", id, name, value: name });
        const always = has && !parsed.disclosures.some((d) => d.name === name);
        box.checked = has; box.disabled = !has || always;
        const label = sx.el("label", { for: id }, sx.label(chosen ? chosen.type : "", name));
        if (!has) label.append(sx.bi("（证照中没有）", " (not in this credential)"));
        if (always) label.append(sx.bi("（每次出示都会显示）", " (shown with every presentation)"));
        return sx.el("div", { class: "check" }, box, " ", label);
      }));
    }
    select.onchange = drawFields;
    drawFields();
    if (!candidates.length) setStatus("钱包中没有符合要求的证照", "No credential in this wallet matches the request");
    document.getElementById("share-pin-row").hidden = !pinState();
    document.getElementById("share-button").onclick = async () => {
      const chosen = candidates.find((c) => c.id === select.value);
      if (!chosen) return;
      if (!(await confirmPin())) return;
      const names = [...fields.querySelectorAll("input:checked")].map((b) => b.value);
      const envelope = await makePresentation(request, chosen, names);
      const answer = await postAnswer(request, answerFields(query.id, envelope, request.state));
      // a presentation the counter could not take (not signed for its request) comes back with
      // its report, and the request still waits
      const report = answer.body && answer.body.report;
      const verdict = report ? report.verdict : "ERROR " + answer.status;
      const said = VERDICT_WORDS[verdict] || ["出错（HTTP " + answer.status + "）", "error (HTTP " + answer.status + ")"];
      document.getElementById("share-result").replaceChildren(sx.bi("已出示，核验结果：" + said[0], "Presented; result: " + said[1]));
      document.getElementById("share-result").dataset.verdict = verdict;
      await addLog({ kind: "present", verifier: request.client_metadata.client_name, fields: names, verdict });
      history.replaceState(null, "", "/wallet");
      await renderCards(); await renderLog();
    };
    document.getElementById("share-decline").onclick = async () => {
      // the counter learns at once (OpenID4VP error response), rather than waiting for ever
      await postAnswer(request, { error: "access_denied", state: request.state });
      await addLog({ kind: "decline", verifier: request.client_metadata.client_name, fields: wanted });
      section.hidden = true;
      history.replaceState(null, "", "/wallet");
      await renderLog();
    };
  }

  // ---------------------------------------------------------------- scanning a QR code
  // BarcodeDetector where the browser has it; otherwise jsQR (npm, served by the office at
  // /vendor/jsqr.js); with neither, or no camera, the holder pastes the link. Only a wallet
  // link's fragment is used (request_uri and client_id, or an offer): nothing is fetched from
  // the scanned text itself before the holder sees the request.
  let scanning = null;
  async function qrDecoder() {
    if ("BarcodeDetector" in window) {
      try {
        if ((await window.BarcodeDetector.getSupportedFormats()).includes("qr_code")) {
          const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
          return { name: "barcode-detector", decode: async (video) => { const found = await detector.detect(video); return found.length ? found[0].rawValue : null; } };
        }
      } catch (e) { /* fall back to jsQR */ }
    }
    if (!window.jsQR) {
      await new Promise((resolve) => {
        const script = sx.el("script", { src: "/vendor/jsqr.js" });
        script.onload = resolve; script.onerror = resolve;
        document.head.append(script);
      });
    }
    if (!window.jsQR) return null;
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return { name: "jsqr", decode: async (video) => {
      if (!video.videoWidth) return null;
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0);
      const found = window.jsQR(context.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height, { inversionAttempts: "dontInvert" });
      return found ? found.data : null;
    } };
  }
  function scanStatus(zh, en, state) {
    const p = document.getElementById("scan-status");
    p.dataset.state = state;
    p.replaceChildren(sx.bi(zh, en));
  }
  // the fragment of a wallet link, or null for anything else
  function walletFragment(text) {
    let url;
    try { url = new URL(String(text).trim()); } catch (e) { return null; }
    const hash = new URLSearchParams(url.hash.slice(1));
    return url.pathname.endsWith("/wallet") && (hash.get("request_uri") || hash.get("offer")) ? url.hash : null;
  }
  function openFragment(fragment) {
    stopScan();
    location.hash = fragment;  // the hashchange handler starts over with it
  }
  function stopScan() {
    if (scanning) { scanning.stream.getTracks().forEach((t) => t.stop()); clearTimeout(scanning.timer); scanning = null; }
    document.getElementById("scan-video").hidden = true;
    document.getElementById("scan-stop").hidden = true;
    document.getElementById("scan-button").hidden = false;
  }
  async function startScan() {
    const decoder = await qrDecoder();
    const scan = document.getElementById("scan");
    if (!decoder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      scan.dataset.scanner = "none";
      scanStatus("此浏览器不能扫码，请粘贴二维码中的链接", "This browser cannot scan: paste the link the QR code holds", "unsupported");
      document.getElementById("scan-paste").focus();
      return;
    }
    scan.dataset.scanner = decoder.name;
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }); }
    catch (e) {
      scanStatus("无法使用摄像头（未授权或没有摄像头），请粘贴链接", "The camera cannot be used (not allowed, or none): paste the link", "no-camera");
      return;
    }
    const video = document.getElementById("scan-video");
    video.srcObject = stream;
    video.hidden = false;
    await video.play().catch(() => undefined);
    document.getElementById("scan-button").hidden = true;
    document.getElementById("scan-stop").hidden = false;
    scanStatus("请将二维码对准摄像头", "Point the camera at the QR code", "scanning");
    scanning = { stream, timer: 0 };
    const tick = async () => {
      if (!scanning) return;
      let text = null;
      try { text = await decoder.decode(video); } catch (e) { text = null; }
      const fragment = text && walletFragment(text);
      if (fragment) { scanStatus("已识别二维码", "QR code read", "found"); openFragment(fragment); return; }
      if (text) scanStatus("这不是穗信的办事二维码，请重新对准", "That is not a Suixin code: try again", "foreign");
      if (scanning) scanning.timer = setTimeout(tick, 200);
    };
    tick();
  }
  function installScan() {
    document.getElementById("scan-button").onclick = startScan;
    document.getElementById("scan-stop").onclick = () => { stopScan(); scanStatus("已停止扫码", "Scanning stopped", "stopped"); };
    document.getElementById("scan-open").onclick = () => {
      const fragment = walletFragment(document.getElementById("scan-paste").value);
      if (!fragment) { scanStatus("链接无效：请粘贴二维码中的完整链接", "Not a valid link: paste the whole link the QR code holds", "invalid"); return; }
      openFragment(fragment);
    };
  }

  async function main() {
    await unlock();
    pinSetup();
    installScan();
    const hash = new URLSearchParams(location.hash.slice(1));
    let offer = null;
    if (hash.get("offer")) {
      try { offer = JSON.parse(hash.get("offer")); if (!offer || !offer.credential_issuer || !offer.grants) throw new Error("incomplete"); }
      catch (e) {  // a broken link says so; the wallet and its cards are shown as ever
        offer = null;
        setStatus("领取链接无效或不完整，请向办事窗口重新索取", "The claim link is broken or incomplete: ask the office for a new one");
        document.getElementById("wallet-status").dataset.problem = "offer_invalid";
      }
    }
    if (offer) {
      const section = document.getElementById("claim");
      section.hidden = false;
      document.getElementById("claim-issuer").textContent = offer.credential_issuer;
      document.getElementById("claim-button").onclick = async () => {
        try {
          await claim(offer);
          setStatus("已领取", "Claimed");
          section.hidden = true;
          history.replaceState(null, "", "/wallet");  // the one-time code leaves the address bar
        } catch (e) {
          setStatus("领取失败：" + zhOf(e), "Claim failed: " + e.message);
        }
        await refresh(); await renderCards(); await renderLog();  // the new card's first state
        try { await refreshTrustList(); } catch (e) { /* kept as it was; refreshing retries */ }
      };
    }
    // opening the wallet contacts no issuer (it would learn when each card is shown): what is
    // stored is shown; status and grants are refreshed only when the holder asks
    await renderCards();
    await renderLog();
    if (hash.get("request_uri")) {
      try { await showShare(hash.get("request_uri"), hash.get("client_id")); } catch (e) { setStatus("无法读取核验请求：" + zhOf(e), "Cannot read the request: " + e.message); document.getElementById("wallet-status").dataset.problem = "request_invalid"; }
    }
    document.body.dataset.ready = "1";
  }

  // a new offer or request opened while the wallet is showing: start over with it
  window.addEventListener("hashchange", () => { if (location.hash.length > 1) location.reload(); });
  window.suixinWallet = { makePresentation, loadRequest, refreshTrustList, refresh: async () => { await refresh(); await renderCards(); }, getAll, walletDid: async () => walletDid(await holderKey()), renderGrants };
  main();
})();
