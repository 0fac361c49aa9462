// A line diff (Myers, O((N+M)·D)), bounded: past MAX_D edits it gives up
// and says so, rather than freeze the page.
const MAX_D = 2000;

// -> {ops: [{t: " "|"-"|"+", a, b, line}], changed} or {tooBig: true, ...}
export function diffLines(aText, bText) {
  const A = aText.split("\n"), B = bText.split("\n");
  // common head and tail first: most edits are small
  let s = 0;
  while (s < A.length && s < B.length && A[s] === B[s]) s++;
  let ea = A.length, eb = B.length;
  while (ea > s && eb > s && A[ea - 1] === B[eb - 1]) { ea--; eb--; }
  const ids = new Map();
  const id = (l) => { let v = ids.get(l); if (v === undefined) { v = ids.size; ids.set(l, v); } return v; };
  const a = Int32Array.from(A.slice(s, ea), id), b = Int32Array.from(B.slice(s, eb), id);
  const mid = myers(a, b);
  if (!mid) return { tooBig: true, before: A.length, after: B.length, from: s + 1, toA: ea, toB: eb };
  const ops = [];
  for (let i = 0; i < s; i++) ops.push({ t: " ", a: i + 1, b: i + 1, line: A[i] });
  for (const [t, i, j] of mid) {
    if (t === " ") ops.push({ t, a: s + i + 1, b: s + j + 1, line: A[s + i] });
    else if (t === "-") ops.push({ t, a: s + i + 1, b: null, line: A[s + i] });
    else ops.push({ t, a: null, b: s + j + 1, line: B[s + j] });
  }
  for (let i = ea, j = eb; i < A.length; i++, j++) ops.push({ t: " ", a: i + 1, b: j + 1, line: A[i] });
  const changed = ops.filter((o) => o.t !== " ").length;
  return { ops, changed };
}

function myers(a, b) {
  const n = a.length, m = b.length;
  if (!n) return Array.from(b, (_, j) => ["+", 0, j]);
  if (!m) return Array.from(a, (_, i) => ["-", i, 0]);
  const max = Math.min(n + m, MAX_D);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2)); // v before step d, k in [-d-1, d+1]
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b, d);
    }
  }
  return null;
}

function backtrack(trace, a, b, dEnd) {
  const out = [];
  let x = a.length, y = b.length;
  for (let d = dEnd; d >= 0; d--) {
    const vd = trace[d]; // index k -> vd[k + d + 1]
    const at = (k) => vd[k + d + 1];
    const k = x - y;
    let pk;
    if (d === 0) pk = 0;
    else pk = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const px = d === 0 ? 0 : at(pk);
    const py = px - pk;
    const sx = d === 0 ? 0 : pk === k + 1 ? px : px + 1; // where the snake began
    const sy = sx - k;
    while (x > sx && y > sy) { x--; y--; out.push([" ", x, y]); }
    if (d > 0) {
      if (pk === k + 1) { y--; out.push(["+", x, y]); }
      else { x--; out.push(["-", x, y]); }
    }
    x = px; y = py;
  }
  return out.reverse();
}

// Hunks with `context` lines around each change: [{ops}] as in unified diffs.
export function hunks(ops, context = 3) {
  const out = [];
  let cur = null, lastChange = -Infinity;
  for (let i = 0; i < ops.length; i++) {
    if (ops[i].t === " ") continue;
    const from = Math.max(0, i - context);
    if (cur && from <= lastChange + context + 1) {
      for (let j = cur.end; j <= i; j++) cur.ops.push(ops[j]);
    } else {
      if (cur) for (let j = cur.end; j < Math.min(ops.length, lastChange + context + 1); j++) cur.ops.push(ops[j]);
      cur = { ops: ops.slice(from, i + 1) };
      out.push(cur);
    }
    cur.end = i + 1;
    lastChange = i;
  }
  if (cur) for (let j = cur.end; j < Math.min(ops.length, lastChange + context + 1); j++) cur.ops.push(ops[j]);
  return out;
}
