// The antigravityd console: log-in, header, hash routing.
import { api, session, onUnauthorized, isAbort, ApiError } from "/assets/api.js";
import { h, replace, errorBox, toast } from "/assets/dom.js";
import overview from "/assets/page-overview.js";
import live from "/assets/page-live.js";
import { requests, request } from "/assets/page-requests.js";
import usage from "/assets/page-usage.js";
import credentials from "/assets/page-credentials.js";
import clients from "/assets/page-clients.js";
import config from "/assets/page-config.js";

const pages = { overview, live, requests, request, usage, credentials, clients, config };

const main = document.getElementById("main");
const top = document.getElementById("top");
let current = null; // {controller, cleanups, guard}
let inApp = false;
let lastPage = "";

function parseHash() {
  let raw = location.hash.replace(/^#\/?/, "");
  let query = "";
  const q = raw.indexOf("?");
  if (q >= 0) { query = raw.slice(q + 1); raw = raw.slice(0, q); }
  const parts = raw.split("/").filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  return { parts, params: new URLSearchParams(query) };
}

function leave() {
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanups.splice(0)) {
    try { fn(); } catch (e) { /* a page's cleanup must not stop the next page */ }
  }
  current = null;
}

function route() {
  if (!inApp) return;
  const { parts, params } = parseHash();
  let name = parts[0] || "overview";
  let args = parts.slice(1);
  if (name === "requests" && args.length) name = "request";
  const page = pages[name];
  if (!page) {
    location.replace("#/overview");
    return;
  }
  leave();
  const controller = new AbortController();
  const cleanups = [];
  current = { controller, cleanups, guard: null };
  const me = current;
  const ctx = {
    params,
    args,
    signal: controller.signal,
    onLeave(fn) { cleanups.push(fn); },
    // fn() -> a message when leaving the page now would lose something
    // (asked before another page is shown; a confirmation follows).
    guard(fn) { me.guard = fn; },
    // fn("tick") every ms while the page is shown and the tab visible, and
    // fn("visible") when the tab comes back.
    every(fn, ms) {
      const t = setInterval(() => { if (!document.hidden) fn("tick"); }, ms);
      const vis = () => { if (!document.hidden) fn("visible"); };
      document.addEventListener("visibilitychange", vis);
      cleanups.push(() => { clearInterval(t); document.removeEventListener("visibilitychange", vis); });
    },
    alive() { return !controller.signal.aborted; },
  };
  const navName = name === "request" ? "requests" : name;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === navName) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = h("section", { id: "page-" + name, class: "page" });
  replace(main, root);
  if (lastPage !== name) window.scrollTo(0, 0);
  lastPage = name;
  document.title = (page.title || name) + " · antigravityd";
  try {
    const p = page.mount(root, ctx);
    if (p && typeof p.catch === "function")
      p.catch((e) => {
        if (isAbort(e) || !ctx.alive()) return;
        root.appendChild(errorBox(e));
        root.setAttribute("data-loaded", "1");
      });
  } catch (e) {
    root.appendChild(errorBox(e));
    root.setAttribute("data-loaded", "1");
  }
}

function showApp() {
  inApp = true;
  document.body.dataset.role = session.role || "";
  top.hidden = false;
  const role = document.getElementById("role");
  role.textContent = session.role === "admin" ? "admin" : session.role + " · read-only";
  role.title = session.role === "admin" ? "Signed in with the admin role" : "Signed in with the viewer role: nothing can be changed";
  route();
}

function showLogin(message) {
  inApp = false;
  leave();
  const dlg = document.getElementById("leave-dialog");
  if (dlg) dlg.remove();
  session.role = null;
  session.csrf = null;
  delete document.body.dataset.role;
  top.hidden = true;
  document.title = "Log in · antigravityd";
  const err = h("div", { class: "error", role: "alert", id: "login-error", hidden: !message }, message || "");
  const input = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "btn primary", id: "login-submit" }, "Log in");
  const form = h("form", { id: "login-form", class: "login-form", novalidate: true },
    h("label", { for: "login-password" }, "Password"),
    input,
    err,
    button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!input.value) {
      err.textContent = "Enter the admin or viewer password.";
      err.hidden = false;
      input.focus();
      return;
    }
    button.disabled = true;
    err.hidden = true;
    try {
      const r = await api("/api/login", { method: "POST", json: { password: input.value }, auth: false });
      input.value = "";
      session.role = r.role;
      session.csrf = r.csrf || null;
      showApp();
      main.focus({ preventScroll: true });
    } catch (e) {
      let msg = e.message;
      if (e.status === 429 && e.retryAfter) {
        const s = parseInt(e.retryAfter, 10);
        if (s > 0) msg += ` (about ${s >= 90 ? Math.ceil(s / 60) + " minutes" : s + " seconds"})`;
      }
      err.textContent = msg;
      err.hidden = false;
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(main, h("section", { id: "page-login", class: "login" },
    h("div", { class: "login-card" },
      h("div", { class: "login-brand" }, h("img", { src: "/assets/icon.svg", alt: "", width: 36, height: 36 }), h("div", null, h("h1", null, "antigravityd"), h("p", { class: "muted" }, "Admin console"))),
      form)));
  input.focus();
}

onUnauthorized(() => {
  if (inApp) showLogin("Your session has ended: log in again.");
});

async function logout() {
  try { await api("/api/logout", { method: "POST", auth: false }); } catch (e) { /* the session is gone either way */ }
  showLogin();
  toast("Logged out.");
}
document.getElementById("logout").addEventListener("click", () => {
  const message = current && current.guard ? current.guard() : null;
  if (message) confirmLeave(message, logout);
  else logout();
});

// The confirmation before a page that would lose something is left:
// "Stay" (the default, and Escape) or "Leave".
function confirmLeave(message, go) {
  const old = document.getElementById("leave-dialog");
  if (old) old.remove();
  const stay = h("button", { type: "button", class: "btn primary", id: "leave-stay" }, "Stay on this page");
  const away = h("button", { type: "button", class: "btn danger", id: "leave-go" }, "Leave and discard");
  const dlg = h("dialog", { class: "dialog", id: "leave-dialog", "aria-labelledby": "leave-title", "aria-describedby": "leave-text" },
    h("h2", { id: "leave-title" }, "Leave this page?"),
    h("p", { id: "leave-text" }, message),
    h("div", { class: "btns" }, stay, away));
  const close = () => { if (dlg.open) dlg.close(); dlg.remove(); };
  stay.addEventListener("click", close);
  away.addEventListener("click", () => { close(); go(); });
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  document.body.appendChild(dlg);
  dlg.showModal();
  stay.focus();
}

// What has the focus, as a selector that finds its match on the page as
// shown again for other parameters (a window button, the filter form).
function focusKey(el) {
  if (!el || el === main || !main.contains(el)) return null;
  if (el.id) return "#" + CSS.escape(el.id);
  const group = el.closest(".seg[aria-label]");
  if (group && el.dataset.value !== undefined)
    return `.seg[aria-label="${CSS.escape(group.getAttribute("aria-label"))}"] .seg-btn[data-value="${CSS.escape(el.dataset.value)}"]`;
  return null;
}

let passGuard = false; // a navigation the user confirmed
window.addEventListener("hashchange", (ev) => {
  if (!inApp) return;
  if (location.hash === "#main") {
    // The skip link (without its script): not a route.
    history.replaceState(history.state, "", ev.oldURL);
    main.focus();
    return;
  }
  const message = !passGuard && current && current.guard ? current.guard() : null;
  passGuard = false;
  if (message) {
    const next = location.hash;
    history.replaceState(history.state, "", ev.oldURL);
    confirmLeave(message, () => { passGuard = true; location.hash = next; });
    return;
  }
  const before = lastPage;
  const key = focusKey(document.activeElement);
  route();
  if (!inApp) return;
  if (lastPage !== before) main.focus({ preventScroll: true });
  else {
    // Same page, other parameters: the focus stays where it was.
    const el = key && main.querySelector(key);
    if (el) el.focus({ preventScroll: true });
    else if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  }
});

document.querySelector("a.skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});

async function boot() {
  try {
    const r = await api("/api/whoami", { auth: false });
    if (!r.role) return showLogin(); // an API that answers 200 without a session
    session.role = r.role;
    session.csrf = r.csrf || null;
    showApp();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin();
    replace(main, h("section", { class: "page", id: "page-boot" },
      errorBox(e, "Cannot reach the admin API"),
      h("p", null, h("button", { type: "button", class: "btn", onclick: boot }, "Try again"))));
  }
}

boot();
