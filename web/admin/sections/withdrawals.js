// Advertiser withdrawals (GET /api/admin/withdrawals?status=&advertiser_id=, POST
// /api/admin/withdrawals/{id}/approve and /reject with a note): the amount left the wallet
// when the advertiser asked; approving records the bank transfer's reference, rejecting puts
// the amount back (once) and tells the advertiser why. docs/money.md "Withdrawals".
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, money, status, table, unavailable } from "../core.js";
import { errorLine, refuseWith } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const PILL = { approved: "good", pending: "warn", rejected: "bad" };

async function decide(w, verdict) {
  const note = $(`withdrawal-note-${w.id}`);
  if (!note.value.trim()) return refuseWith("withdrawals-error", t("withdrawals.needNote"), note);
  const r = await call("POST", `/api/admin/withdrawals/${w.id}/${verdict}`, { note: note.value.trim() });
  if (!r.ok) return refuseWith("withdrawals-error", t("core.refusedShort", { message: r.error.message }), note);
  const said = verdict === "approve" ? "withdrawals.approvedOne" : "withdrawals.rejectedOne";
  status("withdrawals-status", t(said, { id: w.id, amount: money(w.amount_micros) }), "ok-text");
  await load();
  reloadAudit();
}

function row(w) {
  const pending = w.status === "pending";
  return el("tr", { "data-withdrawal-id": w.id, "data-status": w.status },
    el("td", { class: "num" }, w.id),
    el("td", { class: "num" }, w.advertiser_id),
    el("td", { class: "num" }, money(w.amount_micros)),
    el("td", { class: "wrap-text" }, w.bank_account),
    el("td", {}, el("span", { class: `pill ${PILL[w.status] || "idle"}` }, t(`withdrawals.status.${w.status}`)),
      w.note ? el("div", { class: "small muted wrap-text" }, w.note) : ""),
    el("td", { class: "small nowrap" }, fmtDateTime(w.created_at), el("div", { class: "muted" }, w.decided_at ? fmtDateTime(w.decided_at) : "")),
    el("td", { class: "actions-cell" }, pending
      ? [el("input", { id: `withdrawal-note-${w.id}`, type: "text", maxlength: "500", class: "narrow",
          "aria-label": t("withdrawals.noteFor", { id: w.id }), placeholder: t("withdrawals.note") }),
        button(t("withdrawals.approve"), () => decide(w, "approve"), "ok", { id: `withdrawal-approve-${w.id}` }),
        button(t("withdrawals.reject"), () => decide(w, "reject"), "danger", { id: `withdrawal-reject-${w.id}` })]
      : ""));
}

async function load() {
  const advertiser = $("withdrawals-advertiser").value.trim();
  const state = $("withdrawals-state").value;
  const query = `${advertiser ? `&advertiser_id=${Number(advertiser)}` : ""}${state ? `&status=${state}` : ""}`;
  const r = await call("GET", `/api/admin/withdrawals?limit=50${query}`);
  const target = $("withdrawals");
  if (missing(r)) return unavailable(target, t("withdrawals.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.withdrawals = items;
  target.replaceChildren(items.length
    ? table([["id", "num"], [t("withdrawals.advertiser"), "num"], [t("withdrawals.amount"), "num"], [t("withdrawals.account")],
      [t("withdrawals.state")], [t("withdrawals.when")], [t("withdrawals.actions")]], items.map(row), t("withdrawals.title"))
    : el("div", { class: "muted" }, t("withdrawals.none")));
}

register({
  id: "withdrawals",
  title: "withdrawals.title",
  wide: true,
  render(root) {
    root.append(
      el("p", { class: "small muted" }, t("withdrawals.help")),
      el("form", { class: "row", "aria-label": t("withdrawals.filter"), onsubmit: (e) => { e.preventDefault(); load(); } },
        el("label", { for: "withdrawals-advertiser" }, t("withdrawals.advertiserId"),
          el("input", { id: "withdrawals-advertiser", type: "number", min: "1", class: "narrow", inputmode: "numeric" })),
        el("label", { for: "withdrawals-state" }, t("withdrawals.state"),
          el("select", { id: "withdrawals-state", onchange: load },
            ["pending", "", "approved", "rejected"].map((s) => el("option", { value: s }, s ? t(`withdrawals.status.${s}`) : t("withdrawals.any"))))),
        el("button", { type: "submit", class: "secondary", id: "withdrawals-filter" }, t("withdrawals.apply"))),
      errorLine("withdrawals-error"),
      el("div", { id: "withdrawals" }));
  },
  load,
  messages: {
    en: {
      "withdrawals.title": "Withdrawals", "withdrawals.what": "withdrawals (GET /api/admin/withdrawals)",
      "withdrawals.help": "The amount left the advertiser's wallet when they asked. Approve once the bank transfer is made (the note is its reference); reject to put the amount back (the note tells the advertiser why).",
      "withdrawals.filter": "Filter withdrawals", "withdrawals.advertiserId": "Advertiser id", "withdrawals.apply": "Show",
      "withdrawals.any": "any", "withdrawals.advertiser": "advertiser", "withdrawals.amount": "amount",
      "withdrawals.account": "bank account", "withdrawals.state": "Status", "withdrawals.when": "asked / decided",
      "withdrawals.actions": "decision", "withdrawals.note": "transfer reference or reason",
      "withdrawals.noteFor": "Note for withdrawal {id}", "withdrawals.needNote": "write the transfer reference or the reason first",
      "withdrawals.approve": "Approve", "withdrawals.reject": "Reject",
      "withdrawals.approvedOne": "withdrawal {id} of {amount} approved", "withdrawals.rejectedOne": "withdrawal {id} rejected: {amount} returned to the wallet",
      "withdrawals.none": "No withdrawal here.",
      "withdrawals.status.pending": "pending", "withdrawals.status.approved": "approved", "withdrawals.status.rejected": "rejected",
    },
    ko: {
      "withdrawals.title": "출금", "withdrawals.what": "출금 (GET /api/admin/withdrawals)",
      "withdrawals.help": "금액은 광고주가 요청했을 때 지갑에서 빠져나갔습니다. 계좌 이체를 마친 뒤 승인하세요(메모는 이체 참조). 거절하면 금액이 지갑으로 돌아갑니다(메모로 광고주에게 이유를 알립니다).",
      "withdrawals.filter": "출금 필터", "withdrawals.advertiserId": "광고주 ID", "withdrawals.apply": "보기",
      "withdrawals.any": "전체", "withdrawals.advertiser": "광고주", "withdrawals.amount": "금액",
      "withdrawals.account": "계좌", "withdrawals.state": "상태", "withdrawals.when": "요청 / 결정",
      "withdrawals.actions": "결정", "withdrawals.note": "이체 참조 또는 사유",
      "withdrawals.noteFor": "출금 {id} 메모", "withdrawals.needNote": "이체 참조나 사유를 먼저 적으세요",
      "withdrawals.approve": "승인", "withdrawals.reject": "거절",
      "withdrawals.approvedOne": "출금 {id} ({amount}) 승인함", "withdrawals.rejectedOne": "출금 {id} 거절함: {amount}이(가) 지갑으로 돌아감",
      "withdrawals.none": "출금이 없습니다.",
      "withdrawals.status.pending": "대기", "withdrawals.status.approved": "승인", "withdrawals.status.rejected": "거절",
    },
  },
});
