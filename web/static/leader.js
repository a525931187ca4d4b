// 领导接听日: admins schedule sessions; supervisors see each session's tickets (领导接听 / 领导交办).
import { api, loadSession } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const list = (v) => v.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
let me = null;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

async function showReport(id) {
  const r = await api("GET", `/api/leader/sessions/${encodeURIComponent(id)}/report`);
  $("report").hidden = false;
  $("report-title").textContent = `本场工单：${r.session.date} ${r.session.leader_title}${r.session.leader_name}`;
  $("report-summary").textContent = `受理 ${r.count} 件，逾期未办结 ${r.overdue} 件`;
  $("report-tickets").querySelector("tbody").replaceChildren(...r.tickets.map((t) => {
    const tr = document.createElement("tr");
    if (t.overdue) tr.className = "missed";
    tr.append(cell(t.ticket_id), cell(t.caller), cell(new Date(t.answered_at).toLocaleString("zh-CN", { hour12: false })),
      cell(t.title), cell(t.tags.join("、")), cell(t.follow_up_by), cell(t.closed ? "已办结" : (t.overdue ? "逾期" : "跟进中")));
    return tr;
  }));
}

async function load() {
  const data = await api("GET", "/api/leader/sessions");
  $("sessions").querySelector("tbody").replaceChildren(...data.sessions.map((s) => {
    const tr = document.createElement("tr");
    const actions = document.createElement("td");
    const view = document.createElement("button");
    view.type = "button";
    view.textContent = "报表";
    view.addEventListener("click", () => showReport(s.id).catch((e) => { $("message").textContent = e.message; }));
    actions.append(view);
    if (me && me.role === "admin" && !s.cancelled) {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary";
      cancel.textContent = "取消";
      cancel.addEventListener("click", async () => {
        await api("DELETE", `/api/leader/sessions/${encodeURIComponent(s.id)}`);
        await load();
      });
      actions.append(cancel);
    }
    const covers = [s.lanes.length ? `队列 ${s.lanes.join("、")}` : "全部队列", s.dids.length ? `号码 ${s.dids.join("、")}` : ""]
      .filter(Boolean).join("；");
    tr.append(cell(s.date), cell(`${s.start}-${s.end}`), cell(`${s.leader_title}${s.leader_name}`), cell(s.seat), cell(covers),
      cell(String(s.calls)), cell(s.cancelled ? "已取消" : "有效"), actions);
    return tr;
  }));
}

async function schedule(ev) {
  ev.preventDefault();
  $("message").textContent = "";
  const form = {
    date: $("date").value, start: $("start").value, end: $("end").value, leader_name: $("leader_name").value,
    leader_title: $("leader_title").value, seat: $("seat").value, lanes: list($("lanes").value), dids: list($("dids").value),
    wait_s: Number($("wait_s").value), follow_up_days: Number($("follow_up_days").value), announcement: $("announcement").value,
  };
  try {
    await api("POST", "/api/leader/sessions", form);
    await load();
  } catch (err) {
    const problems = (err.details.problems || []).map((p) => p.message).join("；");
    $("message").textContent = problems || err.message;
  }
}

async function start() {
  me = await loadSession();
  if (me && me.role === "admin") $("schedule").hidden = false;
  $("form").addEventListener("submit", schedule);
  await load();
}

start().catch((err) => { $("message").textContent = err.message; });
