// Configuration: view (GET /api/config?source=file), reload, and, when the
// daemon allows it, edit -> check -> show changes -> apply (PUT ?base=,
// refused with 409 conflict when the file changed on disk meanwhile).
import { api, qs, isAdmin, isAbort } from "/assets/api.js";
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

// Edits a 401 interrupted (the session ended): put back into the editor
// after the next login. In this tab's memory only, never stored.
let kept = null; // {path, base, original, text}

export default {
  title: "Configuration",
  async mount(root, ctx) {
    const admin = isAdmin();
    const reloadBtn = admin ? h("button", { type: "button", class: "btn", id: "config-reload", title: "Read the configuration file again (as antigravityd reload)" }, "Reload") : null;
    const messages = h("div", { id: "config-messages", "aria-live": "polite" });
    const body = h("section", { class: "card" });
    root.append(pageHead("Configuration", reloadBtn), messages, body);

    let doc = null; // {path, text, editable, why, base, secrets}
    let edit = null; // while the editor is open: {ta, original, base, result, showDiff}

    // Edits not applied: asked before leaving the page, kept when the session ends.
    const dirty = () => edit !== null && edit.ta.value !== edit.original;
    ctx.guard(() => (dirty() ? "Your changes to the configuration are not applied: leaving the page discards them." : null));
    const onUnload = (ev) => { if (dirty()) { ev.preventDefault(); ev.returnValue = ""; } };
    window.addEventListener("beforeunload", onUnload);
    ctx.onLeave(() => window.removeEventListener("beforeunload", onUnload));
    function keep(e) {
      if (e && e.status === 401 && dirty()) kept = { path: doc.path, base: edit.base, original: edit.original, text: edit.ta.value };
    }

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
      edit = null;
      const editable = doc.editable === true;
      const fromFile = editable || doc.why !== undefined || doc.base !== undefined || doc.secrets !== undefined;
      const editBtn = admin && editable ? h("button", { type: "button", class: "btn primary", id: "config-edit", onclick: () => showEdit() }, "Edit") : null;
      replace(body,
        h("div", { class: "toolbar" },
          h("span", { class: "path", id: "config-path" }, doc.path || "(no file)"),
          fromFile ? badge("the file as written, secrets hidden", "info") : badge("as the daemon runs it", "info"),
          h("span", { class: "spacer" }),
          editBtn),
        editable ? null : doc.why
          ? h("p", { class: "notice", id: "config-readonly" }, h("strong", null, "Read-only here: "), String(doc.why).replace(/\.\s*$/, ""), ". Edit the file on the server, then Reload.")
          : h("p", { class: "notice", id: "config-readonly" },
            "This is the running configuration as the daemon prints it (defaults written out, keys as fingerprints): edit the file on the server, then Reload."),
        codeView(doc.text || "", "config-text"));
    }

    // The editor, with `text` in it (default: the file as loaded).
    function showEdit(text) {
      const ta = h("textarea", {
        id: "config-textarea", class: "editor", spellcheck: "false", autocapitalize: "off", autocomplete: "off",
        wrap: "off", "aria-label": "Configuration file " + (doc.path || ""),
      });
      ta.value = text ?? (doc.text || "");
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
      // The changes from the file as loaded (edit.original) to the text.
      const showDiff = () => {
        const d = diffView(edit.original, ta.value);
        replace(diffBox, h("h3", null, "Changes"), d.node);
        shownFor = ta.value;
        setApply(d.changed !== 0);
        return d;
      };
      edit = { ta, original: doc.text || "", base: doc.base, result, showDiff };
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
          keep(e);
          replace(result, errorBox(e));
        } finally { check.disabled = false; }
      });
      show.addEventListener("click", () => {
        if (showDiff().changed !== 0) apply.focus();
      });
      apply.addEventListener("click", async () => {
        if (shownFor !== ta.value) return setApply(false);
        apply.disabled = true;
        replace(result, h("p", { class: "muted" }, "Writing the file and reloading…"));
        try {
          const r = await api("/api/config" + qs({ base: edit.base }), { method: "PUT", text: ta.value, signal: ctx.signal });
          const msg = r.message || "Written and reloaded" + (r.generation ? ": generation " + r.generation : ".");
          replace(messages, h("div", { class: "okbox" }, msg));
          toast(msg);
          edit = null;
          await load();
        } catch (e) {
          if (isAbort(e) || !ctx.alive()) return keep(e);
          if (e.status === 409 && e.code === "conflict") {
            // Someone changed the file: the text stays, compared with the file as it is now.
            replace(result, h("div", { class: "error", role: "alert", id: "config-conflict" },
              h("strong", null, "The file changed on the server since it was loaded: nothing was written."),
              " Your text stays in the editor; the changes below are from the file as it is now to your text. Apply writes your text over it."));
            await load(true);
            if (edit && edit.ta === ta) showDiff();
            return;
          }
          const written = e.code === "reload_failed";
          const lead = written
            ? "The file was written (the old one is kept as .bak), but the reload failed: the running configuration stays."
            : null;
          replace(result, lead ? h("p", null, h("strong", null, lead)) : null, errorBox({ message: e.message }), diagnostics({ errors: e.errors }, ta));
          if (written) {
            // What is on disk now is the base, and what changes are shown against.
            await load(true);
            if (edit && edit.ta === ta) { shownFor = null; replace(diffBox); setApply(false); }
          } else setApply(true);
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

    // The file from the server; with rebase, while editing, only what the
    // editor compares with and writes over (its text stays).
    async function load(rebase) {
      if (!rebase) loaded(root, false);
      try {
        const d = await api("/api/config?source=file", { signal: ctx.signal });
        if (!ctx.alive()) return;
        doc = d;
        if (rebase && edit) { edit.original = doc.text || ""; edit.base = doc.base; }
        else showView();
      } catch (e) {
        if (isAbort(e) || !ctx.alive()) return keep(e);
        if (rebase && edit) edit.result.appendChild(errorBox(e, "Reading the file again"));
        else replace(body, errorBox(e));
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
          if (!edit) await load();
        } catch (e) {
          if (isAbort(e)) return;
          keep(e);
          replace(messages, errorBox(e, "Reload failed"));
        } finally { reloadBtn.disabled = false; }
      });
    await load();

    // Back after a session that ended with edits in the editor.
    if (kept && doc) {
      const k = kept;
      kept = null;
      if (admin && doc.editable === true && k.path === doc.path && ctx.alive()) {
        const same = k.base !== undefined || doc.base !== undefined ? k.base === doc.base : k.original === (doc.text || "");
        showEdit(k.text);
        if (same)
          replace(messages, h("div", { class: "notice", id: "config-restored" }, "Your changes from before the session ended are back in the editor (not applied yet)."));
        else {
          replace(edit.result, h("div", { class: "error", role: "alert", id: "config-conflict" },
            h("strong", null, "The file changed on the server while you were logged out."),
            " Your text is back in the editor; the changes below are from the file as it is now to your text. Apply writes your text over it."));
          edit.showDiff();
        }
      }
    }
  },
};
