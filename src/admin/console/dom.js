// DOM helpers. Everything from the server is put in as text, never as markup.

// h("a", {href: "#/x", class: "c", onclick: fn, data: {id: 1}}, "text", child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled" || k === "hidden")
      el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  if (attrs)
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === "text") el.textContent = v;
      else el.setAttribute(k, String(v));
    }
  for (const c of children.flat()) if (c) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// An error box: <div class="error" role="alert">.
export function errorBox(err, prefix) {
  const msg = err && err.message ? err.message : String(err);
  const box = h("div", { class: "error", role: "alert" }, prefix ? h("strong", null, prefix + ": ") : null, msg);
  if (err && Array.isArray(err.errors) && err.errors.length)
    box.appendChild(h("ul", { class: "diag" }, err.errors.map((e) => h("li", null, String(e)))));
  return box;
}

export function loaded(root, on) {
  if (on) root.setAttribute("data-loaded", "1");
  else root.removeAttribute("data-loaded");
}

// A page heading with optional controls on the right.
export function pageHead(title, ...controls) {
  return h("div", { class: "page-head" }, h("h1", null, title), h("div", { class: "controls" }, controls));
}

export function section(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, body);
}

// A segmented choice: buttons with aria-pressed.
export function segmented(label, options, current, onpick) {
  const group = h("div", { class: "seg", role: "group", "aria-label": label });
  for (const [value, text] of options) {
    group.appendChild(
      h("button", {
        type: "button",
        class: "seg-btn",
        "aria-pressed": String(value === current),
        data: { value },
        onclick: () => onpick(value),
      }, text),
    );
  }
  return group;
}

export function badge(text, kind) {
  return h("span", { class: "badge" + (kind ? " " + kind : "") }, text);
}

export function statusBadge(status) {
  const s = Number(status) || 0;
  const kind = s === 0 ? "bad" : s < 300 ? "ok" : s < 400 ? "info" : s === 429 ? "warn" : s < 500 ? "warn" : "bad";
  return badge(s === 0 ? "—" : String(s), kind);
}

// A table in a horizontally scrolling wrapper.
// columns: [{key, title, num: bool, cell: (row) => node|string, sort: (row) => value, class}]
export function table(columns, rows, opts = {}) {
  const tbody = h("tbody");
  const stack = /\bstack\b/.test(opts.class || "");
  const state = { key: opts.sortKey || null, dir: opts.sortDir || -1 };
  const head = h("tr");
  const thead = h("thead", null, head);
  const t = h("table", { class: "tbl" + (opts.class ? " " + opts.class : "") }, opts.caption ? h("caption", { class: "sr" }, opts.caption) : null, thead, tbody);

  function render() {
    let list = rows;
    if (state.key) {
      const col = columns.find((c) => c.key === state.key);
      const val = col.sort || ((r) => r[col.key]);
      list = rows.slice().sort((a, b) => {
        const x = val(a), y = val(b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * state.dir;
      });
    }
    clear(tbody);
    if (!list.length) {
      tbody.appendChild(h("tr", null, h("td", { colspan: columns.length, class: "empty" }, opts.empty || "Nothing here yet.")));
    }
    for (const r of list) {
      const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : null);
      for (const c of columns) {
        const v = c.cell ? c.cell(r) : r[c.key];
        const content = v === null || v === undefined || v === "" ? "–" : v;
        tr.appendChild(h("td", { class: [c.num ? "num" : "", c.class || ""].join(" ").trim() || null, data: { label: c.title } },
          stack ? h("div", { class: "cell" }, content) : content));
      }
      tbody.appendChild(tr);
    }
    if (opts.foot) {
      const old = t.querySelector("tfoot");
      if (old) old.remove();
      const tr = h("tr");
      for (const c of columns) {
        const v = opts.foot(c);
        tr.appendChild(h("td", { class: c.num ? "num" : null }, v === null || v === undefined ? "" : v));
      }
      t.appendChild(h("tfoot", null, tr));
    }
    for (const th of head.children) {
      const k = th.dataset.key;
      if (!th.dataset.sortable) continue;
      th.setAttribute("aria-sort", state.key === k ? (state.dir > 0 ? "ascending" : "descending") : "none");
    }
  }

  for (const c of columns) {
    const th = h("th", { scope: "col", class: c.num ? "num" : null, data: { key: c.key } });
    if (opts.sortable && c.sortable !== false) {
      th.dataset.sortable = "1";
      th.appendChild(
        h("button", {
          type: "button",
          class: "sort",
          onclick: () => {
            if (state.key === c.key) state.dir = -state.dir;
            else { state.key = c.key; state.dir = c.num ? -1 : 1; }
            render();
          },
        }, c.title),
      );
    } else th.textContent = c.title;
    head.appendChild(th);
  }
  render();
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": opts.caption || "table" }, t);
}

// A definition list from [label, value] pairs; empty values are left out
// unless keep is set.
export function dl(pairs, keep = true) {
  const d = h("dl", { class: "kv" });
  for (const [k, v] of pairs) {
    if (!keep && (v === null || v === undefined || v === "")) continue;
    d.appendChild(h("dt", null, k));
    d.appendChild(h("dd", null, v === null || v === undefined || v === "" ? "–" : v));
  }
  return d;
}

// A tile: label, big value, small sub line.
export function tile(label, value, sub, opts = {}) {
  return h("div", { class: "tile" + (opts.kind ? " " + opts.kind : ""), data: opts.data || null },
    h("div", { class: "tile-label" }, label),
    h("div", { class: "tile-value" }, value),
    sub ? h("div", { class: "tile-sub" }, sub) : null);
}

// A short message in the global aria-live status area.
let toastTimer = 0;
export function toast(text, kind) {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = text;
  el.className = "toast show" + (kind ? " " + kind : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = "toast"; }, 6000);
}
