// Ads: the approval queue (GET /api/admin/ads?status=pending, POST .../approve, /reject), and
// every ad by status with its delivery stats (GET /api/admin/ads/{id}/stats).
import { t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, money, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

async function review(id, approve) {
  const r = await call("POST", `/api/admin/ads/${id}/${approve ? "approve" : "reject"}`);
  if (!r.ok) status("ads-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  else status("ads-status", t(approve ? "ads.approved" : "ads.rejected", { id }), "ok-text");
  load();
  reloadAudit();
}

function adCell(a) {
  return el("td", { class: "wrap-text" }, a.title,
    el("div", { class: "small muted" }, t("ads.by", { advertiser: a.advertiser_id, placement: a.placement })));
}

async function loadQueue() {
  const r = await call("GET", "/api/admin/ads?status=pending&limit=20");
  const target = $("ads");
  if (missing(r)) return unavailable(target, t("ads.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.ads = items;
  const rows = items.map((a) => el("tr", { "data-ad-id": a.id },
    el("td", { class: "num" }, a.id), adCell(a),
    el("td", { class: "small" }, `${a.billing} ${money(a.price_micros)}`, el("div", { class: "muted" }, t("ads.budget", { v: money(a.budget_micros) }))),
    el("td", { class: "actions-cell" },
      button(t("ads.approve"), () => review(a.id, true), "ok"),
      button(t("ads.reject"), () => review(a.id, false), "danger"))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("ads.ad")], [t("ads.price")], [t("ads.actions")]], rows, t("ads.queue"))
    : el("div", { class: "muted" }, t("ads.noneWaiting")));
}

async function showStats(ad) {
  const r = await call("GET", `/api/admin/ads/${ad.id}/stats`);
  const box = $("ad-stats");
  if (!r.ok) return failed(box, r);
  const s = r.data;
  hook.loaded.adStats = s;
  const days = s.days.map((d) => el("tr", {}, el("td", {}, d.day), el("td", { class: "num" }, d.impressions),
    el("td", { class: "num" }, d.clicks), el("td", { class: "num" }, money(d.spent_micros))));
  box.replaceChildren(
    el("h3", { tabindex: "-1", id: "ad-stats-title" }, t("ads.statsOf", { id: ad.id, title: ad.title })),
    el("div", { class: "kv", "data-ad-stats": ad.id },
      el("div", {}, el("b", {}, s.impressions), t("ads.impressions")),
      el("div", {}, el("b", {}, s.clicks), t("ads.clicks")),
      el("div", {}, el("b", {}, `${(100 * s.ctr).toFixed(2)} %`), "CTR"),
      el("div", {}, el("b", {}, money(s.spent_micros)), t("ads.spent")),
      el("div", {}, el("b", {}, money(s.remaining_micros)), t("ads.remaining"))),
    days.length ? table([[t("ads.day")], [t("ads.impressions"), "num"], [t("ads.clicks"), "num"], [t("ads.spent"), "num"]], days, t("ads.byDay")) : "");
  $("ad-stats-title").focus();
}

async function loadAll() {
  const state = $("ads-filter").value;
  const r = await call("GET", `/api/admin/ads?limit=20${state ? `&status=${state}` : ""}`);
  const target = $("ads-all");
  if (missing(r)) return unavailable(target, t("ads.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.adsAll = items;
  const rows = items.map((a) => el("tr", { "data-ad-id": a.id },
    el("td", { class: "num" }, a.id), adCell(a),
    el("td", {}, el("span", { class: "pill idle" }, a.status)),
    el("td", { class: "num small" }, `${money(a.spent_micros)} / ${money(a.budget_micros)}`),
    el("td", { class: "actions-cell" }, button(t("ads.stats"), () => showStats(a), "secondary", { "aria-label": t("ads.statsOf", { id: a.id, title: a.title }) }))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("ads.ad")], [t("ads.state")], [t("ads.spentBudget"), "num"], [t("ads.actions")]], rows, t("ads.all"))
    : el("div", { class: "muted" }, t("ads.none")));
}

function load() {
  return Promise.all([loadQueue(), loadAll()]);
}

register({
  id: "ads",
  title: "ads.title",
  wide: true,
  refresh: "slow",
  render(body) {
    body.append(
      el("h3", {}, t("ads.queue")),
      el("div", { id: "ads" }),
      el("h3", {}, t("ads.all")),
      el("div", { class: "row" },
        el("label", { for: "ads-filter" }, t("ads.state"),
          el("select", { id: "ads-filter", onchange: loadAll },
            ["", "pending", "approved", "rejected"].map((s) => el("option", { value: s }, s || t("ads.any")))))),
      el("div", { id: "ads-all" }),
      el("div", { id: "ad-stats", class: "ad-stats" }));
  },
  load,
  messages: {
    en: {
      "ads.title": "Ads", "ads.queue": "Approval queue", "ads.all": "All ads", "ads.what": "ad list (GET /api/admin/ads)",
      "ads.approved": "ad {id} approved", "ads.rejected": "ad {id} rejected", "ads.by": "advertiser {advertiser} · {placement}",
      "ads.budget": "budget {v}", "ads.approve": "Approve", "ads.reject": "Reject", "ads.ad": "ad", "ads.price": "price",
      "ads.actions": "actions", "ads.noneWaiting": "No ad is waiting for review.", "ads.none": "No ad here.",
      "ads.stats": "Stats", "ads.statsOf": "Stats of ad {id} ({title})", "ads.impressions": "impressions",
      "ads.clicks": "clicks", "ads.spent": "spent", "ads.remaining": "budget left", "ads.day": "day",
      "ads.byDay": "by day", "ads.state": "Status", "ads.any": "any", "ads.spentBudget": "spent / budget",
    },
    ko: {
      "ads.title": "광고", "ads.queue": "승인 대기열", "ads.all": "전체 광고", "ads.what": "광고 목록 (GET /api/admin/ads)",
      "ads.approved": "광고 {id} 승인함", "ads.rejected": "광고 {id} 거절함", "ads.by": "광고주 {advertiser} · {placement}",
      "ads.budget": "예산 {v}", "ads.approve": "승인", "ads.reject": "거절", "ads.ad": "광고", "ads.price": "단가",
      "ads.actions": "작업", "ads.noneWaiting": "검토를 기다리는 광고가 없습니다.", "ads.none": "광고가 없습니다.",
      "ads.stats": "통계", "ads.statsOf": "광고 {id} 통계 ({title})", "ads.impressions": "노출",
      "ads.clicks": "클릭", "ads.spent": "지출", "ads.remaining": "남은 예산", "ads.day": "날짜",
      "ads.byDay": "일별", "ads.state": "상태", "ads.any": "전체", "ads.spentBudget": "지출 / 예산",
    },
  },
});
