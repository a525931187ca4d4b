// The wallboard (the hall's big screen, also the supervisors' page): today's
// figures against the DOMAIN.md targets (red when missed), waiting calls and
// the longest wait per lane, seats by state, calls per hour, today's top
// categories and districts (Apache ECharts), the callback list, and for
// supervisors listen / whisper / barge on a seat's call. Refreshes on live
// events (debounced) and every 5 s.
import { api, loadSession } from "/static/api.js";
import { showNotices } from "/static/notices.js";

const SEAT_LABELS = { ready: "空闲", ringing: "振铃", on_call: "通话中", wrap_up: "话后整理", paused: "暂停", logged_out: "未登录" };
const SEAT_COLORS = { ready: "#43a047", ringing: "#ef6c00", on_call: "#1e88e5", wrap_up: "#8e24aa", paused: "#c9a400", logged_out: "#546e7a" };
const MODES = [["listen", "监听"], ["whisper", "耳语"], ["barge", "强插"]];
const $ = (id) => document.getElementById(id);
const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`);
const sec = (v) => (v == null ? "—" : `${Math.round(v)} 秒`);
const charts = {};
let me = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function targetText(t, figure) {
  if (!t) return "";
  const v = figure.endsWith("_s") || figure === "longest_wait" ? `${t.target} 秒` : pct(t.target);
  return `目标 ${t.op === ">=" ? "≥" : "≤"} ${v}`;
}

function tile(figure, label, value, target) {
  const d = el("div", "tile");
  d.dataset.figure = figure;
  d.append(el("div", "label", label), el("div", "value", value));
  if (target) {
    d.append(el("div", "target", targetText(target, figure)));
    if (target.missed) d.classList.add("missed");
    else if (target.value != null) d.classList.add("ok");
  }
  return d;
}

function showKpi(board) {
  const f = board.all.figures;
  const t = board.all.targets;
  const waiting = Object.values(board.waiting).reduce((a, b) => a + b, 0);
  const longest = Math.max(0, ...Object.values(board.longest_wait_s || {}));
  const longestTarget = { value: longest, target: board.targets.avg_answer_s_max, op: "<=",
    missed: longest > board.targets.avg_answer_s_max };
  $("kpi").replaceChildren(
    tile("waiting", "排队等待", `${waiting}`),
    tile("longest_wait", "最长等待", sec(waiting ? longest : null), waiting ? longestTarget : null),
    tile("offered", "今日来电", `${f.offered}`),
    tile("answered", "接通", `${f.answered}`),
    tile("abandoned", "放弃", `${f.abandoned}`),
    tile("answer_rate", "接通率", pct(f.answer_rate), t.answer_rate),
    tile("service_level", "15秒接通率", pct(f.service_level), t.service_level),
    tile("abandon_rate", "放弃率", pct(f.abandon_rate), t.abandon_rate),
    tile("avg_wait_s", "平均等待", sec(f.avg_wait_s), t.avg_wait_s),
    tile("avg_handle_s", "平均处理时长", sec(f.avg_handle_s)),
  );
}

function cell(figure, text, target) {
  const td = el("td", target && target.missed ? "missed" : "", text);
  td.dataset.figure = figure;
  return td;
}

function showLanes(board) {
  const body = $("lanes").querySelector("tbody");
  body.replaceChildren();
  for (const [lane, data] of Object.entries(board.lanes)) {
    const f = data.figures;
    const t = data.targets;
    const tr = el("tr");
    tr.dataset.lane = lane;
    tr.append(el("td", "", board.lane_names[lane] || lane), cell("waiting", `${board.waiting[lane] || 0}`),
      cell("longest_wait", sec(board.longest_wait_s[lane])), cell("offered", `${f.offered}`),
      cell("answered", `${f.answered}`), cell("abandoned", `${f.abandoned}`),
      cell("answer_rate", pct(f.answer_rate), t.answer_rate), cell("service_level", pct(f.service_level), t.service_level),
      cell("avg_wait_s", sec(f.avg_wait_s), t.avg_wait_s), cell("avg_handle_s", sec(f.avg_handle_s)));
    body.append(tr);
  }
}

function chart(id) {
  if (!window.echarts) return null;
  if (!charts[id]) charts[id] = window.echarts.init($(id), "dark", { renderer: "canvas" });
  return charts[id];
}

const BASE = { backgroundColor: "transparent", textStyle: { fontFamily: "Noto Sans CJK SC, Microsoft YaHei, sans-serif" } };

function barOption(pairs, color) {
  const rows = [...pairs].reverse();
  const empty = rows.length ? undefined
    : { text: "今日暂无工单", left: "center", top: "middle", textStyle: { color: "#8da2c0", fontSize: 16, fontWeight: "normal" } };
  return { ...BASE, title: empty, tooltip: {}, grid: { left: 8, right: 30, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: rows.map((p) => p[0]) },
    series: [{ type: "bar", data: rows.map((p) => p[1]), itemStyle: { color }, label: { show: true, position: "right" } }] };
}

function showCharts(board) {
  if (!window.echarts) {
    $("message").textContent = "图表组件未加载（请运行 npm install --prefix web）";
    return;
  }
  chart("chart-seats").setOption({ ...BASE, tooltip: {}, legend: { bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "65%"], label: { formatter: "{b}\n{c}" },
      data: Object.entries(board.seats).filter(([k, v]) => k !== "logged_out" && v > 0)
        .map(([k, v]) => ({ name: SEAT_LABELS[k] || k, value: v, itemStyle: { color: SEAT_COLORS[k] } })) }] });
  // Every hour from the first with calls (08 at the latest) to the last, gaps as zero.
  const seen = Object.keys(board.all.hours).map(Number);
  const hours = [];
  for (let h = Math.min(8, ...seen); h <= Math.max(8, ...seen); h += 1) hours.push(String(h).padStart(2, "0"));
  const at = (h, key) => (board.all.hours[h] ? board.all.hours[h][key] || 0 : 0);
  chart("chart-hours").setOption({ ...BASE, tooltip: { trigger: "axis" }, legend: { data: ["来电", "接通", "放弃"] },
    grid: { left: 40, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: hours.map((h) => `${h}时`) }, yAxis: { type: "value", minInterval: 1 },
    series: [["来电", "offered", "#90caf9"], ["接通", "answered", "#66bb6a"], ["放弃", "abandoned", "#ef5350"]].map(
      ([name, key, color]) => ({ name, type: "bar", itemStyle: { color }, data: hours.map((h) => at(h, key)) })) });
  const top = board.top || { categories: [], districts: [] };
  chart("chart-categories").setOption(barOption(top.categories, "#4fc3f7"), true);
  chart("chart-districts").setOption(barOption(top.districts, "#ffb74d"), true);
}

function duration(since) {
  if (!since) return "";
  const s = Math.max(0, Math.round(Date.now() / 1000 - since));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function showSeats(board) {
  const body = $("seat-list").querySelector("tbody");
  body.replaceChildren();
  for (const s of board.seat_list || []) {
    const tr = el("tr");
    tr.dataset.seat = s.seat_id;
    const state = el("span", `state ${s.state}`, SEAT_LABELS[s.state] + (s.reason ? `（${s.reason}）` : ""));
    const stateTd = el("td");
    stateTd.append(state);
    const ops = el("td");
    if (s.state === "on_call") {
      for (const [mode, label] of MODES) {
        const b = el("button", mode, label);
        b.type = "button";
        b.dataset.mode = mode;
        b.addEventListener("click", () => supervise(s.seat_id, mode, label));
        ops.append(b);
      }
    }
    tr.append(el("td", "", s.seat_id), el("td", "", s.operator_id || ""), stateTd, el("td", "", duration(s.since)),
      el("td", "", s.lane ? (board.lane_names[s.lane] || s.lane) : ""), ops);
    body.append(tr);
  }
  if (!body.children.length) {
    const tr = el("tr");
    const td = el("td", "muted", "没有已登录的坐席");
    td.colSpan = 6;
    tr.append(td);
    body.append(tr);
  }
}

async function supervise(seatId, mode, label) {
  const box = $("supervise-message");
  try {
    const r = await api("POST", "/api/supervise", { seat: seatId, mode });
    box.textContent = `正在接通本人话机（${r.phone}），${label}坐席 ${seatId}`;
    box.className = "message ok";
  } catch (err) {
    box.textContent = err.status === 404 && err.id === "http_404" ? "监听功能暂不可用" : `${label}失败：${err.message}`;
    box.className = "message";
  }
}

async function refresh() {
  let board;
  try {
    board = await api("GET", "/api/wallboard");
  } catch (err) {
    $("message").textContent = err.message;
    return;
  }
  $("message").textContent = "";
  $("updated").textContent = `更新于 ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`;
  showKpi(board);
  await showRevisit();
  showLanes(board);
  showSeats(board);
  showCharts(board);
  try {
    const missed = await api("GET", "/api/wallboard/missed?reveal=false");
    const items = missed.calls.map((c) => el("li", "", `${c.caller || "未显示号码"} · ${board.lane_names[c.lane] || c.lane || ""} · 等待 ${Math.round(c.waited_s || 0)} 秒`));
    $("missed").replaceChildren(...(items.length ? items : [el("li", "muted", "无")]));
  } catch (err) {
    $("message").textContent = err.message;
  }
}

// 回访满意率 (satisfaction callbacks, last 30 days): (满意 + 基本满意) / answered; absent when revisits are off.
async function showRevisit() {
  let r;
  try {
    r = await api("GET", "/api/revisit/summary?days=30");
  } catch {
    return;
  }
  const answered = r.results.satisfied + r.results.basic + r.results.unsatisfied;
  const t = tile("revisit_rate", "回访满意率（30天）", pct(r.satisfaction_rate));
  t.append(el("div", "target", `已回访 ${answered}，不满意 ${r.results.unsatisfied}，待回访 ${r.states.pending}`));
  $("kpi").append(t);
}

let pending = null;
function soon() {
  if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 500);
}

let backoff = 1000;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { backoff = 1000; $("live-state").textContent = "实时连接：已连接"; $("live-state").className = "live on"; };
  ws.onmessage = (msg) => {
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    const events = Array.isArray(data) ? data : [data];             // one event, or a batch
    for (const ev of events) {
      if (ev && ev.type === "revisit_unsatisfied") {                 // a supervisor follows it up
        $("revisit-alert").textContent = `回访不满意：工单 ${ev.ticket} 已退回重办${ev.reason ? `（${ev.reason}）` : ""}`;
      }
    }
    if (events.some((ev) => ev && ev.type !== "hello" && ev.type !== "transcript")) soon();
  };
  ws.onclose = () => {
    $("live-state").textContent = "实时连接：已断开，重连中";
    $("live-state").className = "live off";
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
}

function setFull(on) {
  document.body.classList.toggle("full", on);
  setTimeout(() => Object.values(charts).forEach((c) => c.resize()), 50);
}

async function start() {
  me = await loadSession();
  if (new URLSearchParams(location.search).get("full") === "1") setFull(true);
  $("btn-full").addEventListener("click", async () => {
    if (document.fullscreenElement) await document.exitFullscreen();
    else {
      try { await document.documentElement.requestFullscreen(); } catch { /* no full-screen API: layout only */ }
      setFull(true);
    }
  });
  document.addEventListener("fullscreenchange", () => setFull(!!document.fullscreenElement));
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  const tick = () => { $("clock").textContent = new Date().toLocaleString("zh-CN", { hour12: false }); };
  tick();
  setInterval(tick, 1000);
  showNotices($("notices"));
  await refresh();
  setInterval(refresh, 5000);
  connect();
}

start().catch((err) => {
  if (err.status !== 401) $("message").textContent = err.message;
});
