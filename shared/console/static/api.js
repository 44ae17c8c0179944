// The JSON API, as the console calls it: same origin, the browser's session, and the header
// X-Requested-With: XMLHttpRequest on every request (the app refuses browser writes without
// it; App Service Authentication answers 401 instead of a sign-in redirect when it is sent).
import { h } from "./dom.js";

/** An error answer of the API: HTTP ``status``, ``code``, ``message``, ``fields``. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the app answered HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || [];
    this.runId = error.run_id || null;
  }
}

/** Call the API: resolves with the JSON answer (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { "X-Requested-With": "XMLHttpRequest", Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", redirect: "manual" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    const error = new ApiError(0, { error: { code: "unreachable", message: "the app cannot be reached (is it running?)" } });
    error.cause = cause;
    throw error;
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 || response.type === "opaqueredirect") sessionEnded();
    throw error;
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** ``/path?a=1&b=2`` from a path and an object (absent values left out). */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

let shown = false;
/** Tell the user their session has ended (Azure) or that no local user is set (locally). */
export function sessionEnded() {
  if (shown) return;
  shown = true;
  const here = location.pathname + location.search;
  const local = document.documentElement.dataset.authMode === "local";
  const bar = h(
    "div",
    { class: "message error session", role: "alert" },
    h("span", { class: "message-title", text: local ? "No local user" : "Your session has ended" }),
    local
      ? h(
          "p",
          {},
          "The app runs in local development mode and this request carried no identity. Set ",
          h("code", { text: "LOCAL_DEV_ROLES" }),
          " (for example to Admin) in local.settings.json and restart the app, or start it with ",
          h("code", { text: "make serve" }),
          ".",
        )
      : h(
          "p",
          {},
          h("a", { class: "button primary", href: `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(here)}`, text: "Sign in again" }),
        ),
  );
  const main = document.getElementById("main");
  main.prepend(bar);
  bar.scrollIntoView({ block: "nearest" });
}
