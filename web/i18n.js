// Korean and English for the pages, with no library: message catalogs per language, the
// browser's language first, a switch, and the choice kept in localStorage. Each page (and
// each console section) brings its own messages with `define`, so a new section is one file.
// Times are shown in the service's time zone (APP_TIMEZONE, from GET /api/config), never the
// browser's: a "today" of rewards or a settlement's dates are days of that zone.

export const LANGS = ["ko", "en"];
const KEY = "watch.lang";
const catalogs = { en: {}, ko: {} };
let current = pick();
let zone = "Asia/Seoul";

function pick() {
  const kept = safeGet(KEY);
  if (LANGS.includes(kept)) return kept;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGS.includes(base)) return base;
  }
  return "en";
}

function safeGet(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

/** Add messages: `{en: {key: "text {name}"}, ko: {...}}`. A key missing in one language
 * falls back to English, then to the key itself (visible, so a gap is noticed). */
export function define(messages) {
  for (const lang of Object.keys(messages)) Object.assign(catalogs[lang] ||= {}, messages[lang]);
}

export function lang() { return current; }

/** The message of `key` in the current language, `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = catalogs[current]?.[key] ?? catalogs.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Fill `[data-i18n]` (text), `[data-i18n-placeholder]`, `[data-i18n-label]` (aria-label) and
 * `[data-i18n-title]` under `root` from the catalog. */
export function apply(root = document) {
  document.documentElement.lang = current;
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
}

/** Switch language: kept in localStorage, the page re-labelled, `langchange` dispatched on
 * `window` so that what was drawn from data is drawn again. */
export function setLang(next) {
  if (!LANGS.includes(next)) return;
  current = next;
  try { localStorage.setItem(KEY, next); } catch { /* private mode: for this page only */ }
  apply();
  window.dispatchEvent(new CustomEvent("langchange", { detail: next }));
}

/** A labelled language switch (a <select>: keyboard and screen readers know it). */
export function languageSwitch() {
  const select = document.createElement("select");
  select.id = "lang";
  select.dataset.i18nLabel = "lang.label";
  for (const code of LANGS) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = code === "ko" ? "한국어" : "English";
    option.lang = code;
    select.append(option);
  }
  select.value = current;
  select.addEventListener("change", () => setLang(select.value));
  return select;
}

export function setTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    zone = name;
  } catch { /* an unknown zone: keep the default */ }
}

export function timeZone() { return zone; }

const locale = () => (current === "ko" ? "ko-KR" : "en-GB");

/** A date and time (ISO string, Date or ms) in the service's time zone. */
export function fmtDateTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(d);
}

/** A time of day (HH:MM:SS) in the service's time zone. */
export function fmtTime(value) {
  const d = value instanceof Date ? value : new Date(value ?? Date.now());
  return new Intl.DateTimeFormat(locale(), {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(d);
}

export function fmtNumber(n, digits = 0) {
  return Number(n).toLocaleString(locale(), { maximumFractionDigits: digits });
}

/** Ask the api which time zone to show (GET /api/config on `apiBase`); quiet on failure. */
export async function loadTimeZone(apiBase = "") {
  try {
    const res = await fetch(`${apiBase}/api/config`);
    const body = await res.json();
    if (body?.success) setTimeZone(body.data.timezone);
  } catch { /* the default zone stays */ }
  return zone;
}

define({
  en: { "lang.label": "Language" },
  ko: { "lang.label": "언어" },
});
