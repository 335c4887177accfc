// Gold boxes: the rules (GET, PUT /api/admin/gold-box/rules: on or off, and one gold box per
// N random boxes opened, 0 for none) and the gold box's own reward table
// (GET, POST /api/admin/gold-box/reward-table, uploaded as the box table is: rewards.js).
import { t } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, status, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";
import { rewardTable } from "./rewards.js";

async function load() {
  const r = await call("GET", "/api/admin/gold-box/rules");
  const form = $("gold-form");
  form.classList.toggle("hidden", !r.ok);
  if (missing(r)) return unavailable($("gold-rules"), t("gold.what"));
  if (!r.ok) return failed($("gold-rules"), r);
  hook.loaded.goldRules = r.data;
  $("gold-rules").replaceChildren();
  $("gold-enabled").checked = r.data.enabled;
  $("gold-boxes_per_gold").value = r.data.boxes_per_gold;
  status("gold-status", t(r.data.enabled ? "gold.on" : "gold.off", { n: r.data.boxes_per_gold }));
}

async function save() {
  clearRefusal("gold-error");
  const r = await call("PUT", "/api/admin/gold-box/rules", {
    enabled: $("gold-enabled").checked,
    boxes_per_gold: Number($("gold-boxes_per_gold").value || 0),
  });
  if (!r.ok) return refuse("gold-error", r, "gold");
  hook.loaded.goldRules = r.data;
  status("gold-status", t(r.data.enabled ? "gold.on" : "gold.off", { n: r.data.boxes_per_gold }), "ok-text");
  reloadAudit();
}

register({
  id: "gold",
  title: "gold.title",
  render(root) {
    root.append(
      el("div", { id: "gold-rules" }),
      el("form", { id: "gold-form", class: "row", onsubmit: (e) => { e.preventDefault(); save(); } },
        el("label", { class: "inline", for: "gold-enabled" }, el("input", { id: "gold-enabled", name: "enabled", type: "checkbox" }), t("gold.enabled")),
        el("label", { for: "gold-boxes_per_gold" }, t("gold.per"),
          el("input", { id: "gold-boxes_per_gold", name: "boxes_per_gold", type: "number", min: "0", class: "narrow", inputmode: "numeric" })),
        el("button", { type: "submit", id: "gold-save" }, t("gold.save"))),
      errorLine("gold-error"),
      el("p", { class: "small muted" }, t("gold.help")));
  },
  load,
  messages: {
    en: {
      "gold.title": "Gold box rules", "gold.what": "gold box rules (GET /api/admin/gold-box/rules)",
      "gold.enabled": "gold boxes on", "gold.per": "One gold box per N random boxes opened (0: none)",
      "gold.save": "Save rules", "gold.on": "on: one per {n} boxes", "gold.off": "off",
      "gold.help": "A gold box pays from its own table, below. Missions can also give gold boxes.",
      "goldTable.title": "Gold box reward table", "goldTable.what": "gold box table (GET /api/admin/gold-box/reward-table)",
    },
    ko: {
      "gold.title": "골드 상자 규칙", "gold.what": "골드 상자 규칙 (GET /api/admin/gold-box/rules)",
      "gold.enabled": "골드 상자 사용", "gold.per": "랜덤 상자 N개를 열 때마다 골드 상자 1개 (0: 없음)",
      "gold.save": "규칙 저장", "gold.on": "사용: 상자 {n}개마다 1개", "gold.off": "사용 안 함",
      "gold.help": "골드 상자는 아래의 자체 보상표로 지급합니다. 미션 보상으로도 골드 상자를 줄 수 있습니다.",
      "goldTable.title": "골드 상자 보상표", "goldTable.what": "골드 상자 보상표 (GET /api/admin/gold-box/reward-table)",
    },
  },
});

register(rewardTable({ id: "gold-table", path: "/api/admin/gold-box/reward-table", title: "goldTable.title", what: "goldTable.what" }));
