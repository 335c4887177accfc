// What the newer sections' forms share, on top of core.js: a refusal line reserved under each
// form (the api envelope's error.message shows there without moving anything below it), the
// refused field marked for screen readers (aria-invalid, aria-describedby the line), and
// times typed in the service's time zone (APP_TIMEZONE) sent as ISO 8601 instants.
import { t, timeZone } from "/static/i18n.js";
import { announce, el } from "./core.js";

/** The reserved line a form's refusal shows on (one per form, `id` unique on the page). */
export function errorLine(id) {
  return el("p", { id, class: "form-error small error-text", "data-form-error": "" });
}

/** Clear the line `id` and unmark the fields it described. */
export function clearRefusal(id) {
  const line = document.getElementById(id);
  if (line) {
    line.textContent = "";
    line.removeAttribute("title");
    delete line.dataset.field;
  }
  for (const input of document.querySelectorAll(`[aria-describedby="${id}"]`)) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

/** Show `message` on the line `id`, mark `input` (if any) and say it in the live region. */
export function refuseWith(id, message, input = null) {
  clearRefusal(id);
  const line = document.getElementById(id);
  if (!line) return;
  line.textContent = message;
  line.title = message; // a message longer than the reserved lines is cut there, whole here
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    line.dataset.field = input.name || input.id;
  }
  announce(message);
}

/** Show the api refusal `r` on the line `id`; the field the envelope names
 * (`error.details.field`) is the element `${prefix}-${field}`, when there is one. */
export function refuse(id, r, prefix = "") {
  const field = r.error.details?.field;
  const input = field && prefix ? document.getElementById(`${prefix}-${field}`) : null;
  refuseWith(id, t("core.refusedShort", { message: r.error.message }), input);
}

/** The service's zone name in a label; `showZones()` rewrites them once the zone is known
 * (the panels are built before GET /api/config answers). */
export function zoneName() {
  return el("span", { "data-zone": "" }, timeZone());
}

export function showZones() {
  for (const node of document.querySelectorAll("[data-zone]")) node.textContent = timeZone();
}

function offsetMs(instant, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(instant).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** A `datetime-local` value read as a wall time of the service's zone, as an ISO instant
 * (UTC); "" for an empty value. */
export function zonedToIso(value) {
  if (!value) return "";
  const [date, time] = value.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi, s = 0] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  let instant = wall - offsetMs(wall, timeZone());
  instant = wall - offsetMs(instant, timeZone()); // again: the offset at the instant itself
  return new Date(instant).toISOString();
}

/** An ISO instant as a `datetime-local` value in the service's zone ("" for none). */
export function isoToZoned(iso) {
  if (!iso) return "";
  const ms = new Date(iso).getTime();
  const local = new Date(ms + offsetMs(ms, timeZone()));
  return local.toISOString().slice(0, 16);
}
