// The console's knowledge-base panel (知识库推荐): the top 3 current articles for what is being said,
// refreshed as the live transcript grows, the matching passage highlighted (text nodes only, never
// markup from the server), and 直接办结: confirm and close the call's draft ticket citing an article.
import { api } from "/static/api.js";

const $ = (id) => document.getElementById(id);
// A final turn searches soon; partials (several a second while someone speaks) only once speech pauses,
// so a seat asks about once per sentence, not once per partial.
const AFTER_FINAL_MS = 300;
const AFTER_PARTIAL_MS = 1500;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// [{text, hit}] -> a <p> of text nodes and <mark>s (textContent only)
function segments(cls, parts) {
  const p = el("p", cls);
  for (const s of parts || []) p.append(s.hit ? el("mark", "", s.text) : document.createTextNode(s.text));
  return p;
}

export function initKnowledge({ getCall, getFields, onAnswered }) {
  let callId = null;
  let timer = null;
  let keepNext = false;
  let asked = "";          // the last text searched (nothing new: no request)
  let seq = 0;

  function transcriptText() {
    return [...document.querySelectorAll("#transcript li .text")].map((e) => e.textContent).join(" ");
  }

  async function search(text, source, keep) {
    const mine = ++seq;
    let res;
    try {
      res = await api("POST", "/api/knowledge/suggest", { text, call_id: callId || undefined, source, keep });
    } catch (err) {
      $("kb-message").textContent = err.status === 404 ? "" : `知识库暂不可用：${err.message}`;
      return;
    }
    if (mine !== seq) return;                 // a newer search is under way
    show(res.articles);
  }

  function show(articles) {
    const list = $("kb-list");
    list.replaceChildren();
    $("kb-message").textContent = articles.length ? "" : "没有匹配的现行有效条目";
    list.dataset.ids = articles.map((a) => a.id).join(",");
    const call = getCall();
    const open = call && call.ticket && call.ticket.status === "draft";
    for (const a of articles) {
      const li = el("li", "kb-item");
      li.dataset.id = a.id;
      li.dataset.testid = "kb-item";
      li.append(segments("kb-q", a.passage.question), segments("kb-a", a.passage.answer));
      const meta = [a.department, a.source, a.valid_until ? `有效期至 ${a.valid_until}` : "长期有效"].filter(Boolean);
      li.append(el("p", "kb-meta muted", meta.join(" · ")));
      const full = el("details", "kb-full");
      full.append(el("summary", "", "完整答复"), el("p", "", a.answer));
      li.append(full);
      const btn = el("button", "secondary", "直接办结（引用此条）");
      btn.type = "button";
      btn.dataset.testid = `kb-answer-${a.id}`;
      btn.disabled = !open;
      btn.addEventListener("click", () => answered(a, btn));
      li.append(btn);
      list.append(li);
    }
  }

  async function answered(article, btn) {
    const call = getCall();
    if (!call || !call.ticket || call.ticket.status !== "draft") return;
    btn.disabled = true;
    try {
      const t = await api("POST", "/api/knowledge/answered",
        { ticket_id: call.ticket.id, article_id: article.id, fields: getFields() });
      $("kb-message").textContent = `工单 ${t.id} 已直接办结（引用：${article.question}）`;
      for (const b of document.querySelectorAll("#kb-list button")) b.disabled = true;
      onAnswered(t);
    } catch (err) {
      $("kb-message").textContent = `直接办结失败：${err.message}`;
      btn.disabled = false;
    }
  }

  // At most one search pending: a later event never pushes an earlier one back (while someone keeps
  // talking, a search every AFTER_PARTIAL_MS at most), and it reads the transcript as it is then.
  let due = 0;
  function schedule(keep, final) {
    keepNext = keepNext || keep;
    const at = Date.now() + (final ? AFTER_FINAL_MS : AFTER_PARTIAL_MS);
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(() => {
      timer = null;
      const text = transcriptText().trim();
      const keepIt = keepNext;
      keepNext = false;
      if (!text || (text === asked && !keepIt)) return;
      asked = text;
      search(text, "live", keepIt);
    }, at - Date.now());
  }

  $("kb-search").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("kb-query").value.trim();
    if (text) search(text, "manual", true);
  });

  return {
    open(view) {                                  // a call came on screen (or left it: null)
      if (view && view.call_id === callId) return;
      callId = view ? view.call_id : null;
      asked = "";
      clearTimeout(timer);
      timer = null;
      $("kb-list").replaceChildren();
      $("kb-message").textContent = view ? "等待通话内容…" : "";
      if (view) schedule(false, true);
    },
    // a transcript event: a caller's final turn is kept for the report (searches that found nothing)
    transcript(final, speaker) { if (callId) schedule(Boolean(final) && speaker !== "operator", Boolean(final)); },
    refresh() {                                   // the ticket changed (buttons follow its status)
      const call = getCall();
      const open = call && call.ticket && call.ticket.status === "draft";
      for (const b of document.querySelectorAll("#kb-list button")) b.disabled = !open;
    },
  };
}
