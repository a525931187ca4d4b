// The reports page: figures per lane, seat and category by day / week /
// quarter, CSV downloads, and the weekly category trend (ECharts).
import { api, loadSession } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`);
const num = (v) => (v == null ? "—" : String(v));
const CALL_COLUMNS = [
  ["offered", "呼入", num], ["answered", "接通", num], ["abandoned", "放弃", num],
  ["answer_rate", "接通率", pct], ["service_level", "15秒接通率", pct], ["abandon_rate", "放弃率", pct],
  ["avg_wait_s", "平均等待(秒)", num], ["avg_answer_s", "平均应答(秒)", num], ["avg_handle_s", "平均处理(秒)", num],
];
const SEAT_COLUMNS = [
  ["rang", "振铃", num], ["answered", "接通", num], ["no_answer", "未接", num],
  ["avg_talk_s", "平均通话(秒)", num], ["avg_handle_s", "平均处理(秒)", num],
];
let trendChart = null;

function params(extra = {}) {
  const p = new URLSearchParams({ period: $("period").value, level: $("level").value, ...extra });
  if ($("from").value) p.set("from", $("from").value);
  if ($("to").value) p.set("to", $("to").value);
  return p;
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function table(id, head, rows) {
  const t = $(id);
  const tr = document.createElement("tr");
  tr.append(...head.map((h) => cell("th", h)));
  const body = rows.map(({ values, total }) => {
    const r = document.createElement("tr");
    if (total) r.className = "total";
    r.append(...values.map((v) => cell("td", v)));
    return r;
  });
  if (!rows.length) {
    const r = document.createElement("tr");
    const td = cell("td", "所选范围内没有数据");
    td.colSpan = head.length;
    r.append(td);
    body.push(r);
  }
  t.replaceChildren(tr, ...body);
}

function callTables(data) {
  const lanes = data.rows.filter((r) => r.kind !== "seat");
  table("table-lanes", ["周期", "队列", ...CALL_COLUMNS.map((c) => c[1])],
    lanes.map((r) => ({ total: r.kind === "all",
      values: [r.period_label, r.name, ...CALL_COLUMNS.map(([k, , f]) => f(r[k]))] })));
  const seats = data.rows.filter((r) => r.kind === "seat");
  table("table-seats", ["周期", "坐席", ...SEAT_COLUMNS.map((c) => c[1])],
    seats.map((r) => ({ values: [r.period_label, `${r.name}（${r.id}）`, ...SEAT_COLUMNS.map(([k, , f]) => f(r[k]))] })));
  const labels = Object.fromEntries(data.periods.map((p) => [p.key, p.label]));
  table("table-categories", ["周期", "诉求类别", "工单数", "已确认", "占比"],
    data.categories.map((c) => ({ values: [labels[c.period] || c.period, c.category, c.tickets, c.confirmed, pct(c.share)] })));
}

function trend(data) {
  if (!window.echarts) {
    $("chart-trend").textContent = "图表组件未安装";
    return;
  }
  trendChart = trendChart || window.echarts.init($("chart-trend"));
  trendChart.setOption({
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0 },
    grid: { top: 40, left: 40, right: 20, bottom: 30 },
    xAxis: { type: "category", data: data.weeks.map((w) => w.key) },
    yAxis: { type: "value", name: "工单数", minInterval: 1 },
    series: data.series.map((s) => ({ name: s.category, type: "line", smooth: true, data: s.counts })),
  }, true);
}

// the knowledge base's part (GET /api/reports/knowledge; 503/404 without a records database)
async function knowledge(data) {
  const p = new URLSearchParams({ from: data.from, to: data.to });
  let kb;
  try {
    kb = await api("GET", "/api/reports/knowledge?" + p);
  } catch (err) {
    $("kb-share").textContent = `知识库统计暂不可用：${err.message}`;
    return;
  }
  $("kb-share").textContent = `${kb.from} 至 ${kb.to}：接通 ${kb.answered_calls} 通，直接办结 ${kb.answered_on_call} 通，` +
    `直接办结率 ${pct(kb.share)}；检索 ${kb.searches} 次。`;
  table("table-kb-articles", ["条目编号", "问题", "引用次数"],
    kb.articles.map((a) => ({ values: [a.id == null ? "（已删除）" : a.id, a.question, a.uses] })));
  table("table-kb-missing", ["检索内容", "次数", "最近一次"],
    kb.not_found.map((n) => ({ values: [n.query, n.times, n.last_at.slice(0, 16).replace("T", " ")] })));
}

// 回访满意率 and 不满意率 of the tickets closed in the range (absent when revisits are off)
async function revisitTable(from, to, mine) {
  let r;
  try {
    r = await api("GET", `/api/revisit/summary?from=${from}&to=${to}`);
  } catch {
    $("revisit-section").hidden = true;
    return;
  }
  if (mine !== latest) return;
  const answered = r.results.satisfied + r.results.basic + r.results.unsatisfied;
  table("table-revisit", ["待回访", "回访中", "已完成", "失败", "满意", "基本满意", "不满意（退回重办）", "回访满意率", "不满意率"],
    [{ values: [r.states.pending, r.states.dialling, r.states.done, r.states.failed, r.results.satisfied,
      r.results.basic, r.results.unsatisfied, answered ? pct(r.satisfaction_rate) : "—",
      answered ? pct(r.unsatisfied_rate) : "—"] }]);
}

let latest = 0;   // a slower, older answer must not overwrite a newer one

async function refresh() {
  const mine = ++latest;
  $("message").textContent = "";
  $("btn-query").disabled = true;
  try {
    const data = await api("GET", "/api/reports?" + params());
    if (mine !== latest) return;
    if (!$("from").value) $("from").value = data.from;
    if (!$("to").value) $("to").value = data.to;
    callTables(data);
    knowledge(data);
    const t = params({ focus: $("focus").value });
    t.delete("period");
    if ($("period").value !== "week") t.set("from", data.from);
    const weekly = await api("GET", "/api/reports/trend?" + t);
    if (mine === latest) trend(weekly);
    await revisitTable(data.from, data.to, mine);
  } catch (err) {
    if (mine === latest) $("message").textContent = err.message;
  } finally {
    if (mine === latest) $("btn-query").disabled = false;
  }
}

function download(part) {
  location.assign("/api/reports/export?" + params({ part }));
}

async function start() {
  await loadSession();
  $("query").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("period").addEventListener("change", () => { $("from").value = ""; refresh(); });
  $("btn-csv-calls").addEventListener("click", () => download("calls"));
  $("btn-csv-categories").addEventListener("click", () => download("categories"));
  $("focus").addEventListener("change", refresh);
  window.addEventListener("resize", () => trendChart && trendChart.resize());
  await refresh();
}

start();
