// The console's entry point: who is signed in, the navigation, and the page of this URL.
// Every page module exports ``render(ctx)``; ctx gives it the main element, the caller
// (``me``: GET /api/me), what their roles allow, the URL's ids and query, and helpers.
import { ApiError, get } from "./api.js";
import { h, message, replace } from "./dom.js";

const ID = "([A-Za-z0-9_-]{1,100})";
const ROUTES = [
  [`exports`, "exports", "./pages/exports.js"],
  [`exports/new`, "exports", "./pages/export-form.js"],
  [`exports/${ID}/edit`, "exports", "./pages/export-form.js"],
  [`exports/${ID}`, "exports", "./pages/export.js"],
  [`runs/${ID}`, "exports", "./pages/run.js"],
  [`connections`, "connections", "./pages/connections.js"],
  [`connections/new`, "connections", "./pages/connection.js"],
  [`connections/${ID}`, "connections", "./pages/connection.js"],
  [`erasure`, "erasure", "./pages/erasure.js"],
];

const FLASH_KEY = "snap-audience-sync.flash";

/** Keep a message for the next page (shown once, after a navigation). */
export function flash(kind, title, text) {
  sessionStorage.setItem(FLASH_KEY, JSON.stringify({ kind, title, text }));
}

/** Go to another console page (a full page load: the back button works as expected). */
export function go(path) {
  location.assign(path);
}

function route() {
  const path = location.pathname.replace(/^\/api\/console\/?/, "");
  for (const [pattern, nav, module] of ROUTES) {
    const match = new RegExp(`^${pattern}$`).exec(path);
    if (match) return { nav, module, params: match.slice(1) };
  }
  return null;
}

function showWho(me) {
  const who = document.getElementById("who");
  const role = me.roles.length ? me.roles.join(", ") : "no role";
  replace(
    who,
    h("span", { class: "sr-only", text: "Signed in as " }),
    me.name || me.id,
    h("span", { class: "role", text: me.auth_mode === "local" ? `${role} (local)` : role }),
  );
}

function showNav(nav, can) {
  for (const element of document.querySelectorAll("[data-role]")) {
    const needs = element.dataset.role;
    element.hidden = needs === "admin" ? !can.admin : !can.edit;
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
  }
}

function takeFlash(main) {
  const raw = sessionStorage.getItem(FLASH_KEY);
  if (!raw) return;
  sessionStorage.removeItem(FLASH_KEY);
  try {
    const { kind, title, text } = JSON.parse(raw);
    main.prepend(message(kind, title, text ? h("p", { text }) : null));
  } catch {
    /* a malformed flash is dropped */
  }
}

/** A page's failure to load, in words. */
export function loadError(error) {
  if (error instanceof ApiError) {
    if (error.status === 404) return message("error", "Not found", h("p", { text: error.message }));
    if (error.status === 403) return message("error", "Not allowed", h("p", { text: error.message }));
    return message("error", "Something went wrong", h("p", { text: error.message }));
  }
  console.error(error);
  return message("error", "Something went wrong in this page", h("p", { text: String(error) }));
}

async function start() {
  const main = document.getElementById("main");
  const found = route();
  let me;
  try {
    me = await get("/api/me");
  } catch (error) {
    replace(main, loadError(error));
    return;
  }
  const can = {
    admin: me.roles.includes("Admin"),
    edit: me.roles.includes("Admin") || me.roles.includes("Contributor"),
  };
  showWho(me);
  showNav(found ? found.nav : null, can);
  if (!found) {
    replace(main, message("error", "No such page", h("p", {}, h("a", { href: "/api/console/exports", text: "Go to Exports" }))));
    return;
  }
  const ctx = {
    main,
    me,
    can,
    params: found.params,
    query: new URLSearchParams(location.search),
    title(text) {
      document.title = `${text} - Snap audience sync`;
    },
    flash,
    go,
  };
  try {
    const page = await import(found.module);
    replace(main);
    await page.render(ctx);
    takeFlash(main);
    const heading = main.querySelector("h1");
    if (heading && !main.contains(document.activeElement)) heading.setAttribute("tabindex", "-1");
  } catch (error) {
    replace(main, loadError(error));
  }
}

start();
