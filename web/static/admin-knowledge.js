// The admin page's knowledge-base tab (知识库): the articles (question, answer, category, department,
// validity, source document, keywords), add / edit / delete, and JSON or CSV import and export.
// Writes need the admin role (enforced by the API, audited there).
import { api } from "/static/api.js";
import { describeError, h, say } from "/static/admin-ui.js";

const EMPTY = { question: "", answer: "", category: "", department: "", valid_from: "", valid_until: "", source: "", keywords: [] };

const STATES = { current: ["good", "现行有效"], expired: ["bad", "已失效"], pending: ["bad", "尚未生效"] };

function status(a) {
  const [cls, label] = STATES[a.state] || STATES.current;
  return h("span", { class: `status ${cls}`, "data-state": a.state }, label);
}

export async function knowledgeTab(root) {
  const rows = h("tbody", { "data-testid": "kb-rows" });
  const filter = h("input", { "data-testid": "kb-filter", maxlength: 100, placeholder: "按问题、答复或关键词筛选" });
  const formBox = h("div", { "data-testid": "kb-form" });
  const report = h("div", { "data-testid": "kb-import-report" });
  const title = h("h2", { "data-testid": "kb-title" }, "知识库");

  const load = async () => {
    const q = filter.value.trim();
    const data = await api("GET", "/api/knowledge/articles" + (q ? `?q=${encodeURIComponent(q)}` : ""));
    rows.replaceChildren(...data.articles.map((a) => h("tr", { "data-id": a.id },
      h("td", {}, String(a.id)), h("td", {}, a.question), h("td", {}, a.category || ""), h("td", {}, a.department || ""),
      h("td", {}, `${a.valid_from || "—"} 至 ${a.valid_until || "长期"}`), h("td", {}, status(a)),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => edit(a) }, "编辑"),
        h("button", { type: "button", class: "secondary", onclick: () => remove(a) }, "删除")))));
    const current = data.articles.filter((a) => a.current).length;
    title.textContent = `知识库（${q ? "筛选出" : "共"} ${data.articles.length} 条，现行有效 ${current} 条）`;
    return data;
  };

  const edit = (a) => {
    const inp = (name, attrs = {}) => h("input", { name, value: a[name] || "", "data-testid": `kb-${name}`, ...attrs });
    const answer = h("textarea", { name: "answer", rows: 6, "data-testid": "kb-answer", maxlength: 8000 });
    answer.value = a.answer || "";
    const keywords = h("input", { name: "keywords", value: (a.keywords || []).join("、"), "data-testid": "kb-keywords" });
    const f = h("form", { class: "grid-form", "data-testid": "kb-edit" },
      h("label", {}, "问题 ", inp("question", { required: true, maxlength: 300 })),
      h("label", {}, "类别 ", inp("category", { maxlength: 60 })),
      h("label", {}, "答复 ", answer),
      h("label", {}, "主管部门 ", inp("department", { maxlength: 100 })),
      h("label", {}, "生效日期 ", inp("valid_from", { type: "date" })),
      h("label", {}, "失效日期（空：长期有效） ", inp("valid_until", { type: "date" })),
      h("label", {}, "依据文件（文件名、文号） ", inp("source", { maxlength: 300 })),
      h("label", {}, "关键词（顿号或逗号分隔） ", keywords),
      h("button", { type: "submit", "data-testid": "kb-save" }, a.id ? `保存条目 ${a.id}` : "新增条目"),
      h("button", { type: "button", class: "secondary", onclick: () => formBox.replaceChildren() }, "取消"));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const doc = {};
      for (const name of ["question", "answer", "category", "department", "valid_from", "valid_until", "source"]) {
        doc[name] = f.elements[name].value.trim() || null;
      }
      doc.question = doc.question || "";
      doc.answer = doc.answer || "";
      doc.keywords = keywords.value;
      try {
        const saved = a.id ? await api("PUT", `/api/admin/knowledge/articles/${a.id}`, doc)
          : await api("POST", "/api/admin/knowledge/articles", doc);
        say(`已保存知识条目 ${saved.id}`);
        formBox.replaceChildren();
        await load();
      } catch (err) {
        say("保存失败：" + describeError(err), true);
      }
    });
    formBox.replaceChildren(h("h3", {}, a.id ? `编辑条目 ${a.id}` : "新增条目"), f);
  };

  const remove = async (a) => {
    if (!confirm(`删除知识条目 ${a.id}“${a.question}”？`)) return;
    try {
      await api("DELETE", `/api/admin/knowledge/articles/${a.id}`);
      say(`已删除知识条目 ${a.id}`);
      await load();
    } catch (err) {
      say("删除失败：" + describeError(err), true);
    }
  };

  const text = h("textarea", { rows: 6, "data-testid": "kb-import-text", placeholder: "question,answer,category,department,valid_from,valid_until,source,keywords" });
  const fmt = h("select", { "data-testid": "kb-import-format" }, h("option", { value: "csv" }, "CSV"), h("option", { value: "json" }, "JSON"));
  const file = h("input", { type: "file", accept: ".csv,.json,text/csv,application/json", "data-testid": "kb-import-file" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    const buf = await f.arrayBuffer();
    try {
      text.value = new TextDecoder("utf-8", { fatal: true }).decode(buf);
    } catch {
      text.value = new TextDecoder("gb18030").decode(buf);     // Excel in Chinese Windows
    }
    fmt.value = f.name.toLowerCase().endsWith(".json") ? "json" : "csv";
  });
  const runImport = async () => {
    try {
      const res = await api("POST", "/api/admin/knowledge/import", { format: fmt.value, text: text.value });
      report.replaceChildren(h("p", { class: "status good", "data-testid": "kb-import-ok" }, `已导入：新增 ${res.added} 条，修改 ${res.updated} 条。`));
      await load();
    } catch (err) {
      const problems = (err.details && err.details.problems) || [];
      report.replaceChildren(h("p", { class: "error" }, err.message),
        h("ul", { class: "problems" }, ...problems.slice(0, 50).map((p) => h("li", {}, `第${p.line}行 ${p.field || ""}：${p.message}`))));
    }
  };

  filter.addEventListener("change", () => load().catch((err) => say(describeError(err), true)));
  await load();
  root.replaceChildren(
    h("section", { class: "panel" }, title,
      h("p", { class: "muted" }, "过期（失效日期已过）或尚未生效的条目不会推荐给话务员。"),
      h("div", { class: "toolbar" }, filter,
        h("button", { type: "button", "data-testid": "kb-new", onclick: () => edit(EMPTY) }, "新增条目"),
        h("a", { href: "/api/admin/knowledge/export?format=json", download: "knowledge.json", "data-testid": "kb-export-json" }, "导出 JSON"),
        h("a", { href: "/api/admin/knowledge/export?format=csv", download: "knowledge.csv", "data-testid": "kb-export-csv" }, "导出 CSV")),
      formBox,
      h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "编号"), h("th", {}, "问题"), h("th", {}, "类别"),
        h("th", {}, "主管部门"), h("th", {}, "有效期"), h("th", {}, "状态"), h("th"))), rows)),
    h("section", { class: "panel" }, h("h2", {}, "导入"),
      h("p", { class: "muted" }, "CSV 首行为列名（同导出）；带编号（id）的行修改该条目，其余新增。任何一行有误则全部不导入。"),
      h("div", { class: "row" }, h("label", { class: "file-button" }, "选择文件", file), fmt), text,
      h("button", { type: "button", "data-testid": "kb-import", onclick: runImport }, "导入"), report));
}
