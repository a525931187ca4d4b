// 领导接听日: admins schedule sessions; supervisors see each session's tickets (领导接听 / 领导交办).
import { api, loadSession } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const list = (v) => v.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
let me = null;
function note(text, bad = false) {
  $("message").textContent = text;
  $("message").className = bad ? "error" : "";
}
const isAdmin = () => Boolean(me && me.user.role === "admin");     // (GET /api/me: {user: {role}, ...})

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
    tr.dataset.id = s.id;
    tr.dataset.cancelled = s.cancelled ? "true" : "false";
    const actions = document.createElement("td");
    const view = document.createElement("button");
    view.type = "button";
    view.textContent = "报表";
    view.addEventListener("click", () => showReport(s.id).catch((e) => note(e.message, true)));
    actions.append(view);
    if (isAdmin() && !s.cancelled) {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary";
      cancel.textContent = "取消";
      cancel.addEventListener("click", async () => {
        if (!confirm(`取消 ${s.date} ${s.leader_title}${s.leader_name} 的接听安排？`)) return;
        try {
          await api("DELETE", `/api/leader/sessions/${encodeURIComponent(s.id)}`);
          note("已取消接听安排");
        } catch (err) {
          note("取消失败：" + err.message, true);
        }
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
  document.body.dataset.loaded = "1";
}

async function schedule(ev) {
  ev.preventDefault();
  note("");
  const form = {
    date: $("date").value, start: $("start").value, end: $("end").value, leader_name: $("leader_name").value,
    leader_title: $("leader_title").value, seat: $("seat").value, lanes: list($("lanes").value), dids: list($("dids").value),
    wait_s: Number($("wait_s").value), follow_up_days: Number($("follow_up_days").value), announcement: $("announcement").value,
  };
  try {
    const s = await api("POST", "/api/leader/sessions", form);
    note(`已安排：${s.date} ${s.start}-${s.end} ${s.leader_title}${s.leader_name}`);
    $("message").dataset.saved = s.id;
    await load();
  } catch (err) {
    const problems = (err.details.problems || []).map((p) => p.message).join("；");
    note(problems || err.message, true);
  }
}

async function start() {
  me = await loadSession();
  if (isAdmin()) $("schedule").hidden = false;
  $("form").addEventListener("submit", schedule);
  await load();
}

start().catch((err) => { if (err.status !== 401) note(err.message, true); });
