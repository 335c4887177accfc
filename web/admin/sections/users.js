// Users: block, unblock (POST /api/admin/users/{id}/block, /unblock), disconnect short of a
// block (POST /api/admin/users/{id}/disconnect: the hub closes the user's connections with
// 4510), and search (GET /api/admin/users?q=).
import { t } from "/static/i18n.js";
import { $, button, call, el, failed, fieldError, hook, missing, status, table, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

function userId() {
  const input = $("user-id");
  const id = Number(input.value);
  if (!Number.isInteger(id) || id < 1) {
    fieldError(input, t("users.needId"));
    input.focus();
    return null;
  }
  fieldError(input, "");
  return id;
}

function result(text, cls, data = {}) {
  const out = $("block-result");
  out.className = `small ${cls}`;
  out.textContent = text;
  for (const [k, v] of Object.entries(data)) out.dataset[k] = String(v);
}

async function setBlocked(id, block) {
  if (id === null) return;
  const reason = $("user-reason").value.trim();
  const r = await call("POST", `/api/admin/users/${id}/${block ? "block" : "unblock"}`, reason ? { reason } : undefined);
  if (!r.ok) return result(missing(r) ? t("users.noRoute") : t("core.refusedShort", { message: r.error.message }), "error-text");
  result(t(r.data.blocked ? "users.isBlocked" : "users.notBlocked", { id: r.data.user_id }), "ok-text",
    { userId: r.data.user_id, blocked: r.data.blocked });
  load();
  reloadAudit();
}

async function disconnect(id) {
  if (id === null) return;
  const r = await call("POST", `/api/admin/users/${id}/disconnect`);
  if (!r.ok) return result(missing(r) ? t("users.noRoute") : t("core.refusedShort", { message: r.error.message }), "error-text");
  result(t("users.disconnected", { id, n: r.data.received }), "ok-text", { disconnected: id, received: r.data.received });
  reloadAudit();
}

async function load() {
  const term = $("user-q").value.trim();
  const r = await call("GET", `/api/admin/users?limit=10${term ? `&q=${encodeURIComponent(term)}` : ""}`);
  const target = $("users");
  if (missing(r)) return unavailable(target, t("users.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.users = items;
  status("users-status", t("users.shown", { n: `${items.length}${r.data.next_cursor ? "+" : ""}` }));
  const rows = items.map((u) => el("tr", { "data-user-id": u.id },
    el("td", { class: "num" }, u.id),
    el("td", { class: "wrap-text" }, u.email || el("span", { class: "muted" }, "—")),
    el("td", { class: "small" }, (u.roles || []).join(", ")),
    el("td", { class: "num" }, u.balance ?? ""),
    el("td", {}, u.blocked ? el("span", { class: "pill bad" }, t("users.blocked")) : el("span", { class: "pill good" }, t("users.active"))),
    el("td", { class: "actions-cell" },
      button(u.blocked ? t("users.unblock") : t("users.block"), () => setBlocked(u.id, !u.blocked), u.blocked ? "ok" : "danger"),
      button(t("users.disconnect"), () => disconnect(u.id), "secondary"))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("users.email")], [t("users.roles")], [t("users.balance"), "num"], [t("users.state")], [t("users.actions")]], rows, t("users.title"))
    : el("div", { class: "muted" }, t("users.noMatch")));
}

register({
  id: "users",
  title: "users.title",
  render(body) {
    body.append(
      el("div", { class: "row" },
        el("label", { for: "user-id" }, t("users.id"), el("input", { id: "user-id", type: "number", min: "1", class: "narrow", inputmode: "numeric" })),
        el("label", { class: "grow", for: "user-reason" }, t("users.reason"), el("input", { id: "user-reason", type: "text", maxlength: "500" }))),
      el("div", { class: "row" },
        button(t("users.block"), () => setBlocked(userId(), true), "danger", { id: "block" }),
        button(t("users.unblock"), () => setBlocked(userId(), false), "ok", { id: "unblock" }),
        button(t("users.disconnect"), () => disconnect(userId()), "secondary", { id: "disconnect" }),
        el("span", { id: "block-result", class: "small", role: "status" })),
      el("p", { class: "small muted" }, t("users.disconnectHelp")),
      el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); load(); } },
        el("label", { class: "grow", for: "user-q" }, t("users.search"), el("input", { id: "user-q", type: "search" })),
        el("button", { id: "user-search", type: "submit", class: "secondary" }, t("users.searchButton"))),
      el("div", { id: "users" }));
  },
  load,
  messages: {
    en: {
      "users.title": "Users", "users.what": "user list (GET /api/admin/users)", "users.id": "User id",
      "users.reason": "Reason (optional)", "users.block": "Block", "users.unblock": "Unblock",
      "users.disconnect": "Disconnect", "users.search": "Search users (id or email)", "users.searchButton": "Search",
      "users.needId": "enter a user id", "users.noRoute": "Not available: no such route on this api.",
      "users.isBlocked": "user {id} is blocked", "users.notBlocked": "user {id} is not blocked",
      "users.disconnected": "user {id} disconnected ({n} hub processes told)",
      "users.disconnectHelp": "Disconnect closes the user's player (code 4510) without blocking: they can start again.",
      "users.shown": "{n} shown", "users.blocked": "blocked", "users.active": "active", "users.email": "email",
      "users.roles": "roles", "users.balance": "balance", "users.state": "state", "users.actions": "actions",
      "users.noMatch": "No user matches.",
    },
    ko: {
      "users.title": "사용자", "users.what": "사용자 목록 (GET /api/admin/users)", "users.id": "사용자 ID",
      "users.reason": "사유 (선택)", "users.block": "차단", "users.unblock": "차단 해제",
      "users.disconnect": "연결 끊기", "users.search": "사용자 검색 (ID 또는 이메일)", "users.searchButton": "검색",
      "users.needId": "사용자 ID를 입력하세요", "users.noRoute": "사용할 수 없음: 이 API에 해당 경로가 없습니다.",
      "users.isBlocked": "사용자 {id} 차단됨", "users.notBlocked": "사용자 {id} 차단 안 됨",
      "users.disconnected": "사용자 {id} 연결 끊음 (허브 프로세스 {n}개에 전달)",
      "users.disconnectHelp": "연결 끊기는 차단하지 않고 플레이어를 닫습니다 (코드 4510): 사용자는 다시 시청할 수 있습니다.",
      "users.shown": "{n}명 표시", "users.blocked": "차단됨", "users.active": "정상", "users.email": "이메일",
      "users.roles": "역할", "users.balance": "잔액", "users.state": "상태", "users.actions": "작업",
      "users.noMatch": "일치하는 사용자가 없습니다.",
    },
  },
});
