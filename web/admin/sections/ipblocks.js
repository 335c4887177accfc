// IP blocks (GET, POST /api/admin/ip-blocks, DELETE /api/admin/ip-blocks/{id}): networks
// whose connections and requests are refused.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, fieldError, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

async function add() {
  const cidr = $("ip-cidr");
  fieldError(cidr, "");
  const reason = $("ip-reason").value.trim();
  const r = await call("POST", "/api/admin/ip-blocks", { cidr: cidr.value.trim(), ...(reason ? { reason } : {}) });
  if (!r.ok) {
    fieldError(cidr, r.error.message);
    return status("ipblocks-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  }
  status("ipblocks-status", t("ip.added", { cidr: r.data.cidr }), "ok-text");
  cidr.value = "";
  load();
  reloadAudit();
}

async function remove(item) {
  const r = await call("DELETE", `/api/admin/ip-blocks/${item.id}`);
  if (!r.ok) return status("ipblocks-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("ipblocks-status", t("ip.removed", { cidr: item.cidr }), "ok-text");
  load();
  reloadAudit();
}

async function load() {
  const r = await call("GET", "/api/admin/ip-blocks?limit=50");
  const target = $("ipblocks");
  if (missing(r)) return unavailable(target, t("ip.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.ipblocks = items;
  const rows = items.map((b) => el("tr", { "data-cidr": b.cidr },
    el("td", { class: "mono" }, b.cidr),
    el("td", { class: "wrap-text" }, b.reason || ""),
    el("td", { class: "small nowrap" }, fmtDateTime(b.created_at)),
    el("td", { class: "actions-cell" }, button(t("ip.remove"), () => remove(b), "secondary", { "aria-label": t("ip.removeOne", { cidr: b.cidr }) }))));
  target.replaceChildren(rows.length
    ? table([[t("ip.cidr")], [t("ip.reason")], [t("ip.since")], [t("ip.actions")]], rows, t("ip.title"))
    : el("div", { class: "muted" }, t("ip.none")));
}

register({
  id: "ipblocks",
  title: "ip.title",
  render(body) {
    body.append(
      el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); add(); } },
        el("label", { for: "ip-cidr" }, t("ip.cidr"), el("input", { id: "ip-cidr", type: "text", placeholder: "203.0.113.0/24", required: true, spellcheck: "false" })),
        el("label", { class: "grow", for: "ip-reason" }, t("ip.reason"), el("input", { id: "ip-reason", type: "text", maxlength: "500" })),
        el("button", { type: "submit", class: "danger", id: "ip-add" }, t("ip.add"))),
      el("div", { id: "ipblocks" }));
  },
  load,
  messages: {
    en: {
      "ip.title": "IP blocks", "ip.what": "IP blocks (GET /api/admin/ip-blocks)", "ip.cidr": "Address or network",
      "ip.reason": "Reason (optional)", "ip.add": "Block network", "ip.remove": "Remove", "ip.removeOne": "Remove the block of {cidr}",
      "ip.since": "since", "ip.actions": "actions", "ip.none": "No network is blocked.",
      "ip.added": "{cidr} blocked", "ip.removed": "{cidr} no longer blocked",
    },
    ko: {
      "ip.title": "IP 차단", "ip.what": "IP 차단 (GET /api/admin/ip-blocks)", "ip.cidr": "주소 또는 네트워크",
      "ip.reason": "사유 (선택)", "ip.add": "네트워크 차단", "ip.remove": "해제", "ip.removeOne": "{cidr} 차단 해제",
      "ip.since": "차단 시각", "ip.actions": "작업", "ip.none": "차단된 네트워크가 없습니다.",
      "ip.added": "{cidr} 차단함", "ip.removed": "{cidr} 차단 해제함",
    },
  },
});
