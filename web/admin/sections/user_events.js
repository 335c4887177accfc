// The user event log (GET /api/admin/user-events?user_id=&type=&since=&until=): what users
// did (sessions, rewards, boxes, missions, ads, sign-ins, blocks), newest first, filtered by
// user, type and a time window typed in the service's time zone; "Older events" follows the
// cursor.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, brief, button, call, el, failed, hook, missing, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse, showZones, zonedToIso, zoneName } from "../forms.js";
import { register } from "../registry.js";

const TYPES = ["session_start", "session_end", "reward", "box_open", "gold_box_open", "mission_join", "mission_complete",
  "mission_claim", "ad_impression", "ad_click", "login", "block"];
let cursor = null;

function query() {
  const q = new URLSearchParams({ limit: "20" });
  const user = $("events-user_id").value.trim();
  if (user) q.set("user_id", user);
  if ($("events-type").value) q.set("type", $("events-type").value);
  for (const name of ["since", "until"]) {
    const iso = zonedToIso($(`events-${name}`).value);
    if (iso) q.set(name, iso);
  }
  return q;
}

async function load(fresh = true) {
  showZones();
  clearRefusal("events-error");
  const q = query();
  if (!fresh && cursor) q.set("cursor", cursor);
  const r = await call("GET", `/api/admin/user-events?${q}`);
  const target = $("events");
  if (missing(r)) return unavailable(target, t("events.what"));
  if (r.status === 400) return refuse("events-error", r, "events");
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.userEvents = fresh ? items : [...(hook.loaded.userEvents || []), ...items];
  cursor = r.data.next_cursor;
  $("events-more").classList.toggle("hidden", !cursor);
  const rows = items.map((e) => el("tr", { "data-event-id": e.id, "data-type": e.type },
    el("td", { class: "small nowrap" }, fmtDateTime(e.at)),
    el("td", { class: "num" }, e.user_id),
    el("td", { class: "mono" }, e.type),
    el("td", { class: "mono small wrap-text" }, brief(e.data))));
  if (fresh || !target.querySelector("tbody")) {
    target.replaceChildren(rows.length
      ? table([[t("events.when")], [t("events.user"), "num"], [t("events.type")], [t("events.data")]], rows, t("events.title"))
      : el("div", { class: "muted" }, t("events.none")));
  } else {
    target.querySelector("tbody").append(...rows);
  }
}

register({
  id: "events",
  title: "events.title",
  wide: true,
  render(root) {
    cursor = null;
    root.append(
      el("form", { class: "row", "aria-label": t("events.filter"), onsubmit: (e) => { e.preventDefault(); load(true); } },
        el("label", { for: "events-user_id" }, t("events.user"),
          el("input", { id: "events-user_id", name: "user_id", type: "number", min: "0", class: "narrow", inputmode: "numeric" })),
        el("label", { for: "events-type" }, t("events.type"),
          el("select", { id: "events-type", name: "type" }, el("option", { value: "" }, t("events.any")), TYPES.map((v) => el("option", { value: v }, v)))),
        el("label", { for: "events-since" }, [t("events.since"), " (", zoneName(), ")"], el("input", { id: "events-since", name: "since", type: "datetime-local" })),
        el("label", { for: "events-until" }, [t("events.until"), " (", zoneName(), ")"], el("input", { id: "events-until", name: "until", type: "datetime-local" })),
        el("button", { type: "submit", class: "secondary", id: "events-apply" }, t("events.apply"))),
      errorLine("events-error"),
      el("div", { id: "events" }),
      el("div", { class: "row actions" }, button(t("events.more"), () => load(false), "secondary hidden", { id: "events-more" })));
  },
  load: () => load(true),
  messages: {
    en: {
      "events.title": "User events", "events.what": "user events (GET /api/admin/user-events)",
      "events.filter": "Filter user events", "events.user": "User id", "events.type": "Type", "events.any": "any",
      "events.since": "From", "events.until": "Before", "events.apply": "Show", "events.more": "Older events",
      "events.when": "when", "events.data": "data", "events.none": "No event matches.",
    },
    ko: {
      "events.title": "사용자 이벤트", "events.what": "사용자 이벤트 (GET /api/admin/user-events)",
      "events.filter": "사용자 이벤트 필터", "events.user": "사용자 ID", "events.type": "종류", "events.any": "전체",
      "events.since": "시작", "events.until": "이전", "events.apply": "보기", "events.more": "이전 이벤트",
      "events.when": "시각", "events.data": "내용", "events.none": "일치하는 이벤트가 없습니다.",
    },
  },
});
