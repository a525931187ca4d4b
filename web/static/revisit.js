// 满意度回访 campaign page: pending / in progress / done / failed, refreshed every 10 s.
const STATES = { pending: "待回访", dialling: "回访中", done: "已完成", failed: "失败" };

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "";
}

async function load() {
  const res = await fetch("/api/revisit/campaign", { credentials: "same-origin" });
  if (!res.ok) {
    document.getElementById("summary").textContent = `加载失败（${res.status}）`;
    return;
  }
  const data = await res.json();
  const s = data.summary;
  const rate = s.satisfaction_rate == null ? "暂无" : `${(s.satisfaction_rate * 100).toFixed(1)}%`;
  document.getElementById("summary").textContent =
    Object.entries(STATES).map(([k, v]) => `${v} ${s.states[k] ?? 0}`).join("，") +
    `；满意 ${s.results.satisfied}，基本满意 ${s.results.basic}，不满意 ${s.results.unsatisfied}；回访满意率 ${rate}`;
  const only = document.getElementById("filter").value;
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren(...data.tasks.filter((t) => !only || t.state === only).map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.state = t.state;
    tr.append(cell(t.ticket_id), cell(t.number), cell(t.state_label), cell(String(t.attempts)),
      cell(when(t.next_at)), cell(t.result_label), cell(t.reason_label), cell(when(t.updated_at)));
    return tr;
  }));
  document.body.dataset.loaded = "1";
}

document.getElementById("filter").addEventListener("change", load);
load();
setInterval(load, 10000);
