// Clients (GET /api/clients): keys, models, limits and what they used.
import { api, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, table, badge } from "/assets/dom.js";
import * as f from "/assets/format.js";

function meter(used, limit, label) {
  if (!(limit > 0)) return h("span", null, f.num(used));
  const r = (used || 0) / limit;
  const fill = h("div", { class: "meter-fill" + (r >= 0.9 ? " bad" : r >= 0.7 ? " warn" : "") });
  fill.style.width = Math.min(100, r * 100).toFixed(1) + "%";
  return h("div", { class: "meter" },
    h("div", { class: "meter-bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": String(limit), "aria-valuenow": String(used || 0) }, fill),
    h("span", { class: "meter-text" }, f.num(used) + " / " + f.num(limit)));
}

function limits(l) {
  if (!l) return "";
  const out = [];
  if (l.rpm) out.push(f.num(l.rpm) + " req/min");
  if (l.tpm) out.push(f.num(l.tpm) + " tokens/min");
  if (l.daily_tokens) out.push(f.num(l.daily_tokens) + " tokens/day");
  if (l.monthly_tokens) out.push(f.num(l.monthly_tokens) + " tokens/month");
  if (l.max_concurrent) out.push(l.max_concurrent + " at once");
  return out.length ? h("div", { class: "chips" }, out.map((s) => badge(s))) : h("span", { class: "muted" }, "none");
}

function expires(c) {
  if (!c.expires) return h("span", { class: "muted" }, "never");
  const d = new Date(c.expires + "T23:59:59");
  const left = (d.getTime() - Date.now()) / 86400000;
  if (c.expired) return h("span", null, c.expires + " ", badge("expired", "bad"));
  if (left >= 0 && left < 14) return h("span", null, c.expires + " ", badge("in " + Math.ceil(left) + " d", "warn"));
  return c.expires;
}

export default {
  title: "Clients",
  async mount(root, ctx) {
    const holder = h("div");
    const note = h("p", { class: "muted" }, "Named clients ([client.NAME] sections; the keys under [auth] are the client named \u201cdefault\u201d). Tokens today and this month follow the server's calendar; \u201climited\u201d counts requests refused by a limit.");
    root.append(pageHead("Clients"), h("section", { class: "card" }, note, holder));
    async function load() {
      loaded(root, false);
      try {
        const d = await api("/api/clients", { signal: ctx.signal });
        if (!ctx.alive()) return;
        const cols = [
          { key: "name", title: "Client", cell: (c) => h("a", { href: "#/requests?client=" + encodeURIComponent(c.name), title: "this client's requests" }, c.name) },
          { key: "keys", title: "Keys", num: true },
          { key: "models", title: "Models", class: "wrap", cell: (c) => (c.models && c.models.length ? h("span", { class: "mono" }, c.models.join(", ")) : h("span", { class: "muted" }, "all")) },
          { key: "limits", title: "Limits", class: "wrap", cell: (c) => limits(c.limits) },
          { key: "in_flight", title: "In flight", num: true, cell: (c) => f.int(c.in_flight) + (c.limits && c.limits.max_concurrent ? " / " + c.limits.max_concurrent : "") },
          { key: "requests", title: "Requests", num: true, cell: (c) => f.int(c.requests) },
          { key: "limited", title: "Limited", num: true, cell: (c) => (c.limited ? h("span", { class: "errtext" }, f.int(c.limited)) : "0") },
          { key: "tokens_today", title: "Tokens today", cell: (c) => meter(c.tokens_today, c.limits && c.limits.daily_tokens, "tokens today") },
          { key: "tokens_month", title: "Tokens this month", cell: (c) => meter(c.tokens_month, c.limits && c.limits.monthly_tokens, "tokens this month") },
          { key: "expires", title: "Expires", cell: expires },
        ];
        replace(holder, table(cols, d.clients || [], {
          caption: "Clients",
          class: "stack",
          empty: "No named clients.",
          rowAttrs: (c) => ({ data: { client: c.name } }),
        }));
      } catch (e) {
        if (isAbort(e) || !ctx.alive()) return;
        replace(holder, errorBox(e));
      }
      loaded(root, true);
    }
    // Quietly, unless the keyboard is in the table (drawing it again would take the focus away).
    ctx.every(() => { if (!holder.contains(document.activeElement)) load(); }, 15000);
    await load();
  },
};
