// The wallboard: per-lane tiles (waiting, longest wait, today's figures
// against the targets, red when missed) and ECharts charts. Refreshes on
// live events (debounced) and every 5 s.
import { api, loadSession } from "/static/api.js";

const SEAT_LABELS = { ready: "空闲", ringing: "振铃", on_call: "通话中", wrap_up: "话后整理", paused: "暂停", logged_out: "未登录" };
const FIGURES = [
  ["answer_rate", "接通率", (v) => pct(v)],
  ["service_level", "15秒接通率", (v) => pct(v)],
  ["abandon_rate", "放弃率", (v) => pct(v)],
  ["avg_answer_s", "平均应答", (v) => sec(v)],
];
const $ = (id) => document.getElementById(id);
const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`);
const sec = (v) => (v == null ? "—" : `${v} 秒`);
let seatsChart = null;
let hoursChart = null;

function tile(lane, name, data, waiting, longest) {
  const div = document.createElement("div");
  div.className = "tile";
  const h = document.createElement("h3");
  h.textContent = name || lane;
  div.append(h);
  const rows = [["等待", `${waiting} 通`], ["最长等待", sec(longest)], ["来电", data.figures.offered],
    ["接通", data.figures.answered], ["放弃", data.figures.abandoned], ["平均处理", sec(data.figures.avg_handle_s)]];
  for (const [key, label, fmt] of FIGURES) {
    const t = data.targets[key];
    rows.push([label, fmt(data.figures[key]) + (t ? `（目标 ${t.op} ${key.endsWith("_s") ? t.target + " 秒" : pct(t.target)}）` : ""), t && t.missed]);
  }
  for (const [label, value, missed] of rows) {
    const p = document.createElement("p");
    p.textContent = `${label}：${value}`;
    if (missed) p.className = "missed";
    div.append(p);
  }
  return div;
}

async function refresh() {
  let board;
  try {
    board = await api("GET", "/api/wallboard");
  } catch (err) { $("message").textContent = err.message; return; }
  $("message").textContent = "";
  $("updated").textContent = `更新于 ${new Date().toLocaleTimeString("zh-CN")}`;
  const lanes = $("lanes");
  lanes.replaceChildren(tile("all", "全部", board.all, Object.values(board.waiting).reduce((a, b) => a + b, 0),
    Math.max(0, ...Object.values(board.longest_wait_s))));
  for (const [lane, data] of Object.entries(board.lanes)) {
    lanes.append(tile(lane, board.lane_names[lane], data, board.waiting[lane] || 0, board.longest_wait_s[lane] || 0));
  }
  if (window.echarts) {
    seatsChart = seatsChart || window.echarts.init($("chart-seats"));
    seatsChart.setOption({
      tooltip: {},
      series: [{ type: "pie", radius: "65%",
        data: Object.entries(board.seats).map(([k, v]) => ({ name: SEAT_LABELS[k] || k, value: v })) }],
    });
    const hours = Object.keys(board.all.hours);
    hoursChart = hoursChart || window.echarts.init($("chart-hours"));
    hoursChart.setOption({
      tooltip: { trigger: "axis" }, legend: { data: ["来电", "接通", "放弃"] },
      xAxis: { type: "category", data: hours.map((h) => `${h}时`) }, yAxis: { type: "value" },
      series: [["来电", "offered"], ["接通", "answered"], ["放弃", "abandoned"]].map(([name, key]) => (
        { name, type: "bar", data: hours.map((h) => board.all.hours[h][key]) })),
    });
  }
  try {
    const missed = await api("GET", "/api/wallboard/missed?reveal=false");
    $("missed").replaceChildren(...missed.calls.map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.caller || "未显示号码"} · ${c.lane} · 等待 ${Math.round(c.waited_s)} 秒`;
      return li;
    }));
  } catch (err) { $("message").textContent = err.message; }
}

let pending = null;
function soon() {
  if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 500);
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = soon;
  ws.onclose = () => setTimeout(connect, 2000);
}

async function start() {
  await loadSession();
  $("btn-full").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen();
  });
  window.addEventListener("resize", () => { seatsChart && seatsChart.resize(); hoursChart && hoursChart.resize(); });
  await refresh();
  setInterval(refresh, 5000);
  connect();
}

start();
