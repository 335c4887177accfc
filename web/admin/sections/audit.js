// Audit log (GET /api/admin/audit-log): newest first, each entry as the keys it changed;
// "Older entries" follows the cursor; filter by exact action.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, brief, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";

let path = "/api/admin/audit-log";
let cursor = null;

/** What an audit entry changed: the keys whose values differ, `key: before → after`. */
export function change(before, after) {
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    return keys.map((k) => `${k}: ${brief(before[k])} → ${brief(after[k])}`).join("; ") || t("audit.noChange");
  }
  if (before == null && isObj(after)) {
    const name = after.title ?? after.name ?? after.id;
    return `${t("audit.created")}${name != null ? ` ${brief(name)}` : ""}`;
  }
  if (isObj(before) && after == null) return t("audit.deleted");
  return `${brief(before)} → ${brief(after)}`;
}

async function load(fresh = true) {
  const action = $("audit-action")?.value.trim();
  const filter = action ? `&action=${encodeURIComponent(action)}` : "";
  let url = `${path}?limit=15${filter}${!fresh && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
  let r = await call("GET", url);
  if (missing(r) && path === "/api/admin/audit-log") {
    path = "/api/admin/audit"; // the name the issue used before the route landed
    url = url.replace("/api/admin/audit-log", path);
    r = await call("GET", url);
  }
  const target = $("audit");
  if (missing(r)) return unavailable(target, t("audit.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.audit = fresh ? items : [...(hook.loaded.audit || []), ...items];
  cursor = r.data.next_cursor;
  $("audit-more").classList.toggle("hidden", !cursor);
  const rows = items.map((a) => el("tr", { "data-action": a.action },
    el("td", { class: "small nowrap" }, fmtDateTime(a.created_at)),
    el("td", { class: "num" }, a.actor_id ?? ""),
    el("td", { class: "mono" }, a.action),
    el("td", { class: "mono" }, a.target),
    el("td", { class: "mono small wrap-text" }, change(a.before, a.after))));
  if (fresh) {
    target.replaceChildren(rows.length
      ? table([[t("audit.when")], [t("audit.actor"), "num"], [t("audit.action")], [t("audit.target")], [t("audit.change")]], rows, t("audit.title"))
      : el("div", { class: "muted" }, t("audit.none")));
  } else {
    target.querySelector("tbody")?.append(...rows);
  }
  status("audit-status", t("audit.newest"));
}

/** Other sections call this after a change, so its entry shows at once. */
export function reloadAudit() {
  return load(true);
}

register({
  id: "audit",
  title: "audit.title",
  wide: true,
  refresh: "slow",
  render(body) {
    body.append(
      el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); load(true); } },
        el("label", { for: "audit-action" }, t("audit.filter"),
          el("input", { id: "audit-action", type: "search", placeholder: "user.block", maxlength: "100" })),
        el("button", { type: "submit", class: "secondary" }, t("audit.apply"))),
      el("div", { id: "audit" }),
      el("div", { class: "row actions" }, button(t("audit.more"), () => load(false), "secondary hidden", { id: "audit-more" })));
  },
  load: () => load(true),
  messages: {
    en: {
      "audit.title": "Audit log", "audit.what": "audit log (GET /api/admin/audit-log)", "audit.when": "when",
      "audit.actor": "actor", "audit.action": "action", "audit.target": "target", "audit.change": "change",
      "audit.none": "No admin change yet.", "audit.newest": "newest first", "audit.more": "Older entries",
      "audit.filter": "Action", "audit.apply": "Filter", "audit.noChange": "no change", "audit.created": "created",
      "audit.deleted": "deleted",
    },
    ko: {
      "audit.title": "감사 로그", "audit.what": "감사 로그 (GET /api/admin/audit-log)", "audit.when": "시각",
      "audit.actor": "관리자", "audit.action": "작업", "audit.target": "대상", "audit.change": "변경 내용",
      "audit.none": "아직 관리자 변경이 없습니다.", "audit.newest": "최신순", "audit.more": "이전 항목",
      "audit.filter": "작업", "audit.apply": "필터", "audit.noChange": "변경 없음", "audit.created": "생성",
      "audit.deleted": "삭제",
    },
  },
});
