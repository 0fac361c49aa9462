// Cells shared by the request tables (log rows and live events).
// A log row keeps tokens in r.usage {input, ...} and the state in
// r.usage_state; a live event has them flat and its state in r.usage.
import { session } from "/assets/api.js";
import { h, statusBadge } from "/assets/dom.js";
import * as f from "/assets/format.js";

export function tokens(r) {
  const u = r.usage && typeof r.usage === "object" ? r.usage : r;
  return {
    input: u.input ?? null,
    output: u.output ?? null,
    cache_read: u.cache_read ?? null,
    cache_write: u.cache_write ?? null,
    reasoning: u.reasoning ?? null,
  };
}

export function usageState(r) {
  return typeof r.usage === "string" ? r.usage : r.usage_state || "";
}

// A request id is unique within one run of the daemon only: a log row's
// link also names its row, so the detail can tell which one was meant.
export function href(r) {
  return "#/requests/" + encodeURIComponent(r.id) + (typeof r.row === "number" ? "?row=" + r.row : "");
}

// Plain text when the request store is off: there is no detail to show.
export function link(r, text) {
  if (session.storeOff === true) return h("span", { title: "request " + r.id }, text);
  return h("a", { href: href(r), title: "request " + r.id }, text);
}

export function modelCell(r) {
  const asked = r.model || "";
  const sent = r.model_sent || "";
  if (!asked && !sent) return "–";
  if (!sent || sent === asked) return asked;
  return h("span", null, asked || "–", h("span", { class: "arrow" }, " → "), h("span", { class: "sent" }, sent));
}

export function routeCell(r) {
  if (!r.provider) return r.protocol === "local" ? h("span", { class: "muted" }, "local") : "–";
  return h("span", null, r.provider, r.credential ? h("span", { class: "fp muted" }, " / " + r.credential) : null);
}

export function clientCell(r) {
  return r.client ? r.client : h("span", { class: "muted" }, "(none)");
}

export function problem(r) {
  const parts = [];
  if (r.limit) parts.push("limit " + r.limit);
  if (r.error) parts.push(r.error);
  return parts.join(": ");
}

export function statusCell(r) {
  const b = statusBadge(r.status);
  if (r.upstream_status && r.upstream_status !== r.status)
    return h("span", null, b, h("span", { class: "muted", title: "upstream status" }, " ↑" + r.upstream_status));
  return b;
}

export function tokensInOut(r) {
  const t = tokens(r);
  if (t.input === null && t.output === null) return "–";
  return f.num(t.input) + " / " + f.num(t.output);
}

// The columns of a request table (the log and the live page).
export function requestColumns() {
  return [
    { key: "ts_ms", title: "Time", cell: (r) => link(r, f.shortTime(r.ts_ms)) },
    { key: "status", title: "Status", cell: statusCell },
    { key: "client", title: "Client", cell: clientCell, class: "clip" },
    { key: "model", title: "Model", cell: modelCell, class: "clip" },
    { key: "provider", title: "Provider / credential", cell: routeCell },
    { key: "tokens", title: "Tokens in / out", num: true, cell: tokensInOut },
    { key: "total_ms", title: "Latency", num: true, cell: (r) => f.ms(r.total_ms) },
    { key: "ttft_ms", title: "TTFT", num: true, cell: (r) => f.ms(r.ttft_ms) },
    { key: "error", title: "Error", class: "clip", cell: (r) => { const p = problem(r); return p ? h("span", { class: "errtext", title: p }, p) : ""; } },
  ];
}
