// Credentials (GET /api/credentials) and their reset / disable / enable.
import { api, isAdmin, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, table, badge, statusBadge, toast } from "/assets/dom.js";
import * as f from "/assets/format.js";
import { stateWord, stateKind } from "/assets/page-overview.js";

function quotaText(q, now) {
  if (!q) return "";
  const out = [];
  for (const [k, label] of [["requests", "requests"], ["tokens", "tokens"]]) {
    const w = q[k];
    if (!w) continue;
    let s = (w.remaining !== undefined ? f.num(w.remaining) + " " + label + " left" : label);
    if (w.reset_at) s += ", reset " + f.relative(w.reset_at, now);
    out.push(s);
  }
  for (const [k, label] of [["unified_5h", "5 h window"], ["unified_7d", "7 d window"]]) {
    const u = q[k];
    if (!u) continue;
    let s = label + (u.utilization !== undefined ? " " + f.pct(u.utilization, 0) + " used" : "");
    if (u.reset_at) s += ", reset " + f.relative(u.reset_at, now);
    out.push(s);
  }
  return out.length ? h("div", { class: "chips" }, out.map((s) => h("span", { class: "muted" }, s))) : "";
}

function until(c, now) {
  const items = [];
  if (c.until) items.push(h("div", { title: f.time(c.until) }, f.relative(c.until, now), h("span", { class: "muted" }, " (" + f.shortTime(c.until) + ")")));
  for (const m of c.models_cooling || [])
    items.push(h("div", { title: f.time(m.until) }, h("span", { class: "mono" }, m.model), ": " + f.relative(m.until, now), h("span", { class: "muted" }, " (" + f.shortTime(m.until) + ")")));
  return items.length ? items : "";
}

function reason(c, now) {
  const parts = [badge(stateWord(c.state), stateKind(c.state))];
  if (c.soft_model) parts.push(h("span", { class: "muted" }, " for " + c.soft_model));
  if (c.why && c.why.why) {
    const w = c.why;
    const text = String(w.why);
    const lead = w.status && !text.startsWith(String(w.status)) ? w.status + " " : "";
    parts.push(h("div", { class: "muted small-text" },
      (c.state === "ok" ? "last failure: " : "") + lead + text + (w.model ? " (model " + w.model + ")" : "") + (w.at ? " · " + f.relative(w.at, now) : "")));
  }
  return parts;
}

export default {
  title: "Credentials",
  async mount(root, ctx) {
    const admin = isAdmin();
    const message = h("div", { id: "credentials-message", "aria-live": "polite", tabindex: "-1" });
    const summary = h("div", { class: "chips", id: "credentials-summary" });
    const holder = h("div");
    const refresh = h("button", { type: "button", class: "btn", id: "credentials-refresh" }, "Refresh");
    root.append(pageHead("Credentials", refresh), message, h("section", { class: "card" }, h("div", { class: "toolbar" }, summary), holder));
    let confirming = false;

    async function act(c, action, button) {
      const cell = button.closest("td");
      cell.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const r = await api(`/api/credentials/${encodeURIComponent(c.provider)}/${encodeURIComponent(c.fingerprint)}/${action}`, { method: "POST", json: {}, signal: ctx.signal });
        replace(message, h("div", { class: "okbox" }, r.message || action + ": done"));
        toast(r.message || action + ": done");
      } catch (e) {
        if (isAbort(e)) return;
        replace(message, errorBox(e, c.id || c.provider + "/" + c.fingerprint));
      }
      confirming = false;
      await load();
      if (!ctx.alive()) return;
      // The table is new: the focus goes back to the same row's first action.
      const id = c.provider + "/" + c.fingerprint;
      const again = holder.querySelector(`tr[data-credential="${CSS.escape(id)}"] button[data-action]`);
      (again || message).focus();
    }

    function actions(c) {
      const cell = h("div", { class: "btns" });
      const show = () => {
        const disabled = c.state === "disabled" || c.state === "refused";
        replace(cell,
          h("button", { type: "button", class: "btn small", data: { action: "reset" }, title: "Clear a cooldown or an open breaker", onclick: (ev) => act(c, "reset", ev.currentTarget) }, "Reset"),
          disabled
            ? h("button", { type: "button", class: "btn small", data: { action: "enable" }, title: "Put it back into routing", onclick: (ev) => act(c, "enable", ev.currentTarget) }, "Enable")
            : h("button", { type: "button", class: "btn small danger", data: { action: "disable" }, title: "Keep it out of routing until enabled", onclick: ask }, "Disable"));
      };
      const ask = () => {
        confirming = true;
        const yes = h("button", { type: "button", class: "btn small danger solid", data: { confirm: "disable" }, onclick: (ev) => act(c, "disable", ev.currentTarget) }, "Disable");
        replace(cell, h("div", { class: "confirm", role: "group", "aria-label": "Confirm" },
          h("span", null, "Keep it out of routing (across restarts) until enabled?"),
          yes,
          h("button", { type: "button", class: "btn small", data: { confirm: "cancel" }, onclick: () => { confirming = false; show(); cell.querySelector("button").focus(); } }, "Cancel")));
        yes.focus();
      };
      show();
      return cell;
    }

    async function load() {
      loaded(root, false);
      try {
        const d = await api("/api/credentials", { signal: ctx.signal });
        if (!ctx.alive()) return;
        const now = d.now || Date.now();
        const s = d.summary || {};
        replace(summary,
          badge(f.int(s.total) + " credentials", "info"),
          badge(f.int(s.ready) + " ready", "ok"),
          s.soft ? badge(s.soft + " window spent", "warn") : null,
          s.models_cooling ? badge(s.models_cooling + " cooling for some models", "warn") : null,
          s.cooling ? badge(s.cooling + " cooling", "bad") : null,
          s.breaker ? badge(s.breaker + " failing", "bad") : null,
          s.disabled ? badge(s.disabled + " disabled") : null);
        const list = d.credentials || [];
        const cols = [
          { key: "provider", title: "Provider", cell: (c) => h("span", null, c.provider, h("div", { class: "fp muted" }, c.fingerprint)) },
          { key: "state", title: "State", class: "wrap", cell: (c) => reason(c, now) },
          { key: "until", title: "Cooling until", class: "wrap", cell: (c) => until(c, now) },
          { key: "requests", title: "Requests", num: true, cell: (c) => f.int(c.requests) },
          { key: "failures", title: "Failures", num: true, cell: (c) => (c.failures ? h("span", { class: "errtext" }, f.int(c.failures)) : "0") },
          { key: "last_used_at", title: "Last used", cell: (c) => (c.last_used_at ? h("span", { title: f.time(c.last_used_at) }, c.last_status ? statusBadge(c.last_status) : null, " " + f.relative(c.last_used_at, now)) : h("span", { class: "muted" }, "never")) },
        ];
        if (list.some((c) => c.quota && Object.keys(c.quota).length))
          cols.push({ key: "quota", title: "Quota hints", class: "wrap", cell: (c) => quotaText(c.quota, now) });
        if (admin) cols.push({ key: "actions", title: "Actions", cell: actions });
        replace(holder, table(cols, list, {
          caption: "Credentials",
          class: "stack",
          empty: "No credentials configured.",
          rowAttrs: (c) => ({ data: { credential: c.provider + "/" + c.fingerprint, state: c.state } }),
        }));
      } catch (e) {
        if (isAbort(e) || !ctx.alive()) return;
        replace(holder, errorBox(e));
      }
      loaded(root, true);
    }
    refresh.addEventListener("click", () => { replace(message); load(); });
    // Quietly, unless a confirmation is open or a button of the table has the focus.
    ctx.every(() => { if (!confirming && !holder.contains(document.activeElement)) load(); }, 15000);
    await load();
  },
};
