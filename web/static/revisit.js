// 满意度回访 campaign page: pending / in progress / done / failed, refreshed every 10 s, and the
// do-not-call list (免打扰): supervisors see it with the numbers masked, admins add and remove.
import { api, loadSession } from "/static/api.js";

const STATES = { pending: "待回访", dialling: "回访中", done: "已完成", failed: "失败" };
const $ = (id) => document.getElementById(id);
let me = null;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "";
}

function problemsOf(err) {
  const problems = ((err.details && err.details.problems) || []).map((p) => p.message).join("；");
  return problems || err.message;
}

async function load() {
  let data;
  try {
    data = await api("GET", "/api/revisit/campaign");
  } catch (err) {
    $("summary").textContent = `加载失败：${err.message}`;
    return;
  }
  const s = data.summary;
  const rate = s.satisfaction_rate == null ? "暂无" : `${(s.satisfaction_rate * 100).toFixed(1)}%`;
  $("summary").textContent =
    Object.entries(STATES).map(([k, v]) => `${v} ${s.states[k] ?? 0}`).join("，") +
    `；满意 ${s.results.satisfied}，基本满意 ${s.results.basic}，不满意 ${s.results.unsatisfied}；回访满意率 ${rate}`;
  const only = $("filter").value;
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren(...data.tasks.filter((t) => !only || t.state === only).map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.state = t.state;
    tr.dataset.ticket = t.ticket_id;
    tr.append(cell(t.ticket_id), cell(t.number), cell(t.state_label), cell(String(t.attempts)),
      cell(when(t.next_at)), cell(t.result_label), cell(t.reason_label), cell(when(t.updated_at)));
    return tr;
  }));
  document.body.dataset.loaded = "1";
}

// -- the do-not-call list ------------------------------------------------------------------
async function loadDnc() {
  const data = await api("GET", "/api/revisit/do-not-call");
  const manage = me && me.user.role === "admin";
  $("dnc-total").textContent = `共 ${data.total} 个号码` + (data.total > data.entries.length ? `，显示最近 ${data.entries.length} 个` : "") +
    (data.masked ? "（号码已隐去中间几位；由管理员维护）" : "");
  const body = $("dnc-list").querySelector("tbody");
  body.replaceChildren(...data.entries.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.number = e.number;
    const actions = document.createElement("td");
    if (manage) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = "移出";
      remove.dataset.testid = "dnc-remove";
      remove.addEventListener("click", () => removeDnc(e.number));
      actions.append(remove);
    }
    tr.append(cell(e.number), cell(e.reason_label), cell(e.added_by), cell(when(e.added_at)), actions);
    return tr;
  }));
  body.dataset.count = String(data.entries.length);
  $("dnc").dataset.loaded = "1";
}

async function addDnc(ev) {
  ev.preventDefault();
  const msg = $("dnc-message");
  msg.textContent = "";
  try {
    const number = $("dnc-number").value.replace(/[\s\-()（）]/g, "");   // as people write it: 138-0000-1234
    const res = await api("POST", "/api/revisit/do-not-call", { number, reason: $("dnc-reason").value.trim() });
    msg.textContent = res.added ? `已加入免打扰：${res.number}` : `${res.number} 已在免打扰名单中`;
    $("dnc-number").value = "";
    $("dnc-reason").value = "";
    await loadDnc();
  } catch (err) {
    msg.textContent = "未加入：" + problemsOf(err);
  }
}

async function removeDnc(number) {
  if (!confirm(`将 ${number} 移出免打扰名单？移出后可以再次回访。`)) return;
  const msg = $("dnc-message");
  try {
    await api("DELETE", "/api/revisit/do-not-call?number=" + encodeURIComponent(number));
    msg.textContent = `已移出免打扰：${number}`;
  } catch (err) {
    msg.textContent = "未移出：" + problemsOf(err);
  }
  await loadDnc();
}

async function start() {
  me = await loadSession();
  if (me.user.role === "admin") $("dnc-manage").hidden = false;
  $("dnc-form").addEventListener("submit", addDnc);
  $("filter").addEventListener("change", load);
  await Promise.all([load(), loadDnc()]);
  setInterval(load, 10000);
}

start().catch((err) => {
  if (err.status !== 401) $("summary").textContent = `加载失败：${err.message}`;
});
