// The operator console: seat login, ready / pause / wrap-up, the screen pop
// (caller, lane, IVR path, wait, earlier tickets), the draft ticket filled by
// the live transcript, confirm, transfer and hang up. Live updates come over
// the /ws WebSocket; every action goes through the REST API.
import { api, loadSession } from "/static/api.js";
import { initKnowledge } from "/static/console-knowledge.js";

const STATES = { logged_out: "未登录", ready: "空闲", ringing: "振铃", on_call: "通话中", wrap_up: "话后整理", paused: "暂停" };
const SPEAKERS = { caller: "来电人", operator: "话务员" };
const MODE_LABELS = { blind: "直接转接", attended: "咨询后转接", three_way: "三方通话" };
const FIELD_LABELS = { appeal_type: "诉求类型", category: "分类", district: "属地", district_code: "属地编码",
  address: "地址", caller_name: "来电人", callback_number: "回拨号码", urgency: "紧急程度", title: "标题",
  summary: "内容", emergency: "紧急警情" };
const TEXT_FIELDS = ["callback_number", "address", "caller_name", "title", "summary"];
const SELECT_FIELDS = ["appeal_type", "urgency", "district"];
const FIELDS = [...SELECT_FIELDS, "category", "category2", ...TEXT_FIELDS];

const $ = (id) => document.getElementById(id);
const form = () => $("ticket-form");

let me = null;
let seat = null;             // the seat's status (null: not logged in)
let pauseReasons = [];
let taxonomy = { categories: [], districts: [], appeal_types: [], urgencies: [] };
let call = null;             // the call view on screen
let draftValues = {};        // field -> value as last loaded from the ticket
const dirty = new Set();     // fields the operator changed (never overwritten by live updates)
let chat = null;             // live transcript state of the call on screen
const early = new Map();     // call id -> transcript events that came before the screen pop
let reloadTimer = null;
let kb = null;               // the knowledge-base panel (console-knowledge.js)

// ---------------------------------------------------------------- small helpers
function say(text, ok = false) {
  $("message").textContent = text || "";
  $("message").classList.toggle("ok", ok);
}

function sayTicket(text, ok = false) {
  $("ticket-message").textContent = text || "";
  $("ticket-message").classList.toggle("ok", ok);
}

function fillSelect(select, values, empty) {
  const keep = select.value;
  select.replaceChildren();
  if (empty !== undefined) select.append(new Option(empty, ""));
  for (const v of values) select.append(new Option(v, v));
  select.value = keep;
}

function setSelect(select, value) {
  const v = value == null ? "" : String(value);
  if (v && ![...select.options].some((o) => o.value === v)) select.append(new Option(v, v));
  select.value = v;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function seconds(v) {
  if (v == null) return "";
  const s = Math.round(v);
  return s >= 60 ? `${Math.floor(s / 60)} 分 ${s % 60} 秒` : `${s} 秒`;
}

// ---------------------------------------------------------------- the seat
function showSeat(view) {
  seat = view.seat && view.seat.state !== "logged_out" ? view.seat : null;
  if (view.pause_reasons) {
    pauseReasons = view.pause_reasons;
    fillSelect($("pause-reason"), pauseReasons);
    if (!$("pause-reason").value && pauseReasons.length) $("pause-reason").value = pauseReasons[0];
  }
  const state = seat ? seat.state : "logged_out";
  $("seat-state").textContent = STATES[state] || state;
  $("seat-state").dataset.state = state;
  $("seat-reason").textContent = seat && seat.reason ? `（${seat.reason}）` : "";
  if (seat) $("seat-id").value = seat.seat_id;
  $("seat-id").disabled = !!seat;
  $("btn-login").disabled = !!seat;
  $("btn-ready").disabled = !seat || !["paused", "wrap_up"].includes(state);
  $("btn-ready").firstChild.textContent = state === "wrap_up" ? "结束整理 " : "示闲 ";
  $("btn-pause").disabled = !seat || !["ready", "wrap_up", "paused"].includes(state);
  $("btn-wrap").disabled = !seat || !["wrap_up", "ready"].includes(state);
  $("btn-logout").disabled = !seat || ["ringing", "on_call"].includes(state);
  tickCountdown();
  if (seat && seat.call_id && (!call || call.call_id !== seat.call_id) && ["ringing", "on_call", "wrap_up"].includes(state)) {
    openCall(seat.call_id);
  }
  if (call && seat && seat.call_id === call.call_id) showCallStatus(STATES[state]);
}

async function seatAction(path, body) {
  try {
    showSeat(await api("POST", path, body || {}));
    say("");
  } catch (err) {
    say(err.message);
  }
}

const actions = {
  ready: () => seatAction("/api/console/seat/ready"),
  pause: () => seatAction("/api/console/seat/pause", { reason: $("pause-reason").value }),
  wrapUp: () => seatAction("/api/console/seat/wrap_up"),
  logout: () => seatAction("/api/console/seat/logout"),
  login: () => {
    const id = $("seat-id").value.trim();
    if (!id) { say("请输入坐席号"); return; }
    // Logged in paused: the operator chooses when to take calls (F2).
    seatAction("/api/console/seat/login", { seat: id, pause_reason: $("pause-reason").value || undefined });
  },
};

function tickCountdown() {
  const box = $("wrap-countdown");
  if (seat && seat.state === "wrap_up" && seat.wrap_until) {
    const left = Math.max(0, Math.ceil(seat.wrap_until - Date.now() / 1000));
    box.textContent = `话后整理剩余 ${left} 秒（按 F2 提前结束）`;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

// ---------------------------------------------------------------- the call on screen
function showCallStatus(text) {
  $("call-status").textContent = text || "";
}

async function openCall(callId, { keepChat = false } = {}) {
  let view;
  try {
    view = await api("GET", `/api/console/call/${encodeURIComponent(callId)}`);
  } catch (err) {
    say(err.message);
    return;
  }
  const fresh = !call || call.call_id !== view.call_id;
  if (fresh) clearAlert();
  call = view;
  $("no-call").hidden = true;
  $("call-info").hidden = false;
  $("call-caller").textContent = call.caller || "（未显示号码）";
  $("call-lane").textContent = call.lane_label || call.lane || "";
  $("call-path").textContent = (call.path || []).map((p) => (typeof p === "string" ? p : p.node + (p.key ? `[${p.key}]` : ""))).join(" → ");
  $("call-waited").textContent = seconds(call.waited_s);
  if (seat && seat.call_id === call.call_id) showCallStatus(STATES[seat.state]);
  const list = $("earlier");
  list.replaceChildren();
  for (const t of call.earlier_tickets) {
    if (t.confidential) {
      list.append(el("li", "muted", `${t.id} · ${(t.received_at || "").slice(0, 16).replace("T", " ")} · 保密工单（内容不显示）`));
      continue;
    }
    const cat = Array.isArray(t.category) ? t.category.join("/") : t.category || "";
    list.append(el("li", "", `${t.id} · ${(t.received_at || "").slice(0, 16).replace("T", " ")} · ${cat} ${t.title || ""}（${t.status === "draft" ? "草稿" : "已确认"}）`));
  }
  if (!call.earlier_tickets.length) list.append(el("li", "muted", "无"));
  if (fresh) {
    dirty.clear();
    sayTicket("");
  }
  showTicket(call.ticket, fresh);
  if (fresh && !keepChat) startChat(call);
  if (kb) { kb.open(call); kb.refresh(); }
}

// The draft is extracted again after each final sentence (draft_ticket events): reload
// the call view once per burst of events, keeping what the operator changed.
function scheduleReload(delay = 600) {
  if (!call || reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    if (call) openCall(call.call_id, { keepChat: true });
  }, delay);
}

// ---------------------------------------------------------------- the ticket
function fillCategory2(level1) {
  const entry = taxonomy.categories.find((c) => c.name === level1);
  fillSelect(form().category2, entry ? entry.children : [], "（不选）");
}

function showTicket(ticket, fresh) {
  const f = form();
  $("ticket-id").textContent = ticket ? ticket.id : "（暂无草稿）";
  const closed = ticket && ticket.confirmed && ticket.confirmed.resolution;
  $("ticket-status").textContent = ticket ? (ticket.status === "draft" ? "草稿" : closed ? closed : "已确认") : "";
  $("btn-confirm").disabled = !ticket || ticket.status !== "draft";
  if (!ticket) return;
  const src = ticket.confirmed || ticket.draft || {};
  const cat = Array.isArray(src.category) ? src.category : src.category ? [src.category] : [];
  const values = { ...src, category: cat[0] || "", category2: cat[1] || "" };
  draftValues = values;
  if (fresh || !dirty.has("category")) {
    setSelect(f.category, values.category);
    fillCategory2(f.category.value);
  }
  for (const name of FIELDS) {
    if (name === "category") continue;
    if (!fresh && dirty.has(name)) continue;
    if (SELECT_FIELDS.includes(name) || name === "category2") setSelect(f[name], values[name]);
    else f[name].value = values[name] == null ? "" : values[name];
  }
  showSuggestions(src.suggestions || {}, src.confidence || {}, !ticket.confirmed);
  if (!ticket.confirmed && src.alert) showAlert(src.alert);
  const flags = [];
  if (ticket.confidential) flags.push("保密工单");
  if (closed) flags.push(`${closed}：知识库条目 ${src.kb_article}`);
  if (src.emergency) flags.push(`紧急警情：${src.emergency}（请转接）`);
  if (ticket.repeat && ticket.repeat.likely_repeat_of) flags.push(`疑似重复：${ticket.repeat.likely_repeat_of}`);
  $("ticket-flags").textContent = flags.join(" · ");
  markChanged();
}

// Per field the extractor's top suggestions with their confidence (the first is pre-filled);
// a field below LOW_CONFIDENCE is marked so the operator checks it.
const LOW_CONFIDENCE = 0.6;
const SUGGESTED = { appeal_type: "appeal_type", urgency: "urgency", category: "category", district: "district",
  callback_number: "callback_number", caller_name: "caller_name" };

function showSuggestions(suggestions, confidence, isDraft) {
  for (const [name, key] of Object.entries(SUGGESTED)) {
    const label = form()[name].closest("label");
    let box = label.querySelector(".suggest");
    if (!box) {
      box = el("span", "suggest");
      label.append(box);
    }
    box.replaceChildren();
    const list = isDraft ? (suggestions[key] || []).slice(0, 3) : [];
    const conf = list.length ? list[0].confidence : confidence[key];
    label.classList.toggle("low-confidence", isDraft && conf != null && conf < LOW_CONFIDENCE);
    for (const s of list) {
      const value = Array.isArray(s.value) ? s.value.join(" / ") : (s.value == null ? "无" : String(s.value));
      const pct = Math.round((Number(s.confidence) || 0) * 100);
      const chip = el("button", "chip" + (pct < LOW_CONFIDENCE * 100 ? " low" : ""), `${value} ${pct}%`);
      chip.type = "button";
      chip.title = "采用此建议";
      chip.addEventListener("click", () => applySuggestion(name, s.value));
      box.append(chip);
    }
  }
}

function applySuggestion(name, value) {
  const f = form();
  if (name === "category") {
    const path = Array.isArray(value) ? value : [value];
    setSelect(f.category, path[0] || "");
    fillCategory2(f.category.value);
    setSelect(f.category2, path[1] || "");
    dirty.add("category");
    dirty.add("category2");
  } else if (SELECT_FIELDS.includes(name)) {
    setSelect(f[name], value == null ? "" : value);
    dirty.add(name);
  } else {
    f[name].value = value == null ? "" : String(value);
    dirty.add(name);
  }
  markChanged();
}

// A life-safety cue heard on the call: a banner the operator cannot miss, with the transfer to take.
const ALERT_TEXT = { 110: "疑似警情（治安/暴力/轻生），请立即转接 110", 119: "疑似火警/燃气/被困，请立即转接 119",
  120: "疑似急症/受伤，请立即转接 120" };

function showAlert(alert) {
  const box = $("emergency-alert");
  if (!box || !alert || !alert.emergency) return;
  const cues = (alert.cues || []).filter((c) => c && c !== "model").slice(0, 3);
  box.textContent = `⚠ ${ALERT_TEXT[alert.emergency] || `紧急警情 ${alert.emergency}`}${cues.length ? `（听到：${cues.join("、")}）` : ""}`;
  box.dataset.emergency = String(alert.emergency);
  box.hidden = false;
}

function clearAlert() {
  const box = $("emergency-alert");
  if (box) { box.hidden = true; box.textContent = ""; }
}

function formValue(name) {
  const v = form()[name].value.trim();
  return v || null;
}

function markChanged() {
  for (const name of FIELDS) {
    const was = draftValues[name] == null ? "" : String(draftValues[name]);
    const now = form()[name].value.trim();
    form()[name].closest("label").classList.toggle("changed", dirty.has(name) && now !== was);
  }
}

function ticketFields() {
  const fields = {};
  const category = [formValue("category"), formValue("category2")].filter(Boolean);
  fields.category = category.length ? category : null;
  for (const name of [...SELECT_FIELDS, ...TEXT_FIELDS]) fields[name] = formValue(name);
  return fields;
}

// 直接办结 from the knowledge panel: the ticket is confirmed with the article as its resolution
function answeredOnCall(t) {
  call.ticket = { ...call.ticket, ...t };
  dirty.clear();
  showTicket(call.ticket, true);
  sayTicket(`工单 ${t.id} 已直接办结`, true);
}

async function confirmTicket() {
  if (!call || !call.ticket || call.ticket.status !== "draft") return;
  const fields = ticketFields();
  $("btn-confirm").disabled = true;
  try {
    const t = await api("POST", `/api/tickets/${encodeURIComponent(call.ticket.id)}/confirm`, { fields });
    call.ticket = { ...call.ticket, ...t };
    dirty.clear();
    showTicket(call.ticket, true);
    const n = Object.keys(t.corrections || {}).length;
    sayTicket(`工单 ${t.id} 已确认${n ? `（更正 ${n} 项）` : ""}`, true);
  } catch (err) {
    const problems = (err.details.problems || []).map((p) => FIELD_LABELS[p.field] || p.field);
    sayTicket(err.message + (problems.length ? `：${problems.join("、")}` : ""));
    $("btn-confirm").disabled = false;
  }
}

// ---------------------------------------------------------------- the live transcript
function startChat(view) {
  chat = { callId: view.call_id, partial: {}, seen: new Set() };
  const list = $("transcript");
  list.replaceChildren();
  const turns = (view.ticket && view.ticket.turns) || [];
  for (const t of turns) addFinal(t.speaker || "caller", t.text, null);
  if (!turns.length && view.ticket && view.ticket.transcript) addFinal("caller", view.ticket.transcript, null);
  for (const ev of early.get(view.call_id) || []) onTranscript(ev);
  early.delete(view.call_id);
  if (!list.children.length) list.append(el("li", "empty", "等待通话内容…"));
}

function bubble(speaker, text, partial) {
  const li = el("li", `${speaker === "operator" ? "operator" : "caller"}${partial ? " partial" : ""}`);
  li.append(el("span", "who", SPEAKERS[speaker] || speaker), el("span", "text", text));
  return li;
}

function addFinal(speaker, text, key) {
  if (!text || !text.trim()) return;
  const sig = key || `${speaker}|${text.trim()}`;
  if (chat.seen.has(sig) || chat.seen.has(`${speaker}|${text.trim()}`)) return;
  chat.seen.add(sig);
  chat.seen.add(`${speaker}|${text.trim()}`);
  const list = $("transcript");
  list.querySelector(".empty")?.remove();
  list.append(bubble(speaker, text.trim(), false));
}

function onTranscript(ev) {
  if (!chat || chat.callId !== ev.call_id) {
    const buf = early.get(ev.call_id) || [];
    if (buf.length < 200) buf.push(ev);
    early.set(ev.call_id, buf);
    while (early.size > 20) early.delete(early.keys().next().value);
    return;
  }
  const list = $("transcript");
  const speaker = ev.speaker === "operator" ? "operator" : "caller";
  const partial = chat.partial[speaker];
  if (ev.final) {
    if (partial) { partial.remove(); delete chat.partial[speaker]; }
    addFinal(speaker, ev.text, ev.seq != null ? `${speaker}#${ev.seq}` : null);
  } else if (ev.text && ev.text.trim()) {
    list.querySelector(".empty")?.remove();
    if (partial) partial.querySelector(".text").textContent = ev.text;
    else {
      chat.partial[speaker] = bubble(speaker, ev.text, true);
      list.append(chat.partial[speaker]);
    }
  }
  list.scrollTop = list.scrollHeight;
  if (kb) kb.transcript(ev.final, speaker);
}

// ---------------------------------------------------------------- transfer and hang up
function targetsOf(data) {
  const items = Array.isArray(data) ? data : (data && (data.targets || data.items)) || [];
  return items.map((t) => ({ id: t.id ?? t.number, label: t.label || t.name || t.number || t.id,
    number: t.number, modes: t.modes || [], mode: t.default_mode || t.mode || (t.modes && t.modes[0]) || "blind",
    emergency: t.kind === "emergency" || t.group === "emergency" || ["110", "119", "120", "122"].includes(String(t.number)) }));
}

async function loadTargets() {
  const box = $("transfer-targets");
  try {
    const targets = targetsOf(await api("GET", "/api/console/transfer-targets"));
    box.replaceChildren();
    for (const t of targets) {
      const b = el("button", t.emergency ? "emergency" : "secondary", t.number && t.label !== t.number ? `${t.label} ${t.number}` : t.label);
      b.type = "button";
      b.dataset.target = t.id;
      b.addEventListener("click", () => transfer(t));
      box.append(b);
    }
    if (!targets.length) box.append(el("span", "muted", "未配置转接号码"));
  } catch (err) {
    box.replaceChildren(el("span", "muted", err.status === 404 ? "转接功能暂不可用" : err.message));
  }
}

async function transfer(t) {
  if (!call) { say("当前没有通话"); return; }
  const mode = $("transfer-mode").value || t.mode;
  if (t.modes.length && !t.modes.includes(mode)) {
    say(`${t.label} 不支持“${MODE_LABELS[mode] || mode}”，请改选转接方式`);
    return;
  }
  try {
    await api("POST", "/api/console/transfer", { target: t.id, mode });
    say(`已发起转接：${t.label}（${MODE_LABELS[mode] || mode}）`, true);
    $("btn-hangup-target").hidden = mode === "blind";
  } catch (err) {
    say(err.status === 404 && err.id === "http_404" ? "转接功能暂不可用" : `转接失败：${err.message}`);
  }
}

async function hangup(leg = "seat") {
  if (!seat || !["ringing", "on_call"].includes(seat.state)) { say("当前没有通话"); return; }
  try {
    await api("POST", "/api/console/hangup", leg === "seat" ? {} : { leg });
    say(leg === "seat" ? "已挂机" : "已挂断转接方", true);
    $("btn-hangup-target").hidden = true;
  } catch (err) {
    say(err.status === 404 && err.id === "http_404" ? "挂机功能暂不可用" : `挂机失败：${err.message}`);
  }
}

// ---------------------------------------------------------------- live events
let backoff = 1000;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  const live = $("live-state");
  ws.onopen = () => {
    backoff = 1000;
    live.textContent = "实时连接：已连接";
    live.className = "live on";
    refreshSeat();
  };
  ws.onclose = () => {
    live.textContent = "实时连接：已断开，重连中";
    live.className = "live off";
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
  ws.onmessage = (msg) => {
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    for (const ev of Array.isArray(data) ? data : [data]) onEvent(ev);   // one event, or a batch
  };
}

function mine(ev) {
  return seat && ((ev.seat && ev.seat === seat.seat_id) || (ev.seat_id && ev.seat_id === seat.seat_id));
}

function onEvent(ev) {
  switch (ev.type) {
    case "screen_pop":
      if (mine(ev)) openCall(ev.call_id);
      break;
    case "draft_ticket":
      if (call && call.call_id === ev.call_id) scheduleReload();
      break;
    case "emergency_alert":
      if (call && call.call_id === ev.call_id) showAlert(ev);
      break;
    case "transcript":
      onTranscript(ev);
      break;
    case "seat_state":
      if (mine(ev) || (me && ev.operator_id && ev.operator_id === me.user.operator_id)) refreshSeat();
      break;
    case "call_ended":
    case "call_abandoned":
      if (call && call.call_id === ev.call_id) showCallStatus("已结束");
      break;
    default:
      break;
  }
}

async function refreshSeat() {
  try {
    showSeat(await api("GET", "/api/console/seat"));
  } catch (err) {
    say(err.message);
  }
}

// ---------------------------------------------------------------- start
async function start() {
  me = await loadSession();
  const op = me.user.operator_id ? `（工号 ${me.user.operator_id}）` : "";
  $("who").textContent = `${me.user.display_name}${op} · ${me.role_label}`;
  if (me.user.seat) $("seat-id").value = me.user.seat;
  try {
    taxonomy = await api("GET", "/api/console/taxonomy");
  } catch (err) {
    sayTicket(`无法加载工单选项：${err.message}`);
  }
  const f = form();
  fillSelect(f.appeal_type, taxonomy.appeal_types, "（未填）");
  fillSelect(f.urgency, taxonomy.urgencies, "（未填）");
  fillSelect(f.category, taxonomy.categories.map((c) => c.name), "（请选择）");
  fillCategory2("");
  fillSelect(f.district, taxonomy.districts, "（请选择）");
  for (const name of FIELDS) {
    f[name].addEventListener("input", () => { dirty.add(name); markChanged(); });
    f[name].addEventListener("change", () => { dirty.add(name); markChanged(); });
  }
  f.category.addEventListener("change", () => { fillCategory2(f.category.value); dirty.add("category2"); markChanged(); });
  f.addEventListener("submit", (e) => { e.preventDefault(); confirmTicket(); });
  kb = initKnowledge({ getCall: () => call, getFields: ticketFields, onAnswered: answeredOnCall });

  $("seat-login").addEventListener("submit", (e) => { e.preventDefault(); actions.login(); });
  $("btn-ready").addEventListener("click", actions.ready);
  $("btn-pause").addEventListener("click", actions.pause);
  $("btn-wrap").addEventListener("click", actions.wrapUp);
  $("btn-logout").addEventListener("click", actions.logout);
  $("btn-hangup").addEventListener("click", () => hangup());
  $("btn-hangup-target").addEventListener("click", () => hangup("target"));
  document.addEventListener("keydown", (e) => {
    const keys = { F2: actions.ready, F3: actions.pause, F4: actions.wrapUp, F9: () => hangup() };
    if (keys[e.key] && !e.ctrlKey && !e.altKey) {
      e.preventDefault();
      keys[e.key]();
    } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      confirmTicket();
    }
  });
  await refreshSeat();
  loadTargets();
  setInterval(tickCountdown, 500);
  connect();
}

start().catch((err) => {
  if (err.status !== 401) say(err.message);
});
