// Tags (GET /api/admin/tags, POST /api/admin/tags/{tag}/rename, POST /api/admin/tags/merge,
// DELETE /api/admin/tags/{tag}): every tag with how many contents carry it and how many of
// those the catalog lists now; rename one (onto a tag that exists is a merge, refused), merge
// several into one, or remove one from every content. Each change is one audit entry.
import { t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const path = (tag) => `/api/admin/tags/${encodeURIComponent(tag)}`;

function done(r, key) {
  status("tags-status", t(key, { tag: r.data.tag, n: r.data.contents }), "ok-text");
  load();
  reloadAudit();
}

async function rename() {
  clearRefusal("tag-rename-error");
  const from = $("tag-tag").value.trim();
  const r = await call("POST", `${path(from)}/rename`, { to: $("tag-to").value.trim() });
  if (!r.ok) return refuse("tag-rename-error", r, "tag");
  $("tag-tag").value = "";
  $("tag-to").value = "";
  done(r, "tags.renamed");
}

async function merge() {
  clearRefusal("tag-merge-error");
  const sources = $("tag-sources").value.split(",").map((s) => s.trim()).filter(Boolean);
  const r = await call("POST", "/api/admin/tags/merge", { sources, into: $("tag-into").value.trim() });
  if (!r.ok) return refuse("tag-merge-error", r, "tag");
  $("tag-sources").value = "";
  $("tag-into").value = "";
  done(r, "tags.merged");
}

async function remove(tag) {
  const r = await call("DELETE", path(tag));
  if (!r.ok) return status("tags-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  done(r, "tags.deleted");
}

function startRename(tag) {
  $("tag-tag").value = tag;
  $("tag-to").value = tag;
  $("tag-to").focus();
  $("tag-to").select();
}

async function load() {
  const r = await call("GET", "/api/admin/tags?limit=100");
  const target = $("tags");
  if (missing(r)) return unavailable(target, t("tags.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.tags = items;
  status("tags-status", r.data.next_cursor ? t("tags.first", { n: items.length }) : t("tags.count", { n: items.length }));
  const rows = items.map((g) => el("tr", { "data-tag": g.tag },
    el("td", { class: "mono wrap-text" }, g.tag),
    el("td", { class: "num" }, g.contents),
    el("td", { class: "num" }, g.listed),
    el("td", { class: "actions-cell" },
      button(t("tags.rename"), () => startRename(g.tag), "secondary", { "aria-label": t("tags.renameOne", { tag: g.tag }) }),
      button(t("tags.delete"), () => remove(g.tag), "danger", { "aria-label": t("tags.deleteOne", { tag: g.tag }) }))));
  target.replaceChildren(rows.length
    ? table([[t("tags.tag")], [t("tags.contents"), "num"], [t("tags.listed"), "num"], [t("tags.actions")]], rows, t("tags.title"))
    : el("div", { class: "muted" }, t("tags.none")));
}

const text = (id, label, attrs = {}) =>
  el("label", { for: id, class: "grow" }, label, el("input", { id, name: id.slice(4), type: "text", required: true, maxlength: "40", spellcheck: "false", ...attrs }));

register({
  id: "tags",
  title: "tags.title",
  render(root) {
    root.append(
      el("form", { class: "row", "aria-label": t("tags.renameForm"), onsubmit: (e) => { e.preventDefault(); rename(); } },
        text("tag-tag", t("tags.from")), text("tag-to", t("tags.to")),
        el("button", { type: "submit", id: "tag-rename" }, t("tags.rename"))),
      errorLine("tag-rename-error"),
      el("form", { class: "row", "aria-label": t("tags.mergeForm"), onsubmit: (e) => { e.preventDefault(); merge(); } },
        text("tag-sources", t("tags.sources"), { maxlength: "2100", placeholder: "clip, clips" }), text("tag-into", t("tags.into")),
        el("button", { type: "submit", id: "tag-merge" }, t("tags.merge"))),
      errorLine("tag-merge-error"),
      el("div", { id: "tags" }));
  },
  load,
  messages: {
    en: {
      "tags.title": "Tags", "tags.what": "tags (GET /api/admin/tags)", "tags.from": "Tag", "tags.to": "New name",
      "tags.rename": "Rename", "tags.renameForm": "Rename a tag", "tags.mergeForm": "Merge tags",
      "tags.sources": "Tags to merge (comma separated)", "tags.into": "Into", "tags.merge": "Merge",
      "tags.delete": "Delete", "tags.renameOne": "Rename the tag {tag}", "tags.deleteOne": "Delete the tag {tag} from every content",
      "tags.renamed": "renamed to {tag} on {n} contents", "tags.merged": "merged into {tag} on {n} contents",
      "tags.deleted": "{tag} removed from {n} contents", "tags.tag": "tag", "tags.contents": "contents",
      "tags.listed": "listed now", "tags.actions": "actions", "tags.none": "No content carries a tag.",
      "tags.count": "{n} tags", "tags.first": "the first {n} tags",
    },
    ko: {
      "tags.title": "태그", "tags.what": "태그 (GET /api/admin/tags)", "tags.from": "태그", "tags.to": "새 이름",
      "tags.rename": "이름 바꾸기", "tags.renameForm": "태그 이름 바꾸기", "tags.mergeForm": "태그 합치기",
      "tags.sources": "합칠 태그 (쉼표로 구분)", "tags.into": "합칠 대상", "tags.merge": "합치기",
      "tags.delete": "삭제", "tags.renameOne": "태그 {tag} 이름 바꾸기", "tags.deleteOne": "모든 콘텐츠에서 태그 {tag} 삭제",
      "tags.renamed": "콘텐츠 {n}개에서 {tag}(으)로 이름 바꿈", "tags.merged": "콘텐츠 {n}개에서 {tag}(으)로 합침",
      "tags.deleted": "콘텐츠 {n}개에서 {tag} 삭제함", "tags.tag": "태그", "tags.contents": "콘텐츠",
      "tags.listed": "현재 노출", "tags.actions": "작업", "tags.none": "태그가 달린 콘텐츠가 없습니다.",
      "tags.count": "태그 {n}개", "tags.first": "처음 태그 {n}개",
    },
  },
});
