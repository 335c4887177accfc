// Live now: sessions, viewers, contents by current viewers (GET /api/admin/live).
import { fmtTime, t } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, table, unavailable } from "../core.js";
import { register } from "../registry.js";

async function load() {
  const r = await call("GET", "/api/admin/live?limit=20");
  const target = $("live");
  if (missing(r)) return unavailable(target, t("live.what"));
  if (!r.ok) return failed(target, r);
  const d = r.data;
  hook.loaded.live = d;
  const rows = (d.contents || []).map((c) => el("tr", { "data-content-id": c.content_id },
    el("td", { class: "num" }, c.content_id), el("td", {}, c.title), el("td", { class: "num" }, c.viewers)));
  target.replaceChildren(
    el("div", { class: "kv" },
      el("div", {}, el("b", { id: "sessions-live" }, d.sessions_live), t("live.sessions")),
      el("div", {}, el("b", { id: "viewers-total" }, d.viewers_total), t("live.viewers")),
      el("div", {}, el("b", {}, (d.contents || []).length), t("live.contents"))),
    rows.length
      ? table([["id", "num"], [t("live.content")], [t("live.viewersNow"), "num"]], rows, t("live.title"))
      : el("div", { class: "muted" }, t("live.nobody")),
  );
  $("live-status").textContent = t("live.updated", { time: fmtTime(d.server_time) });
}

register({
  id: "live",
  title: "live.title",
  wide: true,
  refresh: "fast",
  render(body) {
    body.append(el("div", { id: "live" }));
  },
  load,
  messages: {
    en: {
      "live.title": "Live now", "live.what": "live view (GET /api/admin/live)",
      "live.sessions": "live sessions", "live.viewers": "viewers on published contents",
      "live.contents": "contents being watched", "live.content": "content",
      "live.viewersNow": "viewers now", "live.nobody": "Nobody is watching right now.",
      "live.updated": "updated {time}",
    },
    ko: {
      "live.title": "실시간 현황", "live.what": "실시간 현황 (GET /api/admin/live)",
      "live.sessions": "시청 세션", "live.viewers": "공개 콘텐츠 시청자",
      "live.contents": "시청 중인 콘텐츠", "live.content": "콘텐츠",
      "live.viewersNow": "현재 시청자", "live.nobody": "지금 시청 중인 사람이 없습니다.",
      "live.updated": "{time} 갱신",
    },
  },
});
