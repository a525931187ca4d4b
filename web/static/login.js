import { api, safeNext } from "/static/api.js";

const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError("请输入用户名和密码");
    return;
  }
  submit.disabled = true;
  showError("");
  try {
    await api("POST", "/api/login", { username, password });
    const next = new URLSearchParams(location.search).get("next");
    location.assign(safeNext(next));
  } catch (err) {
    showError(err.message);
    form.password.value = "";
    form.password.focus();
  } finally {
    submit.disabled = false;
  }
});
