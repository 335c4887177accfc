// Multi-account review (GET /api/admin/reviews?status=open, POST
// /api/admin/users/{id}/review/approve, /reject): accounts on hold with the device or address,
// how many accounts it carried, who else was flagged there and the coins held.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

async function decide(userId, approve) {
  const r = await call("POST", `/api/admin/users/${userId}/review/${approve ? "approve" : "reject"}`);
  if (!r.ok) status("reviews-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  else status("reviews-status", t(approve ? "reviews.paid" : "reviews.voided", { id: userId, decision: r.data.decision, coins: r.data.coins }), "ok-text");
  load();
  reloadAudit();
}

async function load() {
  const r = await call("GET", "/api/admin/reviews?status=open&limit=20");
  const target = $("reviews");
  if (missing(r)) return unavailable(target, t("reviews.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.reviews = items;
  const rows = items.map((v) => el("tr", { "data-review-user": v.user_id },
    el("td", { class: "num" }, v.user_id),
    el("td", { class: "wrap-text" }, t("reviews.why", { n: v.accounts, reason: v.reason }), " ", el("span", { class: "mono" }, v.key),
      el("div", { class: "small muted" }, t("reviews.with", { users: (v.flagged_with || []).join(", "), time: fmtDateTime(v.created_at) }))),
    el("td", { class: "num" }, v.held_coins, el("div", { class: "small muted" }, t("reviews.grants", { n: v.held_grants }))),
    el("td", { class: "actions-cell" },
      button(t("reviews.approve"), () => decide(v.user_id, true), "ok"),
      button(t("reviews.reject"), () => decide(v.user_id, false), "danger"))));
  target.replaceChildren(rows.length
    ? table([[t("reviews.user"), "num"], [t("reviews.whyCol")], [t("reviews.held"), "num"], [t("reviews.actions")]], rows, t("reviews.title"))
    : el("div", { class: "muted" }, t("reviews.none")));
}

register({
  id: "reviews",
  title: "reviews.title",
  refresh: "slow",
  render(body) {
    body.append(el("div", { id: "reviews" }));
  },
  load,
  messages: {
    en: {
      "reviews.title": "Multi-account review", "reviews.what": "review queue (GET /api/admin/reviews)",
      "reviews.paid": "user {id} {decision}: {coins} coins paid", "reviews.voided": "user {id} {decision}: {coins} coins voided",
      "reviews.why": "{n} accounts on {reason}", "reviews.with": "with {users} · {time}", "reviews.grants": "{n} grants",
      "reviews.approve": "Approve", "reviews.reject": "Reject", "reviews.user": "user", "reviews.whyCol": "why",
      "reviews.held": "held coins", "reviews.actions": "actions", "reviews.none": "No account is waiting for review.",
    },
    ko: {
      "reviews.title": "다중 계정 검토", "reviews.what": "검토 대기열 (GET /api/admin/reviews)",
      "reviews.paid": "사용자 {id} {decision}: 코인 {coins}개 지급", "reviews.voided": "사용자 {id} {decision}: 코인 {coins}개 무효",
      "reviews.why": "{reason}에 계정 {n}개", "reviews.with": "함께: {users} · {time}", "reviews.grants": "지급 {n}건",
      "reviews.approve": "승인", "reviews.reject": "거절", "reviews.user": "사용자", "reviews.whyCol": "사유",
      "reviews.held": "보류 코인", "reviews.actions": "작업", "reviews.none": "검토를 기다리는 계정이 없습니다.",
    },
  },
});
