// The admin console (api: /admin). It calls the admin routes of the api it is served by
// (same origin: no CORS), with the admin token from the field (or #token=). Each section is
// one module under admin/sections/ that registers itself (admin/registry.js); this entry
// imports them in page order, builds their panels and drives loading and refreshing. A
// route this api does not have answers 404 or 405: its section says "not available".
import { apply, define, fmtTime, languageSwitch, loadTimeZone, t } from "/static/i18n.js";
import { $, call, el, hook, params, token } from "./admin/core.js";
import { all } from "./admin/registry.js";
import "./admin/sections/live.js";
import "./admin/sections/charts.js";
import "./admin/sections/nodes.js";
import "./admin/sections/settings.js";
import "./admin/sections/users.js";
import "./admin/sections/user_events.js";
import "./admin/sections/accounts.js";
import "./admin/sections/ipblocks.js";
import "./admin/sections/contents.js";
import "./admin/sections/tags.js";
import "./admin/sections/youtube.js";
import "./admin/sections/rewards.js";
import "./admin/sections/boosts.js";
import "./admin/sections/gold.js";
import "./admin/sections/reviews.js";
import "./admin/sections/ads.js";
import "./admin/sections/settlements.js";
import "./admin/sections/payments.js";
import "./admin/sections/withdrawals.js";
import "./admin/sections/missions.js";
import "./admin/sections/help.js";
import "./admin/sections/audit.js";

const TOKEN_KEY = "watch.admin.token";
// Admin routes allow 60 calls/min: live every 3 s (20), charts every 10 s (6), the slow
// group (nodes, reviews, ads x2, audit) every 30 s (10).
const EVERY_MS = {
  fast: Number(params.get("live_ms")) || 3000,
  charts: 10000,
  slow: Number(params.get("slow_ms")) || 30000,
};

define({
  en: {
    "admin.skip": "Skip to the sections", "admin.subtitle": "admin console", "admin.tokenTitle": "Access token",
    "admin.token": "Admin access token (scripts/run.sh prints one; kept in this browser)",
    "admin.useToken": "Use token", "admin.auto": "auto refresh", "admin.sections": "Sections",
    "admin.noToken": "no token", "admin.admin": "admin", "admin.tokenRefused": "token refused ({status})",
  },
  ko: {
    "admin.skip": "섹션으로 건너뛰기", "admin.subtitle": "관리자 콘솔", "admin.tokenTitle": "액세스 토큰",
    "admin.token": "관리자 액세스 토큰 (scripts/run.sh가 출력합니다. 이 브라우저에 보관됩니다)",
    "admin.useToken": "토큰 사용", "admin.auto": "자동 새로 고침", "admin.sections": "섹션",
    "admin.noToken": "토큰 없음", "admin.admin": "관리자", "admin.tokenRefused": "토큰 거부됨 ({status})",
  },
});

$("token").value = params.get("token") || localStorage.getItem(TOKEN_KEY) || "";
$("lang-slot").append(languageSwitch());

function build() {
  const grid = $("sections");
  const nav = $("section-nav");
  grid.replaceChildren();
  nav.replaceChildren();
  for (const s of all()) {
    const body = el("div", { class: "panel-body" });
    const statusId = `${s.id}-status`;
    grid.append(el("section", { class: `panel${s.wide ? " span2" : ""}`, id: `${s.id}-panel`, "aria-labelledby": `${s.id}-title` },
      el("div", { class: "panel-head" },
        el("h2", { id: `${s.id}-title`, tabindex: "-1" }, t(s.title)),
        el("span", { id: statusId, class: "status small muted", role: "status" })),
      body));
    s.render(body);
    nav.append(el("li", {}, el("a", { href: `#${s.id}-panel` }, t(s.title))));
  }
  apply();
}

async function whoAmI() {
  const pill = $("auth-state");
  if (!token()) {
    pill.className = "pill idle";
    pill.textContent = t("admin.noToken");
    return false;
  }
  const r = await call("GET", "/api/admin/settings");
  pill.className = `pill ${r.ok ? "good" : "bad"}`;
  pill.textContent = r.ok ? t("admin.admin") : t("admin.tokenRefused", { status: r.status });
  return r.ok;
}

async function loadAll() {
  hook.ready = false;
  await whoAmI();
  await Promise.all(all().map((s) => s.load()));
  hook.ready = true;
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(TOKEN_KEY, token());
  loadAll();
});
window.addEventListener("langchange", () => { build(); loadAll(); });

const auto = () => $("auto").checked && document.visibilityState === "visible" && token();
for (const [group, ms] of Object.entries(EVERY_MS)) {
  setInterval(() => {
    if (auto()) for (const s of all()) if (s.refresh === group) s.load();
  }, ms);
}
const tick = () => { $("clock").textContent = fmtTime(Date.now()); };
setInterval(tick, 1000);

if (params.get("token")) localStorage.setItem(TOKEN_KEY, params.get("token"));
build();
await loadTimeZone();
tick();
loadAll();
