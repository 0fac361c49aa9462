// Small SVG time charts: bars (drawn over each other, first is the back)
// and lines, a y axis with round ticks, a hover / arrow-key read-out.
import { h, svg, clear } from "/assets/dom.js";
import { num } from "/assets/format.js";

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// spec: {x: [ms], series: [{name, values, cls, kind: "bar"|"line"}],
//        xFormat(ms), yFormat(v), label, empty}
export function chart(container, spec) {
  container.classList.add("chart");
  let current = spec;
  let width = 0;
  let focus = -1;
  const tip = h("div", { class: "chart-tip", hidden: true });
  // The arrow keys' read-out, said by screen readers (the tip is for the eye).
  const said = h("div", { class: "sr", role: "status", "aria-live": "polite" });
  const legend = h("div", { class: "legend" });
  const holder = h("div", { class: "chart-svg" });
  clear(container);
  container.append(holder, tip, said, legend);

  function draw() {
    const s = current;
    const W = Math.max(240, Math.floor(holder.clientWidth || container.clientWidth || 600));
    width = W;
    const H = W < 480 ? 150 : 180;
    const n = s.x.length;
    let max = 0;
    for (const se of s.series) for (const v of se.values) if (typeof v === "number" && v > max) max = v;
    const top = niceMax(max);
    const yfmt = s.yFormat || num;
    const ylabels = [0, 1, 2, 3, 4].map((k) => yfmt((top * k) / 4));
    const m = { l: Math.max(28, 12 + 6.2 * Math.max(...ylabels.map((t) => t.length))), r: 8, t: 8, b: 22 };
    const iw = W - m.l - m.r, ih = H - m.t - m.b;
    const step = n > 0 ? iw / n : iw;
    const X = (i) => m.l + i * step + step / 2;
    const Y = (v) => m.t + ih - (v / top) * ih;

    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart-root",
      "aria-label": (s.label || "chart") + (n ? ": left and right arrow keys read the values" : ""), tabindex: "0",
    });
    // grid and y labels
    for (let k = 0; k <= 4; k++) {
      const y = Y((top * k) / 4);
      root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: k ? "grid" : "axis" }));
      root.appendChild(svg("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", class: "tick", text: ylabels[k] }));
    }
    // x labels
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(iw / 70))));
    for (let i = 0; i < n; i += every) {
      root.appendChild(svg("text", { x: X(i), y: H - 6, "text-anchor": "middle", class: "tick", text: s.xFormat ? s.xFormat(s.x[i]) : String(i) }));
    }
    // bars
    for (const se of s.series.filter((q) => q.kind === "bar")) {
      const bw = Math.max(1, step * 0.72);
      const g = svg("g", { class: "bar " + (se.cls || "") });
      se.values.forEach((v, i) => {
        if (!(v > 0)) return;
        const y = Y(v);
        g.appendChild(svg("rect", { x: X(i) - bw / 2, y, width: bw, height: Math.max(1, m.t + ih - y) }));
      });
      root.appendChild(g);
    }
    // lines
    for (const se of s.series.filter((q) => q.kind !== "bar")) {
      let d = "", pen = false, dots = [];
      se.values.forEach((v, i) => {
        if (typeof v !== "number") { pen = false; return; }
        d += (pen ? "L" : "M") + X(i).toFixed(1) + " " + Y(v).toFixed(1);
        if (!pen) dots.push(i);
        pen = true;
      });
      const g = svg("g", { class: "line " + (se.cls || "") });
      if (d) g.appendChild(svg("path", { d }));
      // lone points would be invisible as a path
      for (const i of dots) {
        const v = se.values[i], nx = se.values[i + 1];
        if (typeof nx !== "number") g.appendChild(svg("circle", { cx: X(i), cy: Y(v), r: 2 }));
      }
      root.appendChild(g);
    }
    if (!max) root.appendChild(svg("text", { x: m.l + iw / 2, y: m.t + ih / 2, "text-anchor": "middle", class: "empty-note", text: s.empty || "no data in this window" }));
    const guide = svg("line", { y1: m.t, y2: m.t + ih, class: "guide", visibility: "hidden" });
    root.appendChild(guide);
    const hit = svg("rect", { x: m.l, y: m.t, width: iw, height: ih, class: "hit" });
    root.appendChild(hit);

    function show(i, byKey) {
      focus = i;
      if (i < 0 || i >= n) {
        guide.setAttribute("visibility", "hidden");
        tip.hidden = true;
        said.textContent = "";
        return;
      }
      guide.setAttribute("x1", X(i));
      guide.setAttribute("x2", X(i));
      guide.setAttribute("visibility", "visible");
      clear(tip);
      tip.appendChild(h("div", { class: "tip-head" }, s.tipFormat ? s.tipFormat(s.x[i]) : s.xFormat ? s.xFormat(s.x[i]) : ""));
      for (const se of s.series) {
        const v = se.values[i];
        tip.appendChild(h("div", { class: "tip-row" }, h("span", { class: "sw " + (se.cls || "") }), se.name + ": ", h("b", null, typeof v === "number" ? (se.format || yfmt)(v) : "–")));
      }
      tip.hidden = false;
      if (byKey) said.textContent = [...tip.children].map((el) => el.textContent).join(", ");
      const px = (X(i) / W) * holder.clientWidth;
      const tw = tip.offsetWidth || 140;
      tip.style.left = Math.min(Math.max(0, px + 12 > holder.clientWidth - tw ? px - tw - 12 : px + 12), Math.max(0, holder.clientWidth - tw)) + "px";
      tip.style.top = "4px";
    }
    hit.addEventListener("pointermove", (ev) => {
      const r = root.getBoundingClientRect();
      const x = ((ev.clientX - r.left) / r.width) * W;
      show(Math.min(n - 1, Math.max(0, Math.floor((x - m.l) / step))));
    });
    hit.addEventListener("pointerleave", () => show(-1));
    root.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        ev.preventDefault();
        const d = ev.key === "ArrowRight" ? 1 : -1;
        show(Math.min(n - 1, Math.max(0, (focus < 0 ? (d > 0 ? -1 : n) : focus) + d)), true);
      } else if (ev.key === "Escape") show(-1);
    });
    root.addEventListener("blur", () => show(-1));
    // Drawn again (resized, new data) under the keyboard: the focus and the read-out stay.
    const had = holder.contains(document.activeElement) ? focus : null;
    clear(holder);
    holder.appendChild(root);
    if (had !== null) {
      root.focus({ preventScroll: true });
      show(had < n ? had : -1);
    }

    clear(legend);
    for (const se of s.series) legend.appendChild(h("span", { class: "key" }, h("span", { class: "sw " + (se.cls || "") }), se.name));
  }

  let pending = 0;
  const ro = typeof ResizeObserver === "function"
    ? new ResizeObserver(() => {
        if (pending) return;
        pending = requestAnimationFrame(() => {
          pending = 0;
          const w = Math.floor(holder.clientWidth);
          if (w && Math.abs(w - width) > 2) draw();
        });
      })
    : null;
  draw();
  if (ro) ro.observe(holder);
  return {
    update(next) { current = next; draw(); },
    destroy() { if (ro) ro.disconnect(); if (pending) cancelAnimationFrame(pending); },
  };
}
