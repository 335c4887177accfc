// What every console section shares: the api call (same origin, the admin token), DOM
// helpers, the "not available" and "refused" states, and form errors that screen readers
// hear (aria-invalid, aria-describedby, and the page's live region).
import { define, t } from "/static/i18n.js";

export const $ = (id) => document.getElementById(id);
export const params = new URLSearchParams(location.search);

export const hook = { loaded: {} }; // for tests: which sections have rendered what
window.adminConsole = hook;

/** The page's sign-in (signin.js Session), set by admin.js. */
export const auth = { session: null };

export function token() {
  return auth.session?.token || "";
}

/** fetch() with the admin token, renewed once on a 401 (signin.js Session.authorizedFetch;
 * admin.js sets the session before any section loads). */
const authorized = (path, init) => auth.session.authorizedFetch(path, init);

/** {ok, status, data, error} for one call; never throws. `raw`: a body sent as is;
 * `headers`: more request headers (an Idempotency-Key). */
export async function call(method, path, body, { raw, contentType, headers: extra } = {}) {
  const headers = { ...extra };
  let payload;
  if (raw !== undefined) {
    headers["Content-Type"] = contentType || "text/plain";
    payload = raw;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await authorized(path, { method, headers, body: payload });
  } catch (err) {
    return { ok: false, status: 0, error: { code: "network", message: String(err) } };
  }
  const answer = await res.json().catch(() => null);
  if (res.ok && answer?.success) return { ok: true, status: res.status, data: answer.data };
  const error = answer?.error || { code: String(res.status), message: res.statusText };
  if (res.status === 429) error.message = t("core.rateLimited", { s: res.headers.get("Retry-After") || "?" });
  return { ok: false, status: res.status, error };
}

/** Fetch a file the api serves behind the token (a CSV export) and hand it to the browser
 * as a download named `filename`; `{ok, status, error}` like call(). */
export async function download(path, filename) {
  let res;
  try {
    res = await authorized(path, {});
  } catch (err) {
    return { ok: false, status: 0, error: { code: "network", message: String(err) } };
  }
  if (!res.ok) {
    const answer = await res.json().catch(() => null);
    return { ok: false, status: res.status, error: answer?.error || { code: String(res.status), message: res.statusText } };
  }
  const url = URL.createObjectURL(await res.blob());
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { ok: true, status: res.status };
}

export const missing = (r) => r.status === 404 || r.status === 405;

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

/** A table in a scrolling wrapper: a wide table scrolls inside its panel instead of
 * pushing the page wider than the screen. */
export function table(headers, rows, caption) {
  return el("div", { class: "table-wrap" },
    el("table", {},
      caption ? el("caption", { class: "sr-only" }, caption) : "",
      el("thead", {}, el("tr", {}, headers.map(([h, cls]) => el("th", { class: cls, scope: "col" }, h)))),
      el("tbody", {}, rows)));
}

export function unavailable(target, what) {
  target.replaceChildren(el("div", { class: "unavailable", "data-unavailable": "1" },
    t("core.unavailable", { what })));
}

export function failed(target, r) {
  const msg = r.status === 401 || r.status === 403
    ? t("core.refused", { status: r.status, code: r.error.code })
    : t("core.failed", { status: r.status || "", code: r.error.code, message: r.error.message });
  target.replaceChildren(el("div", { class: "unavailable error-text", role: "alert" }, msg));
}

/** A section's one-line status (next to its heading, never over it). */
export function status(id, text, cls = "muted") {
  const node = $(id);
  if (!node) return;
  node.className = `status small ${cls}`;
  node.textContent = text;
  if (cls === "error-text") announce(text);
}

/** Say `text` in the page's polite live region (screen readers read it once). */
export function announce(text) {
  const region = $("announce");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 30);
}

/** Mark `input` invalid with `message` below it (aria-invalid + aria-describedby), or clear
 * it with no message. */
export function fieldError(input, message) {
  const id = `${input.id || input.name}-error`;
  let note = document.getElementById(id);
  if (!message) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    note?.remove();
    return;
  }
  if (!note) {
    note = el("span", { id, class: "field-error small" });
    (input.closest("label") || input).after(note);
  }
  note.textContent = message;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", id);
  announce(message);
}

export function brief(value) {
  if (value === null || value === undefined) return "null";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

export const money = (micros) => (Number(micros) / 1e6).toLocaleString(undefined, { maximumFractionDigits: 2 });

export function button(label, onclick, cls = "", attrs = {}) {
  return el("button", { type: "button", class: cls, onclick, ...attrs }, label);
}

define({
  en: {
    "core.rateLimited": "rate limited: retry in {s} s",
    "core.unavailable": "Not available: this api has no {what} yet.",
    "core.refused": "The token was refused ({status} {code}): sign in with an admin account.",
    "core.failed": "Failed: {status} {code}: {message}",
    "core.refusedShort": "refused: {message}",
  },
  ko: {
    "core.rateLimited": "요청이 너무 많습니다: {s}초 후에 다시 시도하세요",
    "core.unavailable": "사용할 수 없음: 이 API에는 아직 {what} 기능이 없습니다.",
    "core.refused": "토큰이 거부되었습니다 ({status} {code}): 관리자 계정으로 로그인하세요.",
    "core.failed": "실패: {status} {code}: {message}",
    "core.refusedShort": "거부됨: {message}",
  },
});
