// The IVR tree editor: the tree as an outline of node boxes, a form per node,
// validation as you edit (the faulty nodes marked red with the message),
// prompt preview and upload, simulation with the path highlighted, publish,
// version history with the semantic diff, rollback, YAML import/export.
// The working copy is a plain tree document; the server checks and publishes it.
// One editor for every registered tree (来电流程, 回访流程, ...): the selector picks the tree, and
// every request names it (?tree=), so simulate, publish, versions, diff and rollback act on it.
import { api } from "/static/api.js";
import { debounce, describeError, fmtTime, h, say, select } from "/static/admin-ui.js";

export const TYPE_NAMES = {
  play: "播放", menu: "按键菜单", collect: "收号", caller_check: "来电判断", schedule: "工作时间判断",
  describe: "录音描述", queue: "排队转人工", transfer: "转接", survey: "满意度评价", hangup: "挂机",
};
const OUTCOME_TEXT = { queue: "排队", transfer: "转接", hangup: "挂机", end: "结束" };

const state = {
  tree: "calls",      // the tree being edited (GET /api/admin/ivr/trees lists them)
  trees: [],
  doc: null,          // the working copy
  published: null,    // the current published version's info
  problems: [],
  selected: null,
  simPath: [],
  seq: 0,
  formProblems: null, // the selected node's problem list element
};
const listeners = [];

// For the other tabs (lanes, calendars are part of the tree): read and change the working copy.
export const editor = {
  get doc() { return state.doc; },
  get tree() { return state.tree; },
  get treeLabel() { return (state.trees.find((t) => t.name === state.tree) || {}).label || state.tree; },
  changed() { changed(false); },
  onLoad(fn) { listeners.push(fn); },
  validate() { return validateNow(); },
};

// An /api/admin/ivr/ path on the selected tree.
function ivrPath(path, params = {}) {
  const q = new URLSearchParams({ tree: state.tree, ...params });
  return `/api/admin/ivr/${path}?${q}`;
}

// -- edges of a node (mirrors ivr.model.node_refs) ------------------------------------
function checkLabel(c) {
  if (c.in_list) return `名单 ${c.in_list}`;
  if (c.did) return `被叫 ${[].concat(c.did).join("/")}`;
  if (c.prefix) return `号段 ${[].concat(c.prefix).join("/")}`;
  if (c.repeat) return "重复来电";
  if (c.anonymous !== undefined) return c.anonymous ? "无主叫号码" : "有主叫号码";
  return "条件";
}

export function edges(node) {
  const out = [];
  const add = (label, target) => { if (target) out.push({ label, target }); };
  switch (node.type) {
    case "menu":
      for (const [k, v] of Object.entries(node.options || {})) add(`按 ${k}`, v);
      add("超时", node.on_timeout);
      add("按错", node.on_invalid);
      break;
    case "collect": add("完成", node.next); add("失败", node.on_fail); break;
    case "caller_check":
      (node.checks || []).forEach((c) => add(checkLabel(c), c.goto));
      add("其他来电", node.default);
      break;
    case "schedule": add("工作时间", node.open); add("非工作时间", node.closed); break;
    case "play": case "describe": case "survey": add("下一步", node.next); break;
    case "queue": add("通话结束后", node.after); add("无法排队时", node.on_fail); break;
    case "transfer": add("转接失败", node.on_fail); break;
    default: break;
  }
  return out;
}

function nodeProblems(id) {
  return state.problems.filter((p) => p.node === id);
}

function problemText(p, id) {
  const where = id && p.path.startsWith(`nodes.${id}.`) ? p.path.slice(`nodes.${id}.`.length) : p.path;
  return `${where ? where + "：" : ""}${p.text}（${p.message}）`;
}

// -- the outline ------------------------------------------------------------------------
function nodeBox(id, node) {
  const bad = nodeProblems(id);
  const summary = node.label || (node.type === "queue" ? `队列 ${node.lane}` : "")
    || (node.type === "transfer" ? `转 ${node.number}` : "") || (node.type === "schedule" ? `日历 ${node.calendar}` : "");
  const promptText = node.prompt && node.prompt.text;
  const box = h("div", {
    class: ["node", bad.length ? "bad" : "", state.simPath.includes(id) ? "on-path" : "",
      state.selected === id ? "selected" : ""].filter(Boolean).join(" "),
    "data-node-id": id, "data-node-type": node.type, role: "button", tabindex: "0",
    title: bad.map((p) => problemText(p, id)).join("\n"),
    onclick: (e) => { e.stopPropagation(); selectNode(id); },
    onkeydown: (e) => { if (e.key === "Enter") selectNode(id); },
  },
  h("span", { class: "head" }, h("span", { class: "nid" }, id),
    h("span", { class: "ntype" }, TYPE_NAMES[node.type] || node.type || "未知类型"),
    id === state.doc.entry ? h("span", { class: "ntype" }, "入口") : null,
    bad.length ? h("span", { class: "bad-mark", "data-testid": "node-bad" }, `✗ ${bad.length} 处问题`) : null),
  summary ? h("span", { class: "nlabel" }, summary) : null,
  promptText ? h("span", { class: "nlabel", "data-testid": "node-box-prompt" }, "提示音：" + promptText) : null,
  ...bad.map((p) => h("span", { class: "nproblem", "data-testid": "node-problem" }, problemText(p, id))));
  return box;
}

function renderTree() {
  const root = document.getElementById("tree");
  const nodes = state.doc.nodes || {};
  const seen = new Set();
  const build = (id) => {
    const node = nodes[id];
    seen.add(id);
    const li = h("li", {}, nodeBox(id, node));
    const kids = edges(node);
    if (kids.length) {
      const ul = h("ul");
      for (const e of kids) {
        if (nodes[e.target] && !seen.has(e.target)) {
          const child = build(e.target);
          child.prepend(h("span", { class: "edge" }, e.label + " →"));
          ul.append(child);
        } else {
          ul.append(h("li", {}, h("span", { class: "edge" }, e.label + " →"),
            h("span", {
              class: nodes[e.target] ? "ref" : "ref missing", "data-ref": e.target,
              onclick: () => nodes[e.target] && selectNode(e.target),
            }, nodes[e.target] ? `${e.target}（见上）` : `${e.target}（不存在）`)));
        }
      }
      li.append(ul);
    }
    return li;
  };
  const top = h("ul");
  if (nodes[state.doc.entry]) top.append(build(state.doc.entry));
  else top.append(h("li", { class: "field-problem" }, `入口节点 ${state.doc.entry || "（未设置）"} 不存在`));
  const rest = Object.keys(nodes).filter((id) => !seen.has(id));
  const parts = [top];
  if (rest.length) {
    const ul = h("ul");
    for (const id of rest) if (!seen.has(id)) ul.append(build(id));
    parts.push(h("div", { class: "detached" }, h("h3", {}, "未连接到入口的节点"), ul));
  }
  root.replaceChildren(...parts);
}

// -- validation -------------------------------------------------------------------------
const scheduleValidate = debounce(() => validateNow(), 400);

async function validateNow() {
  const seq = ++state.seq;
  const status = document.getElementById("validate-status");
  status.textContent = "正在校验…";
  status.className = "status";
  try {
    const res = await api("POST", ivrPath("validate"), { doc: state.doc });
    if (seq !== state.seq) return;
    state.problems = res.problems;
    status.textContent = res.ok ? "校验通过" : `发现 ${res.problems.length} 处问题`;
    status.className = res.ok ? "status good" : "status bad";
    status.dataset.ok = res.ok ? "true" : "false";
  } catch (err) {
    if (seq !== state.seq) return;
    status.textContent = "校验失败：" + describeError(err);
    status.className = "status bad";
  }
  renderProblems();
  renderTree();
}

function renderProblems() {
  const global = state.problems.filter((p) => !p.node || !(state.doc.nodes || {})[p.node]);
  document.getElementById("tree-problems").replaceChildren(
    ...global.map((p) => h("li", {}, problemText(p, null))));
  if (state.formProblems && state.selected) {
    state.formProblems.replaceChildren(...nodeProblems(state.selected).map((p) => h("li", {}, problemText(p, state.selected))));
  }
}

function setDirty(dirty) {
  state.dirty = dirty;
  document.getElementById("dirty-mark").hidden = !dirty;
}

function changed(formToo = false) {
  setDirty(true);
  renderTree();
  if (formToo) renderForm();
  scheduleValidate();
  for (const fn of listeners) fn(state.doc, "changed");
}

// -- the node form ----------------------------------------------------------------------
function selectNode(id) {
  state.selected = id;
  renderTree();
  renderForm();
}

function nodeIds() {
  return Object.keys(state.doc.nodes || {}).map((id) => [id, `${id}（${TYPE_NAMES[state.doc.nodes[id].type] || "?"}）`]);
}

function setOrDelete(obj, key, value) {
  if (value === "" || value === null || value === undefined || Number.isNaN(value)) delete obj[key];
  else obj[key] = value;
}

function textField(node, key, label, opts = {}) {
  const input = h("input", {
    value: node[key] ?? "", type: opts.number ? "number" : "text", "data-testid": `field-${key}`,
    maxlength: opts.max || 200,
    oninput: () => { setOrDelete(node, key, opts.number ? (input.value === "" ? "" : Number(input.value)) : input.value); changed(); },
  });
  return h("label", {}, label, input);
}

function targetField(node, key, label) {
  const sel = select(node[key], nodeIds(), { "data-testid": `field-${key}`,
    onchange: () => { setOrDelete(node, key, sel.value); changed(); } }, "（无）");
  return h("label", {}, label, sel);
}

function choiceField(node, key, label, choices, empty = null) {
  const sel = select(node[key], choices, { "data-testid": `field-${key}`,
    onchange: () => { setOrDelete(node, key, sel.value); changed(); } }, empty);
  return h("label", {}, label, sel);
}

function promptEditor(holder, key, label, optional) {
  const current = holder[key] && typeof holder[key] === "object" ? holder[key] : null;
  const audio = h("audio", { controls: true, preload: "none", "data-testid": "prompt-audio" });
  const status = h("span", { class: "muted", "data-testid": "prompt-status" });
  const area = h("textarea", {
    rows: 3, maxlength: 500, "data-testid": key === "prompt" ? "node-prompt-text" : `node-${key}-text`,
    oninput: () => {
      const text = area.value;
      if (!text && optional && !(holder[key] && holder[key].file)) delete holder[key];
      else holder[key] = { ...(holder[key] && typeof holder[key] === "object" ? holder[key] : {}), text };
      changed();
      refreshStatus();
    },
  });
  area.value = (current && current.text) || "";
  const refreshStatus = debounce(async () => {
    const text = area.value.trim();
    if (!text) { status.textContent = ""; return; }
    try {
      const s = await api("GET", "/api/admin/prompts?text=" + encodeURIComponent(area.value));
      status.textContent = s.uploaded ? `已上传录音（${s.duration_s ?? "?"} 秒），来电播放录音` : "使用合成语音";
    } catch (err) {
      status.textContent = "";
    }
  }, 300);
  const play = h("button", {
    type: "button", class: "secondary small", "data-testid": key === "prompt" ? "prompt-play" : `prompt-play-${key}`,
    onclick: () => {
      if (!area.value.trim()) { say("请先填写提示音文字", true); return; }
      audio.src = "/api/admin/prompts/preview?text=" + encodeURIComponent(area.value) + "&_=" + Date.now();
      audio.play().catch(() => {});
    },
  }, "▶ 试听");
  audio.addEventListener("error", () => say("试听失败：语音合成不可用或录音无法播放", true));
  const file = h("input", { type: "file", accept: ".wav,audio/wav", "data-testid": key === "prompt" ? "prompt-upload" : `prompt-upload-${key}` });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    if (!area.value.trim()) { say("请先填写提示音文字（录音对应这段文字）", true); return; }
    try {
      const data = await readBase64(f);
      const res = await api("POST", "/api/admin/prompts/upload", { text: area.value, audio_base64: data });
      say(`录音已上传（${res.duration_s} 秒），该文字的提示音改为播放录音`);
      refreshStatus();
    } catch (err) {
      say("上传失败：" + describeError(err), true);
    } finally {
      file.value = "";
    }
  });
  const remove = h("button", {
    type: "button", class: "secondary small", onclick: async () => {
      try {
        await api("DELETE", "/api/admin/prompts/upload?text=" + encodeURIComponent(area.value));
        say("已删除上传的录音，恢复合成语音");
        refreshStatus();
      } catch (err) {
        say(describeError(err), true);
      }
    },
  }, "删除录音");
  refreshStatus();
  return h("div", { class: "prompt" }, h("label", {}, label, area),
    h("div", { class: "prompt-tools" }, play, h("label", { class: "file-button" }, "上传录音", file), remove, status),
    h("div", { class: "prompt-tools" }, audio));
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error("读取文件失败"));
    reader.readAsDataURL(file);
  });
}

// key -> value rows (menu options: value is a node; survey choices: value is text)
function mapEditor(node, key, label, kind) {
  const rows = Object.entries(node[key] || {});
  const box = h("div", { class: "map-editor" });
  const apply = () => { node[key] = Object.fromEntries(rows.filter((r) => r !== null)); changed(); };
  const draw = () => {
    box.replaceChildren(h("div", {}, label));
    rows.forEach((row, i) => {
      if (row === null) return;
      const k = h("input", { class: "key", value: row[0], maxlength: 8, "data-testid": `${kind === "node" ? "menu" : "choice"}-key-${i}`,
        "aria-label": "按键", oninput: () => { row[0] = k.value.trim(); apply(); } });
      let v;
      if (kind === "node") {
        v = select(row[1], nodeIds(), { "data-testid": `menu-target-${i}`, "aria-label": "转到",
          onchange: () => { row[1] = v.value; apply(); } }, "（选择节点）");
      } else {
        v = h("input", { value: row[1], maxlength: 20, "data-testid": `choice-value-${i}`,
          oninput: () => { row[1] = v.value; apply(); } });
      }
      const del = h("button", { type: "button", class: "secondary small", "data-testid": `${kind === "node" ? "menu" : "choice"}-remove-${i}`,
        onclick: () => { rows[i] = null; apply(); draw(); } }, "删除");
      box.append(h("div", { class: "row" }, k, kind === "node" ? "→" : "=", v, del));
    });
    box.append(h("button", { type: "button", class: "secondary small", "data-testid": kind === "node" ? "menu-add-option" : "choice-add",
      onclick: () => { rows.push(["", ""]); apply(); draw(); } }, "添加按键"));
  };
  draw();
  return box;
}

function checksEditor(node) {
  const box = h("div", {}, h("div", {}, "判断规则（自上而下，先满足先走）"));
  const lists = Object.keys(state.doc.lists || {}).map((id) => [id, id]);
  (node.checks || []).forEach((c, i) => {
    const kind = c.in_list !== undefined ? "in_list" : c.did !== undefined ? "did" : c.prefix !== undefined ? "prefix" : "other";
    const row = h("div", { class: "row", "data-testid": `check-${i}` });
    if (kind === "in_list") {
      const s = select(c.in_list, lists, { onchange: () => { c.in_list = s.value; changed(); } });
      row.append("在名单", s);
    } else if (kind === "did" || kind === "prefix") {
      const inp = h("input", { value: [].concat(c[kind]).join(","), oninput: () => {
        const vals = inp.value.split(/[,，\s]+/).filter(Boolean);
        c[kind] = vals.length === 1 ? vals[0] : vals; changed();
      } });
      row.append(kind === "did" ? "被叫号码" : "主叫号段", inp);
    } else {
      row.append(h("span", { class: "muted" }, JSON.stringify(c)));
    }
    const goto = select(c.goto, nodeIds(), { onchange: () => { c.goto = goto.value; changed(); } }, "（选择节点）");
    row.append("→", goto, h("button", { type: "button", class: "secondary small",
      onclick: () => { node.checks.splice(i, 1); changed(true); } }, "删除"));
    box.append(row);
  });
  const add = (template) => () => { node.checks = [...(node.checks || []), template]; changed(true); };
  box.append(h("div", { class: "row" },
    h("button", { type: "button", class: "secondary small", onclick: add({ in_list: Object.keys(state.doc.lists || {})[0] || "", goto: "" }) }, "+ 名单"),
    h("button", { type: "button", class: "secondary small", onclick: add({ did: "", goto: "" }) }, "+ 被叫号码"),
    h("button", { type: "button", class: "secondary small", onclick: add({ prefix: "", goto: "" }) }, "+ 号段")));
  return box;
}

function renderForm() {
  const root = document.getElementById("node-form");
  const id = state.selected;
  const node = id && (state.doc.nodes || {})[id];
  state.formProblems = null;
  if (!node) {
    root.replaceChildren(h("p", { class: "muted" }, "在左侧点击一个节点进行编辑。"));
    return;
  }
  const lanes = Object.entries(state.doc.lanes || {}).map(([k, v]) => [k, `${k}（${(v && v.label) || k}）`]);
  const calendars = Object.keys(state.doc.calendars || {}).map((k) => [k, k]);
  const parts = [
    h("h3", { "data-testid": "form-node-id" }, `${id} · ${TYPE_NAMES[node.type] || node.type}`),
    state.formProblems = h("ul", { class: "node-problems", "data-testid": "node-problems" }),
    textField(node, "label", "备注（不播放）", { max: 100 }),
  ];
  const t = node.type;
  if (["play", "menu", "collect", "describe", "survey"].includes(t)) parts.push(promptEditor(node, "prompt", "提示音文字", false));
  if (["queue", "transfer", "hangup"].includes(t)) parts.push(promptEditor(node, "prompt", "提示音文字（可不填）", true));
  if (t === "menu") {
    parts.push(mapEditor(node, "options", "按键", "node"),
      textField(node, "timeout_s", "等待按键（秒）", { number: true }),
      textField(node, "retries", "按错后重复次数", { number: true }),
      textField(node, "timeout_retries", "未按键重复次数（空：同上）", { number: true }),
      textField(node, "max_digits", "按键位数", { number: true }),
      targetField(node, "on_timeout", "未按键时转到"), targetField(node, "on_invalid", "按错时转到"));
  } else if (t === "play" || t === "describe") {
    if (t === "describe") parts.push(textField(node, "max_s", "最长录音（秒）", { number: true }));
    parts.push(targetField(node, "next", "下一步"));
  } else if (t === "collect") {
    parts.push(textField(node, "var", "变量名"), textField(node, "pattern", "格式（正则表达式）"),
      textField(node, "max_digits", "最多位数", { number: true }), targetField(node, "next", "完成后"),
      targetField(node, "on_fail", "失败时"));
  } else if (t === "caller_check") {
    parts.push(checksEditor(node), targetField(node, "default", "其他来电转到"));
  } else if (t === "schedule") {
    parts.push(choiceField(node, "calendar", "工作日历", calendars, "（选择日历）"),
      targetField(node, "open", "工作时间转到"), targetField(node, "closed", "非工作时间转到"));
  } else if (t === "queue") {
    parts.push(choiceField(node, "lane", "队列", lanes, "（选择队列）"),
      textField(node, "announce_every_s", "播报排队位置间隔（秒，0 不播报）", { number: true }),
      textField(node, "callback_after_s", "等待多久后提供回拨（秒，空：不提供）", { number: true }),
      targetField(node, "after", "通话结束后（如满意度评价）"), targetField(node, "on_fail", "无法排队时"));
  } else if (t === "transfer") {
    parts.push(textField(node, "number", "转接号码", { max: 20 }),
      choiceField(node, "mode", "方式", [["blind", "直接转接"], ["attended", "先咨询再转接"]], "（默认：直接转接）"),
      targetField(node, "on_fail", "转接失败时"));
  } else if (t === "survey") {
    parts.push(mapEditor(node, "choices", "评价选项（按键 = 含义）", "text"), targetField(node, "next", "评价后"));
  }
  const json = h("textarea", { rows: 6, "data-testid": "node-json" });
  json.value = JSON.stringify(node, null, 2);
  parts.push(h("details", {}, h("summary", {}, "高级：节点的全部设置（JSON）"), json,
    h("button", { type: "button", class: "secondary small", onclick: () => {
      try {
        const v = JSON.parse(json.value);
        if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("须为对象");
        state.doc.nodes[id] = v;
        changed(true);
      } catch (err) {
        say("JSON 格式错误：" + err.message, true);
      }
    } }, "应用")));
  parts.push(h("div", { class: "row" },
    id !== state.doc.entry ? h("button", { type: "button", class: "secondary small", "data-testid": "set-entry",
      onclick: () => { state.doc.entry = id; changed(true); } }, "设为入口") : null,
    h("button", { type: "button", class: "danger small", "data-testid": "delete-node", onclick: () => {
      if (!confirm(`删除节点 ${id}？指向它的连线会被标为错误。`)) return;
      delete state.doc.nodes[id];
      state.selected = null;
      changed(true);
    } }, "删除节点")));
  root.replaceChildren(...parts);
  renderProblems();
}

// -- load, simulate, publish, versions -------------------------------------------------
async function loadTree(version) {
  const tree = state.tree;
  const res = await api("GET", ivrPath("tree", version ? { version } : {}));
  if (tree !== state.tree) return;          // another tree was chosen meanwhile
  state.doc = res.doc;
  if (!version) state.published = res.version;
  document.getElementById("tree-version").textContent =
    state.published ? `${state.published.number}（${state.published.comment || "无说明"}）` : "—";
  state.problems = [];
  state.simPath = [];
  if (!state.doc.nodes || !state.doc.nodes[state.selected]) state.selected = null;
  setDirty(Boolean(version));
  renderTree();
  renderForm();
  for (const fn of listeners) fn(state.doc, "loaded");
  await validateNow();
}

function outcomeText(o) {
  if (!o) return "";
  if (o.type === "queue") return `排队：${o.lane}`;
  if (o.type === "transfer") return `转接：${o.number}`;
  return OUTCOME_TEXT[o.type] || o.type;
}

async function simulate(ev) {
  ev.preventDefault();
  const out = document.getElementById("sim-path");
  const tree = state.tree;
  const body = { doc: state.doc, caller: val("sim-caller"), did: val("sim-did"), keys: val("sim-keys") };
  const at = val("sim-time");
  if (at) body.at = at;
  out.textContent = "正在模拟…";
  try {
    const res = await api("POST", ivrPath("simulate"), body);
    if (tree !== state.tree) return;
    state.simPath = res.path;
    out.replaceChildren(...res.path.flatMap((id, i) => [i ? " → " : "", h("span", { class: "hop", "data-hop": id }, id)]),
      `　结果：${outcomeText(res.outcome)}`, res.notes ? `（${res.notes.join("；")}）` : "");
    out.dataset.path = res.path.join(",");
    out.dataset.outcome = res.outcome.type;
  } catch (err) {
    state.simPath = [];
    out.textContent = "模拟失败：" + describeError(err);
    out.dataset.path = "";
  }
  renderTree();
}

function val(id) {
  return document.getElementById(id).value.trim();
}

async function publish(ev) {
  ev.preventDefault();
  const status = document.getElementById("publish-status");
  const comment = val("publish-comment");
  const tree = state.tree;
  if (!comment) { status.textContent = "请填写发布说明"; return; }
  const button = document.getElementById("publish-button");
  button.disabled = true;
  status.textContent = "正在发布…";
  try {
    const res = await api("POST", ivrPath("publish"),
      { doc: state.doc, comment, republish: document.getElementById("publish-republish").checked });
    document.getElementById("publish-comment").value = "";
    document.getElementById("pending-changes").replaceChildren();
    if (tree !== state.tree) return;
    await loadTree();
    await loadVersions();
    status.textContent = `已发布${editor.treeLabel}版本 ${res.number}，新的通话将使用新流程，进行中的通话不受影响`;
    status.dataset.version = String(res.number);
  } catch (err) {
    if (err.id === "tree_invalid") {
      state.problems = err.details.problems;
      renderProblems();
      renderTree();
    }
    status.textContent = "未发布：" + describeError(err);
    status.dataset.version = "";
  } finally {
    button.disabled = false;
  }
}

// The semantic diff (ivr.diff) in words for people.
const SECTION_NAMES = { nodes: "节点", lanes: "队列", lists: "名单", calendars: "日历" };

function shown(x) {
  if (x === undefined || x === null) return "（无）";
  if (typeof x === "object" && Object.keys(x).length === 1 && typeof x.text === "string") return `“${x.text}”`;
  return typeof x === "object" ? JSON.stringify(x) : String(x);
}

export function diffLines(diff) {
  const lines = Object.entries(diff.tree || {}).map(([f, c]) => `流程树 ${f}：${shown(c.old)} → ${shown(c.new)}`);
  for (const [section, name] of Object.entries(SECTION_NAMES)) {
    const d = diff[section];
    if (!d) continue;
    lines.push(...d.added.map((k) => `新增${name} ${k}`), ...d.removed.map((k) => `删除${name} ${k}`));
    for (const [k, ch] of Object.entries(d.changed)) {
      const fields = section === "nodes" ? ch.fields || {} : ch;
      for (const [f, c] of Object.entries(fields)) lines.push(`${name} ${k} 的 ${f}：${shown(c.old)} → ${shown(c.new)}`);
      const o = (section === "nodes" && ch.options) || null;
      if (!o) continue;
      for (const [key, t] of Object.entries(o.added)) lines.push(`${name} ${k}：新增按键 ${key} → ${t}`);
      for (const [key, t] of Object.entries(o.removed)) lines.push(`${name} ${k}：删除按键 ${key}（原转到 ${t}）`);
      for (const [key, c] of Object.entries(o.changed)) lines.push(`${name} ${k}：按键 ${key} 改为转到 ${c.new}（原为 ${c.old}）`);
    }
  }
  return lines;
}

function showDiff(target, lines) {
  document.getElementById(target).replaceChildren(
    ...(lines.length ? lines.map((l) => h("li", {}, l)) : [h("li", {}, "没有改动")]));
}

async function pendingDiff() {
  try {
    const res = await api("POST", ivrPath("diff"), { doc: state.doc });
    showDiff("pending-changes", diffLines(res.diff));
  } catch (err) {
    showDiff("pending-changes", ["无法比较：" + describeError(err)]);
  }
}

async function loadVersions() {
  const tree = state.tree;
  const res = await api("GET", ivrPath("versions"));
  if (tree !== state.tree) return;
  const rows = res.versions.map((v) => h("tr", { "data-version": v.number },
    h("td", {}, String(v.number), v.current ? h("span", { class: "current-mark" }, " 当前") : null),
    h("td", {}, v.author), h("td", {}, fmtTime(v.published_at)),
    h("td", {}, v.comment, v.rollback_of ? `（回滚自版本 ${v.rollback_of}）` : ""),
    h("td", {},
      v.number > 1 ? h("button", { type: "button", class: "secondary small", "data-testid": `diff-${v.number}`,
        onclick: () => versionDiff(v.number) }, "与上一版比较") : null, " ",
      h("button", { type: "button", class: "secondary small", "data-testid": `load-${v.number}`,
        onclick: () => loadTree(v.number).then(() => say(`已载入版本 ${v.number} 到编辑区（未发布）`)) }, "载入编辑"), " ",
      v.current ? null : h("button", { type: "button", class: "danger small", "data-testid": `rollback-${v.number}`,
        onclick: () => rollback(v.number) }, "回滚到此版本"))));
  document.getElementById("versions").replaceChildren(...rows);
}

async function versionDiff(n) {
  const title = document.getElementById("diff-title");
  title.hidden = false;
  title.textContent = `版本 ${n - 1} → ${n} 的改动`;
  try {
    const res = await api("GET", ivrPath("diff", { from: n - 1, to: n }));
    showDiff("version-diff", diffLines(res.diff));
  } catch (err) {
    showDiff("version-diff", ["无法比较：" + describeError(err)]);
  }
}

async function rollback(n) {
  if (!confirm(`回滚${editor.treeLabel}到版本 ${n}？将作为新版本发布，新的通话立即使用。`)) return;
  try {
    const res = await api("POST", ivrPath("rollback"), { version: n });
    say(`已回滚${editor.treeLabel}：版本 ${n} 作为新版本 ${res.number} 发布`);
    await loadTree();
    await loadVersions();
  } catch (err) {
    say("回滚失败：" + describeError(err), true);
  }
}

async function importYaml() {
  const input = document.getElementById("yaml-import");
  const f = input.files[0];
  if (!f) return;
  try {
    const res = await api("POST", ivrPath("import"), { text: await f.text() });
    if (!res.doc) {
      say("导入失败：" + res.problems.map((p) => p.message).join("；"), true);
      return;
    }
    state.doc = res.doc;
    state.selected = null;
    renderForm();
    changed();
    say(res.ok ? "已导入到编辑区（未发布）" : `已导入到编辑区，有 ${res.problems.length} 处问题需修正`, !res.ok);
  } catch (err) {
    say("导入失败：" + describeError(err), true);
  } finally {
    input.value = "";
  }
}

function addNode(ev) {
  ev.preventDefault();
  const id = val("new-node-id");
  const type = document.getElementById("new-node-type").value;
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(id)) { say("节点编号须以字母开头，只含字母、数字和下划线", true); return; }
  if ((state.doc.nodes || {})[id]) { say(`节点 ${id} 已存在`, true); return; }
  const templates = {
    play: { prompt: { text: "" } }, menu: { prompt: { text: "" }, options: {} },
    collect: { prompt: { text: "" }, var: "input" }, caller_check: { checks: [] }, schedule: { calendar: "" },
    describe: { prompt: { text: "" } }, queue: { lane: "" }, transfer: { number: "" },
    survey: { prompt: { text: "" }, choices: { 1: "满意", 2: "基本满意", 3: "不满意" } }, hangup: {},
  };
  state.doc.nodes = state.doc.nodes || {};
  state.doc.nodes[id] = { type, ...structuredClone(templates[type]) };
  document.getElementById("new-node-id").value = "";
  state.selected = id;
  changed(true);
}

function localNow() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// -- which tree -------------------------------------------------------------------------
function clearPanels() {
  for (const id of ["pending-changes", "version-diff"]) document.getElementById(id).replaceChildren();
  document.getElementById("diff-title").hidden = true;
  const sim = document.getElementById("sim-path");
  sim.textContent = "";
  sim.dataset.path = "";
  const pub = document.getElementById("publish-status");
  pub.textContent = "";
  pub.dataset.version = "";
}

async function showTree(name) {
  state.tree = name;
  state.selected = null;
  const pane = document.getElementById("tab-tree");
  pane.dataset.tree = name;
  delete pane.dataset.loaded;
  document.getElementById("tree-select").value = name;
  document.getElementById("yaml-export").href = ivrPath("tree.yaml");
  const url = new URL(location.href);
  if (name === "calls") url.searchParams.delete("tree"); else url.searchParams.set("tree", name);
  history.replaceState(null, "", url);
  clearPanels();
  await loadTree();
  await loadVersions();
  if (state.tree === name) pane.dataset.loaded = name;
}

async function chooseTree(ev) {
  const name = ev.target.value;
  if (state.dirty && !confirm(`放弃${editor.treeLabel}中未发布的修改，切换流程？`)) {
    ev.target.value = state.tree;
    return;
  }
  try {
    await showTree(name);
    say(`正在编辑：${editor.treeLabel}`);
  } catch (err) {
    say("载入失败：" + describeError(err), true);
  }
}

export async function initTree() {
  const res = await api("GET", "/api/admin/ivr/trees");
  state.trees = res.trees;
  const treeSel = document.getElementById("tree-select");
  treeSel.replaceChildren(...state.trees.map((t) => h("option", { value: t.name }, t.label)));
  treeSel.addEventListener("change", chooseTree);
  const wanted = new URL(location.href).searchParams.get("tree");
  const first = state.trees.some((t) => t.name === wanted) ? wanted : "calls";
  const typeSel = document.getElementById("new-node-type");
  for (const [k, v] of Object.entries(TYPE_NAMES)) typeSel.append(h("option", { value: k }, v));
  document.getElementById("sim-time").value = localNow();
  document.getElementById("sim-form").addEventListener("submit", simulate);
  document.getElementById("publish-form").addEventListener("submit", publish);
  document.getElementById("pending-diff").addEventListener("click", pendingDiff);
  document.getElementById("yaml-import").addEventListener("change", importYaml);
  document.getElementById("add-node").addEventListener("submit", addNode);
  document.getElementById("tree-reload").addEventListener("click", () => {
    if (confirm("放弃编辑区中未发布的修改？")) loadTree().then(() => say(`已重新载入${editor.treeLabel}的当前发布版本`));
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.dirty) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  await showTree(first);
}
