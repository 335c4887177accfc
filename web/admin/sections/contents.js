// Contents: the list with drafts and deleted ones (GET /api/admin/contents?state=), create
// (POST), edit (PATCH: only the changed fields), delete and restore (DELETE,
// POST .../restore). A refused field is marked on its input.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, fieldError, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const FIELDS = ["title", "source_url", "duration_s", "tags", "reward_interval_ms", "status"];
let editing = null; // the content being edited, or null: the form creates

function input(name) {
  return $(`content-${name}`);
}

function formValues() {
  const tags = input("tags").value.split(",").map((s) => s.trim()).filter(Boolean);
  const interval = input("reward_interval_ms").value.trim();
  return {
    title: input("title").value.trim(),
    source_url: input("source_url").value.trim(),
    duration_s: Number(input("duration_s").value || 0),
    tags,
    reward_interval_ms: interval ? Number(interval) : null,
    status: input("status").value,
  };
}

function fill(content) {
  editing = content;
  input("title").value = content?.title ?? "";
  input("source_url").value = content?.source_url ?? "";
  input("duration_s").value = content?.duration_s ?? "";
  input("tags").value = (content?.tags || []).join(", ");
  input("reward_interval_ms").value = content?.reward_interval_ms ?? "";
  input("status").value = content?.status ?? "published";
  $("content-submit").textContent = content ? t("contents.saveEdit", { id: content.id }) : t("contents.create");
  $("content-cancel").classList.toggle("hidden", !content);
  for (const name of FIELDS) fieldError(input(name), "");
  if (content) input("title").focus();
}

async function submit() {
  for (const name of FIELDS) fieldError(input(name), "");
  const values = formValues();
  let r;
  if (editing) {
    const changed = {};
    for (const [k, v] of Object.entries(values)) if (JSON.stringify(v) !== JSON.stringify(editing[k])) changed[k] = v;
    if (!Object.keys(changed).length) return status("contents-status", t("contents.nothing"));
    r = await call("PATCH", `/api/admin/contents/${editing.id}`, changed);
  } else {
    if (values.reward_interval_ms === null) delete values.reward_interval_ms;
    r = await call("POST", "/api/admin/contents", values);
  }
  if (!r.ok) {
    const field = r.error.details?.field;
    if (field && input(field)) fieldError(input(field), r.error.message);
    return status("contents-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  }
  status("contents-status", t(editing ? "contents.saved" : "contents.created", { id: r.data.id, title: r.data.title }), "ok-text");
  fill(null);
  load();
  reloadAudit();
}

async function setDeleted(content, deleted) {
  const r = await call(deleted ? "DELETE" : "POST", `/api/admin/contents/${content.id}${deleted ? "" : "/restore"}`);
  if (!r.ok) return status("contents-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("contents-status", t(deleted ? "contents.deletedOne" : "contents.restoredOne", { id: content.id }), "ok-text");
  load();
  reloadAudit();
}

async function load() {
  const state = $("contents-state").value;
  const r = await call("GET", `/api/admin/contents?state=${state}&limit=20`);
  const target = $("contents");
  if (missing(r)) return unavailable(target, t("contents.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.contents = items;
  const rows = items.map((c) => el("tr", { "data-content-id": c.id, "data-deleted": String(c.deleted_at !== null) },
    el("td", { class: "num" }, c.id),
    el("td", { class: "wrap-text" }, c.title, el("div", { class: "small muted" }, `${c.provider} · ${c.duration_s} s · ${(c.tags || []).join(", ")}`)),
    el("td", {}, c.deleted_at
      ? el("span", { class: "pill bad" }, t("contents.deleted"))
      : el("span", { class: `pill ${c.status === "published" ? "good" : "idle"}` }, t(`contents.${c.status}`))),
    el("td", { class: "small nowrap" }, fmtDateTime(c.updated_at)),
    el("td", { class: "actions-cell" },
      c.deleted_at
        ? button(t("contents.restore"), () => setDeleted(c, false), "ok")
        : [button(t("contents.edit"), () => fill(c), "secondary"), button(t("contents.delete"), () => setDeleted(c, true), "danger")])));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("contents.titleCol")], [t("contents.state")], [t("contents.updated")], [t("contents.actions")]], rows, t("contents.title"))
    : el("div", { class: "muted" }, t("contents.none")));
}

function field(name, label, attrs = {}, cls = "") {
  const control = attrs.options
    ? el("select", { id: `content-${name}`, name }, attrs.options.map(([v, l]) => el("option", { value: v }, l)))
    : el("input", { id: `content-${name}`, name, ...attrs });
  return el("label", { for: `content-${name}`, class: cls }, label, control);
}

register({
  id: "contents",
  title: "contents.title",
  wide: true,
  render(body) {
    editing = null;
    body.append(
      el("form", { id: "content-form", class: "content-form", onsubmit: (e) => { e.preventDefault(); submit(); } },
        field("title", t("contents.titleCol"), { type: "text", required: true, maxlength: "300" }, "grow"),
        field("source_url", t("contents.url"), { type: "url", required: true, placeholder: "https://" }, "grow"),
        field("duration_s", t("contents.duration"), { type: "number", min: "0", required: true, inputmode: "numeric" }),
        field("tags", t("contents.tags"), { type: "text", placeholder: "news, music" }),
        field("reward_interval_ms", t("contents.interval"), { type: "number", min: "1000", step: "1000", inputmode: "numeric" }),
        field("status", t("contents.state"), { options: [["published", t("contents.published")], ["draft", t("contents.draft")]] }),
        el("div", { class: "row actions" },
          el("button", { type: "submit", id: "content-submit" }, t("contents.create")),
          button(t("contents.cancel"), () => fill(null), "secondary hidden", { id: "content-cancel" }))),
      el("div", { class: "row" },
        el("label", { for: "contents-state" }, t("contents.show"),
          el("select", { id: "contents-state", onchange: load },
            el("option", { value: "live" }, t("contents.showLive")),
            el("option", { value: "deleted" }, t("contents.showDeleted")),
            el("option", { value: "all" }, t("contents.showAll"))))),
      el("div", { id: "contents" }));
  },
  load,
  messages: {
    en: {
      "contents.title": "Contents", "contents.what": "content list (GET /api/admin/contents)",
      "contents.titleCol": "Title", "contents.url": "Source URL", "contents.duration": "Duration (s)",
      "contents.tags": "Tags (comma separated)", "contents.interval": "Reward interval (ms, optional)",
      "contents.state": "State", "contents.published": "published", "contents.draft": "draft",
      "contents.deleted": "deleted", "contents.create": "Create content", "contents.saveEdit": "Save content {id}",
      "contents.cancel": "Cancel", "contents.edit": "Edit", "contents.delete": "Delete", "contents.restore": "Restore",
      "contents.show": "Show", "contents.showLive": "not deleted", "contents.showDeleted": "deleted",
      "contents.showAll": "all", "contents.updated": "updated", "contents.actions": "actions",
      "contents.none": "No content here.", "contents.nothing": "nothing changed",
      "contents.created": "content {id} created", "contents.saved": "content {id} saved",
      "contents.deletedOne": "content {id} deleted", "contents.restoredOne": "content {id} restored",
    },
    ko: {
      "contents.title": "콘텐츠", "contents.what": "콘텐츠 목록 (GET /api/admin/contents)",
      "contents.titleCol": "제목", "contents.url": "원본 URL", "contents.duration": "길이 (초)",
      "contents.tags": "태그 (쉼표로 구분)", "contents.interval": "보상 간격 (ms, 선택)",
      "contents.state": "상태", "contents.published": "공개", "contents.draft": "초안",
      "contents.deleted": "삭제됨", "contents.create": "콘텐츠 만들기", "contents.saveEdit": "콘텐츠 {id} 저장",
      "contents.cancel": "취소", "contents.edit": "수정", "contents.delete": "삭제", "contents.restore": "복원",
      "contents.show": "보기", "contents.showLive": "삭제 안 됨", "contents.showDeleted": "삭제됨",
      "contents.showAll": "전체", "contents.updated": "수정 시각", "contents.actions": "작업",
      "contents.none": "콘텐츠가 없습니다.", "contents.nothing": "바뀐 것이 없습니다",
      "contents.created": "콘텐츠 {id} 만듦", "contents.saved": "콘텐츠 {id} 저장함",
      "contents.deletedOne": "콘텐츠 {id} 삭제함", "contents.restoredOne": "콘텐츠 {id} 복원함",
    },
  },
});
