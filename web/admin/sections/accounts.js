// Staff accounts (GET, POST /api/admin/accounts, PUT /api/admin/accounts/{id}/roles): admins
// and advertisers listed by role; the form creates an account (with a password) or invites
// one (without: the one-time invite token is shown once, to hand over); "Roles" loads an
// account into the form to replace its roles; Disable and Enable are the user block
// (POST /api/admin/users/{id}/block, /unblock), which spares the last admin.
import { fmtDateTime, t } from "/static/i18n.js";
import { $, button, call, el, failed, hook, missing, status, table, unavailable } from "../core.js";
import { clearRefusal, errorLine, refuse, refuseWith } from "../forms.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

const ROLES = ["viewer", "advertiser", "admin"];
let editing = null; // the account whose roles the form replaces, or null: the form creates

const roleBox = (role) => $(`account-role-${role}`);
const chosen = () => ROLES.filter((role) => roleBox(role).checked);

function fill(account) {
  editing = account;
  $("account-email").value = account?.email ?? "";
  $("account-email").disabled = Boolean(account);
  $("account-password").value = "";
  $("account-password-label").classList.toggle("hidden", Boolean(account));
  for (const role of ROLES) roleBox(role).checked = account ? account.roles.includes(role) : role === "advertiser";
  $("account-submit").textContent = account ? t("accounts.saveRoles", { id: account.id }) : t("accounts.create");
  $("account-cancel").classList.toggle("hidden", !account);
  clearRefusal("account-error");
  if (account) roleBox(ROLES[0]).focus();
}

function showInvite(data) {
  const box = $("account-invite");
  if (!data.invite_token) return box.replaceChildren();
  box.replaceChildren(
    el("label", { for: "account-invite-token" }, t("accounts.inviteToken", { email: data.account.email, hours: Math.round(data.invite_expires_in / 3600) }),
      el("input", { id: "account-invite-token", type: "text", readonly: true, class: "mono", value: data.invite_token, spellcheck: "false" })),
    el("p", { class: "small muted" }, t("accounts.inviteHelp")));
  $("account-invite-token").select();
}

async function submit() {
  clearRefusal("account-error");
  const roles = chosen();
  if (!roles.length) return refuseWith("account-error", t("accounts.needRole"), roleBox(ROLES[0]));
  let r;
  if (editing) {
    r = await call("PUT", `/api/admin/accounts/${editing.id}/roles`, { roles });
  } else {
    const password = $("account-password").value;
    r = await call("POST", "/api/admin/accounts", { email: $("account-email").value.trim(), roles, ...(password ? { password } : {}) });
  }
  if (!r.ok) return refuse("account-error", r, "account");
  const created = !editing;
  if (!created) {
    status("accounts-status", t("accounts.rolesSaved", { id: r.data.id, roles: r.data.roles.join(", ") }), "ok-text");
  } else {
    status("accounts-status", t(r.data.invite_token ? "accounts.invited" : "accounts.created", { id: r.data.account.id, email: r.data.account.email }), "ok-text");
  }
  fill(null);
  if (created && r.data.invite_token) showInvite(r.data);
  else $("account-invite").replaceChildren();
  load();
  reloadAudit();
}

async function setBlocked(account, block) {
  const r = await call("POST", `/api/admin/users/${account.id}/${block ? "block" : "unblock"}`);
  if (!r.ok) return status("accounts-status", t("core.refusedShort", { message: r.error.message }), "error-text");
  status("accounts-status", t(block ? "accounts.disabled" : "accounts.enabled", { id: account.id }), "ok-text");
  load();
  reloadAudit();
}

async function load() {
  const role = $("accounts-role").value;
  const r = await call("GET", `/api/admin/accounts?limit=50${role ? `&role=${role}` : ""}`);
  const target = $("accounts");
  if (missing(r)) return unavailable(target, t("accounts.what"));
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.accounts = items;
  const rows = items.map((a) => el("tr", { "data-account-id": a.id, "data-blocked": String(a.blocked) },
    el("td", { class: "num" }, a.id),
    el("td", { class: "wrap-text" }, a.email || el("span", { class: "muted" }, "—"),
      el("div", { class: "small muted" }, [a.has_password ? t("accounts.password") : t("accounts.noPassword"), ...a.providers].join(" · "))),
    el("td", { class: "small" }, a.roles.join(", ")),
    el("td", {}, a.blocked ? el("span", { class: "pill bad" }, t("accounts.isDisabled")) : el("span", { class: "pill good" }, t("accounts.active"))),
    el("td", { class: "small nowrap" }, fmtDateTime(a.created_at)),
    el("td", { class: "actions-cell" },
      button(t("accounts.roles"), () => fill(a), "secondary", { "aria-label": t("accounts.rolesOf", { id: a.id }) }),
      a.blocked
        ? button(t("accounts.enable"), () => setBlocked(a, false), "ok", { "aria-label": t("accounts.enableOne", { id: a.id }) })
        : button(t("accounts.disable"), () => setBlocked(a, true), "danger", { "aria-label": t("accounts.disableOne", { id: a.id }) }))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], [t("accounts.email")], [t("accounts.rolesCol")], [t("accounts.state")], [t("accounts.since")], [t("accounts.actions")]], rows, t("accounts.title"))
    : el("div", { class: "muted" }, t("accounts.none")));
}

register({
  id: "accounts",
  title: "accounts.title",
  wide: true,
  render(root) {
    editing = null;
    root.append(
      el("form", { id: "account-form", class: "form-grid", onsubmit: (e) => { e.preventDefault(); submit(); } },
        el("label", { for: "account-email", class: "grow" }, t("accounts.email"),
          el("input", { id: "account-email", name: "email", type: "email", required: true, maxlength: "254", autocomplete: "off" })),
        el("fieldset", { class: "roles" }, el("legend", { class: "small muted" }, t("accounts.rolesCol")),
          ROLES.map((role) => el("label", { class: "inline", for: `account-role-${role}` },
            el("input", { id: `account-role-${role}`, name: "roles", type: "checkbox", value: role, checked: role === "advertiser" }), t(`accounts.role.${role}`)))),
        el("label", { for: "account-password", id: "account-password-label" }, t("accounts.passwordField"),
          el("input", { id: "account-password", name: "password", type: "password", minlength: "8", maxlength: "256", autocomplete: "new-password" })),
        el("div", { class: "row actions" },
          el("button", { type: "submit", id: "account-submit" }, t("accounts.create")),
          button(t("accounts.cancel"), () => fill(null), "secondary hidden", { id: "account-cancel" }))),
      errorLine("account-error"),
      el("div", { id: "account-invite", role: "status" }),
      el("div", { class: "row" },
        el("label", { for: "accounts-role" }, t("accounts.show"),
          el("select", { id: "accounts-role", onchange: load },
            el("option", { value: "" }, t("accounts.showAll")),
            el("option", { value: "admin" }, t("accounts.role.admin")),
            el("option", { value: "advertiser" }, t("accounts.role.advertiser"))))),
      el("div", { id: "accounts" }));
  },
  load,
  messages: {
    en: {
      "accounts.title": "Staff accounts", "accounts.what": "staff accounts (GET /api/admin/accounts)",
      "accounts.email": "Email", "accounts.rolesCol": "Roles", "accounts.passwordField": "Password (empty: send an invitation)",
      "accounts.role.viewer": "viewer", "accounts.role.advertiser": "advertiser", "accounts.role.admin": "admin",
      "accounts.create": "Create or invite", "accounts.saveRoles": "Save roles of account {id}", "accounts.cancel": "Cancel",
      "accounts.needRole": "choose at least one role", "accounts.created": "account {id} ({email}) created",
      "accounts.invited": "account {id} ({email}) invited", "accounts.rolesSaved": "account {id} now has: {roles}",
      "accounts.inviteToken": "Invite token for {email}, valid {hours} h, shown only now",
      "accounts.inviteHelp": "Hand it to the invitee: they choose a password with it (POST /api/auth/invite).",
      "accounts.disabled": "account {id} disabled", "accounts.enabled": "account {id} enabled",
      "accounts.password": "password", "accounts.noPassword": "no password yet", "accounts.isDisabled": "disabled",
      "accounts.active": "active", "accounts.roles": "Roles", "accounts.rolesOf": "Roles of account {id}",
      "accounts.enable": "Enable", "accounts.disable": "Disable", "accounts.enableOne": "Enable account {id}",
      "accounts.disableOne": "Disable account {id}", "accounts.state": "state", "accounts.since": "created",
      "accounts.actions": "actions", "accounts.none": "No staff account here.", "accounts.show": "Show",
      "accounts.showAll": "admins and advertisers",
    },
    ko: {
      "accounts.title": "운영 계정", "accounts.what": "운영 계정 (GET /api/admin/accounts)",
      "accounts.email": "이메일", "accounts.rolesCol": "역할", "accounts.passwordField": "비밀번호 (비우면 초대)",
      "accounts.role.viewer": "시청자", "accounts.role.advertiser": "광고주", "accounts.role.admin": "관리자",
      "accounts.create": "만들기 또는 초대", "accounts.saveRoles": "계정 {id} 역할 저장", "accounts.cancel": "취소",
      "accounts.needRole": "역할을 하나 이상 고르세요", "accounts.created": "계정 {id} ({email}) 만듦",
      "accounts.invited": "계정 {id} ({email}) 초대함", "accounts.rolesSaved": "계정 {id}의 역할: {roles}",
      "accounts.inviteToken": "{email}의 초대 토큰, {hours}시간 유효, 지금만 표시됩니다",
      "accounts.inviteHelp": "초대받은 사람에게 전달하세요: 이 토큰으로 비밀번호를 정합니다 (POST /api/auth/invite).",
      "accounts.disabled": "계정 {id} 사용 중지함", "accounts.enabled": "계정 {id} 다시 사용함",
      "accounts.password": "비밀번호 있음", "accounts.noPassword": "비밀번호 없음", "accounts.isDisabled": "사용 중지",
      "accounts.active": "사용 중", "accounts.roles": "역할", "accounts.rolesOf": "계정 {id} 역할 바꾸기",
      "accounts.enable": "다시 사용", "accounts.disable": "사용 중지", "accounts.enableOne": "계정 {id} 다시 사용",
      "accounts.disableOne": "계정 {id} 사용 중지", "accounts.state": "상태", "accounts.since": "만든 시각",
      "accounts.actions": "작업", "accounts.none": "운영 계정이 없습니다.", "accounts.show": "보기",
      "accounts.showAll": "관리자와 광고주",
    },
  },
});
