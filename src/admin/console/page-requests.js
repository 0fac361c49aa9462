// The request log (GET /api/requests) and one request (GET /api/requests/ID).
import { api, qs, isAdmin, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, table, dl, statusBadge, badge } from "/assets/dom.js";
import * as f from "/assets/format.js";
import { requestColumns, tokens, usageState, clientCell, modelCell, href } from "/assets/request-cells.js";

const FILTERS = ["since", "until", "client", "model", "provider", "status"];
const STATUS = [["", "any"], ["error", "error"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"]];
const LIMIT = 100;

export const requests = {
  title: "Requests",
  async mount(root, ctx) {
    const p = ctx.params;
    const field = (name, label, placeholder, help) => {
      const id = "filter-" + name;
      return h("div", { class: "field" },
        h("label", { for: id }, label),
        h("input", { id, name, type: "text", value: p.get(name) || "", placeholder, autocomplete: "off", spellcheck: "false", title: help || null }));
    };
    const status = h("select", { id: "filter-status", name: "status" },
      STATUS.map(([v, t]) => h("option", { value: v, selected: (p.get("status") || "") === v }, t)));
    // client= (empty): the requests of no client.
    const noClient = p.has("client") && p.get("client") === "";
    const noClientBox = h("input", { id: "filter-no-client", type: "checkbox", checked: noClient });
    const form = h("form", { class: "filters", id: "requests-filter", role: "search" },
      field("since", "Since", "e.g. 1h, 7d, today", "30m, 24h, 7d, today, month or a date (server local time)"),
      field("until", "Until", "e.g. 30m or a date"),
      field("client", "Client", "exact name"),
      h("div", { class: "field check" }, noClientBox, h("label", { for: "filter-no-client" }, "(no client)")),
      field("model", "Model", "glob, e.g. claude-*", "a glob on the model asked or sent"),
      field("provider", "Provider", "exact name"),
      h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), status),
      h("div", { class: "btns" },
        h("button", { type: "submit", class: "btn primary", id: "filter-apply" }, "Apply"),
        h("a", { href: "#/requests", class: "btn", role: "button" }, "Clear")));
    const clientInput = form.elements.client;
    clientInput.disabled = noClient;
    noClientBox.addEventListener("change", () => { clientInput.disabled = noClientBox.checked; });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const out = {};
      for (const k of FILTERS) {
        const v = (form.elements[k].value || "").trim();
        if (v) out[k] = v;
      }
      if (noClientBox.checked) out.client = "";
      const next = "#/requests" + qs(out, ["client"]);
      if (location.hash === next) load(); else location.hash = next;
    });

    const summary = h("span", { class: "muted", id: "requests-count" });
    const holder = h("div");
    const older = h("button", { type: "button", class: "btn", id: "requests-older", hidden: true }, "Older requests");
    root.append(
      pageHead("Requests"),
      h("section", { class: "card" }, form),
      h("section", { class: "card" }, holder, h("div", { class: "more" }, summary, older)),
    );

    let rows = [];
    let cursor = null;
    const filters = {};
    for (const k of FILTERS) if (p.get(k)) filters[k] = p.get(k);
    if (noClient) filters.client = "";

    function render() {
      replace(holder, table(requestColumns(), rows, {
        caption: "Requests, newest first",
        empty: Object.keys(filters).length ? "No request matches these filters." : "No requests in the log yet.",
        rowAttrs: (r) => ({ class: "clickable", data: { id: r.id, href: href(r) } }),
      }));
      summary.textContent = `${f.int(rows.length)} request${rows.length === 1 ? "" : "s"} shown` + (cursor ? ", more are older" : "");
      older.hidden = !cursor;
    }
    holder.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      const tr = ev.target.closest("tr[data-href]");
      if (tr) location.hash = tr.dataset.href;
    });

    async function load(more) {
      loaded(root, false);
      older.disabled = true;
      try {
        const d = await api("/api/requests" + qs({ ...filters, limit: LIMIT, cursor: more ? cursor : null }, ["client"]), { signal: ctx.signal });
        if (!ctx.alive()) return;
        rows = more ? rows.concat(d.requests || []) : d.requests || [];
        cursor = d.next_cursor || null;
        render();
      } catch (e) {
        if (isAbort(e) || !ctx.alive()) return;
        if (more) holder.appendChild(errorBox(e));
        else replace(holder, errorBox(e));
      } finally {
        older.disabled = false;
      }
      loaded(root, true);
    }
    older.addEventListener("click", () => load(true));
    await load(false);
  },
};

// "openai/16b8b21d:429:model_cooldown,anthropic/…:200:ok" as a list.
function attemptList(detail) {
  if (!detail) return null;
  const items = String(detail).split(",").filter(Boolean);
  return h("ol", { class: "attempts" }, items.map((a) => {
    const m = /^(.*):(\d{1,3}):([^:]*)$/.exec(a);
    if (!m) return h("li", { class: "mono" }, a);
    return h("li", null, h("span", { class: "mono" }, m[1]), " ", statusBadge(Number(m[2])), " ", h("span", { class: "muted" }, m[3]));
  }));
}

const BODY_CAP = 200000;

function bodyView(id, title, text, truncated, role) {
  const card = h("section", { class: "card" }, h("h2", null, title));
  if (!isAdmin()) {
    card.appendChild(h("p", { class: "muted", id }, "Bodies are unavailable to the viewer role."));
    return card;
  }
  if (text === null || text === undefined) {
    card.appendChild(h("p", { class: "muted", id }, "Not kept: the daemon keeps bodies only when [log] bodies says so (and for body_retention)."));
    return card;
  }
  if (text === "") {
    card.appendChild(h("p", { class: "muted", id }, "(empty)"));
    return card;
  }
  let shown = text, json = false;
  if (text.length <= 2000000) {
    try {
      const v = JSON.parse(text);
      if (v !== null && typeof v === "object") { shown = JSON.stringify(v, null, 2); json = true; }
    } catch { /* not JSON: shown as it is */ }
  }
  const notes = [];
  if (truncated) notes.push("truncated by the daemon ([log] body_max)");
  if (shown.length > BODY_CAP) {
    notes.push(`showing the first ${f.int(BODY_CAP)} of ${f.int(shown.length)} characters`);
    shown = shown.slice(0, BODY_CAP);
  }
  const pre = h("pre", { class: "body", id, tabindex: "0" }, shown);
  const wrap = h("button", { type: "button", class: "btn small", "aria-pressed": "false" }, "Wrap lines");
  wrap.addEventListener("click", () => {
    const on = pre.classList.toggle("wrap");
    wrap.setAttribute("aria-pressed", String(on));
  });
  card.firstChild.appendChild(h("span", { class: "sub btns" },
    json ? "JSON, " : "", f.bytes(new TextEncoder().encode(text).length),
    notes.length ? badge(notes.join("; "), "warn") : null, wrap));
  card.appendChild(pre);
  return card;
}

function timingBar(r) {
  const total = r.total_ms;
  if (!(total > 0)) return null;
  const seg = (cls, from, to, label) => {
    const el = h("span", { class: "tseg " + cls, title: label });
    el.style.width = Math.max(0, ((to - from) / total) * 100) + "%";
    return el;
  };
  const parts = [];
  const fb = r.ttfb_ms ?? null, ft = r.ttft_ms ?? null;
  let at = 0;
  if (fb !== null && fb <= total) { parts.push(seg("wait", 0, fb, "until the first byte: " + f.ms(fb))); at = fb; }
  if (ft !== null && ft >= at && ft <= total) { parts.push(seg("first", at, ft, "until the first token: " + f.ms(ft))); at = ft; }
  parts.push(seg("rest", at, total, "to the end: " + f.ms(total - at)));
  return [
    h("div", { class: "tbar", role: "img", "aria-label": `first byte ${f.ms(fb)}, first token ${f.ms(ft)}, total ${f.ms(total)}` }, parts),
    h("div", { class: "legend tlegend", "aria-hidden": "true" },
      h("span", { class: "key" }, h("span", { class: "sw wait" }), "to the first byte"),
      h("span", { class: "key" }, h("span", { class: "sw first" }), "to the first token"),
      h("span", { class: "key" }, h("span", { class: "sw rest" }), "to the end")),
  ];
}

export const request = {
  title: "Request",
  async mount(root, ctx) {
    const id = ctx.args[0] || "";
    root.append(pageHead("Request " + id, h("a", { href: "#/requests", class: "btn" }, "All requests")));
    // ?row=N (a log row's) names one request exactly (ids start again with
    // each run of the daemon); without it (from Live) the newest comes.
    const want = ctx.params.get("row");
    const path = "/api/requests/" + encodeURIComponent(id) + qs({ row: want });
    let r;
    try {
      try {
        r = await api(path, { signal: ctx.signal });
      } catch (e) {
        // A request that just finished reaches the store with the next batch.
        if (!(e.status === 404 && e.code === "not_found" && want === null && /^[0-9a-f]{16}$/i.test(id))) throw e;
        const wait = h("p", { class: "muted", id: "request-wait" }, "Not in the request log yet: looking again…");
        root.appendChild(wait);
        await new Promise((ok) => { const t = setTimeout(ok, 1500); ctx.onLeave(() => clearTimeout(t)); });
        if (!ctx.alive()) return;
        try {
          r = await api(path, { signal: ctx.signal });
        } catch (e2) {
          if (e2.status === 404 && e2.code === "not_found")
            throw new Error(`Request ${id} is not written to the request log yet (rows are written in batches): try again in a moment.`);
          throw e2;
        } finally { wait.remove(); }
      }
    } catch (e) {
      if (isAbort(e) || !ctx.alive()) return;
      root.appendChild(errorBox(e));
      loaded(root, true);
      return;
    }
    if (!ctx.alive()) return;
    if (!r || typeof r !== "object") {
      root.appendChild(errorBox(new Error("no such request")));
      loaded(root, true);
      return;
    }
    document.title = "Request " + r.id + " · antigravityd";
    const t = tokens(r);
    const ok = r.status >= 200 && r.status < 400;
    root.append(
      h("section", { class: "card", id: "request-summary" },
        h("div", { class: "btns" }, statusBadge(r.status), h("strong", null, f.time(r.ts_ms)), h("span", { class: "muted" }, "local time"),
          r.stream ? badge("stream", "info") : null, ok ? null : badge("failed", "bad")),
        h("p", null, clientCell(r), h("span", { class: "muted" }, " asked for "), modelCell(r),
          r.provider ? [h("span", { class: "muted" }, " via "), r.provider] : null)),
      h("div", { class: "grid2" },
        h("section", { class: "card" }, h("h2", null, "Call"), dl([
          ["Request id", h("span", { class: "mono" }, r.id)],
          ["Time", f.time(r.ts_ms) + " (" + f.relative(r.ts_ms) + ")"],
          ["Client", clientCell(r)],
          ["Address", r.addr],
          ["Call", h("span", { class: "mono" }, (r.method || "") + " " + (r.path || ""))],
          ["Operation", r.operation],
          ["Protocol", r.protocol],
          ["Stream", r.stream ? "yes" : "no"],
        ])),
        h("section", { class: "card" }, h("h2", null, "Route"), dl([
          ["Model asked", r.model],
          ["Model sent", r.model_sent],
          ["Provider", r.provider],
          ["Credential", r.credential ? h("span", { class: "fp" }, r.credential) : ""],
          ["Attempts", r.attempts ? String(r.attempts) : "0"],
          ["Attempt detail", attemptList(r.attempt_detail)],
        ])),
        h("section", { class: "card" }, h("h2", null, "Outcome"), dl([
          ["Status", statusBadge(r.status)],
          ["Upstream status", r.upstream_status ? String(r.upstream_status) : ""],
          ["Error", r.error ? h("span", { class: "errtext" }, r.error) : ""],
          ["Limit", r.limit],
        ])),
        h("section", { class: "card" }, h("h2", null, "Tokens"), dl([
          ["Input", f.int(t.input)],
          ["Output", f.int(t.output)],
          ["Cache read", f.int(t.cache_read)],
          ["Cache write", f.int(t.cache_write)],
          ["Reasoning", f.int(t.reasoning)],
          ["Usage", usageState(r)],
        ])),
        h("section", { class: "card" }, h("h2", null, "Timing"), dl([
          ["First byte", f.ms(r.ttfb_ms)],
          ["First token", f.ms(r.ttft_ms)],
          ["Total", f.ms(r.total_ms)],
        ]), timingBar(r)),
        h("section", { class: "card" }, h("h2", null, "Bytes"), dl([
          ["Received", f.bytes(r.bytes_in)],
          ["Sent", f.bytes(r.bytes_out)],
        ]))),
      bodyView("request-body", "Request body", r.request_body, r.request_truncated),
      bodyView("response-body", "Response body", r.response_body, r.response_truncated),
    );
    loaded(root, true);
  },
};
