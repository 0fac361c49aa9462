// Number, duration and time formatting for the antigravityd console.

const DASH = "–";

function isNum(n) {
  return typeof n === "number" && Number.isFinite(n);
}

// 1234 -> "1.2k", 3400000 -> "3.4M"; small numbers as they are.
export function num(n) {
  if (!isNum(n)) return DASH;
  const a = Math.abs(n);
  const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [v, s] of units) {
    if (a >= v) {
      const x = n / v;
      return (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1).replace(/\.0$/, "")) + s;
    }
  }
  if (Number.isInteger(n)) return String(n);
  return a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

// Exact with thousands separators: 12,345.
export function int(n) {
  if (!isNum(n)) return DASH;
  return Math.round(n).toLocaleString();
}

// Milliseconds: "0.42 ms", "412 ms", "1.88 s", "2 m 05 s".
// "1 request", "7 requests": a count with its noun.
export function count(n, noun) {
  return int(n) + " " + noun + (n === 1 ? "" : "s");
}

export function ms(v) {
  if (!isNum(v)) return DASH;
  if (v === 0) return "0 ms";
  if (v < 1) return v.toFixed(2) + " ms";
  if (v < 10) return v.toFixed(1) + " ms";
  if (v < 1000) return Math.round(v) + " ms";
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + " s";
  const s = Math.round(v / 1000);
  return Math.floor(s / 60) + " m " + String(s % 60).padStart(2, "0") + " s";
}

// A duration in seconds: "45 s", "3 m", "2 h 5 m", "3 d 4 h".
export function secs(s) {
  if (!isNum(s)) return DASH;
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) {
    const m = Math.floor(s / 60), r = s % 60;
    return r && m < 10 ? `${m} m ${r} s` : `${m} m`;
  }
  if (s < 86400) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return m ? `${h} h ${m} m` : `${h} h`;
  }
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  return h ? `${d} d ${h} h` : `${d} d`;
}

export function pct(r, digits = 1) {
  if (!isNum(r)) return DASH;
  const p = r * 100;
  if (p > 0 && p < 0.1) return "<0.1%";
  if (p === 0 || p === 100) return p + "%";
  return p.toFixed(digits) + "%";
}

export function bytes(n) {
  if (!isNum(n)) return DASH;
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + u[i];
}

export function rate(perSecond) {
  if (!isNum(perSecond)) return DASH;
  if (perSecond === 0) return "0";
  if (perSecond < 0.01) return (perSecond * 60).toFixed(2) + "/min";
  return perSecond < 10 ? perSecond.toFixed(2) : num(perSecond);
}

const pad = (n) => String(n).padStart(2, "0");

// Local time "2025-01-31 14:05:09".
export function time(tsMs) {
  if (!isNum(tsMs) || tsMs <= 0) return DASH;
  const d = new Date(tsMs);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Local time, date left out when it is today.
export function shortTime(tsMs) {
  if (!isNum(tsMs) || tsMs <= 0) return DASH;
  const d = new Date(tsMs), now = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return hms;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

export function hourMinute(tsMs) {
  const d = new Date(tsMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function dayLabel(tsMs) {
  const d = new Date(tsMs);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function localDate(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// "in 3 m", "5 m ago", "now".
export function relative(tsMs, nowMs = Date.now()) {
  if (!isNum(tsMs) || tsMs <= 0) return DASH;
  const d = (tsMs - nowMs) / 1000;
  if (Math.abs(d) < 1) return "now";
  return d > 0 ? "in " + secs(d) : secs(-d) + " ago";
}

export { DASH };
