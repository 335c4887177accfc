// Advertiser money: the gateway payments (GET /api/admin/payments?advertiser_id=&status=),
// newest first, and the manual credit of an advertiser's wallet for a bank transfer received
// outside the gateway (POST /api/admin/wallets/{id}/credits with an Idempotency-Key: the
// form keeps its key until the credit is answered, so sending again after a lost answer
// credits once).
import { fmtDateTime, t } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, money, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const PILL = { paid: "good", pending: "warn", failed: "bad", expired: "idle" };
let creditKey = null;

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function credit() {
  clearRefusal("credit-error");
  creditKey ||= newKey();
  const id = Number($("credit-advertiser_id").value);
  const amount = Math.round(Number($("credit-amount_micros").value) * 1e6);
  const r = await call("POST", `/api/admin/wallets/${id}/credits`,
    { amount_micros: amount, reference: $("credit-reference").value.trim() }, { headers: { "Idempotency-Key": creditKey } });
  if (!r.ok) return refuse("credit-error", r, "credit");
  creditKey = null;
  status("payments-status", t("payments.credited", { id: r.data.advertiser_id, amount: money(r.data.amount_micros), balance: money(r.data.balance_after_micros) }), "ok-text");
  hook.loaded.credit = r.data;
  for (const name of ["amount_micros", "reference"]) $(`credit-${name}`).value = "";
  reloadAudit();
}

async function load() {
  const advertiser = $("payments-advertiser").value.trim();
  const state = $("payments-state").value;
  const query = `${advertiser ? `&advertiser_id=${Number(advertiser)}` : ""}${state ? `&status=${state}` : ""}`;
  const r = await call("GET", `/api/admin/payments?limit=50${query}`);
  const target = $("payments");
  if (missing(r)) return unavailable(target, t("payments.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.payments = items;
  const rows = items.map((p) => el("tr", { "data-payment-id": p.id, "data-status": p.status },
    el("td", { class: "num" }, p.id),
    el("td", { class: "num" }, p.advertiser_id),
    el("td", { class: "mono wrap-text" }, p.order_id),
    el("td", { class: "num" }, money(p.amount_micros)),
    el("td", {}, el("span", { class: `pill ${PILL[p.status] || "idle"}` }, t(`payments.status.${p.status}`)),
      p.failure ? el("div", { class: "small error-text" }, p.failure) : ""),
    el("td", { class: "small nowrap" }, fmtDateTime(p.created_at), el("div", { class: "muted" }, fmtDateTime(p.decided_at || p.expires_at)))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("payments.advertiser"), "num"], [t("payments.order")], [t("payments.amount"), "num"], [t("payments.state")], [t("payments.when")]], rows, t("payments.title"))
    : el("div", { class: "muted" }, t("payments.none")));
}

register({
  id: "payments",
  title: "payments.title",
  wide: true,
  render(root) {
    creditKey = null;
    root.append(
      el("h3", {}, t("payments.creditTitle")),
      el("form", { id: "credit-form", class: "row", onsubmit: (e) => { e.preventDefault(); credit(); },
        oninput: (e) => { if (e.target.id !== "credit-reference") creditKey = null; } }, // another credit: another key
        el("label", { for: "credit-advertiser_id" }, t("payments.advertiserId"),
          el("input", { id: "credit-advertiser_id", name: "advertiser_id", type: "number", min: "1", required: true, class: "narrow", inputmode: "numeric" })),
        el("label", { for: "credit-amount_micros" }, t("payments.amountField"),
          el("input", { id: "credit-amount_micros", name: "amount_micros", type: "number", min: "0.000001", step: "any", required: true, inputmode: "decimal" })),
        el("label", { for: "credit-reference", class: "grow" }, t("payments.reference"),
          el("input", { id: "credit-reference", name: "reference", type: "text", required: true, maxlength: "200" })),
        el("button", { type: "submit", id: "credit-submit" }, t("payments.credit"))),
      errorLine("credit-error"),
      el("h3", {}, t("payments.listTitle")),
      el("form", { class: "row", "aria-label": t("payments.filter"), onsubmit: (e) => { e.preventDefault(); load(); } },
        el("label", { for: "payments-advertiser" }, t("payments.advertiserId"),
          el("input", { id: "payments-advertiser", type: "number", min: "1", class: "narrow", inputmode: "numeric" })),
        el("label", { for: "payments-state" }, t("payments.state"),
          el("select", { id: "payments-state", onchange: load },
            ["", "pending", "paid", "failed", "expired"].map((s) => el("option", { value: s }, s ? t(`payments.status.${s}`) : t("payments.any"))))),
        el("button", { type: "submit", class: "secondary", id: "payments-filter" }, t("payments.apply"))),
      el("div", { id: "payments" }));
  },
  load,
  messages: {
    en: {
      "payments.title": "Advertiser payments", "payments.what": "payments (GET /api/admin/payments)",
      "payments.creditTitle": "Credit a wallet by hand (a bank transfer)", "payments.advertiserId": "Advertiser id",
      "payments.amountField": "Amount (currency units)", "payments.reference": "Transfer reference",
      "payments.credit": "Credit wallet", "payments.credited": "advertiser {id} credited {amount}; balance {balance}",
      "payments.listTitle": "Gateway payments", "payments.filter": "Filter payments", "payments.apply": "Show",
      "payments.any": "any", "payments.advertiser": "advertiser", "payments.order": "order",
      "payments.amount": "amount", "payments.state": "Status", "payments.when": "created / decided or expires",
      "payments.none": "No payment here.",
      "payments.status.pending": "pending", "payments.status.paid": "paid", "payments.status.failed": "failed", "payments.status.expired": "expired",
    },
    ko: {
      "payments.title": "광고주 결제", "payments.what": "결제 (GET /api/admin/payments)",
      "payments.creditTitle": "지갑 수동 충전 (계좌 이체)", "payments.advertiserId": "광고주 ID",
      "payments.amountField": "금액 (통화 단위)", "payments.reference": "이체 참조",
      "payments.credit": "지갑 충전", "payments.credited": "광고주 {id}에 {amount} 충전함, 잔액 {balance}",
      "payments.listTitle": "결제 대행 결제", "payments.filter": "결제 필터", "payments.apply": "보기",
      "payments.any": "전체", "payments.advertiser": "광고주", "payments.order": "주문",
      "payments.amount": "금액", "payments.state": "상태", "payments.when": "생성 / 결정 또는 만료",
      "payments.none": "결제가 없습니다.",
      "payments.status.pending": "대기", "payments.status.paid": "완료", "payments.status.failed": "실패", "payments.status.expired": "만료",
    },
  },
});
