// Overview: rates, latency and tokens (GET /api/stats), charts, recent
// failures, the pool (GET /api/status). Refreshed while shown: every 10 s
// for the last hour, every minute for the last day.
import { api, qs, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, segmented, tile, badge, table, statusBadge } from "/assets/dom.js";
import { chart } from "/assets/chart.js";
import * as f from "/assets/format.js";
import { clientCell, link, problem } from "/assets/request-cells.js";

const WINDOWS = [["1h", "Last hour"], ["24h", "Last day"]];
const BUCKETS = { "1h": 60, "24h": 96 };
const REFRESH = { "1h": 10000, "24h": 60000 };
export const STORE_OFF = "The request store is off ([log] database): statistics, the request log and usage need it.";

// A region the keyboard is in is not drawn again under it.
const hasFocus = (el) => el.contains(document.activeElement);

export default {
  title: "Overview",
  mount(root, ctx) {
    let since = ctx.params.get("since") === "24h" ? "24h" : "1h";
    const updated = h("span", { class: "muted", "aria-live": "off" });
    const seg = segmented("Time window", WINDOWS, since, (v) => {
      location.hash = "#/overview" + (v === "1h" ? "" : "?since=" + v);
    });
    const traffic = h("div", { class: "tiles", id: "overview-tiles" });
    const tokenTiles = h("div", { class: "tiles", id: "overview-tokens" });
    const statsNote = h("div");
    const reqChart = h("div", { id: "chart-requests" });
    const tokChart = h("div", { id: "chart-tokens" });
    const latChart = h("div", { id: "chart-latency" });
    const fails = h("div", { id: "overview-failures" });
    const pool = h("div", { id: "overview-pool" });

    const chartGrid = h("div", { class: "grid3" },
      h("section", { class: "card" }, h("h2", null, "Requests and errors"), reqChart),
      h("section", { class: "card" }, h("h2", null, "Tokens"), tokChart),
      h("section", { class: "card" }, h("h2", null, "Latency"), latChart));
    const failCard = h("section", { class: "card" }, h("h2", null, "Recent failures", h("a", { href: "#/requests?status=error", class: "sub" }, "all failures")), fails);
    root.append(
      pageHead("Overview", updated, seg),
      statsNote,
      traffic,
      tokenTiles,
      chartGrid,
      h("div", { class: "grid2" },
        failCard,
        h("section", { class: "card" }, h("h2", null, "Pool", h("a", { href: "#/credentials", class: "sub" }, "credentials")), pool)),
    );

    const charts = {};
    ctx.onLeave(() => { for (const c of Object.values(charts)) c.destroy(); });
    function drawChart(el, spec) {
      if (charts[el.id]) { if (!hasFocus(el)) charts[el.id].update(spec); }
      else charts[el.id] = chart(el, spec);
    }

    function renderStats(s) {
      replace(statsNote);
      traffic.hidden = tokenTiles.hidden = false;
      if (s.truncated)
        statsNote.appendChild(h("div", { class: "notice" }, `Figures from the newest ${f.int(s.scanned)} requests of the window only (the window holds more).`));
      const er = s.error_rate || 0;
      const lat = s.latency_ms || {}, tt = s.ttft_ms || {};
      replace(traffic,
        tile("Requests / s", f.rate(s.rate), f.count(s.requests, "request"), { data: { tile: "rate" } }),
        tile("Error rate", f.pct(er), f.count(s.errors, "error"), { kind: er >= 0.1 ? "bad" : er >= 0.02 ? "warn" : "", data: { tile: "error-rate" } }),
        tile("Latency p50", f.ms(lat.p50), "p90 " + f.ms(lat.p90), { data: { tile: "latency-p50" } }),
        tile("Latency p99", f.ms(lat.p99), "total time", { data: { tile: "latency-p99" } }),
        tile("First token p50", f.ms(tt.p50), "p90 " + f.ms(tt.p90), { data: { tile: "ttft-p50" } }),
        tile("First token p99", f.ms(tt.p99), "time to first token", { data: { tile: "ttft-p99" } }),
      );
      const t = s.tokens || {};
      replace(tokenTiles,
        tile("Input tokens", f.num(t.input), f.int(t.input), { data: { tile: "input" } }),
        tile("Output tokens", f.num(t.output), f.int(t.output), { data: { tile: "output" } }),
        tile("Cache read", f.num(t.cache_read), t.input ? f.pct((t.cache_read || 0) / t.input) + " of input" : f.int(t.cache_read), { data: { tile: "cache-read" } }),
        tile("Cache write", f.num(t.cache_write), f.int(t.cache_write), { data: { tile: "cache-write" } }),
        tile("Reasoning", f.num(t.reasoning), f.int(t.reasoning), { data: { tile: "reasoning" } }),
      );
      const series = Array.isArray(s.series) ? s.series : [];
      const x = series.map((b) => b.start_ms);
      const bucket = s.bucket_ms || 0;
      const xFormat = bucket >= 86400000 ? f.dayLabel : f.hourMinute;
      const tipFormat = (t0) => f.hourMinute(t0) + "–" + f.hourMinute(t0 + bucket);
      const col = (k) => series.map((b) => (typeof b[k] === "number" ? b[k] : null));
      drawChart(reqChart, {
        label: "Requests and errors per " + f.secs(bucket / 1000), x, xFormat, tipFormat,
        series: [
          { name: "requests", values: col("requests"), cls: "b1", kind: "bar", format: f.int },
          { name: "errors", values: col("errors"), cls: "c2", kind: "bar", format: f.int },
        ],
      });
      drawChart(tokChart, {
        label: "Tokens per " + f.secs(bucket / 1000), x, xFormat, tipFormat,
        series: [
          { name: "input", values: col("input"), cls: "c1" },
          { name: "output", values: col("output"), cls: "c3" },
        ],
      });
      drawChart(latChart, {
        label: "Latency per " + f.secs(bucket / 1000), x, xFormat, tipFormat, yFormat: f.ms, empty: "no requests in this window",
        series: [
          { name: "latency p50", values: col("latency_p50_ms"), cls: "c1" },
          { name: "latency p99", values: col("latency_p99_ms"), cls: "c5" },
          { name: "first token p50", values: col("ttft_p50_ms"), cls: "c3" },
        ],
      });
    }

    function statsFailed(e) {
      const msg = e.status === 404 && e.code === "not_found"
        ? "This antigravityd has no statistics endpoint (GET /api/stats): rates, latency and charts need a newer version."
        : null;
      replace(statsNote, msg ? h("div", { class: "error", role: "alert" }, msg) : errorBox(e, "Statistics"));
      replace(traffic);
      replace(tokenTiles);
      traffic.hidden = tokenTiles.hidden = true;
      for (const el of [reqChart, tokChart, latChart]) if (!charts[el.id]) replace(el, h("p", { class: "muted" }, "No statistics."));
    }

    function renderFails(d) {
      if (hasFocus(fails)) return;
      const rows = d.requests || [];
      if (!rows.length) return replace(fails, h("p", { class: "muted" }, "No failed requests in the log."));
      replace(fails, h("ul", { class: "fails" }, rows.map((r) =>
        h("li", { data: { id: r.id } },
          link(r, f.shortTime(r.ts_ms)),
          statusBadge(r.status),
          h("span", { class: "what" }, clientCell(r), h("span", { class: "muted" }, " · "), r.model || "–"),
          h("span", { class: "why" }, problem(r) || "–")))));
    }

    function renderPool(s) {
      if (hasFocus(pool)) return;
      const count = {};
      const providers = (s.providers || []).map((p) => {
        const states = {};
        let requests = 0, failures = 0;
        for (const c of p.credentials || []) {
          states[c.state] = (states[c.state] || 0) + 1;
          count[c.state] = (count[c.state] || 0) + 1;
          requests += c.requests || 0;
          failures += c.failures || 0;
        }
        return { name: p.name, kind: p.type + (p.api && p.api !== p.type ? " " + p.api : ""), states, requests, failures };
      });
      const stateBadges = (states) => h("span", { class: "chips" }, Object.entries(states).map(([k, n]) => badge(n + " " + stateWord(k), stateKind(k))));
      replace(pool,
        h("dl", { class: "kv" },
          h("dt", null, "antigravityd"), h("dd", null, "version " + (s.version || "?") + ", up " + f.secs(s.uptime_s) + ", configuration generation " + (s.generation ?? "?")),
          h("dt", null, "Traffic"), h("dd", null, f.int(s.in_flight) + " in flight, " + f.int(s.requests_served) + " served since start"),
          h("dt", null, "Credentials"), h("dd", null, stateBadges(count)),
          s.store ? [h("dt", null, "Request store"), h("dd", null, s.store.ok ? f.bytes(s.store.bytes) + ", " + f.int(s.store.written) + " rows written" + (s.store.dropped ? ", " + f.int(s.store.dropped) + " dropped" : "") : h("span", { class: "errtext" }, "not ok"))] : null),
        h("h3", null, "Providers"),
        table([
          { key: "name", title: "Provider", cell: (p) => h("span", null, p.name, p.kind !== p.name ? h("div", { class: "muted small-text" }, p.kind) : null) },
          { key: "states", title: "State", cell: (p) => stateBadges(p.states) },
          { key: "requests", title: "Requests", num: true, cell: (p) => f.num(p.requests) },
          { key: "failures", title: "Failures", num: true, cell: (p) => f.num(p.failures) },
        ], providers, { caption: "Providers", empty: "No providers." }));
    }

    // The store is off: one notice for what needs it, and it is not asked again.
    let storeOff = false;
    function showStoreOff() {
      storeOff = true;
      replace(statsNote, h("div", { class: "notice", id: "store-off" }, STORE_OFF));
      traffic.hidden = tokenTiles.hidden = chartGrid.hidden = failCard.hidden = true;
    }
    const noStore = (r) => r.status === "rejected" && r.reason && r.reason.status === 404 && r.reason.code === "no_store";

    // One load at a time: a tick while one is under way is skipped; a load
    // asked for otherwise (the tab shown again) or leaving the page cancels it.
    let running = null; // its AbortController
    ctx.onLeave(() => { if (running) running.abort(); });
    async function load(why) {
      if (running) {
        if (why === "tick") return;
        running.abort();
      }
      const mine = running = new AbortController();
      const signal = mine.signal;
      const none = Promise.resolve(null);
      const [stats, failures, status] = await Promise.allSettled([
        storeOff ? none : api("/api/stats" + qs({ since, buckets: BUCKETS[since] }), { signal }),
        storeOff ? none : api("/api/requests" + qs({ status: "error", limit: 10 }), { signal }),
        api("/api/status", { signal }),
      ]);
      if (running === mine) running = null;
      if (!ctx.alive() || signal.aborted) return;
      for (const r of [stats, failures, status]) if (r.status === "rejected" && isAbort(r.reason)) return;
      if (!storeOff && (noStore(stats) || noStore(failures))) showStoreOff();
      if (!storeOff) {
        if (stats.status === "fulfilled") renderStats(stats.value); else statsFailed(stats.reason);
        if (failures.status === "fulfilled") renderFails(failures.value); else if (!hasFocus(fails)) replace(fails, errorBox(failures.reason));
      }
      if (status.status === "fulfilled") renderPool(status.value); else if (!hasFocus(pool)) replace(pool, errorBox(status.reason));
      updated.textContent = "updated " + f.shortTime(Date.now());
      loaded(root, true);
    }
    ctx.every(load, REFRESH[since]);
    return load("first");
  },
};

export function stateWord(s) {
  return { ok: "ready", soft: "window spent", models_cooling: "cooling (some models)", cooldown: "cooling", breaker_open: "failing", breaker_half_open: "testing", refused: "refused", disabled: "disabled", refreshing: "refreshing" }[s] || s;
}

export function stateKind(s) {
  if (s === "ok") return "ok";
  if (s === "soft" || s === "models_cooling" || s === "refreshing" || s === "breaker_half_open") return "warn";
  if (s === "disabled") return "";
  return "bad";
}
