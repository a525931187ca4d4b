// The admin page: session, tabs, and the IVR editor plus the configuration tabs.
// Who may use it is enforced by the API (admin role); the page only follows.
import { api, loadSession } from "/static/api.js";
import { describeError, say } from "/static/admin-ui.js";
import { initTree } from "/static/admin-tree.js";
import { TABS as CONFIG_TABS } from "/static/admin-config.js";
import { knowledgeTab } from "/static/admin-knowledge.js";
import { showNotices } from "/static/notices.js";

const TABS = { ...CONFIG_TABS, knowledge: knowledgeTab };

async function showTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== "tab-" + name;
  say("");
  if (TABS[name]) {
    const root = document.getElementById("tab-" + name);
    root.replaceChildren(document.createTextNode("正在加载…"));
    try {
      await TABS[name](root);
    } catch (err) {
      root.textContent = "加载失败：" + describeError(err);
    }
  }
}

async function start() {
  const me = await loadSession();
  document.getElementById("user-name").textContent = me.user.display_name;
  document.getElementById("user-role").textContent = me.role_label;
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/logout");
    } finally {
      location.assign("/login");
    }
  });
  if (me.user.role !== "admin") {
    document.querySelector("main").textContent = "只有系统管理员可以使用此页面。";
    return;
  }
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  showNotices(document.getElementById("notices"));
  await initTree();
  // /admin#calendars (the link of a notice) opens that tab, also when only the hash changes
  const fromHash = () => { const t = location.hash.slice(1); if (TABS[t]) showTab(t); };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.dataset.ready = "true";
}

start().catch((err) => {
  if (err.status !== 401) say("加载失败：" + describeError(err), true);
});
