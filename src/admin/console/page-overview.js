// Overview: rates, latency and tokens (GET /api/stats), charts, recent
// failures, the pool (GET /api/status). Refreshed every 10 s while shown.
import { api, qs, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, segmented, tile, badge, table, statusBadge } from "/assets/dom.js";
import { chart } from "/assets/chart.js";
import * as f from "/assets/format.js";
import { clientCell, link, problem } from "/assets/request-cells.js";

const WINDOWS = [["1h", "Last hour"], ["24h", "Last day"]];
const BUCKETS = { "1h": 60, "24h": 96 };

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

    root.append(
      pageHead("Overview", updated, seg),
      statsNote,
      traffic,
      tokenTiles,
      h("div", { class: "grid3" },
        h("section", { class: "card" }, h("h2", null, "Requests and errors"), reqChart),
        h("section", { class: "card" }, h("h2", null, "Tokens"), tokChart),
        h("section", { class: "card" }, h("h2", null, "Latency"), latChart)),
      h("div", { class: "grid2" },
        h("section", { class: "card" }, h("h2", null, "Recent failures", h("a", { href: "#/requests?status=error", class: "sub" }, "all failures")), fails),
        h("section", { class: "card" }, h("h2", null, "Pool", h("a", { href: "#/credentials", class: "sub" }, "credentials")), pool)),
    );

    const charts = {};
    ctx.onLeave(() => { for (const c of Object.values(charts)) c.destroy(); });
    function drawChart(el, spec) {
      if (charts[el.id]) charts[el.id].update(spec);
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
        tile("Requests / s", f.rate(s.rate), f.int(s.requests) + " requests", { data: { tile: "rate" } }),
        tile("Error rate", f.pct(er), f.int(s.errors) + " errors", { kind: er >= 0.1 ? "bad" : er >= 0.02 ? "warn" : "", data: { tile: "error-rate" } }),
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

    let seq = 0;
    async function load() {
      const mine = ++seq;
      loaded(root, false);
      const [stats, failures, status] = await Promise.allSettled([
        api("/api/stats" + qs({ since, buckets: BUCKETS[since] }), { signal: ctx.signal }),
        api("/api/requests" + qs({ status: "error", limit: 10 }), { signal: ctx.signal }),
        api("/api/status", { signal: ctx.signal }),
      ]);
      if (!ctx.alive() || mine !== seq) return;
      for (const r of [stats, failures, status]) if (r.status === "rejected" && isAbort(r.reason)) return;
      if (stats.status === "fulfilled") renderStats(stats.value); else statsFailed(stats.reason);
      if (failures.status === "fulfilled") renderFails(failures.value); else replace(fails, errorBox(failures.reason));
      if (status.status === "fulfilled") renderPool(status.value); else replace(pool, errorBox(status.reason));
      updated.textContent = "updated " + f.shortTime(Date.now());
      loaded(root, true);
    }
    ctx.every(load, 10000);
    return load();
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
