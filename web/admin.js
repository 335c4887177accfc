// The admin console (api: /admin). It calls the admin routes of the api it is served by
// (same origin: no CORS) with the access token of its sign-in (signin.js: email + password
// or a social login; the token in memory, renewed through the refresh cookie; the dev run's
// #token= link works too). Each section is one module under admin/sections/ that registers
// itself (admin/registry.js); this entry imports them in page order, builds their panels and
// drives loading and refreshing. A route this api does not have answers 404 or 405: its
// section says "not available".
import { apply, define, fmtTime, languageSwitch, loadTimeZone, t } from "/static/i18n.js";
import { Session, signInScreen } from "/static/signin.js";
import { $, announce, auth, call, el, hook, token } from "./admin/core.js";
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

// The open page's calls a minute (admin routes allow 300 by default): live every 3 s (20),
// charts every 10 s (6), the slow group (nodes, reviews, ads x2, audit) every 30 s (10); a
// full load or a language switch about 24 more.
const EVERY_MS = {
  fast: Number(new URLSearchParams(location.search).get("live_ms")) || 3000,
  charts: 10000,
  slow: Number(new URLSearchParams(location.search).get("slow_ms")) || 30000,
};

define({
  en: {
    "admin.skip": "Skip to the sections", "admin.subtitle": "admin console", "admin.auto": "auto refresh",
    "admin.sections": "Sections", "admin.signInTitle": "Sign in to the admin console",
    "admin.signedOut": "signed out", "admin.admin": "admin", "admin.tokenRefused": "token refused ({status})",
    "admin.notAdmin": "This account is not an administrator. Sign in with an admin account.",
  },
  ko: {
    "admin.skip": "섹션으로 건너뛰기", "admin.subtitle": "관리자 콘솔", "admin.auto": "자동 새로 고침",
    "admin.sections": "섹션", "admin.signInTitle": "관리자 콘솔 로그인",
    "admin.signedOut": "로그아웃됨", "admin.admin": "관리자", "admin.tokenRefused": "토큰 거부됨 ({status})",
    "admin.notAdmin": "관리자 계정이 아닙니다. 관리자 계정으로 로그인하세요.",
  },
});

const session = new Session();
auth.session = session;
hook.session = session; // for tests: the token in memory
$("lang-slot").append(languageSwitch());
const screen = signInScreen($("signin-slot"), session, {
  titleKey: "admin.signInTitle",
  onSignedIn: () => {
    enter();
    // The form is gone: keyboard and screen reader users continue at the first section.
    if (session.signedIn) document.querySelector("#sections h2")?.focus();
  },
});

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

let shown = null; // "console" | "signin"

/** The console when signed in (as an admin), else the sign-in screen. */
function enter(message = "") {
  // A password or social sign-in of an account without the admin role is not for this
  // console; a #token= link is shown as it is (its panels say that it is refused).
  if (session.signedIn && session.via !== "link" && !session.roles.includes("admin")) {
    session.forget();
    message = t("admin.notAdmin");
  }
  const signedIn = session.signedIn;
  $("console").hidden = !signedIn;
  $("signin-slot").hidden = signedIn;
  $("sign-out").hidden = !signedIn;
  hook.signedIn = signedIn;
  if (signedIn) {
    if (shown !== "console") {
      shown = "console";
      loadAll();
    }
    return;
  }
  const pill = $("auth-state");
  pill.className = "pill idle";
  pill.textContent = t("admin.signedOut");
  hook.ready = false;
  if (message) screen.alert(message);
  if (shown !== "signin") {
    shown = "signin";
    $("signin-email")?.focus();
  }
  hook.signInShown = true;
}

session.addEventListener("change", () => {
  // Signed out elsewhere (another tab) or the session ended: back to the sign-in screen.
  if (!session.signedIn && shown === "console") enter(t("signin.expired"));
});

$("sign-out").addEventListener("click", async () => {
  await session.logout();
  shown = null;
  enter();
  screen.alert("");
  announce(t("signin.signedOut"));
});
window.addEventListener("langchange", () => {
  build();
  screen.relabel();
  if (session.signedIn) loadAll();
  else $("auth-state").textContent = t("admin.signedOut");
});

const auto = () => $("auto").checked && document.visibilityState === "visible" && token();
for (const [group, ms] of Object.entries(EVERY_MS)) {
  setInterval(() => {
    if (auto()) for (const s of all()) if (s.refresh === group) s.load();
  }, ms);
}
const tick = () => { $("clock").textContent = fmtTime(Date.now()); };
setInterval(tick, 1000);

build();
await loadTimeZone();
tick();
const failed = session.takeFragment();
// After a reload (or a social sign-in without a token in the fragment) the refresh cookie
// signs in again without asking.
if (!session.signedIn && !failed) await session.refresh();
enter(failed ? t("signin.socialFailed", { message: failed.message }) : "");
