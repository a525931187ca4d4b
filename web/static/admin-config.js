// The admin page's configuration tabs: seats and operators (with skills),
// lanes (part of the IVR tree: edited in the working copy, then published),
// calendars (weekly hours in the tree; holidays, adjusted working days and
// special days in the overrides file), the deputies list (CSV import with a
// per-line error report) and the external transfer numbers.
import { api } from "/static/api.js";
import { describeError, h, say, select } from "/static/admin-ui.js";
import { editor } from "/static/admin-tree.js";

const WEEKDAYS = ["一", "二", "三", "四", "五", "六", "日"];

function problemList(err) {
  const problems = (err.details && err.details.problems) || [];
  return h("ul", { class: "problems", "data-testid": "config-problems" },
    h("li", {}, err.message), ...problems.map((p) => h("li", {}, `${p.path || ""} ${p.text || ""} ${p.message || ""}`)));
}

function cellInput(obj, key, attrs = {}) {
  const input = h("input", { value: obj[key] ?? "", ...attrs,
    oninput: () => { obj[key] = attrs.type === "number" ? Number(input.value) : input.value; } });
  return input;
}

// -- seats and operators ------------------------------------------------------------------
async function seatsTab(root) {
  const data = await api("GET", "/api/admin/seats");
  const out = h("div", { "data-testid": "seats-result" });
  const seatRows = h("tbody");
  const opRows = h("tbody");
  const drawSeats = () => seatRows.replaceChildren(...data.seats.map((s, i) => h("tr", {},
    h("td", {}, cellInput(s, "id", { maxlength: 32, "data-testid": `seat-id-${i}` })),
    h("td", {}, cellInput(s, "name", { maxlength: 40 })),
    h("td", {}, cellInput(s, "username", { maxlength: 64, placeholder: "默认同坐席号" })),
    h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => { data.seats.splice(i, 1); drawSeats(); } }, "删除")))));
  const drawOps = () => opRows.replaceChildren(...data.operators.map((o, i) => h("tr", {},
    h("td", {}, cellInput(o, "id", { maxlength: 32, "data-testid": `operator-id-${i}` })),
    h("td", {}, cellInput(o, "name", { maxlength: 40 })),
    ...data.lanes.map((ln) => {
      const inp = h("input", { type: "number", min: 1, max: 10, value: o.skills[ln.id] ?? "", class: "num",
        "aria-label": `${ln.label} 技能等级`, "data-testid": `skill-${i}-${ln.id}`,
        oninput: () => { if (inp.value === "") delete o.skills[ln.id]; else o.skills[ln.id] = Number(inp.value); } });
      return h("td", { class: "num" }, inp);
    }),
    h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => { data.operators.splice(i, 1); drawOps(); } }, "删除")))));
  drawSeats();
  drawOps();
  const save = async () => {
    try {
      const seats = data.seats.map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== "")));
      const res = await api("PUT", "/api/admin/seats", { seats, operators: data.operators });
      Object.assign(data, res);
      drawSeats();
      drawOps();
      out.replaceChildren(h("p", { class: "status good" }, "已保存。坐席与话务员的变更在系统重启后生效。"));
    } catch (err) {
      out.replaceChildren(problemList(err));
    }
  };
  root.replaceChildren(
    h("section", { class: "panel" }, h("h2", {}, "坐席（软电话）"),
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "坐席号"), h("th", {}, "名称"), h("th", {}, "SIP 用户名"), h("th"))), seatRows),
      h("button", { type: "button", class: "secondary small", onclick: () => { data.seats.push({ id: "", name: "" }); drawSeats(); } }, "添加坐席")),
    h("section", { class: "panel" }, h("h2", {}, "话务员与技能（1–10，越高越优先）"),
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "工号"), h("th", {}, "姓名"),
        ...data.lanes.map((ln) => h("th", {}, ln.label)), h("th"))), opRows),
      h("button", { type: "button", class: "secondary small", onclick: () => { data.operators.push({ id: "", name: "", skills: {} }); drawOps(); } }, "添加话务员")),
    h("button", { type: "button", "data-testid": "seats-save", onclick: save }, "保存坐席与话务员"), out);
}

// -- lanes (in the tree) ---------------------------------------------------------------------
async function lanesTab(root) {
  const doc = editor.doc;
  const seats = await api("GET", "/api/admin/seats").catch(() => ({ operators: [] }));
  doc.lanes = doc.lanes || {};
  const rows = h("tbody");
  const draw = () => rows.replaceChildren(...Object.entries(doc.lanes).map(([id, lane]) => {
    lane = lane || {};
    doc.lanes[id] = lane;
    const skilled = seats.operators.filter((o) => o.skills && o.skills[id]).map((o) => `${o.id}(${o.skills[id]})`);
    const over = lane.overflow || {};
    const after = h("input", { type: "number", min: 0, value: over.after_s ?? "", class: "num", oninput: () => setOverflow() });
    const to = select(over.to, Object.keys(doc.lanes).filter((k) => k !== id).map((k) => [k, k]), { onchange: () => setOverflow() }, "（不溢出）");
    const setOverflow = () => {
      if (!to.value) delete lane.overflow;
      else lane.overflow = { after_s: Number(after.value || 0), to: to.value };
      editor.changed();
    };
    return h("tr", { "data-lane": id },
      h("td", {}, id),
      h("td", {}, h("input", { value: lane.label || "", maxlength: 40, oninput: (e) => { lane.label = e.target.value; editor.changed(); } })),
      h("td", { class: "num" }, h("input", { type: "number", min: 1, max: 10, value: lane.priority ?? 1, class: "num",
        oninput: (e) => { lane.priority = Number(e.target.value); editor.changed(); } })),
      h("td", {}, h("div", { class: "row" }, after, "秒后转到", to)),
      h("td", {}, skilled.join("、") || h("span", { class: "field-problem" }, "无话务员具备此技能")),
      h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => { delete doc.lanes[id]; editor.changed(); draw(); } }, "删除")));
  }));
  draw();
  const newId = h("input", { maxlength: 32, placeholder: "队列编号（英文）", "data-testid": "new-lane-id" });
  root.replaceChildren(h("section", { class: "panel" },
    h("h2", {}, `队列（属于语音导航页正在编辑的${editor.treeLabel}：修改后请在“语音导航”页校验并发布）`),
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "编号"), h("th", {}, "名称"), h("th", {}, "优先级"),
      h("th", {}, "溢出"), h("th", {}, "具备技能的话务员（等级）"), h("th"))), rows),
    h("div", { class: "row" }, newId, h("button", { type: "button", class: "secondary small", onclick: () => {
      const id = newId.value.trim();
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(id) || doc.lanes[id]) { say("队列编号须以字母开头且不重复", true); return; }
      doc.lanes[id] = { label: id, priority: 1 };
      newId.value = "";
      editor.changed();
      draw();
    } }, "添加队列")),
    h("p", { class: "muted" }, "话务员的技能在“坐席与话务员”页设置。")));
}

// -- calendars ----------------------------------------------------------------------------------
async function calendarsTab(root) {
  const data = await api("GET", "/api/admin/calendars");
  const doc = editor.doc;
  doc.calendars = doc.calendars || {};
  const weekly = h("div");
  for (const [id, c] of Object.entries(doc.calendars)) {
    const rows = h("div");
    const spec = c.weekly || {};
    const drawRows = () => rows.replaceChildren(...Object.entries(spec).map(([days, hours]) => {
      const d = h("input", { value: days, class: "key", "aria-label": "星期" });
      const hr = h("input", { value: [].concat(hours).join(", "), "aria-label": "时段" });
      const apply = () => {
        delete spec[days];
        days = d.value.trim();
        spec[days] = hr.value.split(/[,，\s]+/).filter(Boolean);
        c.weekly = spec;
        editor.changed();
      };
      d.addEventListener("change", apply);
      hr.addEventListener("change", apply);
      return h("div", { class: "row" }, d, hr, h("button", { type: "button", class: "secondary small",
        onclick: () => { delete spec[days]; editor.changed(); drawRows(); } }, "删除"));
    }));
    drawRows();
    const holidays = h("input", { type: "checkbox", checked: c.holidays === "cn",
      onchange: () => { if (holidays.checked) c.holidays = "cn"; else delete c.holidays; editor.changed(); } });
    weekly.append(h("div", { class: "panel", "data-calendar": id }, h("h3", {}, `日历 ${id}`),
      h("p", { class: "muted" }, "每行：星期（如 mon-fri、sat）与时段（如 08:30-12:00, 14:30-17:30）"), rows,
      h("button", { type: "button", class: "secondary small", onclick: () => { spec["sat"] = ["09:00-12:00"]; c.weekly = spec; editor.changed(); drawRows(); } }, "添加一行"),
      h("label", { class: "inline" }, holidays, "按国家法定节假日和调休安排（节假日休息，调休的周末上班）")));
  }
  // overrides: special days, plus the official schedule for years the library lacks
  const overrides = data.overrides.map((o) => ({ ...o }));
  const oRows = h("tbody");
  const drawO = () => oRows.replaceChildren(...overrides.map((o, i) => {
    const closed = h("input", { type: "checkbox", checked: Boolean(o.closed), "data-testid": `override-closed-${i}`,
      onchange: () => { if (closed.checked) { o.closed = true; delete o.hours; } else { delete o.closed; o.hours = []; } drawO(); } });
    const hours = h("input", { value: (o.hours || []).join(", "), disabled: Boolean(o.closed), placeholder: "如 09:00-12:00",
      oninput: () => { o.hours = hours.value.split(/[,，\s]+/).filter(Boolean); } });
    return h("tr", {},
      h("td", {}, h("input", { type: "date", value: o.date || "", "data-testid": `override-date-${i}`, oninput: (e) => { o.date = e.target.value; } })),
      h("td", {}, h("label", { class: "inline" }, closed, "全天休息")), h("td", {}, hours),
      h("td", {}, h("input", { value: o.note || "", maxlength: 100, oninput: (e) => { o.note = e.target.value; } })),
      h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => { overrides.splice(i, 1); drawO(); } }, "删除")));
  }));
  drawO();
  const years = h("textarea", { rows: 4, "data-testid": "cn-years",
    placeholder: "2027: 节假日 2027-01-01 2027-02-10 …; 调休上班 2027-02-07 …（每年一行：年份|节假日|调休上班）" });
  years.value = Object.entries(data.cn_years || {}).map(([y, s]) =>
    `${y}|${(s.holidays || []).join(" ")}|${(s.workdays || []).join(" ")}`).join("\n");
  const out = h("div");
  const save = async () => {
    const cn = {};
    for (const line of years.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const [y, hol = "", work = ""] = line.split("|");
      cn[y.trim()] = { holidays: hol.split(/[,，\s]+/).filter(Boolean), workdays: work.split(/[,，\s]+/).filter(Boolean) };
    }
    const items = overrides.map((o) => Object.fromEntries(Object.entries(o).filter(([k, v]) => !(k === "note" && v === ""))));
    try {
      await api("PUT", "/api/admin/calendars/overrides", { overrides: items, cn_years: cn });
      out.replaceChildren(h("p", { class: "status good" }, "已保存。请在“语音导航”页重新发布（勾选“内容未变也重新发布”）后生效。"));
      showDays();
    } catch (err) {
      out.replaceChildren(problemList(err));
    }
  };
  // the calendar as applied (the current published version)
  const calSel = select(Object.keys(doc.calendars)[0], Object.keys(doc.calendars).map((k) => [k, k]), { onchange: () => showDays() });
  const month = h("input", { type: "month", value: new Date().toISOString().slice(0, 7), onchange: () => showDays() });
  const grid = h("div", { class: "days", "data-testid": "calendar-days" });
  const showDays = async () => {
    if (!calSel.value) return;
    try {
      const res = await api("GET", `/api/admin/calendars/${encodeURIComponent(calSel.value)}/days?start=${month.value}-01&days=31`);
      const first = res.days.length ? res.days[0].weekday : 0;
      grid.replaceChildren(...WEEKDAYS.map((d) => h("div", { class: "muted" }, "周" + d)),
        ...Array.from({ length: first }, () => h("div")),
        ...res.days.filter((d) => d.date.startsWith(month.value)).map((d) => h("div", {
          class: `day ${d.open ? "" : "closed"} ${d.reason}`, "data-date": d.date, "data-reason": d.reason,
          title: d.note || "" }, h("strong", {}, d.date.slice(8)), " ", d.reason_text,
        h("div", {}, d.hours.join(" ") || "休息"))));
    } catch (err) {
      grid.replaceChildren(h("p", { class: "error" }, describeError(err)));
    }
  };
  root.replaceChildren(
    h("section", { class: "panel" }, h("h2", {}, `每周工作时间（属于正在编辑的${editor.treeLabel}：修改后请在“语音导航”页发布）`), weekly),
    h("section", { class: "panel" }, h("h2", {}, `特殊安排（${data.file}）`),
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "日期"), h("th", {}, "休息"), h("th", {}, "开放时段"), h("th", {}, "说明"), h("th"))), oRows),
      h("button", { type: "button", class: "secondary small", "data-testid": "override-add",
        onclick: () => { overrides.push({ date: "", closed: true, note: "" }); drawO(); } }, "添加日期"),
      h("h3", {}, "节假日库未覆盖年份的国务院放假安排"), years,
      h("button", { type: "button", "data-testid": "calendar-save", onclick: save }, "保存特殊安排"), out),
    h("section", { class: "panel" }, h("h2", {}, "日历预览（当前发布版本）"), h("div", { class: "row" }, calSel, month), grid));
  showDays();
}

// -- deputies list ---------------------------------------------------------------------------
async function deputiesTab(root) {
  const listId = "deputies";
  const report = h("div", { "data-testid": "csv-report" });
  const table = h("tbody");
  const load = async () => {
    const data = await api("GET", `/api/admin/lists/${listId}`);
    table.replaceChildren(...data.entries.map((e) => h("tr", {}, h("td", {}, e.number), h("td", {}, e.name), h("td", {}, e.note))));
    return data;
  };
  const text = h("textarea", { rows: 8, "data-testid": "csv-text", placeholder: "number,name,note\n13800001001,张代表,市人大代表" });
  const file = h("input", { type: "file", accept: ".csv,text/csv", "data-testid": "csv-file" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    const buf = await f.arrayBuffer();
    let decoded;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(buf);
    } catch {
      decoded = new TextDecoder("gb18030").decode(buf);     // Excel in Chinese Windows
    }
    text.value = decoded;
  });
  const skip = h("input", { type: "checkbox", "data-testid": "csv-skip-bad" });
  const run = async () => {
    try {
      const res = await api("POST", `/api/admin/lists/${listId}/import`, { csv: text.value, skip_bad: skip.checked });
      report.replaceChildren(h("p", { class: "status good", "data-testid": "csv-ok" },
        `已导入 ${res.count} 个号码${res.skipped.length ? `，跳过 ${res.skipped.length} 行有误` : ""}。请在“语音导航”页重新发布后生效。`),
      res.skipped.length ? errorTable(res.skipped) : "");
      await load();
    } catch (err) {
      const problems = (err.details && err.details.problems) || [];
      report.replaceChildren(h("p", { class: "error" }, err.message), problems.length ? errorTable(problems) : "");
    }
  };
  const data = await load();
  root.replaceChildren(h("section", { class: "panel" }, h("h2", {}, `人大代表名单（${data.file}，${data.entries.length} 个号码）`),
    h("p", { class: "muted" }, "CSV 列：号码,姓名,备注；号码可带 +86、空格、横线或括号。导入将替换整个名单。"),
    h("label", { class: "file-button" }, "选择 CSV 文件", file), text,
    h("label", { class: "inline" }, skip, "跳过有误的行，导入其余的行"),
    h("button", { type: "button", "data-testid": "csv-import", onclick: run }, "导入名单"), report,
    h("h3", {}, "当前名单"), h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "号码"), h("th", {}, "姓名"), h("th", {}, "备注"))), table)));
}

function errorTable(problems) {
  return h("table", { class: "table line-errors", "data-testid": "csv-errors" },
    h("thead", {}, h("tr", {}, h("th", {}, "行号"), h("th", {}, "问题"), h("th", {}, "详情"))),
    h("tbody", {}, ...problems.map((p) => h("tr", { "data-line": p.line ?? "" },
      h("td", {}, p.line ?? "—"), h("td", {}, p.text || ""), h("td", {}, p.message || "")))));
}

// -- transfer numbers --------------------------------------------------------------------------
const MODES = [["blind", "直接转接"], ["attended", "咨询后转接"], ["three_way", "三方通话"]];

function modesOf(t) {
  if (Array.isArray(t.modes) && t.modes.length) return t.modes;
  return t.three_way ? ["three_way"] : ["blind", "attended", "three_way"];
}

async function transfersTab(root) {
  const data = await api("GET", "/api/admin/transfers");
  const rows = h("tbody");
  const out = h("div");
  const draw = () => rows.replaceChildren(...data.targets.map((t, i) => {
    t.modes = modesOf(t);
    const def = select(t.modes[0], MODES.filter(([m]) => t.modes.includes(m)), { "data-testid": `transfer-default-${i}`,
      onchange: () => { t.modes = [def.value, ...t.modes.filter((m) => m !== def.value)]; t.three_way = t.modes[0] === "three_way"; } });
    const boxes = MODES.map(([m, label]) => {
      const box = h("input", { type: "checkbox", checked: t.modes.includes(m), "data-testid": `transfer-mode-${i}-${m}`,
        onchange: () => {
          t.modes = box.checked ? [...t.modes, m] : t.modes.filter((x) => x !== m);
          t.three_way = t.modes[0] === "three_way";
          draw();
        } });
      return h("label", { class: "inline" }, box, label);
    });
    return h("tr", {},
      h("td", {}, cellInput(t, "id", { maxlength: 32, "data-testid": `transfer-id-${i}` })),
      h("td", {}, cellInput(t, "name", { maxlength: 40, "data-testid": `transfer-name-${i}` })),
      h("td", {}, cellInput(t, "number", { maxlength: 20, "data-testid": `transfer-number-${i}` })),
      h("td", {}, ...boxes), h("td", {}, def),
      h("td", {}, h("button", { type: "button", class: "secondary small", onclick: () => { data.targets.splice(i, 1); draw(); } }, "删除")));
  }));
  draw();
  const save = async () => {
    try {
      // modes are written only where they differ from what three_way implies
      const targets = data.targets.map((t) => {
        const implied = modesOf({ three_way: t.three_way });
        const { modes, ...rest } = t;
        return modes && modes.join() !== implied.join() ? { ...rest, modes } : rest;
      });
      const res = await api("PUT", "/api/admin/transfers", { targets });
      data.targets = res.targets;
      draw();
      out.replaceChildren(h("p", { class: "status good" }, "已保存，坐席工作台立即使用新的转接号码。"));
    } catch (err) {
      out.replaceChildren(problemList(err));
    }
  };
  root.replaceChildren(h("section", { class: "panel" }, h("h2", {}, `外部转接号码（${data.file}）`),
    h("p", { class: "muted" }, "110/119/120/122 应为三方通话（话务员保持在线）；12366 等可直接转接或咨询后转接。"),
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "编号"), h("th", {}, "名称"), h("th", {}, "号码"),
      h("th", {}, "允许的方式"), h("th", {}, "默认方式"), h("th"))), rows),
    h("button", { type: "button", class: "secondary small", "data-testid": "transfer-add",
      onclick: () => { data.targets.push({ id: "", name: "", number: "", three_way: false, modes: ["blind", "attended"] }); draw(); } }, "添加号码"),
    h("button", { type: "button", "data-testid": "transfers-save", onclick: save }, "保存转接号码"), out));
}

export const TABS = { seats: seatsTab, lanes: lanesTab, calendars: calendarsTab, deputies: deputiesTab, transfers: transfersTab };
