// Configuration: view (GET /api/config?source=file), reload, and, when the
// daemon allows it, edit -> check -> show changes -> apply (PUT).
import { api, isAdmin, isAbort } from "/assets/api.js";
import { h, replace, errorBox, loaded, pageHead, badge, toast } from "/assets/dom.js";
import { diffLines, hunks } from "/assets/diff.js";

function codeView(text, id) {
  const pre = h("pre", { class: "code", id, tabindex: "0" });
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length > 20000) {
    pre.textContent = text;
    return pre;
  }
  const frag = document.createDocumentFragment();
  lines.forEach((l, i) => frag.appendChild(h("span", { class: "ln", data: { n: i + 1 } }, l)));
  pre.appendChild(frag);
  return pre;
}

function diffView(before, after) {
  const d = diffLines(before, after);
  if (d.tooBig)
    return { changed: -1, node: h("p", { class: "warnbox" }, `Too many changes for a line diff: lines ${d.from} to ${d.toA} of ${d.before} are replaced by lines ${d.from} to ${d.toB} of ${d.after}.`) };
  if (!d.changed) return { changed: 0, node: h("p", { class: "muted" }, "No changes.") };
  const out = h("div", { class: "diff", role: "region", "aria-label": "Changes", tabindex: "0" });
  let added = 0, removed = 0;
  for (const o of d.ops) { if (o.t === "+") added++; else if (o.t === "-") removed++; }
  for (const hk of hunks(d.ops)) {
    const a0 = hk.ops.find((o) => o.a !== null), b0 = hk.ops.find((o) => o.b !== null);
    const na = hk.ops.filter((o) => o.t !== "+").length, nb = hk.ops.filter((o) => o.t !== "-").length;
    out.appendChild(h("div", { class: "hunk" }, `@@ -${a0 ? a0.a : 0},${na} +${b0 ? b0.b : 0},${nb} @@`));
    for (const o of hk.ops)
      out.appendChild(h("div", { class: "dl" + (o.t === "+" ? " add" : o.t === "-" ? " del" : "") },
        h("span", { class: "n" }, o.a ?? ""), h("span", { class: "n" }, o.b ?? ""), h("span", { class: "t" }, o.line)));
  }
  return { changed: d.changed, node: h("div", null, h("p", { class: "muted" }, `${added} line${added === 1 ? "" : "s"} added, ${removed} removed.`), out) };
}

export default {
  title: "Configuration",
  async mount(root, ctx) {
    const admin = isAdmin();
    const reloadBtn = admin ? h("button", { type: "button", class: "btn", id: "config-reload", title: "Read the configuration file again (as antigravityd reload)" }, "Reload") : null;
    const messages = h("div", { id: "config-messages", "aria-live": "polite" });
    const body = h("section", { class: "card" });
    root.append(pageHead("Configuration", reloadBtn), messages, body);

    let doc = null; // {path, text, editable}

    function diagnostics(r, textarea) {
      const list = (items, cls) => h("ul", { class: "diag " + cls }, items.map((m) => {
        const li = h("li", null, String(m));
        const line = /:(\d+):/.exec(String(m));
        if (textarea && line) {
          li.appendChild(document.createTextNode(" "));
          li.appendChild(h("button", { type: "button", class: "btn small", onclick: () => goLine(textarea, Number(line[1])) }, "go to line " + line[1]));
        }
        return li;
      }));
      const out = [];
      if (r.errors && r.errors.length) out.push(h("div", { class: "error", role: "alert" }, h("strong", null, r.errors.length + " error" + (r.errors.length === 1 ? "" : "s")), list(r.errors, "errors")));
      if (r.warnings && r.warnings.length) out.push(h("div", { class: "warnbox" }, h("strong", null, r.warnings.length + " warning" + (r.warnings.length === 1 ? "" : "s")), list(r.warnings, "warnings")));
      return out;
    }

    function goLine(ta, n) {
      const lines = ta.value.split("\n");
      let pos = 0;
      for (let i = 0; i < n - 1 && i < lines.length; i++) pos += lines[i].length + 1;
      ta.focus();
      ta.setSelectionRange(pos, pos + (lines[n - 1] || "").length);
      const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
      ta.scrollTop = Math.max(0, (n - 5) * lh);
    }

    function showView() {
      const editable = doc.editable === true;
      const editBtn = admin && editable ? h("button", { type: "button", class: "btn primary", id: "config-edit", onclick: showEdit }, "Edit") : null;
      replace(body,
        h("div", { class: "toolbar" },
          h("span", { class: "path", id: "config-path" }, doc.path || "(no file)"),
          editable ? badge("the file as written, secrets hidden", "info") : badge("as the daemon runs it", "info"),
          h("span", { class: "spacer" }),
          editBtn),
        !editable ? h("p", { class: "notice", id: "config-readonly" },
          "This is the running configuration as the daemon prints it (defaults written out, keys as fingerprints): edit the file on the server, then Reload.") : null,
        codeView(doc.text || "", "config-text"));
    }

    function showEdit() {
      const original = doc.text || "";
      const ta = h("textarea", {
        id: "config-textarea", class: "editor", spellcheck: "false", autocapitalize: "off", autocomplete: "off",
        wrap: "off", "aria-label": "Configuration file " + (doc.path || ""),
      });
      ta.value = original;
      const check = h("button", { type: "button", class: "btn", id: "config-check" }, "Check");
      const show = h("button", { type: "button", class: "btn", id: "config-diff-button" }, "Show changes");
      const apply = h("button", { type: "button", class: "btn primary", id: "config-apply", disabled: true, title: "Show the changes first" }, "Apply");
      const cancel = h("button", { type: "button", class: "btn", id: "config-cancel" }, "Cancel");
      const result = h("div", { id: "config-check-result", "aria-live": "polite" });
      const diffBox = h("div", { id: "config-diff" });
      let shownFor = null;

      const setApply = (on) => {
        apply.disabled = !on;
        apply.title = on ? "Write the file and reload it" : "Show the changes first";
      };
      ta.addEventListener("input", () => {
        if (shownFor !== null && ta.value !== shownFor) {
          shownFor = null;
          setApply(false);
          replace(diffBox, h("p", { class: "muted" }, "The text changed: show the changes again before applying."));
        }
      });
      ta.addEventListener("keydown", (ev) => {
        // Tab inserts a tab; Escape then Tab leaves the editor.
        if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey && !ta.dataset.escaped) {
          ev.preventDefault();
          ta.setRangeText("\t", ta.selectionStart, ta.selectionEnd, "end");
          ta.dispatchEvent(new Event("input"));
        }
        if (ev.key === "Escape") ta.dataset.escaped = "1";
        else if (ev.key !== "Tab" && ev.key !== "Shift") delete ta.dataset.escaped;
      });
      check.addEventListener("click", async () => {
        check.disabled = true;
        replace(result, h("p", { class: "muted" }, "Checking…"));
        try {
          const r = await api("/api/config/check", { method: "POST", text: ta.value, signal: ctx.signal });
          replace(result, r.ok ? h("div", { class: "okbox" }, "The configuration checks out" + (r.warnings && r.warnings.length ? ", with warnings." : ".")) : null, diagnostics(r, ta));
        } catch (e) {
          if (isAbort(e)) return;
          replace(result, errorBox(e));
        } finally { check.disabled = false; }
      });
      show.addEventListener("click", () => {
        const d = diffView(original, ta.value);
        replace(diffBox, h("h3", null, "Changes"), d.node);
        shownFor = ta.value;
        setApply(d.changed !== 0);
        if (d.changed !== 0) apply.focus();
      });
      apply.addEventListener("click", async () => {
        if (shownFor !== ta.value) return setApply(false);
        apply.disabled = true;
        replace(result, h("p", { class: "muted" }, "Writing the file and reloading…"));
        try {
          const r = await api("/api/config", { method: "PUT", text: ta.value, signal: ctx.signal });
          const msg = r.message || "Written and reloaded" + (r.generation ? ": generation " + r.generation : ".");
          replace(messages, h("div", { class: "okbox" }, msg));
          toast(msg);
          await load();
        } catch (e) {
          if (isAbort(e)) return;
          const lead = e.code === "reload_failed"
            ? "The file was written (the old one is kept as .bak), but the reload failed: the running configuration stays."
            : null;
          replace(result, lead ? h("p", null, h("strong", null, lead)) : null, errorBox({ message: e.message }), diagnostics({ errors: e.errors }, ta));
          setApply(true);
        }
      });
      cancel.addEventListener("click", () => { replace(messages); showView(); });
      replace(body,
        h("div", { class: "toolbar" },
          h("span", { class: "path" }, doc.path || ""),
          h("span", { class: "spacer" }),
          check, show, apply, cancel),
        h("p", { class: "muted" }, "Secrets appear as placeholders; the daemon puts the real values back when it checks or writes the file. Tab inserts a tab (Escape, then Tab, leaves the editor). Apply writes the file (keeping the old one as .bak) and reloads it; it is offered once the changes have been shown."),
        ta, result, diffBox);
      ta.focus();
      ta.setSelectionRange(0, 0);
    }

    async function load() {
      loaded(root, false);
      try {
        doc = await api("/api/config?source=file", { signal: ctx.signal });
        if (!ctx.alive()) return;
        showView();
      } catch (e) {
        if (isAbort(e) || !ctx.alive()) return;
        replace(body, errorBox(e));
      }
      loaded(root, true);
    }

    if (reloadBtn)
      reloadBtn.addEventListener("click", async () => {
        reloadBtn.disabled = true;
        try {
          const r = await api("/api/reload", { method: "POST", json: {}, signal: ctx.signal });
          const msg = r.message || "Reloaded" + (r.generation ? ": generation " + r.generation : ".");
          replace(messages, h("div", { class: "okbox" }, msg));
          toast(msg);
          if (!document.getElementById("config-textarea")) await load();
        } catch (e) {
          if (isAbort(e)) return;
          replace(messages, errorBox(e, "Reload failed"));
        } finally { reloadBtn.disabled = false; }
      });
    await load();
  },
};

