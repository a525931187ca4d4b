// Talking to the hotline API: JSON in and out, the session's CSRF token on
// every request that changes something, one error type for the pages.
// The token lives in memory only; each page gets it from GET /api/me.

let csrfToken = "";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `请求失败（${status}）`);
    this.status = status;
    this.id = (body && body.error) || "http_" + status;
    this.details = (body && body.details) || {};
  }
}

export function setCsrfToken(token) {
  csrfToken = token || "";
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, { error: "network", message: "无法连接服务器，请检查网络" });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// The logged-in user and a fresh CSRF token; sends the browser to the login
// page (coming back here afterwards) when the session is gone.
export async function loadSession() {
  try {
    const me = await api("GET", "/api/me");
    setCsrfToken(me.csrf_token);
    return me;
  } catch (err) {
    if (err.status === 401) toLogin();
    throw err;
  }
}

export function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.assign("/login?next=" + encodeURIComponent(next));
}

// Only paths on this origin are followed after login. The value is parsed the way the
// browser will parse it (URL drops TAB/CR/LF and reads "\\" as "/": "/\t/evil.example" is
// "//evil.example") and its origin compared with ours; anything else gives "/".
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return "/";
  }
  if (url.origin !== location.origin) return "/";
  return url.pathname + url.search + url.hash;
}
