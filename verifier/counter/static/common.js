// Shared by the three pages: the 中文/English switch and small helpers (no dependencies).
"use strict";
(function () {
  const root = document.documentElement;
  const button = document.getElementById("lang-switch");
  function apply(lang) {
    root.dataset.lang = lang;
    root.lang = lang === "zh" ? "zh-CN" : "en";
    button.textContent = lang === "zh" ? "English" : "中文";
  }
  apply(localStorage.getItem("suixin-lang") || "zh");
  button.addEventListener("click", () => {
    const next = root.dataset.lang === "zh" ? "en" : "zh";
    localStorage.setItem("suixin-lang", next);
    apply(next);
  });
})();

window.sx = {
  lang() { return document.documentElement.dataset.lang || "zh"; },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  },
  bi(zh, en) {
    const span = document.createElement("span");
    span.append(window.sx.el("span", { class: "zh", text: zh }), window.sx.el("span", { class: "en", text: en }));
    return span;
  },
  async json(url, options) {
    const response = await fetch(url, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { ok: response.ok, status: response.status, body };
  },
  FIELDS: {
    ResidencePermit: [
      ["name", "姓名", "Name"], ["sex", "性别", "Sex"], ["ethnicity", "民族", "Ethnicity"],
      ["birthDate", "出生日期", "Birth date"], ["citizenId", "公民身份号码", "Citizen ID number"],
      ["hukouAddress", "户籍地址", "Hukou address"], ["residenceAddress", "居住地址", "Residence address"],
      ["issuingAuthority", "签发机关", "Issuing authority"], ["issueDate", "签发日期", "Issue date"],
      ["endorsements", "签注", "Endorsements"], ["residenceSince", "连续居住起始日", "Resident since"],
      // derived claims of the SD-JWT, each a disclosure of its own: ask for these alone
      ["age_over_18", "年满18周岁", "Aged 18 or over"], ["age_over_60", "年满60周岁", "Aged 60 or over"],
      ["residenceCity", "居住城市", "City of residence"], ["residenceRegion", "居住地区划（区县）", "Residence district"],
    ],
    BusinessLicense: [
      ["uscc", "统一社会信用代码", "USCC"], ["name", "名称", "Name"], ["entityType", "类型", "Entity type"],
      ["legalRepresentative", "法定代表人", "Legal representative"], ["businessScope", "经营范围", "Business scope"],
      ["registeredCapital", "注册资本", "Registered capital"], ["establishmentDate", "成立日期", "Established"],
      ["operatingTerm", "营业期限", "Operating term"], ["domicile", "住所", "Domicile"],
      ["registrationAuthority", "登记机关", "Registration authority"], ["issueDate", "发照日期", "Issue date"],
    ],
  },
  label(type, field) {
    const found = (window.sx.FIELDS[type] || []).find((f) => f[0] === field);
    return found ? window.sx.bi(found[1], found[2]) : document.createTextNode(field);
  },
  // a value as a person reads it in the page's language: no raw codes or English in 中文
  WORDS: { male: ["男", "male"], female: ["女", "female"], true: ["是", "yes"], false: ["否", "no"] },
  show(value) { return window.sx.showIn(value, window.sx.lang()); },
  // the same in a given language ("zh" or "en"), for text shown in both
  showIn(value, lang) {
    const zh = lang === "zh" ? 0 : 1;
    const known = window.sx.WORDS[String(value)];
    if (known && (typeof value === "boolean" || typeof value === "string")) return known[zh];
    if (Array.isArray(value) && value.length === 0) return ["无", "none"][zh];
    return typeof value === "string" ? value : JSON.stringify(value);
  },
};
