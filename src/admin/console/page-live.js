// Live: requests as they finish (GET /api/events, Server-Sent Events).
import { api, session, sessionEnded } from "/assets/api.js";
import { h, replace, loaded, pageHead, errorBox } from "/assets/dom.js";
import * as f from "/assets/format.js";
import { requestColumns, href } from "/assets/request-cells.js";

const MAX_ROWS = 200;

export default {
  title: "Live",
  mount(root, ctx) {
    const columns = requestColumns();
    const dot = h("span", { class: "dot" });
    const stateText = h("span", null, "connecting…");
    const state = h("span", { class: "live-state", id: "live-state", role: "status", "aria-live": "polite" }, dot, stateText);
    const pauseBtn = h("button", { type: "button", class: "btn", id: "live-pause", "aria-pressed": "false" }, "Pause");
    const clearBtn = h("button", { type: "button", class: "btn", id: "live-clear" }, "Clear");
    const counts = h("p", { class: "muted", id: "live-counts" }, "Requests appear here as they finish.");
    const problem = h("div");
    const tbody = h("tbody", { id: "live-rows" });
    const placeholder = h("tr", { class: "placeholder" }, h("td", { colspan: columns.length, class: "empty" }, "Waiting for requests…"));
    tbody.appendChild(placeholder);
    const tbl = h("table", { class: "tbl" },
      h("caption", { class: "sr" }, "Requests as they finish, newest first"),
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.title)))),
      tbody);
    root.append(
      pageHead("Live", state, pauseBtn, clearBtn),
      problem,
      h("section", { class: "card" }, counts, h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Live requests" }, tbl)),
    );

    let paused = false;
    let waiting = [];
    let queue = []; // received, not yet shown: rendered once per frame
    let frame = 0;
    let received = 0, errors = 0;
    let es = null;
    let retry = 0;
    let timer = 0;
    const linked = () => session.storeOff !== true; // a row leads to the request's detail

    function setState(kind, text) {
      dot.className = "dot " + kind;
      stateText.textContent = text;
    }

    function row(r) {
      const tr = h("tr", { class: linked() ? "clickable fresh" : "fresh", data: { id: r.id } });
      for (const c of columns) {
        const v = c.cell(r);
        tr.appendChild(h("td", { class: [c.num ? "num" : "", c.class || ""].join(" ").trim() || null }, v === "" || v === null || v === undefined ? "–" : v));
      }
      return tr;
    }

    function add(list) {
      if (!list.length) return;
      placeholder.remove();
      const frag = document.createDocumentFragment();
      for (let i = list.length - 1; i >= 0 && i >= list.length - MAX_ROWS; i--) frag.appendChild(row(list[i]));
      tbody.insertBefore(frag, tbody.firstChild);
      while (tbody.children.length > MAX_ROWS) tbody.removeChild(tbody.lastChild);
    }

    function showCounts() {
      counts.textContent = `${f.int(received)} request${received === 1 ? "" : "s"} since this page opened, ${f.int(errors)} failed` +
        (paused ? ` · paused, ${f.int(waiting.length)} waiting` : "") + ` · at most ${MAX_ROWS} rows are kept.`;
    }

    // Once per frame (none while the tab is hidden: the queue keeps the
    // newest MAX_ROWS meanwhile).
    function flush() {
      frame = 0;
      if (!ctx.alive()) return;
      if (!paused) {
        const list = queue;
        queue = [];
        add(list);
      } else pauseBtn.textContent = `Resume (${waiting.length})`;
      showCounts();
    }

    function onEvent(ev) {
      let r;
      try { r = JSON.parse(ev.data); } catch { return; }
      if (!r || typeof r !== "object" || typeof r.id !== "string") return;
      received++;
      if (!(r.status >= 200 && r.status < 400)) errors++;
      const into = paused ? waiting : queue;
      into.push(r);
      if (into.length > MAX_ROWS) into.splice(0, into.length - MAX_ROWS);
      if (!frame) frame = requestAnimationFrame(flush);
    }

    // The store is off: the rows lead nowhere (the detail is read from it).
    function unlink() {
      for (const a of tbody.querySelectorAll("a")) a.replaceWith(a.textContent);
      for (const tr of tbody.querySelectorAll("tr.clickable")) tr.classList.remove("clickable");
    }

    function later(fn, ms) {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    }

    function connect() {
      if (!ctx.alive()) return;
      es = new EventSource("/api/events");
      es.addEventListener("open", () => {
        retry = 0;
        replace(problem);
        setState(paused ? "paused" : "on", paused ? "connected, paused" : "connected");
        loaded(root, true);
      });
      es.addEventListener("request", onEvent);
      es.addEventListener("error", () => {
        if (!ctx.alive()) return;
        if (es.readyState === EventSource.CONNECTING) {
          // The browser tries again by itself.
          setState("off", "reconnecting…");
          replace(problem, errorBox(new Error("The event stream is interrupted (is antigravityd running?): reconnecting…")));
          loaded(root, true);
          return;
        }
        es.close();
        es = null;
        setState("off", "disconnected");
        // Why: an ended session (a 401 sends the page to the log-in), too
        // many streams (503), or the daemon gone.
        api("/api/whoami", { signal: ctx.signal }).then((who) => {
          if (!ctx.alive()) return;
          if (!who || !who.role) return sessionEnded(); // 200 {"role": null}: no session
          const wait = Math.min(30, 2 + retry * 3);
          retry++;
          replace(problem, errorBox(new Error(`The event stream closed (the daemon restarted, or too many streams are open). Trying again in ${wait} s.`)));
          loaded(root, true);
          later(connect, wait * 1000);
        }, (e) => {
          if (!ctx.alive() || e.name === "AbortError") return;
          replace(problem, errorBox(e, "The event stream closed"));
          loaded(root, true);
          later(connect, 10000);
        });
      });
    }

    pauseBtn.addEventListener("click", () => {
      paused = !paused;
      pauseBtn.setAttribute("aria-pressed", String(paused));
      pauseBtn.textContent = paused ? "Resume" : "Pause";
      if (!paused) {
        queue = waiting.concat(queue).slice(-MAX_ROWS);
        waiting = [];
        if (!frame) frame = requestAnimationFrame(flush);
      } else {
        waiting = waiting.concat(queue).slice(-MAX_ROWS);
        queue = [];
      }
      if (es && es.readyState === EventSource.OPEN) setState(paused ? "paused" : "on", paused ? "connected, paused" : "connected");
      showCounts();
    });
    clearBtn.addEventListener("click", () => {
      replace(tbody, placeholder);
      waiting = [];
      queue = [];
      if (paused) pauseBtn.textContent = "Resume";
      showCounts();
    });
    tbody.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      const tr = ev.target.closest("tr[data-id]");
      if (tr && linked()) location.hash = href({ id: tr.dataset.id });
    });

    ctx.onLeave(() => {
      if (es) es.close();
      es = null;
      clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
    });
    connect();
    // Whether the store is on, when no page asked yet.
    if (session.storeOff === null)
      api("/api/requests?limit=1", { signal: ctx.signal }).catch(() => {}).then(() => { if (session.storeOff && ctx.alive()) unlink(); });
  },
};
