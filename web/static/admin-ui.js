// Small DOM helpers shared by the admin page's modules.

// h("button", {type: "button", onclick: fn, "data-testid": "x"}, "文字", child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = Boolean(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function say(text, isError = false) {
  const el = document.getElementById("admin-message");
  el.textContent = text || "";
  el.classList.toggle("error", Boolean(isError));
}

// An ApiError's message plus its first problems, for people.
export function describeError(err) {
  const problems = (err.details && err.details.problems) || [];
  const more = problems.slice(0, 5).map((p) => `${p.path || (p.line ? "第" + p.line + "行" : "")}：${p.text || ""} ${p.message || ""}`);
  return [err.message, ...more].join("；");
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function fmtTime(ts) {
  return new Date(ts * 1000).toLocaleString("zh-CN", { hour12: false });
}

// A <select> of `choices` ([value, label] pairs), with an empty choice when `empty` is given.
export function select(value, choices, attrs = {}, empty = null) {
  const el = h("select", attrs);
  if (empty !== null) el.append(h("option", { value: "" }, empty));
  for (const [v, label] of choices) el.append(h("option", { value: v }, label));
  if (value !== undefined && value !== null && ![...el.options].some((o) => o.value === String(value))) {
    el.append(h("option", { value: String(value) }, `${value}（不存在）`));
  }
  el.value = value === undefined || value === null ? "" : String(value);
  return el;
}
