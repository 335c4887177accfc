// YouTube (POST, GET /api/admin/youtube/imports, GET .../imports/{id},
// POST /api/admin/contents/{id}/youtube-refresh): import a video, playlist or channel as a
// job (the answer is the finished job: created, updated and skipped videos, or its error),
// the jobs newest first with what each skipped and why, and one content's metadata and live
// state refreshed now. Without YOUTUBE_API_KEY the api refuses and the form says so.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const PILL = { done: "good", running: "warn", failed: "bad" };

async function start() {
  clearRefusal("youtube-import-error");
  const submit = $("youtube-import");
  submit.disabled = true;
  status("youtube-status", t("youtube.importing"));
  const r = await call("POST", "/api/admin/youtube/imports", { source: $("youtube-source").value.trim() });
  submit.disabled = false;
  if (!r.ok) {
    status("youtube-status", "");
    return refuse("youtube-import-error", r, "youtube");
  }
  const job = r.data;
  status("youtube-status", job.status === "done"
    ? t("youtube.imported", { id: job.id, created: job.created, updated: job.updated, skipped: job.skipped })
    : t("youtube.jobFailed", { id: job.id, error: job.error || "" }), job.status === "done" ? "ok-text" : "error-text");
  $("youtube-source").value = "";
  await load();
  show(job);
  reloadAudit();
}

async function refresh() {
  clearRefusal("youtube-refresh-error");
  const input = $("youtube-content_id");
  const r = await call("POST", `/api/admin/contents/${Number(input.value)}/youtube-refresh`);
  if (!r.ok) {
    // a 404 is about the id typed (no such YouTube content); a 503 is about YouTube
    const named = r.status === 404 ? { ...r, error: { ...r.error, details: { field: "content_id" } } } : r;
    return refuse("youtube-refresh-error", named, "youtube");
  }
  const c = r.data;
  hook.loaded.youtubeRefresh = c;
  status("youtube-status", t("youtube.refreshed", { id: c.id }), "ok-text");
  $("youtube-refreshed").replaceChildren(el("div", { class: "kv", "data-refreshed": c.id },
    el("div", {}, el("b", {}, c.title), `${t("youtube.content")} ${c.id} · ${c.external_id}`),
    el("div", {}, el("b", {}, t(`youtube.live.${c.live_state}`)), t("youtube.liveState")),
    el("div", {}, el("b", {}, c.unpublished_reason ? c.unpublished_reason : t(`youtube.state.${c.status}`)), t("youtube.stateCol")),
    el("div", {}, el("b", { class: "nowrap" }, fmtDateTime(c.metadata_refreshed_at)), t("youtube.refreshedAt"))));
}

async function open(job) {
  const r = await call("GET", `/api/admin/youtube/imports/${job.id}`);
  if (!r.ok) return failed($("youtube-job"), r);
  show(r.data);
}

function show(job) {
  hook.loaded.youtubeJob = job;
  const skipped = job.skipped_items.map((s) => el("tr", {}, el("td", { class: "mono" }, s.id), el("td", { class: "wrap-text" }, s.reason)));
  $("youtube-job").replaceChildren(
    el("h3", { id: "youtube-job-title", tabindex: "-1" }, t("youtube.jobOf", { id: job.id, source: job.source })),
    job.error ? el("p", { class: "error-text small" }, job.error) : "",
    skipped.length
      ? table([[t("youtube.video")], [t("youtube.reason")]], skipped, t("youtube.skippedOf", { id: job.id }))
      : el("div", { class: "muted small" }, t("youtube.noneSkipped")));
  $("youtube-job-title").focus();
}

async function load() {
  const r = await call("GET", "/api/admin/youtube/imports?limit=20");
  const target = $("youtube-jobs");
  if (missing(r)) return unavailable(target, t("youtube.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.youtubeJobs = items;
  const rows = items.map((j) => el("tr", { "data-job-id": j.id, "data-status": j.status },
    el("td", { class: "num" }, j.id),
    el("td", { class: "wrap-text" }, j.source, el("div", { class: "small muted" }, t(`youtube.kind.${j.kind}`))),
    el("td", {}, el("span", { class: `pill ${PILL[j.status] || "idle"}` }, t(`youtube.status.${j.status}`))),
    el("td", { class: "num small" }, `${j.found} / ${j.created} / ${j.updated} / ${j.skipped}`),
    el("td", { class: "small nowrap" }, fmtDateTime(j.created_at), el("div", { class: "muted" }, fmtDateTime(j.finished_at))),
    el("td", { class: "actions-cell" },
      el("button", { type: "button", class: "secondary", onclick: () => open(j), "aria-label": t("youtube.detailsOf", { id: j.id }) }, t("youtube.details")))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("youtube.source")], [t("youtube.stateCol")], [t("youtube.counts"), "num"], [t("youtube.when")], [t("youtube.actions")]], rows, t("youtube.jobs"))
    : el("div", { class: "muted" }, t("youtube.none")));
}

register({
  id: "youtube",
  title: "youtube.title",
  wide: true,
  render(root) {
    root.append(
      el("form", { class: "row", "aria-label": t("youtube.importForm"), onsubmit: (e) => { e.preventDefault(); start(); } },
        el("label", { for: "youtube-source", class: "grow" }, t("youtube.sourceField"),
          el("input", { id: "youtube-source", name: "source", type: "text", required: true, maxlength: "2048", spellcheck: "false", placeholder: "https://www.youtube.com/watch?v=… · PL… · @handle" })),
        el("button", { type: "submit", id: "youtube-import" }, t("youtube.import"))),
      errorLine("youtube-import-error"),
      el("form", { class: "row", "aria-label": t("youtube.refreshForm"), onsubmit: (e) => { e.preventDefault(); refresh(); } },
        el("label", { for: "youtube-content_id" }, t("youtube.contentId"),
          el("input", { id: "youtube-content_id", name: "content_id", type: "number", min: "1", required: true, class: "narrow", inputmode: "numeric" })),
        el("button", { type: "submit", id: "youtube-refresh", class: "secondary" }, t("youtube.refresh"))),
      errorLine("youtube-refresh-error"),
      el("div", { id: "youtube-refreshed" }),
      el("h3", {}, t("youtube.jobs")),
      el("div", { id: "youtube-jobs" }),
      el("div", { id: "youtube-job" }));
  },
  load,
  messages: {
    en: {
      "youtube.title": "YouTube", "youtube.what": "YouTube imports (GET /api/admin/youtube/imports)",
      "youtube.importForm": "Import from YouTube", "youtube.sourceField": "Video, playlist or channel (URL, id or @handle)",
      "youtube.import": "Import", "youtube.importing": "importing…",
      "youtube.imported": "job {id} done: {created} created, {updated} updated, {skipped} skipped",
      "youtube.jobFailed": "job {id} failed: {error}", "youtube.refreshForm": "Refresh a YouTube content now",
      "youtube.contentId": "Content id", "youtube.refresh": "Refresh now", "youtube.refreshed": "content {id} refreshed",
      "youtube.content": "content", "youtube.liveState": "live state", "youtube.stateCol": "state",
      "youtube.refreshedAt": "metadata refreshed", "youtube.jobs": "Import jobs", "youtube.jobOf": "Job {id}: {source}",
      "youtube.video": "video", "youtube.reason": "why skipped", "youtube.skippedOf": "videos job {id} skipped",
      "youtube.noneSkipped": "Nothing skipped.", "youtube.source": "source",
      "youtube.counts": "found / created / updated / skipped", "youtube.when": "started / finished",
      "youtube.actions": "actions", "youtube.details": "Details", "youtube.detailsOf": "Details of job {id}",
      "youtube.none": "No import yet.",
      "youtube.kind.video": "video", "youtube.kind.playlist": "playlist", "youtube.kind.channel": "channel", "youtube.kind.handle": "channel (@handle)",
      "youtube.status.running": "running", "youtube.status.done": "done", "youtube.status.failed": "failed",
      "youtube.state.published": "published", "youtube.state.draft": "draft",
      "youtube.live.none": "not live", "youtube.live.live": "live now", "youtube.live.upcoming": "upcoming", "youtube.live.ended": "ended",
    },
    ko: {
      "youtube.title": "YouTube", "youtube.what": "YouTube 가져오기 (GET /api/admin/youtube/imports)",
      "youtube.importForm": "YouTube에서 가져오기", "youtube.sourceField": "동영상, 재생목록 또는 채널 (URL, ID 또는 @핸들)",
      "youtube.import": "가져오기", "youtube.importing": "가져오는 중…",
      "youtube.imported": "작업 {id} 완료: {created}개 만듦, {updated}개 갱신, {skipped}개 건너뜀",
      "youtube.jobFailed": "작업 {id} 실패: {error}", "youtube.refreshForm": "YouTube 콘텐츠 지금 새로 고침",
      "youtube.contentId": "콘텐츠 ID", "youtube.refresh": "지금 새로 고침", "youtube.refreshed": "콘텐츠 {id} 새로 고침",
      "youtube.content": "콘텐츠", "youtube.liveState": "라이브 상태", "youtube.stateCol": "상태",
      "youtube.refreshedAt": "메타데이터 갱신 시각", "youtube.jobs": "가져오기 작업", "youtube.jobOf": "작업 {id}: {source}",
      "youtube.video": "동영상", "youtube.reason": "건너뛴 이유", "youtube.skippedOf": "작업 {id}에서 건너뛴 동영상",
      "youtube.noneSkipped": "건너뛴 것이 없습니다.", "youtube.source": "대상",
      "youtube.counts": "찾음 / 만듦 / 갱신 / 건너뜀", "youtube.when": "시작 / 끝",
      "youtube.actions": "작업", "youtube.details": "자세히", "youtube.detailsOf": "작업 {id} 자세히",
      "youtube.none": "아직 가져온 것이 없습니다.",
      "youtube.kind.video": "동영상", "youtube.kind.playlist": "재생목록", "youtube.kind.channel": "채널", "youtube.kind.handle": "채널 (@핸들)",
      "youtube.status.running": "진행 중", "youtube.status.done": "완료", "youtube.status.failed": "실패",
      "youtube.state.published": "공개", "youtube.state.draft": "초안",
      "youtube.live.none": "라이브 아님", "youtube.live.live": "라이브 중", "youtube.live.upcoming": "예정", "youtube.live.ended": "종료",
    },
  },
});
