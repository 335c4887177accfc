// The admin console (api: /admin). It calls the admin routes of the api it is served by
// (same origin: no CORS), with the admin token from the field (or ?token=). A route this
// api does not have answers 404 or 405: its panel says "not available" instead of failing.
const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.slice(1))) q.set(k, v); // #token=: not logged
const TOKEN_KEY = "watch.admin.token";
const LIVE_EVERY_MS = Number(q.get("live_ms")) || 3000; // admin routes allow 60 calls/min
const SLOW_EVERY_MS = 15000;

$("token").value = q.get("token") || localStorage.getItem(TOKEN_KEY) || "";

const hook = { loaded: {} }; // for tests: which panels have rendered what
window.adminConsole = hook;

// --- calls ------------------------------------------------------------------------------------

/** {ok, status, data, error} for one call; never throws. */
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${$("token").value.trim()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, error: { code: "network", message: String(err) } };
  }
  const payload = await res.json().catch(() => null);
  if (res.ok && payload?.success) return { ok: true, status: res.status, data: payload.data };
  const error = payload?.error || { code: String(res.status), message: res.statusText };
  if (res.status === 429) error.message = `rate limited: retry in ${res.headers.get("Retry-After") || "?"} s`;
  return { ok: false, status: res.status, error };
}

const missing = (r) => r.status === 404 || r.status === 405;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function unavailable(target, what) {
  target.replaceChildren(el("div", { class: "unavailable", "data-unavailable": "1" },
    `Not available: this api has no ${what} yet.`));
}

function failed(target, r) {
  const msg = r.status === 401 || r.status === 403
    ? `The token was refused (${r.status} ${r.error.code}): paste an admin token above.`
    : `Failed: ${r.status || ""} ${r.error.code}: ${r.error.message}`;
  target.replaceChildren(el("div", { class: "unavailable error-text" }, msg));
}

function status(id, text, cls = "muted") {
  $(id).className = `aside small ${cls}`;
  $(id).textContent = text;
}

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(([h, cls]) => el("th", { class: cls }, h)))),
    el("tbody", {}, rows));
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// --- live ---------------------------------------------------------------------------------------

async function loadLive() {
  const r = await call("GET", "/api/admin/live?limit=20");
  const target = $("live");
  if (missing(r)) return unavailable(target, "live view (GET /api/admin/live)");
  if (!r.ok) return failed(target, r);
  const d = r.data;
  hook.loaded.live = d;
  const rows = (d.contents || []).map((c) => el("tr", { "data-content-id": c.content_id },
    el("td", { class: "num" }, c.content_id), el("td", {}, c.title), el("td", { class: "num" }, c.viewers)));
  target.replaceChildren(
    el("div", { class: "kv" },
      el("div", {}, el("b", { id: "sessions-live" }, d.sessions_live), "live sessions"),
      el("div", {}, el("b", { id: "viewers-total" }, d.viewers_total), "viewers on published contents"),
      el("div", {}, el("b", {}, (d.contents || []).length), "contents being watched")),
    rows.length
      ? table([["id", "num"], ["content"], ["viewers now", "num"]], rows)
      : el("div", { class: "muted" }, "Nobody is watching right now."),
  );
  $("live-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// --- settings -----------------------------------------------------------------------------------

let settingsLoaded = null;

async function loadSettings() {
  const r = await call("GET", "/api/admin/settings");
  const form = $("settings");
  if (missing(r)) {
    unavailable(form, "runtime settings");
    return;
  }
  if (!r.ok) return failed(form, r);
  settingsLoaded = r.data;
  hook.loaded.settings = r.data;
  form.replaceChildren(...Object.entries(r.data).map(([key, value]) => {
    const input = typeof value === "boolean"
      ? el("select", { name: key }, el("option", { value: "false" }, "false"), el("option", { value: "true" }, "true"))
      : el("input", { name: key, type: "number", min: "0", step: "1" });
    input.value = String(value);
    return el("label", {}, key, input);
  }));
  status("settings-status", "loaded");
}

async function saveSettings() {
  if (!settingsLoaded) return;
  const changes = {};
  for (const input of $("settings").querySelectorAll("[name]")) {
    const key = input.name;
    const old = settingsLoaded[key];
    const value = typeof old === "boolean" ? input.value === "true" : Number(input.value);
    if (value !== old) changes[key] = value;
  }
  if (!Object.keys(changes).length) return status("settings-status", "nothing changed");
  const r = await call("PUT", "/api/admin/settings", changes);
  if (!r.ok) {
    const key = r.error.details?.key ? `${r.error.details.key}: ` : "";
    return status("settings-status", `refused: ${key}${r.error.message}`, "error-text");
  }
  settingsLoaded = r.data;
  status("settings-status", `saved ${Object.keys(changes).join(", ")}`, "ok-text");
  loadAudit(true);
}

// --- users --------------------------------------------------------------------------------------

async function setBlocked(userId, block) {
  const id = Number(userId);
  if (!Number.isInteger(id) || id < 1) {
    $("block-result").textContent = "enter a user id";
    return;
  }
  const reason = $("user-reason").value.trim();
  const r = await call("POST", `/api/admin/users/${id}/${block ? "block" : "unblock"}`, reason ? { reason } : undefined);
  const out = $("block-result");
  if (!r.ok) {
    out.className = "small error-text";
    out.textContent = missing(r) ? "Not available: no block route on this api." : `refused: ${r.error.message}`;
    return;
  }
  out.className = "small ok-text";
  out.textContent = `user ${r.data.user_id} is ${r.data.blocked ? "blocked" : "not blocked"}`;
  out.dataset.userId = String(r.data.user_id);
  out.dataset.blocked = String(r.data.blocked);
  loadUsers();
  loadAudit(true);
}

async function loadUsers() {
  const term = $("user-q").value.trim();
  const r = await call("GET", `/api/admin/users?limit=10${term ? `&q=${encodeURIComponent(term)}` : ""}`);
  const target = $("users");
  if (missing(r)) return unavailable(target, "user list (GET /api/admin/users)");
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.users = items;
  status("users-status", `${items.length}${r.data.next_cursor ? "+" : ""} shown`);
  const rows = items.map((u) => el("tr", { "data-user-id": u.id },
    el("td", { class: "num" }, u.id),
    el("td", {}, u.email || el("span", { class: "muted" }, "—")),
    el("td", { class: "small" }, (u.roles || []).join(", ")),
    el("td", { class: "num" }, u.balance ?? ""),
    el("td", {}, u.blocked ? el("span", { class: "pill bad" }, "blocked") : el("span", { class: "pill good" }, "active")),
    el("td", {}, el("button", {
      type: "button", class: u.blocked ? "ok" : "danger",
      onclick: () => setBlocked(u.id, !u.blocked),
    }, u.blocked ? "Unblock" : "Block"))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], ["email"], ["roles"], ["balance", "num"], ["state"], [""]], rows)
    : el("div", { class: "muted" }, "No user matches."));
}

// --- ads ----------------------------------------------------------------------------------------

async function reviewAd(id, approve) {
  const r = await call("POST", `/api/admin/ads/${id}/${approve ? "approve" : "reject"}`);
  if (!r.ok) status("ads-status", `refused: ${r.error.message}`, "error-text");
  else status("ads-status", `ad ${id} ${approve ? "approved" : "rejected"}`, "ok-text");
  loadAds();
  loadAudit(true);
}

async function loadAds() {
  const r = await call("GET", "/api/admin/ads?status=pending&limit=20");
  const target = $("ads");
  if (missing(r)) return unavailable(target, "ad review queue (GET /api/admin/ads?status=pending)");
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.ads = items;
  const money = (micros) => (micros / 1e6).toLocaleString(undefined, { maximumFractionDigits: 2 });
  const rows = items.map((a) => el("tr", { "data-ad-id": a.id },
    el("td", { class: "num" }, a.id),
    el("td", {}, a.title, el("div", { class: "small muted" }, `advertiser ${a.advertiser_id} · ${a.placement}`)),
    el("td", { class: "small" }, `${a.billing} ${money(a.price_micros)}`, el("div", { class: "muted" }, `budget ${money(a.budget_micros)}`)),
    el("td", {},
      el("button", { type: "button", class: "ok", onclick: () => reviewAd(a.id, true) }, "Approve"), " ",
      el("button", { type: "button", class: "danger", onclick: () => reviewAd(a.id, false) }, "Reject"))));
  target.replaceChildren(rows.length
    ? table([["id", "num"], ["ad"], ["price"], [""]], rows)
    : el("div", { class: "muted" }, "No ad is waiting for review."));
}

// --- multi-account review -------------------------------------------------------------------

async function decideReview(userId, approve) {
  const r = await call("POST", `/api/admin/users/${userId}/review/${approve ? "approve" : "reject"}`);
  if (!r.ok) status("reviews-status", `refused: ${r.error.message}`, "error-text");
  else status("reviews-status", `user ${userId} ${r.data.decision}: ${r.data.coins} coins ${approve ? "paid" : "voided"}`, "ok-text");
  loadReviews();
  loadAudit(true);
}

async function loadReviews() {
  const r = await call("GET", "/api/admin/reviews?status=open&limit=20");
  const target = $("reviews");
  if (missing(r)) return unavailable(target, "review queue (GET /api/admin/reviews)");
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.reviews = items;
  const rows = items.map((v) => el("tr", { "data-review-user": v.user_id },
    el("td", { class: "num" }, v.user_id),
    el("td", {}, `${v.accounts} accounts on ${v.reason} `, el("span", { class: "mono" }, v.key),
      el("div", { class: "small muted" }, `with ${(v.flagged_with || []).join(", ")} · ${fmtTime(v.created_at)}`)),
    el("td", { class: "num" }, v.held_coins, el("div", { class: "small muted" }, `${v.held_grants} grants`)),
    el("td", {},
      el("button", { type: "button", class: "ok", onclick: () => decideReview(v.user_id, true) }, "Approve"), " ",
      el("button", { type: "button", class: "danger", onclick: () => decideReview(v.user_id, false) }, "Reject"))));
  target.replaceChildren(rows.length
    ? table([["user", "num"], ["why"], ["held coins", "num"], [""]], rows)
    : el("div", { class: "muted" }, "No account is waiting for review."));
}

// --- audit --------------------------------------------------------------------------------------

let auditPath = "/api/admin/audit-log";
let auditCursor = null;

function brief(value) {
  if (value === null || value === undefined) return "null";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** What an audit entry changed: the keys whose values differ, `key: before → after`. */
function change(before, after) {
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    return keys.map((k) => `${k}: ${brief(before[k])} → ${brief(after[k])}`).join("; ") || "no change";
  }
  if (before == null && isObj(after)) {
    const name = after.title ?? after.name ?? after.id;
    return `created${name != null ? ` ${brief(name)}` : ""}`;
  }
  if (isObj(before) && after == null) return "deleted";
  return `${brief(before)} → ${brief(after)}`;
}

async function loadAudit(fresh = true) {
  let url = `${auditPath}?limit=15${!fresh && auditCursor ? `&cursor=${encodeURIComponent(auditCursor)}` : ""}`;
  let r = await call("GET", url);
  if (missing(r) && auditPath === "/api/admin/audit-log") {
    auditPath = "/api/admin/audit"; // the name the issue used before the route landed
    url = url.replace("/api/admin/audit-log", auditPath);
    r = await call("GET", url);
  }
  const target = $("audit");
  if (missing(r)) return unavailable(target, "audit log (GET /api/admin/audit-log)");
  if (!r.ok) return failed(target, r);
  const items = r.data.items || [];
  hook.loaded.audit = fresh ? items : [...(hook.loaded.audit || []), ...items];
  auditCursor = r.data.next_cursor;
  $("audit-more").classList.toggle("hidden", !auditCursor);
  const rows = items.map((a) => el("tr", { "data-action": a.action },
    el("td", { class: "small" }, fmtTime(a.created_at)),
    el("td", { class: "num" }, a.actor_id ?? ""),
    el("td", { class: "mono" }, a.action),
    el("td", { class: "mono" }, a.target),
    el("td", { class: "mono small" }, change(a.before, a.after))));
  if (fresh) {
    target.replaceChildren(rows.length
      ? table([["when"], ["actor", "num"], ["action"], ["target"], ["change"]], rows)
      : el("div", { class: "muted" }, "No admin change yet."));
  } else {
    target.querySelector("tbody")?.append(...rows);
  }
  status("audit-status", `newest first`);
}

// --- wiring -------------------------------------------------------------------------------------

async function whoAmI() {
  const pill = $("auth-state");
  if (!$("token").value.trim()) {
    pill.className = "pill idle";
    pill.textContent = "no token";
    return false;
  }
  const r = await call("GET", "/api/admin/settings");
  pill.className = `pill ${r.ok ? "good" : "bad"}`;
  pill.textContent = r.ok ? "admin" : `token refused (${r.status})`;
  return r.ok;
}

async function loadAll() {
  await whoAmI();
  await Promise.all([loadLive(), loadSettings(), loadUsers(), loadAds(), loadReviews(), loadAudit(true)]);
  hook.ready = true;
}

$("use-token").addEventListener("click", () => {
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  loadAll();
});
$("settings-save").addEventListener("click", saveSettings);
$("settings-reload").addEventListener("click", loadSettings);
$("block").addEventListener("click", () => setBlocked($("user-id").value, true));
$("unblock").addEventListener("click", () => setBlocked($("user-id").value, false));
$("user-search").addEventListener("click", loadUsers);
$("user-q").addEventListener("keydown", (e) => { if (e.key === "Enter") loadUsers(); });
$("audit-more").addEventListener("click", () => loadAudit(false));

const auto = () => $("auto").checked && document.visibilityState === "visible" && $("token").value.trim();
setInterval(() => { if (auto()) loadLive(); }, LIVE_EVERY_MS);
setInterval(() => { if (auto()) { loadAds(); loadReviews(); loadAudit(true); } }, SLOW_EVERY_MS);
setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); }, 1000);

if (q.get("token")) localStorage.setItem(TOKEN_KEY, q.get("token"));
loadAll();
