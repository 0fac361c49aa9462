// Usage from the hourly rollups (GET /api/usage): totals, over time, and
// by client / model / provider / credential.
import { api, qs, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, segmented, table, tile } from "/assets/dom.js";
import { chart } from "/assets/chart.js";
import * as f from "/assets/format.js";
import { STORE_OFF } from "/assets/page-overview.js";

const WINDOWS = [["24h", "24 hours"], ["7d", "7 days"], ["30d", "30 days"]];
const BY = [["client", "Client"], ["model", "Model"], ["provider", "Provider"], ["credential", "Credential"]];

// Every hour (or local day) of the window, with the rows' figures or zero.
function timeline(d, window) {
  const rows = d.rows || [];
  const out = [];
  if (window === "24h") {
    const byStart = new Map(rows.map((r) => [r.start, r]));
    const first = d.since_unix || Math.floor(Date.now() / 1000) - 86400;
    const now = Date.now() / 1000;
    for (let t = first; t <= now; t += 3600) out.push({ start: t * 1000, row: byStart.get(t) || null });
  } else {
    // A row's day starts at the server's local midnight: its noon falls on
    // the same date in the browser's time zone, whatever that is.
    const byDay = new Map(rows.map((r) => [typeof r.start === "number" ? f.localDate(new Date((r.start + 43200) * 1000)) : r.day, r]));
    const day = new Date((d.since_unix || Date.now() / 1000 - 86400 * 30) * 1000);
    day.setHours(0, 0, 0, 0);
    const end = new Date();
    for (let guard = 0; day <= end && guard < 400; guard++) {
      out.push({ start: day.getTime(), row: byDay.get(f.localDate(day)) || null });
      day.setDate(day.getDate() + 1);
    }
  }
  return out;
}

export default {
  title: "Usage",
  async mount(root, ctx) {
    const p = ctx.params;
    const since = WINDOWS.some(([v]) => v === p.get("since")) ? p.get("since") : "24h";
    const by = BY.some(([v]) => v === p.get("by")) ? p.get("by") : "client";
    const go = (s, b) => { location.hash = "#/usage" + qs({ since: s, by: b }); };

    const totals = h("div", { class: "tiles", id: "usage-totals" });
    const tokChart = h("div", { id: "chart-usage-tokens" });
    const reqChart = h("div", { id: "chart-usage-requests" });
    const groups = h("div", { id: "usage-table" });
    const note = h("p", { class: "muted" });
    const unit = since === "24h" ? "hour" : "day";
    const chartGrid = h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", null, "Tokens by " + unit), tokChart),
      h("section", { class: "card" }, h("h2", null, "Requests by " + unit), reqChart));
    const groupCard = h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", { class: "flat" }, "By " + by), h("span", { class: "spacer" }), segmented("Group by", BY, by, (v) => go(since, v))),
      groups);
    root.append(
      pageHead("Usage", segmented("Time window", WINDOWS, since, (v) => go(v, by))),
      note,
      totals,
      chartGrid,
      groupCard,
    );

    loaded(root, false);
    const [series, grouped] = await Promise.allSettled([
      api("/api/usage" + qs({ since, by: since === "24h" ? "hour" : "day" }), { signal: ctx.signal }),
      api("/api/usage" + qs({ since, by }), { signal: ctx.signal }),
    ]);
    if (!ctx.alive()) return;
    for (const r of [series, grouped]) if (r.status === "rejected" && isAbort(r.reason)) return;
    if ([series, grouped].some((r) => r.status === "rejected" && r.reason.status === 404 && r.reason.code === "no_store")) {
      // One notice rather than the same error in every part.
      note.replaceWith(h("div", { class: "notice", id: "store-off" }, STORE_OFF));
      totals.hidden = chartGrid.hidden = groupCard.hidden = true;
      loaded(root, true);
      return;
    }

    const charts = [];
    ctx.onLeave(() => charts.forEach((c) => c.destroy()));
    if (series.status === "fulfilled") {
      const d = series.value;
      note.textContent = "Since " + f.time((d.since_unix || 0) * 1000) + " (local time), from the hourly rollups.";
      const T = d.total || {};
      replace(totals,
        tile("Requests", f.num(T.requests), f.int(T.requests)),
        tile("Errors", f.num(T.errors), T.requests ? f.pct(T.errors / T.requests) + " of requests" : "", { kind: T.errors && T.requests && T.errors / T.requests >= 0.1 ? "bad" : "" }),
        tile("Input tokens", f.num(T.input), f.int(T.input)),
        tile("Output tokens", f.num(T.output), f.int(T.output)),
        tile("Cache read", f.num(T.cache_read), "hit ratio " + f.pct(T.cache_hit_ratio)),
        tile("Cache write", f.num(T.cache_write), f.int(T.cache_write)),
        tile("Reasoning", f.num(T.reasoning), f.int(T.reasoning)),
        tile("Average latency", T.requests ? f.ms(T.total_ms / T.requests) : "–", "per request"),
      );
      const line = timeline(d, since);
      const x = line.map((b) => b.start);
      const val = (k) => line.map((b) => (b.row ? b.row[k] || 0 : 0));
      const xFormat = since === "24h" ? f.hourMinute : f.dayLabel;
      const tipFormat = since === "24h" ? (t) => f.dayLabel(t) + " " + f.hourMinute(t) + "–" + f.hourMinute(t + 3600000) : (t) => f.localDate(new Date(t));
      charts.push(chart(tokChart, {
        label: "Tokens by " + unit, x, xFormat, tipFormat,
        series: [
          { name: "input", values: val("input"), cls: "c1" },
          { name: "output", values: val("output"), cls: "c3" },
          { name: "cache read", values: val("cache_read"), cls: "c4" },
        ],
      }));
      charts.push(chart(reqChart, {
        label: "Requests by " + unit, x, xFormat, tipFormat,
        series: [
          { name: "requests", values: val("requests"), cls: "b1", kind: "bar", format: f.int },
          { name: "errors", values: val("errors"), cls: "c2", kind: "bar", format: f.int },
        ],
      }));
    } else {
      replace(totals, errorBox(series.reason));
      replace(tokChart, h("p", { class: "muted" }, "No data."));
      replace(reqChart, h("p", { class: "muted" }, "No data."));
    }

    if (grouped.status === "fulfilled") {
      const d = grouped.value;
      const rows = (d.rows || []).map((r) => ({ ...r, key: r[by] ?? "" }));
      const cols = [
        { key: "key", title: BY.find(([v]) => v === by)[1], class: "clip", cell: (r) => (r.key ? r.key : h("span", { class: "muted" }, by === "client" ? "(no client)" : "(none)")) },
        { key: "requests", title: "Requests", num: true, cell: (r) => f.int(r.requests) },
        { key: "errors", title: "Errors", num: true, cell: (r) => r.errors ? h("span", { class: "errtext" }, f.int(r.errors) + " (" + f.pct(r.errors / r.requests) + ")") : "0" },
        { key: "input", title: "Input", num: true, cell: (r) => f.num(r.input) },
        { key: "output", title: "Output", num: true, cell: (r) => f.num(r.output) },
        { key: "cache_read", title: "Cache read", num: true, cell: (r) => f.num(r.cache_read) },
        { key: "cache_write", title: "Cache write", num: true, cell: (r) => f.num(r.cache_write) },
        { key: "reasoning", title: "Reasoning", num: true, cell: (r) => f.num(r.reasoning) },
        { key: "cache_hit_ratio", title: "Cache hit", num: true, cell: (r) => f.pct(r.cache_hit_ratio) },
        { key: "avg", title: "Avg latency", num: true, sort: (r) => (r.requests ? r.total_ms / r.requests : null), cell: (r) => (r.requests ? f.ms(r.total_ms / r.requests) : "–") },
      ];
      const T = d.total || {};
      replace(groups, table(cols, rows, {
        sortable: true,
        sortKey: "requests",
        caption: "Usage by " + by,
        empty: "No requests in this window.",
        foot: rows.length > 1 ? (c) => {
          if (c.key === "key") return "Total";
          if (c.key === "avg") return T.requests ? f.ms(T.total_ms / T.requests) : "–";
          return c.cell(T);
        } : null,
      }));
    } else replace(groups, errorBox(grouped.reason));
    loaded(root, true);
  },
};
