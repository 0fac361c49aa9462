// The admin API: fetch with the session's CSRF token, errors as ApiError.

// storeOff: null until a store endpoint answered; true after a 404
// no_store (the request store is off), false after an answer from it.
export const session = { role: null, csrf: null, storeOff: null };
const STORE_PATHS = /^\/api\/(requests|stats|usage)\b/;

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code || "HTTP " + status);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "";
    this.errors = extra.errors || [];
    this.retryAfter = extra.retryAfter || null;
    this.body = extra.body || null;
  }
}

let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }
// The session is gone (as a 401 from api() says): back to the login form.
export function sessionEnded() {
  unauthorized(new ApiError(401, "unauthorized", "the session has ended"));
}

export function isAbort(e) {
  return e && (e.name === "AbortError" || e.code === "aborted");
}

// api("/api/x", {method, json, text, signal, auth: false})
export async function api(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = { Accept: "application/json" };
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    headers["Content-Type"] = "text/plain; charset=utf-8";
    body = opts.text;
  }
  if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body,
      signal: opts.signal,
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(0, "network", "cannot reach antigravityd: " + (e && e.message ? e.message : e));
  }
  let data = null;
  const type = res.headers.get("Content-Type") || "";
  const raw = await res.text().catch(() => "");
  if (type.includes("json") || raw.startsWith("{")) {
    try { data = JSON.parse(raw); } catch { data = null; }
  }
  if (STORE_PATHS.test(path)) {
    if (res.ok) session.storeOff = false;
    else if (res.status === 404 && data && data.error && data.error.code === "no_store") session.storeOff = true;
  }
  if (res.ok) {
    if (data === null) throw new ApiError(res.status, "bad_answer", "the answer of " + path + " is not JSON");
    return data;
  }
  const err = data && data.error && typeof data.error === "object" ? data.error : {};
  const e = new ApiError(res.status, err.code, err.message || (res.status + " " + res.statusText), {
    errors: data && Array.isArray(data.errors) ? data.errors : [],
    retryAfter: res.headers.get("Retry-After"),
    body: data,
  });
  if (res.status === 401 && opts.auth !== false) unauthorized(e);
  throw e;
}

// "?a=1&b=2" without the empty values (but those named in keepEmpty).
export function qs(params, keepEmpty = []) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && (v !== "" || keepEmpty.includes(k))) u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}

export const isAdmin = () => session.role === "admin";
