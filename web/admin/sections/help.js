// The help center (GET /api/admin/help; POST, PATCH, DELETE /api/admin/help/categories and
// /api/admin/help/articles): categories and their articles, drafts included, in Korean with
// English optional (an empty English field clears it). A category with articles cannot be
// deleted: the api says so under the list.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const CATEGORY = ["slug", "title_ko", "title_en", "position", "status"];
const ARTICLE = ["category_id", "question_ko", "answer_ko", "question_en", "answer_en", "position", "status"];
const NUMBERS = new Set(["position", "category_id"]);
const editing = { category: null, article: null };
let categories = [];

const input = (kind, name) => $(`help-${kind}-${name}`);

function values(kind, names) {
  const out = {};
  for (const name of names) {
    const raw = input(kind, name).value.trim();
    out[name] = NUMBERS.has(name) ? Number(raw || 0) : name.endsWith("_en") && !raw ? null : raw;
  }
  return out;
}

function fill(kind, item) {
  editing[kind] = item;
  const names = kind === "category" ? CATEGORY : ARTICLE;
  for (const name of names) {
    const fallback = name === "status" ? "draft" : name === "position" ? "0" : name === "category_id" ? String(categories[0]?.id ?? "") : "";
    input(kind, name).value = item?.[name] ?? fallback;
  }
  $(`help-${kind}-submit`).textContent = item ? t(`help.save.${kind}`, { id: item.id }) : t(`help.create.${kind}`);
  $(`help-${kind}-cancel`).classList.toggle("hidden", !item);
  clearRefusal(`help-${kind}-error`);
  if (item) input(kind, names[0]).focus();
}

async function submit(kind) {
  clearRefusal(`help-${kind}-error`);
  const base = kind === "category" ? "/api/admin/help/categories" : "/api/admin/help/articles";
  const body = values(kind, kind === "category" ? CATEGORY : ARTICLE);
  const item = editing[kind];
  const r = item ? await call("PATCH", `${base}/${item.id}`, body) : await call("POST", base, body);
  if (!r.ok) return refuse(`help-${kind}-error`, r, `help-${kind}`);
  status("help-status", t(item ? `help.saved.${kind}` : `help.created.${kind}`, { id: r.data.id }), "ok-text");
  fill(kind, null);
  load();
  reloadAudit();
}

async function remove(kind, item) {
  const base = kind === "category" ? "/api/admin/help/categories" : "/api/admin/help/articles";
  const r = await call("DELETE", `${base}/${item.id}`);
  if (!r.ok) return status("help-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("help-status", t(`help.deleted.${kind}`, { id: item.id }), "ok-text");
  if (editing[kind]?.id === item.id) fill(kind, null);
  load();
  reloadAudit();
}

const pill = (s) => el("span", { class: `pill ${s === "published" ? "good" : "idle"}` }, t(`help.status.${s}`));

function actions(kind, item, name) {
  return el("td", { class: "actions-cell" },
    button(t("help.edit"), () => fill(kind, item), "secondary", { "aria-label": t("help.editOne", { name }) }),
    button(t("help.delete"), () => remove(kind, item), "danger", { "aria-label": t("help.deleteOne", { name }) }));
}

async function load() {
  const r = await call("GET", "/api/admin/help");
  const target = $("help");
  if (missing(r)) return unavailable(target, t("help.what"));
  if (!r.ok) return failed(target, r);
  hook.loaded.help = r.data;
  categories = r.data.categories;
  const select = input("article", "category_id");
  const chosen = select.value;
  select.replaceChildren(...categories.map((c) => el("option", { value: c.id }, `${c.title_ko} (${c.slug})`)));
  if (categories.some((c) => String(c.id) === chosen)) select.value = chosen;
  const slug = Object.fromEntries(categories.map((c) => [c.id, c.slug]));
  const catRows = categories.map((c) => el("tr", { "data-category-id": c.id },
    el("td", { class: "num" }, c.id), el("td", { class: "mono" }, c.slug),
    el("td", { class: "wrap-text" }, c.title_ko, el("div", { class: "small muted" }, c.title_en || "—")),
    el("td", { class: "num" }, c.position), el("td", {}, pill(c.status)),
    actions("category", c, c.slug)));
  const artRows = r.data.articles.map((a) => el("tr", { "data-article-id": a.id },
    el("td", { class: "num" }, a.id), el("td", { class: "mono" }, slug[a.category_id] ?? a.category_id),
    el("td", { class: "wrap-text" }, a.question_ko, el("div", { class: "small muted" }, a.question_en || "—")),
    el("td", { class: "num" }, a.position), el("td", {}, pill(a.status)),
    el("td", { class: "small nowrap" }, fmtDateTime(a.updated_at)),
    actions("article", a, a.question_ko)));
  target.replaceChildren(
    el("h3", {}, t("help.categories")),
    catRows.length
      ? table([["id", "num"], [t("help.slug")], [t("help.titleCol")], [t("help.position"), "num"], [t("help.state")], [t("help.actions")]], catRows, t("help.categories"))
      : el("div", { class: "muted" }, t("help.noCategories")),
    el("h3", {}, t("help.articles")),
    artRows.length
      ? table([["id", "num"], [t("help.category")], [t("help.question")], [t("help.position"), "num"], [t("help.state")], [t("help.updated")], [t("help.actions")]], artRows, t("help.articles"))
      : el("div", { class: "muted" }, t("help.noArticles")));
}

function field(kind, name, label, attrs = {}, cls = "") {
  const id = `help-${kind}-${name}`;
  let control;
  if (name === "status") control = el("select", { id, name }, ["draft", "published"].map((s) => el("option", { value: s }, t(`help.status.${s}`))));
  else if (name === "category_id") control = el("select", { id, name });
  else if (attrs.rows) control = el("textarea", { id, name, ...attrs });
  else control = el("input", { id, name, type: "text", ...attrs });
  return el("label", { for: id, class: cls }, label, control);
}

function form(kind, fields) {
  return [
    el("form", { id: `help-${kind}-form`, class: "form-grid", "aria-label": t(`help.form.${kind}`), onsubmit: (e) => { e.preventDefault(); submit(kind); } },
      fields,
      el("div", { class: "row actions" },
        el("button", { type: "submit", id: `help-${kind}-submit` }, t(`help.create.${kind}`)),
        button(t("help.cancel"), () => fill(kind, null), "secondary hidden", { id: `help-${kind}-cancel` }))),
    errorLine(`help-${kind}-error`),
  ];
}

register({
  id: "help",
  title: "help.title",
  wide: true,
  render(root) {
    editing.category = null;
    editing.article = null;
    const position = { type: "number", min: "0", max: "1000000", inputmode: "numeric", value: "0" };
    root.append(
      el("h3", {}, t("help.form.category")),
      ...form("category", [
        field("category", "slug", t("help.slug"), { required: true, maxlength: "80", spellcheck: "false", placeholder: "rewards" }),
        field("category", "title_ko", t("help.titleKo"), { required: true, maxlength: "200", lang: "ko" }),
        field("category", "title_en", t("help.titleEn"), { maxlength: "200", lang: "en" }),
        field("category", "position", t("help.position"), position),
        field("category", "status", t("help.state"))]),
      el("h3", {}, t("help.form.article")),
      ...form("article", [
        field("article", "category_id", t("help.category")),
        field("article", "question_ko", t("help.questionKo"), { required: true, maxlength: "500", lang: "ko" }, "grow"),
        field("article", "answer_ko", t("help.answerKo"), { required: true, maxlength: "20000", rows: "4", lang: "ko" }, "grow"),
        field("article", "question_en", t("help.questionEn"), { maxlength: "500", lang: "en" }, "grow"),
        field("article", "answer_en", t("help.answerEn"), { maxlength: "20000", rows: "4", lang: "en" }, "grow"),
        field("article", "position", t("help.position"), position),
        field("article", "status", t("help.state"))]),
      el("div", { id: "help" }));
  },
  load,
  messages: {
    en: {
      "help.title": "Help center", "help.what": "help center (GET /api/admin/help)",
      "help.form.category": "Category", "help.form.article": "Article",
      "help.slug": "Slug", "help.titleKo": "Title (Korean)", "help.titleEn": "Title (English, optional)",
      "help.position": "Position", "help.state": "State", "help.category": "Category",
      "help.questionKo": "Question (Korean)", "help.answerKo": "Answer (Korean)",
      "help.questionEn": "Question (English, optional)", "help.answerEn": "Answer (English, optional)",
      "help.create.category": "Create category", "help.create.article": "Create article",
      "help.save.category": "Save category {id}", "help.save.article": "Save article {id}", "help.cancel": "Cancel",
      "help.created.category": "category {id} created", "help.created.article": "article {id} created",
      "help.saved.category": "category {id} saved", "help.saved.article": "article {id} saved",
      "help.deleted.category": "category {id} deleted", "help.deleted.article": "article {id} deleted",
      "help.edit": "Edit", "help.delete": "Delete", "help.editOne": "Edit {name}", "help.deleteOne": "Delete {name}",
      "help.categories": "Categories", "help.articles": "Articles", "help.titleCol": "title",
      "help.question": "question", "help.updated": "updated", "help.actions": "actions",
      "help.noCategories": "No category yet.", "help.noArticles": "No article yet.",
      "help.status.draft": "draft", "help.status.published": "published",
    },
    ko: {
      "help.title": "고객센터", "help.what": "고객센터 (GET /api/admin/help)",
      "help.form.category": "분류", "help.form.article": "도움말",
      "help.slug": "슬러그", "help.titleKo": "제목 (한국어)", "help.titleEn": "제목 (영어, 선택)",
      "help.position": "순서", "help.state": "상태", "help.category": "분류",
      "help.questionKo": "질문 (한국어)", "help.answerKo": "답변 (한국어)",
      "help.questionEn": "질문 (영어, 선택)", "help.answerEn": "답변 (영어, 선택)",
      "help.create.category": "분류 만들기", "help.create.article": "도움말 만들기",
      "help.save.category": "분류 {id} 저장", "help.save.article": "도움말 {id} 저장", "help.cancel": "취소",
      "help.created.category": "분류 {id} 만듦", "help.created.article": "도움말 {id} 만듦",
      "help.saved.category": "분류 {id} 저장함", "help.saved.article": "도움말 {id} 저장함",
      "help.deleted.category": "분류 {id} 삭제함", "help.deleted.article": "도움말 {id} 삭제함",
      "help.edit": "수정", "help.delete": "삭제", "help.editOne": "{name} 수정", "help.deleteOne": "{name} 삭제",
      "help.categories": "분류", "help.articles": "도움말", "help.titleCol": "제목",
      "help.question": "질문", "help.updated": "수정 시각", "help.actions": "작업",
      "help.noCategories": "아직 분류가 없습니다.", "help.noArticles": "아직 도움말이 없습니다.",
      "help.status.draft": "초안", "help.status.published": "공개",
    },
  },
});
