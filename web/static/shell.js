// The page shell: who is logged in, the menu their role allows, logout, and
// a view area the console, wallboard, reports and admin pages plug into.
import { api, loadSession } from "/static/api.js";

const ROLE_RANK = { operator: 1, supervisor: 2, admin: 3 };
const TITLES = { console: "坐席工作台", wallboard: "实时大屏", reports: "统计报表", admin: "系统管理" };

// Views register here later: views.console = (root, me) => {...}
export const views = {};

let me = null;

function allowed(minRole) {
  return ROLE_RANK[me.user.role] >= ROLE_RANK[minRole];
}

function render() {
  const view = document.getElementById("view");
  const links = [...document.querySelectorAll("#nav a")];
  const visible = links.filter((a) => allowed(a.dataset.minRole));
  let name = location.hash.slice(1);
  if (!visible.some((a) => a.hash === "#" + name)) name = visible.length ? visible[0].hash.slice(1) : "";
  for (const a of links) a.classList.toggle("active", a.hash === "#" + name);
  view.replaceChildren();
  if (views[name]) {
    views[name](view, me);
    return;
  }
  const part = document.getElementById("placeholder").content.cloneNode(true);
  part.querySelector(".title").textContent = TITLES[name] || "欢迎";
  view.append(part);
}

async function start() {
  me = await loadSession();
  document.getElementById("user-name").textContent = me.user.display_name;
  document.getElementById("user-role").textContent = me.role_label;
  for (const a of document.querySelectorAll("#nav a")) a.hidden = !allowed(a.dataset.minRole);
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/logout");
    } finally {
      location.assign("/login");
    }
  });
  window.addEventListener("hashchange", render);
  render();
  watchExpiry();
}

// At the session's deadline ask again (other requests may have extended it);
// loadSession sends the browser to the login page once it has really ended.
function watchExpiry() {
  const wait = Math.min(Math.max(0, me.expires_at * 1000 - Date.now()) + 1000, 3600 * 1000);
  setTimeout(async () => {
    try {
      me = await loadSession();
    } finally {
      watchExpiry();
    }
  }, wait);
}

start().catch((err) => {
  if (err.status !== 401) {
    document.getElementById("view").textContent = err.message;
  }
});
