// Hub nodes up now (GET /api/admin/nodes): each process with its connections, watch
// sessions, event streams and heartbeats, as the hubs announce themselves in Redis.
import { fmtDateTime, fmtNumber, t } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, table, unavailable } from "../core.js";
import { register } from "../registry.js";

async function load() {
  const r = await call("GET", "/api/admin/nodes");
  const target = $("nodes");
  if (missing(r)) return unavailable(target, t("nodes.what"));
  if (!r.ok) return failed(target, r);
  hook.loaded.nodes = r.data;
  const rows = r.data.nodes.map((n) => el("tr", { "data-node-id": n.node_id },
    el("td", { class: "mono" }, n.node_id, n.draining ? el("span", { class: "pill warn" }, t("nodes.draining")) : ""),
    el("td", { class: "small" }, `${n.host} · pid ${n.pid}`),
    el("td", { class: "num" }, n.connections),
    el("td", { class: "num" }, n.watching),
    el("td", { class: "num" }, n.streams),
    el("td", { class: "num" }, fmtNumber(n.heartbeats)),
    el("td", { class: "small" }, fmtDateTime(n.started_ms))));
  target.replaceChildren(
    el("div", { class: "kv" },
      el("div", {}, el("b", { id: "nodes-count" }, r.data.nodes.length), t("nodes.up")),
      el("div", {}, el("b", {}, r.data.sessions_live), t("nodes.sessions"))),
    rows.length
      ? table([[t("nodes.node")], [t("nodes.process")], [t("nodes.connections"), "num"], [t("nodes.watching"), "num"],
        [t("nodes.streams"), "num"], [t("nodes.heartbeats"), "num"], [t("nodes.since")]], rows, t("nodes.title"))
      : el("div", { class: "muted" }, t("nodes.none")));
}

register({
  id: "nodes",
  title: "nodes.title",
  wide: true,
  refresh: "slow",
  render(body) {
    body.append(el("div", { id: "nodes" }));
  },
  load,
  messages: {
    en: {
      "nodes.title": "Hub nodes", "nodes.what": "node view (GET /api/admin/nodes)",
      "nodes.up": "nodes up", "nodes.sessions": "live sessions (all nodes)", "nodes.node": "node",
      "nodes.process": "process", "nodes.connections": "connections", "nodes.watching": "watching",
      "nodes.streams": "event streams", "nodes.heartbeats": "heartbeats", "nodes.since": "up since",
      "nodes.none": "No hub has announced itself in the last 15 s.", "nodes.draining": "draining",
    },
    ko: {
      "nodes.title": "허브 노드", "nodes.what": "노드 현황 (GET /api/admin/nodes)",
      "nodes.up": "실행 중인 노드", "nodes.sessions": "시청 세션 (전체 노드)", "nodes.node": "노드",
      "nodes.process": "프로세스", "nodes.connections": "연결", "nodes.watching": "시청 중",
      "nodes.streams": "이벤트 스트림", "nodes.heartbeats": "하트비트", "nodes.since": "시작 시각",
      "nodes.none": "최근 15초 동안 알려 온 허브가 없습니다.", "nodes.draining": "종료 중",
    },
  },
});
