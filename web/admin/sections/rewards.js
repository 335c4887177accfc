// The box reward table (GET, POST /api/admin/reward-table): the table in force, and a new
// one uploaded as CSV (pasted or from a file). A refused upload shows the refused line
// itself, numbered as in the file, with the reason. `rewardTable` makes such a section for
// another table with the same routes (the gold box's, sections/gold.js).
import { fmtDateTime, t } from "/static/i18n.js";
import { $, call, el, failed, fieldError, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

/** A reward table section: `id` names its panel and elements, `path` its GET and POST
 * route, `title` and `what` are i18n keys of its heading and of its "not available" text. */
export function rewardTable({ id, path, title, what }) {
  async function load() {
    const r = await call("GET", path);
    const target = $(id);
    if (missing(r)) return unavailable(target, t(what));
    if (!r.ok) return failed(target, r);
    hook.loaded[id] = r.data;
    if (!r.data) return target.replaceChildren(el("div", { class: "muted" }, t("rewards.none")));
    const rows = r.data.rows.map((row) => el("tr", {},
      el("td", { class: "num" }, row.amount), el("td", { class: "num" }, row.weight),
      el("td", { class: "num" }, `${((100 * row.weight) / r.data.total_weight).toFixed(1)} %`)));
    target.replaceChildren(
      el("p", { class: "small muted" }, t("rewards.inForce", { id: r.data.id, time: fmtDateTime(r.data.created_at) })),
      table([[t("rewards.amount"), "num"], [t("rewards.weight"), "num"], [t("rewards.chance"), "num"]], rows, t(title)));
  }

  function showRefusal(csv, error) {
    const box = $(`${id}-refusal`);
    const line = error.details?.line;
    const text = Number.isInteger(line) ? csv.split(/\r?\n/)[line - 1] : null;
    box.replaceChildren(
      el("strong", {}, error.message),
      text !== null && text !== undefined
        ? el("pre", { class: "refused-line", "data-line": line }, el("span", { class: "muted" }, `${line} │ `), text)
        : "");
    box.classList.remove("hidden");
  }

  async function upload() {
    const area = $(`${id}-csv`);
    const csv = area.value;
    fieldError(area, "");
    $(`${id}-refusal`).classList.add("hidden");
    if (!csv.trim()) return fieldError(area, t("rewards.empty"));
    const r = await call("POST", path, undefined, { raw: csv, contentType: "text/csv" });
    if (!r.ok) {
      fieldError(area, r.error.message);
      showRefusal(csv, r.error);
      return status(`${id}-status`, t("rewards.refused"), "error-text");
    }
    status(`${id}-status`, t("rewards.uploaded", { id: r.data.id }), "ok-text");
    area.value = "";
    load();
    reloadAudit();
  }

  return {
    id,
    title,
    render(body) {
      body.append(
        el("div", { id }),
        el("label", { for: `${id}-csv` }, t("rewards.csv"),
          el("textarea", { id: `${id}-csv`, rows: "5", spellcheck: "false", class: "mono", placeholder: "amount,weight\n10,70\n50,25\n500,5" })),
        el("div", { class: "row actions" },
          el("label", { for: `${id}-file`, class: "file" }, t("rewards.file"),
            el("input", { id: `${id}-file`, type: "file", accept: ".csv,text/csv,text/plain",
              onchange: async (e) => { const f = e.target.files?.[0]; if (f) $(`${id}-csv`).value = await f.text(); } })),
          el("button", { type: "button", id: `${id}-upload`, onclick: upload }, t("rewards.upload"))),
        el("div", { id: `${id}-refusal`, class: "refusal hidden", role: "alert" }));
    },
    load,
  };
}

register({
  ...rewardTable({ id: "rewards", path: "/api/admin/reward-table", title: "rewards.title", what: "rewards.what" }),
  messages: {
    en: {
      "rewards.title": "Box reward table", "rewards.what": "reward table (GET /api/admin/reward-table)",
      "rewards.none": "No table uploaded yet.", "rewards.inForce": "Table {id}, in force since {time}",
      "rewards.amount": "coins", "rewards.weight": "weight", "rewards.chance": "chance",
      "rewards.csv": "New table as CSV (amount,weight per line)", "rewards.file": "or a file",
      "rewards.upload": "Upload table", "rewards.empty": "paste a CSV or choose a file",
      "rewards.refused": "refused: the table in force is unchanged", "rewards.uploaded": "table {id} in force",
    },
    ko: {
      "rewards.title": "상자 보상표", "rewards.what": "보상표 (GET /api/admin/reward-table)",
      "rewards.none": "아직 올린 보상표가 없습니다.", "rewards.inForce": "보상표 {id}, {time}부터 적용",
      "rewards.amount": "코인", "rewards.weight": "가중치", "rewards.chance": "확률",
      "rewards.csv": "새 보상표 CSV (줄마다 amount,weight)", "rewards.file": "또는 파일",
      "rewards.upload": "보상표 올리기", "rewards.empty": "CSV를 붙여 넣거나 파일을 고르세요",
      "rewards.refused": "거부됨: 현재 보상표는 그대로입니다", "rewards.uploaded": "보상표 {id} 적용됨",
    },
  },
});
