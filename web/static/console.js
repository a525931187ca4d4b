// The operator console: seat login, ready / pause, the screen pop with the
// draft ticket, confirm. Live updates over the /ws WebSocket.
import { api, loadSession } from "/static/api.js";

// DOMAIN.md: the 14 first-level categories and the nine districts of 株洲.
export const CATEGORIES = ["人力资源社会保障", "住房与城乡建设", "医疗卫生健康", "农林水利", "市场管理",
  "交通运输与交通秩序", "公共服务", "社会治安与综合治理", "科教文体", "城市管理", "社情民意", "民政与社会救助",
  "环境保护", "其他咨询"];
export const DISTRICTS = ["荷塘区", "芦淞区", "石峰区", "天元区", "渌口区", "攸县", "茶陵县", "炎陵县", "醴陵市"];
const STATES = { logged_out: "未登录", ready: "空闲", ringing: "振铃", on_call: "通话中", wrap_up: "话后整理", paused: "暂停" };

const $ = (id) => document.getElementById(id);
let seat = null;
let call = null;
let me = null;

function say(text) { $("message").textContent = text || ""; }

function fillSelect(select, values, empty) {
  select.replaceChildren();
  if (empty) select.append(new Option(empty, ""));
  for (const v of values) select.append(new Option(v, v));
}

function showSeat(view) {
  seat = view.seat;
  fillSelect($("pause-reason"), view.pause_reasons);
  const state = seat ? seat.state : "logged_out";
  $("seat-state").textContent = STATES[state] || state;
  $("seat-reason").textContent = seat && seat.reason ? `（${seat.reason}）` : "";
  if (seat && seat.seat_id) $("seat-id").value = seat.seat_id;
}

async function act(path, body) {
  try {
    showSeat(await api("POST", path, body || {}));
    say("");
  } catch (err) { say(err.message); }
}

function tickCountdown() {
  if (seat && seat.state === "wrap_up" && seat.wrap_until) {
    const left = Math.max(0, Math.round(seat.wrap_until - Date.now() / 1000));
    $("wrap-countdown").textContent = `话后整理剩余 ${left} 秒`;
  } else {
    $("wrap-countdown").textContent = "";
  }
}

async function openCall(callId) {
  try {
    call = await api("GET", `/api/console/call/${encodeURIComponent(callId)}`);
  } catch (err) { say(err.message); return; }
  $("call-panel").hidden = false;
  $("call-caller").textContent = call.caller || "（未显示号码）";
  $("call-lane").textContent = call.lane || "";
  $("call-path").textContent = (call.path || []).map((p) => p.node + (p.key ? `[${p.key}]` : "")).join(" → ");
  $("call-waited").textContent = call.waited_s == null ? "" : `${call.waited_s} 秒`;
  const list = $("earlier");
  list.replaceChildren();
  for (const t of call.earlier_tickets) {
    const li = document.createElement("li");
    li.textContent = `${t.id} ${t.received_at || ""} ${(t.category || []).join("/")} ${t.title || ""}（${t.status}）`;
    list.append(li);
  }
  showTicket(call.ticket);
}

function showTicket(ticket) {
  const form = $("ticket-form");
  $("ticket-id").textContent = ticket ? ticket.id : "（暂无草稿）";
  $("transcript").textContent = ticket ? ticket.transcript : "";
  if (!ticket) return;
  const f = ticket.confirmed || ticket.draft;
  const cat = f.category || [];
  form.category.value = cat[0] || "";
  form.category2.value = cat[1] || "";
  for (const name of ["appeal_type", "district", "address", "caller_name", "callback_number", "urgency", "title", "summary"]) {
    form[name].value = f[name] == null ? "" : f[name];
  }
  form.confidential.checked = !!ticket.confidential;
  $("btn-confirm").disabled = ticket.status !== "draft";
}

async function confirmTicket() {
  if (!call || !call.ticket) return;
  const form = $("ticket-form");
  const fields = { confidential: form.confidential.checked };
  const category = [form.category.value, form.category2.value.trim()].filter(Boolean);
  if (category.length) fields.category = category;
  for (const name of ["appeal_type", "district", "address", "caller_name", "callback_number", "urgency", "title", "summary"]) {
    fields[name] = form[name].value.trim() || null;
  }
  try {
    const t = await api("POST", `/api/tickets/${encodeURIComponent(call.ticket.id)}/confirm`, { fields });
    call.ticket = t;
    $("btn-confirm").disabled = true;
    say(`工单 ${t.id} 已确认`);
  } catch (err) {
    const problems = (err.details.problems || []).map((p) => `${p.field}：${p.message}`).join("；");
    say(err.message + (problems ? `：${problems}` : ""));
  }
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { $("live-state").textContent = "实时连接：已连接"; };
  ws.onclose = () => {
    $("live-state").textContent = "实时连接：已断开，重连中";
    setTimeout(connect, 2000);
  };
  ws.onmessage = async (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "screen_pop") openCall(ev.call_id);
    else if (ev.type === "draft_ticket" && call && call.call_id === ev.call_id) openCall(ev.call_id);
    else if (ev.type === "seat_state") showSeat(await api("GET", "/api/console/seat"));
  };
}

async function start() {
  me = await loadSession();
  $("who").textContent = `${me.user.display_name}（${me.role_label}）`;
  fillSelect($("ticket-form").category, CATEGORIES, "（请选择）");
  fillSelect($("ticket-form").district, DISTRICTS, "（请选择）");
  showSeat(await api("GET", "/api/console/seat"));
  $("seat-login").addEventListener("submit", (e) => {
    e.preventDefault();
    act("/api/console/seat/login", { seat: $("seat-id").value.trim() });
  });
  $("btn-ready").addEventListener("click", () => act("/api/console/seat/ready"));
  $("btn-pause").addEventListener("click", () => act("/api/console/seat/pause", { reason: $("pause-reason").value }));
  $("btn-logout").addEventListener("click", () => act("/api/console/seat/logout"));
  $("ticket-form").addEventListener("submit", (e) => { e.preventDefault(); confirmTicket(); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "F2") { e.preventDefault(); act("/api/console/seat/ready"); }
    else if (e.key === "F3") { e.preventDefault(); act("/api/console/seat/pause", { reason: $("pause-reason").value }); }
    else if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); confirmTicket(); }
  });
  setInterval(tickCountdown, 1000);
  connect();
}

start();
