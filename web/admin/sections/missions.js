// Missions (GET, POST /api/admin/missions, PUT, DELETE /api/admin/missions/{id}): the list
// with each mission's figures, a form that creates or (Edit) replaces one, Pause and Resume
// (a PUT with the other status) and Delete (hidden; its payments stay). Window times are
// typed and shown in the service's time zone.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, isoToZoned, refuse, showZones, zonedToIso, zoneName } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const KINDS = ["watch_minutes", "watch_content_minutes", "watch_tag_minutes", "watch_contents", "open_boxes", "watch_streak_days"];
let editing = null; // the mission being edited (its view), or null: the form creates

const input = (name) => $(`mission-${name}`);

function body() {
  const value = (name) => input(name).value.trim();
  return {
    title: value("title"),
    kind: value("kind"),
    target: Number(value("target")),
    period: value("period"),
    reward_kind: value("reward_kind"),
    reward_amount: Number(value("reward_amount")),
    content_id: value("content_id") ? Number(value("content_id")) : null,
    tag: value("tag") || null,
    starts_at: zonedToIso(value("starts_at")) || null,
    ends_at: zonedToIso(value("ends_at")) || null,
    join_required: input("join_required").checked,
    status: value("status"),
  };
}

function fill(m) {
  editing = m;
  for (const name of ["title", "target", "reward_amount", "content_id", "tag"]) input(name).value = m?.[name] ?? "";
  input("kind").value = m?.kind ?? "watch_minutes";
  input("period").value = m?.period ?? "daily";
  input("reward_kind").value = m?.reward_kind ?? "coins";
  input("status").value = m?.status ?? "active";
  input("starts_at").value = isoToZoned(m?.starts_at);
  input("ends_at").value = isoToZoned(m?.ends_at);
  input("join_required").checked = Boolean(m?.join_required);
  $("mission-submit").textContent = m ? t("missions.save", { id: m.id }) : t("missions.create");
  $("mission-cancel").classList.toggle("hidden", !m);
  clearRefusal("mission-error");
  if (m) input("title").focus();
}

async function submit() {
  clearRefusal("mission-error");
  const r = editing
    ? await call("PUT", `/api/admin/missions/${editing.id}`, body())
    : await call("POST", "/api/admin/missions", body());
  if (!r.ok) return refuse("mission-error", r, "mission");
  status("missions-status", t(editing ? "missions.saved" : "missions.created", { id: r.data.id }), "ok-text");
  fill(null);
  load();
  reloadAudit();
}

async function setStatus(m, next) {
  const { id, created_at: _c, updated_at: _u, ...rest } = m;
  const r = await call("PUT", `/api/admin/missions/${id}`, { ...rest, status: next });
  if (!r.ok) return status("missions-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("missions-status", t(next === "paused" ? "missions.paused" : "missions.resumed", { id }), "ok-text");
  load();
  reloadAudit();
}

async function remove(m) {
  const r = await call("DELETE", `/api/admin/missions/${m.id}`);
  if (!r.ok) return status("missions-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("missions-status", t("missions.deleted", { id: m.id }), "ok-text");
  if (editing?.id === m.id) fill(null);
  load();
  reloadAudit();
}

function what(m) {
  const about = m.content_id ? ` · ${t("missions.content")} ${m.content_id}` : m.tag ? ` · #${m.tag}` : "";
  const window = m.starts_at || m.ends_at ? ` · ${fmtDateTime(m.starts_at)} – ${fmtDateTime(m.ends_at)}` : "";
  return `${t(`missions.kind.${m.kind}`)} ≥ ${m.target}${about} · ${t(`missions.period.${m.period}`)}${window}`;
}

async function load() {
  const r = await call("GET", "/api/admin/missions?limit=50");
  const target = $("missions");
  showZones();
  if (missing(r)) return unavailable(target, t("missions.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.missions = items;
  const rows = items.map(({ mission: m, figures: f }) => el("tr", { "data-mission-id": m.id, "data-status": m.status },
    el("td", { class: "num" }, m.id),
    el("td", { class: "wrap-text" }, m.title, el("div", { class: "small muted" }, what(m))),
    el("td", { class: "small" }, t(`missions.reward.${m.reward_kind}`, { n: m.reward_amount })),
    el("td", { class: "num small" }, `${f.joined} / ${f.completed} / ${f.paid}`),
    el("td", {}, el("span", { class: `pill ${m.status === "active" ? "good" : "idle"}` }, t(`missions.status.${m.status}`))),
    el("td", { class: "actions-cell" },
      button(t("missions.edit"), () => fill(m), "secondary", { "aria-label": t("missions.editOne", { id: m.id }) }),
      m.status === "active"
        ? button(t("missions.pause"), () => setStatus(m, "paused"), "secondary", { "aria-label": t("missions.pauseOne", { id: m.id }) })
        : button(t("missions.resume"), () => setStatus(m, "active"), "ok", { "aria-label": t("missions.resumeOne", { id: m.id }) }),
      button(t("missions.delete"), () => remove(m), "danger", { "aria-label": t("missions.deleteOne", { id: m.id }) }))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("missions.mission")], [t("missions.rewardCol")], [t("missions.figures"), "num"], [t("missions.state")], [t("missions.actions")]], rows, t("missions.title"))
    : el("div", { class: "muted" }, t("missions.none")));
}

function field(name, label, attrs = {}, cls = "") {
  const id = `mission-${name}`;
  const control = attrs.options
    ? el("select", { id, name }, attrs.options.map((v) => el("option", { value: v }, t(`missions.${attrs.prefix}.${v}`))))
    : el("input", { id, name, ...attrs });
  return el("label", { for: id, class: cls }, label, control);
}

register({
  id: "missions",
  title: "missions.title",
  wide: true,
  render(root) {
    editing = null;
    root.append(
      el("form", { id: "mission-form", class: "form-grid", onsubmit: (e) => { e.preventDefault(); submit(); } },
        field("title", t("missions.titleCol"), { type: "text", required: true, maxlength: "200" }, "grow"),
        field("kind", t("missions.kindCol"), { options: KINDS, prefix: "kind" }),
        field("target", t("missions.target"), { type: "number", min: "1", required: true, inputmode: "numeric" }),
        field("period", t("missions.periodCol"), { options: ["daily", "weekly", "range"], prefix: "period" }),
        field("content_id", t("missions.contentId"), { type: "number", min: "1", inputmode: "numeric" }),
        field("tag", t("missions.tag"), { type: "text", maxlength: "64" }),
        field("starts_at", [t("missions.starts"), " (", zoneName(), ")"], { type: "datetime-local" }),
        field("ends_at", [t("missions.ends"), " (", zoneName(), ")"], { type: "datetime-local" }),
        field("reward_kind", t("missions.rewardKind"), { options: ["coins", "gold_box"], prefix: "rewardKind" }),
        field("reward_amount", t("missions.amount"), { type: "number", min: "1", required: true, inputmode: "numeric" }),
        field("status", t("missions.state"), { options: ["active", "paused"], prefix: "status" }),
        el("label", { class: "inline", for: "mission-join_required" },
          el("input", { id: "mission-join_required", name: "join_required", type: "checkbox" }), t("missions.join")),
        el("div", { class: "row actions" },
          el("button", { type: "submit", id: "mission-submit" }, t("missions.create")),
          button(t("missions.cancel"), () => fill(null), "secondary hidden", { id: "mission-cancel" }))),
      errorLine("mission-error"),
      el("p", { class: "small muted" }, t("missions.help")),
      el("div", { id: "missions" }));
  },
  load,
  messages: {
    en: {
      "missions.title": "Missions", "missions.what": "missions (GET /api/admin/missions)",
      "missions.titleCol": "Title", "missions.kindCol": "Kind", "missions.target": "Target",
      "missions.periodCol": "Period", "missions.contentId": "Content id (watch a content)",
      "missions.tag": "Tag (watch a tag)", "missions.starts": "Starts, optional", "missions.ends": "Ends, optional",
      "missions.rewardKind": "Reward", "missions.amount": "Reward amount", "missions.state": "State",
      "missions.join": "users must join first", "missions.create": "Create mission", "missions.save": "Save mission {id}",
      "missions.cancel": "Cancel", "missions.edit": "Edit", "missions.pause": "Pause", "missions.resume": "Resume",
      "missions.delete": "Delete", "missions.editOne": "Edit mission {id}", "missions.pauseOne": "Pause mission {id}",
      "missions.resumeOne": "Resume mission {id}", "missions.deleteOne": "Delete mission {id}",
      "missions.created": "mission {id} created", "missions.saved": "mission {id} saved",
      "missions.paused": "mission {id} paused", "missions.resumed": "mission {id} resumed", "missions.deleted": "mission {id} deleted",
      "missions.mission": "mission", "missions.rewardCol": "reward", "missions.figures": "joined / completed / paid",
      "missions.actions": "actions", "missions.none": "No mission yet.", "missions.content": "content",
      "missions.help": "Target: minutes, contents, boxes or days, by kind. A range mission needs both times. Deleting hides a mission; what it paid stays.",
      "missions.kind.watch_minutes": "watch minutes", "missions.kind.watch_content_minutes": "watch minutes of a content",
      "missions.kind.watch_tag_minutes": "watch minutes of a tag", "missions.kind.watch_contents": "watch contents",
      "missions.kind.open_boxes": "open boxes", "missions.kind.watch_streak_days": "watch days in a row",
      "missions.period.daily": "daily", "missions.period.weekly": "weekly", "missions.period.range": "a date range",
      "missions.rewardKind.coins": "coins", "missions.rewardKind.gold_box": "gold boxes",
      "missions.reward.coins": "{n} coins", "missions.reward.gold_box": "{n} gold boxes",
      "missions.status.active": "active", "missions.status.paused": "paused",
    },
    ko: {
      "missions.title": "미션", "missions.what": "미션 (GET /api/admin/missions)",
      "missions.titleCol": "제목", "missions.kindCol": "종류", "missions.target": "목표",
      "missions.periodCol": "주기", "missions.contentId": "콘텐츠 ID (콘텐츠 시청)",
      "missions.tag": "태그 (태그 시청)", "missions.starts": "시작, 선택", "missions.ends": "종료, 선택",
      "missions.rewardKind": "보상", "missions.amount": "보상 수량", "missions.state": "상태",
      "missions.join": "참여 신청 필요", "missions.create": "미션 만들기", "missions.save": "미션 {id} 저장",
      "missions.cancel": "취소", "missions.edit": "수정", "missions.pause": "일시 중지", "missions.resume": "재개",
      "missions.delete": "삭제", "missions.editOne": "미션 {id} 수정", "missions.pauseOne": "미션 {id} 일시 중지",
      "missions.resumeOne": "미션 {id} 재개", "missions.deleteOne": "미션 {id} 삭제",
      "missions.created": "미션 {id} 만듦", "missions.saved": "미션 {id} 저장함",
      "missions.paused": "미션 {id} 일시 중지함", "missions.resumed": "미션 {id} 재개함", "missions.deleted": "미션 {id} 삭제함",
      "missions.mission": "미션", "missions.rewardCol": "보상", "missions.figures": "참여 / 달성 / 지급",
      "missions.actions": "작업", "missions.none": "아직 미션이 없습니다.", "missions.content": "콘텐츠",
      "missions.help": "목표는 종류에 따라 분, 콘텐츠 수, 상자 수 또는 일수입니다. 기간 미션은 시작과 종료가 모두 필요합니다. 삭제하면 미션이 숨겨지고 지급 내역은 남습니다.",
      "missions.kind.watch_minutes": "시청 시간(분)", "missions.kind.watch_content_minutes": "특정 콘텐츠 시청 시간(분)",
      "missions.kind.watch_tag_minutes": "특정 태그 시청 시간(분)", "missions.kind.watch_contents": "시청한 콘텐츠 수",
      "missions.kind.open_boxes": "상자 열기", "missions.kind.watch_streak_days": "연속 시청 일수",
      "missions.period.daily": "매일", "missions.period.weekly": "매주", "missions.period.range": "기간 지정",
      "missions.rewardKind.coins": "코인", "missions.rewardKind.gold_box": "골드 상자",
      "missions.reward.coins": "코인 {n}개", "missions.reward.gold_box": "골드 상자 {n}개",
      "missions.status.active": "진행 중", "missions.status.paused": "일시 중지",
    },
  },
});
