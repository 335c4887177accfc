// Settlements (GET, POST /api/admin/settlements, GET /{id}, POST /{id}/confirm): a period's
// advertiser spend from the wallet ledger, drafted, checked line by line, then confirmed.
// Dates are local dates of the service's time zone; the end date is not included.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, download, el, failed, fieldError, hook, missing, money, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

async function create() {
  const start = $("settle-start");
  const end = $("settle-end");
  fieldError(start, "");
  fieldError(end, "");
  if (!start.value) return fieldError(start, t("settle.needDate"));
  if (!end.value) return fieldError(end, t("settle.needDate"));
  const r = await call("POST", "/api/admin/settlements", { period_start: start.value, period_end: end.value });
  if (!r.ok) {
    const target = r.error.details?.field === "period_start" ? start : end;
    fieldError(target, r.error.message);
    return status("settlements-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  }
  status("settlements-status", t("settle.drafted", { id: r.data.id, total: money(r.data.total_micros) }), "ok-text");
  await load();
  show(r.data);
  reloadAudit();
}

async function confirm(s) {
  const r = await call("POST", `/api/admin/settlements/${s.id}/confirm`);
  if (!r.ok) return status("settlements-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("settlements-status", t("settle.confirmed", { id: s.id }), "ok-text");
  await load();
  show(r.data);
  reloadAudit();
}

async function exportCsv(s) {
  const r = await download(`/api/admin/settlements/${s.id}/csv`, `settlement-${s.id}.csv`);
  if (!r.ok) return status("settlements-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("settlements-status", t("settle.exported", { id: s.id }), "ok-text");
}

async function open(s) {
  const r = await call("GET", `/api/admin/settlements/${s.id}`);
  if (!r.ok) return failed($("settlement-detail"), r);
  show(r.data);
}

function show(s) {
  hook.loaded.settlement = s;
  const lines = (s.lines || []).map((l) => el("tr", {},
    el("td", { class: "num" }, l.advertiser_id), el("td", { class: "num" }, l.impressions),
    el("td", { class: "num" }, l.clicks), el("td", { class: "num" }, money(l.amount_micros))));
  $("settlement-detail").replaceChildren(
    el("h3", { tabindex: "-1", id: "settlement-title" }, t("settle.detail", { id: s.id, start: s.period_start, end: s.period_end })),
    el("div", { class: "row" }, button(t("settle.csv"), () => exportCsv(s), "secondary", { id: "settlement-csv" })),
    lines.length
      ? table([[t("settle.advertiser"), "num"], [t("settle.impressions"), "num"], [t("settle.clicks"), "num"], [t("settle.amount"), "num"]], lines, t("settle.lines"))
      : el("div", { class: "muted" }, t("settle.noLines")));
  $("settlement-title").focus();
}

async function load() {
  const r = await call("GET", "/api/admin/settlements?limit=20");
  const target = $("settlements");
  if (missing(r)) return unavailable(target, t("settle.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.settlements = items;
  const rows = items.map((s) => el("tr", { "data-settlement-id": s.id, "data-status": s.status },
    el("td", { class: "num" }, s.id),
    el("td", { class: "nowrap" }, `${s.period_start} – ${s.period_end}`),
    el("td", {}, el("span", { class: `pill ${s.status === "confirmed" ? "good" : "warn"}` }, t(`settle.status.${s.status}`))),
    el("td", { class: "num" }, money(s.total_micros)),
    el("td", { class: "small nowrap" }, fmtDateTime(s.confirmed_at || s.created_at)),
    el("td", { class: "actions-cell" },
      button(t("settle.lines"), () => open(s), "secondary"),
      s.status === "draft" ? button(t("settle.confirm"), () => confirm(s), "ok") : "")));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("settle.period")], [t("settle.state")], [t("settle.total"), "num"], [t("settle.when")], [t("settle.actions")]], rows, t("settle.title"))
    : el("div", { class: "muted" }, t("settle.none")));
}

register({
  id: "settlements",
  title: "settle.title",
  wide: true,
  render(body) {
    body.append(
      el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); create(); } },
        el("label", { for: "settle-start" }, t("settle.start"), el("input", { id: "settle-start", type: "date", required: true })),
        el("label", { for: "settle-end" }, t("settle.end"), el("input", { id: "settle-end", type: "date", required: true })),
        el("button", { type: "submit", id: "settle-create" }, t("settle.create"))),
      el("p", { class: "small muted" }, t("settle.help")),
      el("div", { id: "settlements" }),
      el("div", { id: "settlement-detail" }));
  },
  load,
  messages: {
    en: {
      "settle.title": "Settlements", "settle.what": "settlements (GET /api/admin/settlements)",
      "settle.start": "First day", "settle.end": "Day after the last", "settle.create": "Draft settlement",
      "settle.help": "A draft sums the advertisers' spend of the period from the wallet ledger; confirm it once checked. Periods never overlap.",
      "settle.needDate": "choose a date", "settle.drafted": "settlement {id} drafted: {total}",
      "settle.confirmed": "settlement {id} confirmed", "settle.detail": "Settlement {id}: {start} – {end}",
      "settle.advertiser": "advertiser", "settle.impressions": "impressions", "settle.clicks": "clicks",
      "settle.amount": "amount", "settle.lines": "Lines", "settle.noLines": "No spend in this period.",
      "settle.status.draft": "draft", "settle.status.confirmed": "confirmed", "settle.confirm": "Confirm", "settle.period": "period",
      "settle.state": "state", "settle.total": "total", "settle.when": "when", "settle.actions": "actions",
      "settle.none": "No settlement yet.",
      "settle.csv": "Download CSV", "settle.exported": "settlement {id} downloaded as CSV",
    },
    ko: {
      "settle.title": "정산", "settle.what": "정산 (GET /api/admin/settlements)",
      "settle.start": "시작일", "settle.end": "마지막 날의 다음 날", "settle.create": "정산 초안 만들기",
      "settle.help": "초안은 지갑 원장에서 기간 동안의 광고주 지출을 합산합니다. 확인한 뒤 확정하세요. 기간은 겹치지 않습니다.",
      "settle.needDate": "날짜를 고르세요", "settle.drafted": "정산 {id} 초안: {total}",
      "settle.confirmed": "정산 {id} 확정함", "settle.detail": "정산 {id}: {start} – {end}",
      "settle.advertiser": "광고주", "settle.impressions": "노출", "settle.clicks": "클릭",
      "settle.amount": "금액", "settle.lines": "내역", "settle.noLines": "이 기간에 지출이 없습니다.",
      "settle.status.draft": "초안", "settle.status.confirmed": "확정", "settle.confirm": "확정", "settle.period": "기간",
      "settle.state": "상태", "settle.total": "합계", "settle.when": "시각", "settle.actions": "작업",
      "settle.none": "아직 정산이 없습니다.",
      "settle.csv": "CSV 내려받기", "settle.exported": "정산 {id}을(를) CSV로 내려받음",
    },
  },
});
