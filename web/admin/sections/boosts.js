// Reward posts and boosts (GET /api/rewards; PUT, DELETE /api/admin/contents/{id}/boost): the
// contents that pay now with their interval, their amount now and their boost, if any; a boost
// multiplies one content's reward for a window (setting one replaces the one before) and
// "End boost" ends it now. Window times are typed and shown in the service's time zone.
import { fmtDateTime, fmtNumber, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse, showZones, zonedToIso, zoneName } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const input = (name) => $(`boost-${name}`);

async function save() {
  clearRefusal("boost-error");
  const id = Number(input("content_id").value);
  const starts = zonedToIso(input("starts_at").value);
  const body = { multiplier_pct: Number(input("multiplier_pct").value), ends_at: zonedToIso(input("ends_at").value) || null, ...(starts ? { starts_at: starts } : {}) };
  let r = await call("PUT", `/api/admin/contents/${id}/boost`, body);
  if (r.status === 404) r = { ...r, error: { ...r.error, details: { field: "content_id" } } }; // the id typed
  if (!r.ok) return refuse("boost-error", r, "boost");
  status("boosts-status", t("boosts.set", { id, pct: r.data.multiplier_pct }), "ok-text");
  load();
  reloadAudit();
}

async function end(id) {
  const r = await call("DELETE", `/api/admin/contents/${id}/boost`);
  if (!r.ok) return status("boosts-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("boosts-status", t("boosts.ended", { id }), "ok-text");
  load();
  reloadAudit();
}

function pick(id) {
  input("content_id").value = id;
  input("multiplier_pct").focus();
}

function boostCell(b) {
  if (!b) return el("td", { class: "muted small" }, "—");
  return el("td", { class: "small" },
    el("span", { class: `pill ${b.active ? "good" : "warn"}` }, t(b.active ? "boosts.active" : "boosts.coming", { pct: b.multiplier_pct })),
    el("div", { class: "muted nowrap" }, `${fmtDateTime(b.starts_at)} – ${fmtDateTime(b.ends_at)}`));
}

async function load() {
  showZones();
  const r = await call("GET", "/api/rewards?limit=50");
  const target = $("boosts");
  if (missing(r)) return unavailable(target, t("boosts.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.rewardPosts = items;
  const rows = items.map((p) => el("tr", { "data-content-id": p.content.id, "data-boosted": String(Boolean(p.boost)) },
    el("td", { class: "num" }, p.content.id),
    el("td", { class: "wrap-text" }, p.content.title),
    el("td", { class: "num" }, `${fmtNumber(p.reward_interval_ms / 1000, 1)} s`),
    el("td", { class: "num" }, p.amount === p.base_amount ? p.amount : `${p.base_amount} → ${p.amount}`),
    boostCell(p.boost),
    el("td", { class: "actions-cell" },
      button(t("boosts.boost"), () => pick(p.content.id), "secondary", { "aria-label": t("boosts.boostOne", { title: p.content.title }) }),
      p.boost ? button(t("boosts.end"), () => end(p.content.id), "danger", { "aria-label": t("boosts.endOne", { title: p.content.title }) }) : "")));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("boosts.content")], [t("boosts.interval"), "num"], [t("boosts.amount"), "num"], [t("boosts.boostCol")], [t("boosts.actions")]], rows, t("boosts.title"))
    : el("div", { class: "muted" }, t("boosts.none")));
}

register({
  id: "boosts",
  title: "boosts.title",
  wide: true,
  render(root) {
    root.append(
      el("form", { id: "boost-form", class: "form-grid", onsubmit: (e) => { e.preventDefault(); save(); } },
        el("label", { for: "boost-content_id" }, t("boosts.contentId"),
          el("input", { id: "boost-content_id", name: "content_id", type: "number", min: "1", required: true, inputmode: "numeric" })),
        el("label", { for: "boost-multiplier_pct" }, t("boosts.pct"),
          el("input", { id: "boost-multiplier_pct", name: "multiplier_pct", type: "number", min: "101", max: "1000", required: true, inputmode: "numeric", placeholder: "150" })),
        el("label", { for: "boost-starts_at" }, [t("boosts.starts"), " (", zoneName(), ")"],
          el("input", { id: "boost-starts_at", name: "starts_at", type: "datetime-local" })),
        el("label", { for: "boost-ends_at" }, [t("boosts.ends"), " (", zoneName(), ")"],
          el("input", { id: "boost-ends_at", name: "ends_at", type: "datetime-local", required: true })),
        el("div", { class: "row actions" }, el("button", { type: "submit", id: "boost-submit" }, t("boosts.save")))),
      errorLine("boost-error"),
      el("p", { class: "small muted" }, t("boosts.help")),
      el("div", { id: "boosts" }));
  },
  load,
  messages: {
    en: {
      "boosts.title": "Reward posts and boosts", "boosts.what": "reward posts (GET /api/rewards)",
      "boosts.contentId": "Content id", "boosts.pct": "Multiplier (%, 101-1000)", "boosts.starts": "Starts, empty: now",
      "boosts.ends": "Ends", "boosts.save": "Set boost", "boosts.set": "content {id} boosted to {pct} %",
      "boosts.ended": "boost of content {id} ended", "boosts.boost": "Boost", "boosts.end": "End boost",
      "boosts.boostOne": "Boost {title}", "boosts.endOne": "End boost: {title}",
      "boosts.active": "×{pct} %, now", "boosts.coming": "×{pct} %, to come",
      "boosts.content": "content", "boosts.interval": "interval", "boosts.amount": "coins now", "boosts.boostCol": "boost",
      "boosts.actions": "actions", "boosts.none": "No content pays now (none listed, or rewards are paused).",
      "boosts.help": "150 % pays 1.5 times the coins at each reward inside the window. Setting a boost replaces the content's boost; the hubs follow at their next catalog poll.",
    },
    ko: {
      "boosts.title": "보상 게시물과 부스트", "boosts.what": "보상 게시물 (GET /api/rewards)",
      "boosts.contentId": "콘텐츠 ID", "boosts.pct": "배율 (%, 101-1000)", "boosts.starts": "시작, 비우면 지금",
      "boosts.ends": "종료", "boosts.save": "부스트 설정", "boosts.set": "콘텐츠 {id} 부스트 {pct}%",
      "boosts.ended": "콘텐츠 {id} 부스트 종료함", "boosts.boost": "부스트", "boosts.end": "부스트 종료",
      "boosts.boostOne": "{title} 부스트", "boosts.endOne": "{title} 부스트 종료",
      "boosts.active": "×{pct}%, 진행 중", "boosts.coming": "×{pct}%, 예정",
      "boosts.content": "콘텐츠", "boosts.interval": "간격", "boosts.amount": "현재 코인", "boosts.boostCol": "부스트",
      "boosts.actions": "작업", "boosts.none": "지금 보상을 주는 콘텐츠가 없습니다 (노출된 콘텐츠가 없거나 보상이 일시 중지됨).",
      "boosts.help": "150%는 기간 안의 보상마다 코인을 1.5배 줍니다. 새로 설정하면 그 콘텐츠의 부스트를 바꿉니다. 허브는 다음 카탈로그 조회 때 반영합니다.",
    },
  },
});
