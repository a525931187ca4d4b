// System notices for supervisors and admins (GET /api/notices): e.g. next year's official holiday and
// 调休 schedule not loaded yet. Rendered with textContent only; refreshed every 10 minutes.
import { api } from "/static/api.js";

export function showNotices(box, { every = 600000 } = {}) {
  const draw = async () => {
    let data;
    try {
      data = await api("GET", "/api/notices");
    } catch {
      return;                       // not allowed or not reachable: leave the banner as it was
    }
    box.replaceChildren();
    for (const n of data.notices) {
      const p = document.createElement("p");
      p.className = "notice";
      p.dataset.testid = "notice";
      p.textContent = n.message + " ";
      const a = document.createElement("a");
      a.href = n.link;
      a.textContent = "去录入";
      p.append(a);
      box.append(p);
    }
    box.hidden = data.notices.length === 0;
    box.dataset.loaded = "true";    // drawn at least once from the server's answer (tests wait on it)
  };
  draw();
  setInterval(draw, every);
}
