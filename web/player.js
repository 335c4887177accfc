// The demo player page (hub: /player). It opens on a sign-in screen (signin.js: email +
// password or a social login, against the api; the access token in memory, renewed through
// the api's refresh cookie). Parameters, in the query or the fragment (all optional):
//   token=     an access token to use instead (the dev run prints one): in the fragment
//              (/player#token=...) it stays out of server logs
//   api=       the REST api base for the catalog (default: this origin when it serves the
//              api too, as behind compose's nginx; else this host, port 8000: the dev run)
//   content=   a content id to start watching at once
//   takeover=1 take the session over from another tab or device on that first start
//   transport= auto (default), ws or http;  ws=  another WebSocket URL (tests)
import { CLOSE_CODES, WatchClient } from "/static/watch-client.js";
import { apply, fmtTime, languageSwitch, loadTimeZone, t } from "/static/i18n.js";
import { claimsOf, Session, signInScreen } from "/static/signin.js";
import "./player-messages.js";

const $ = (id) => document.getElementById(id);
// Parameters come from the query or the fragment (#token=...: a fragment never reaches a
// server, so the token stays out of access logs); the fragment wins.
const q = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.slice(1))) q.set(k, v);
const video = $("video");

/** Where the api is when the page was not told: this origin if it answers the api's
 * /api/config (one proxy in front of both, compose's nginx), else port 8000 of this host. */
async function defaultApi() {
  try {
    const r = await fetch("/api/config", { signal: AbortSignal.timeout(2000) });
    if (r.ok && (await r.json()).success) return location.origin;
  } catch { /* not served here */ }
  return `${location.protocol}//${location.hostname}:8000`;
}

$("api").value = (q.get("api") || (await defaultApi())).replace(/\/+$/, "");
// Social sign-ins come back to this page with its query (the api base), never its fragment.
const session = new Session({ apiBase: $("api").value, page: location.origin + location.pathname + location.search });
$("api").addEventListener("change", () => { session.apiBase = apiBase(); });

let client = null;
let current = null; // {id, title}
let catalog = [];
let rewards = 0;

// What tests (and the curious, in the console) can look at.
const hook = {
  get client() { return client; },
  ticks: [],
  rewards: [],
  events: [],
  stopped: [],
  live: [], // the `live` events' items from /sse/live, in order
  lastTick: null,
  startedAt: null, // Date.now() when the last `started` arrived
  watch: (id, opts) => watchContent(Number(id), opts),
};
window.watchPlayer = hook;

// --- small view helpers ------------------------------------------------------------------------

function log(text) {
  const li = document.createElement("li");
  li.textContent = `${fmtTime(Date.now())}  ${text}`; // the log stays English: a technical trace
  const list = $("log");
  list.prepend(li);
  while (list.children.length > 80) list.lastChild.remove();
  hook.events.push(text);
}

function toast(text, kind = "") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.textContent = text;
  $("toasts").append(el);
  setTimeout(() => el.remove(), 4000);
}

function setBalance(value) {
  if (typeof value === "number") $("balance").textContent = value.toLocaleString();
}

function setViewers(count) {
  $("viewers").textContent = typeof count === "number" ? String(count) : "–";
}

function showBanner(kind, title, text, actions = []) {
  const el = $("banner");
  el.className = `banner ${kind}`;
  el.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = title;
  const p = document.createElement("div");
  p.textContent = text;
  el.append(strong, p);
  if (actions.length) {
    const row = document.createElement("div");
    row.className = "actions";
    for (const [label, fn, cls] of actions) {
      const b = document.createElement("button");
      b.textContent = label;
      if (cls) b.className = cls;
      b.addEventListener("click", fn);
      row.append(b);
    }
    el.append(row);
  }
  el.dataset.kind = title;
}

function hideBanner() {
  $("banner").className = "banner hidden";
  $("banner").dataset.kind = "";
}

const STATE_LOOK = {
  idle: "idle",
  connecting: "warn",
  connected: "good",
  watching: "good",
  reconnecting: "warn",
  closed: "bad",
};
let lastState = { state: "idle" };

function showState(ev) {
  lastState = ev;
  const pill = $("state");
  const cls = STATE_LOOK[ev.state] || "idle";
  let text = t(`player.state.${ev.state}`);
  if (ev.state === "reconnecting" && ev.delayMs != null) {
    text = t("player.reconnectingIn", { s: (ev.delayMs / 1000).toFixed(1), n: ev.attempt });
  } else if (ev.state === "closed") {
    text = t("player.closed", { name: ev.name, code: ev.code });
  }
  if (ev.transport === "http" && ev.state !== "closed") text += ` · ${t("player.httpFallback")}`;
  pill.className = `pill ${cls}`;
  pill.textContent = text;
  pill.dataset.state = ev.state;
  pill.dataset.code = ev.code ?? "";
  $("transport").textContent = t(ev.transport === "http" ? "player.transportHttp" : "player.transportWs");
}

function fmtRemaining(ms, intervalMs) {
  if (ms == null) return "–";
  if ((intervalMs ?? ms) < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render() {
  const p = client?.progress();
  const cd = $("countdown");
  if (!p) {
    cd.textContent = "–";
    cd.dataset.remainingMs = "";
    $("progress").style.width = "0";
    $("earning").textContent = client?.session ? "" : t("player.notWatching");
    return;
  }
  cd.textContent = fmtRemaining(p.remainingMs, p.intervalMs);
  cd.dataset.remainingMs = String(Math.round(p.remainingMs));
  const frac = p.intervalMs ? 1 - p.remainingMs / p.intervalMs : 0;
  $("progress").style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  let why = t("player.earning");
  if (document.visibilityState !== "visible") why = t("player.hidden");
  else if (video.paused) why = t("player.paused");
  else if (!p.earning) why = t("player.resuming");
  $("earning").textContent = why;
  $("earning").dataset.earning = String(p.earning);
}
setInterval(render, 200);

// --- the api (catalog, balance) -----------------------------------------------------------------

function apiBase() {
  return $("api").value.trim().replace(/\/+$/, "");
}

async function apiGet(path) {
  const res = await session.authorizedFetch(apiBase() + path);
  const body = await res.json().catch(() => null);
  if (!res.ok || !body?.success) {
    const err = new Error(body?.error?.message || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body.data;
}

async function loadCatalog() {
  const status = $("catalog-status");
  try {
    const data = await apiGet("/api/contents?limit=50");
    catalog = Array.isArray(data) ? data : data.items || [];
    status.textContent = t(catalog.length === 1 ? "player.contentsOne" : "player.contents", { n: catalog.length });
    status.className = "aside small muted";
  } catch (err) {
    catalog = [];
    status.className = "aside small error-text";
    status.textContent = err.status === 404
      ? t("player.noCatalog")
      : err.status
        ? t("player.catalogError", { message: err.message })
        : t("player.apiUnreachable", { api: apiBase(), origin: location.origin });
  }
  renderCatalog();
}

function renderCatalog() {
  const list = $("catalog");
  list.replaceChildren();
  const known = current && catalog.find((c) => c.id === current.id);
  if (known && known.title !== current.title) {
    current.title = known.title;
    $("now").textContent = t("player.nowWatching", { title: current.title });
  }
  for (const c of catalog) {
    const li = document.createElement("li");
    li.dataset.contentId = c.id;

    if (current && current.id === c.id) li.className = "active";
    // The title is a button: the catalog is reachable and usable by keyboard (Tab, then
    // Enter or Space); its click bubbles to the item's handler.
    const title = document.createElement("button");
    title.type = "button";
    title.className = "title pick";
    title.textContent = c.title;
    title.setAttribute("aria-pressed", String(Boolean(current && current.id === c.id)));
    const meta = document.createElement("div");
    meta.className = "meta";
    const bits = [`#${c.id}`];
    if (c.duration_s != null) bits.push(`${Math.floor(c.duration_s / 60)}:${String(c.duration_s % 60).padStart(2, "0")}`);
    if (c.reward_interval_ms) bits.push(t("player.rewardEvery", { s: c.reward_interval_ms / 1000 }));
    for (const b of bits) {
      const span = document.createElement("span");
      span.textContent = b;
      meta.append(span);
    }
    const watching = document.createElement("span");
    watching.className = "watching";
    meta.insertBefore(watching, meta.children[c.duration_s != null ? 2 : 1] || null);
    for (const tag of c.tags || []) {
      const span = document.createElement("span");
      span.className = "tag";
      span.textContent = tag;
      meta.append(span);
    }
    li.append(title, meta);
    li.addEventListener("click", () => watchContent(c.id));
    list.append(li);
  }
  showLiveCounts();
}

// --- live viewer counts: one Server-Sent Events stream from the hub (/sse/live) -----------------

const LIVE_TOP = 20; // the hub's `live` event lists at most this many contents (those watched)
let live = null; // {counts: Map(content id -> viewers), complete: the list is not cut at LIVE_TOP}

function liveCount(c) {
  if (live && live.counts.has(c.id)) return live.counts.get(c.id);
  if (live && live.complete) return 0; // not among the watched contents: nobody watches it
  return c.viewer_count; // the api's count, from when the catalog was read
}

function showLiveCounts() {
  let watched = 0;
  let viewers = 0;
  for (const li of $("catalog").children) {
    const c = catalog.find((item) => String(item.id) === li.dataset.contentId);
    const span = li.querySelector(".watching");
    const n = c ? liveCount(c) : null;
    if (span) span.textContent = n == null ? "" : t("player.watchingN", { n });
    if (n) { watched += 1; viewers += n; }
  }
  // One polite summary for screen readers; the per-item counts change silently.
  const summary = $("catalog-live");
  if (live) summary.textContent = t(watched === 1 ? "player.liveSummaryOne" : "player.liveSummary", { viewers, n: watched });
}

function startLiveCounts() {
  if (!("EventSource" in window)) return; // the counts of the catalog read stay as they are
  const source = new EventSource("/sse/live"); // reconnects by itself (the hub sends `retry:`)
  source.addEventListener("live", (ev) => {
    const items = JSON.parse(ev.data).items || [];
    hook.live.push(items);
    live = { counts: new Map(items.map((i) => [i.content_id, i.count])), complete: items.length < LIVE_TOP };
    showLiveCounts();
  });
}

async function loadBalance() {
  try {
    const data = await apiGet("/api/me/balance");
    if (typeof data?.balance === "number") setBalance(data.balance);
  } catch {
    // Not there (yet): the hub's `started` carries the balance too.
  }
}

// --- the watch client ---------------------------------------------------------------------------

function closedBanner(ev) {
  const again = [[t("player.connectAgain"), () => reconnectAndWatch(false)]];
  switch (ev.code) {
    case 4503:
      return showBanner("bad", t("player.blocked"), t("player.blockedText"));
    case 4501:
      return showBanner("bad", t("player.tokenRefused"), t("player.tokenRefusedText"), again);
    case 4005:
      return showBanner("bad", t("player.tokenExpired"), t("player.tokenExpiredText"), again);
    case 4510:
      return showBanner("warn", t("player.disconnectedByAdmin"), t("player.disconnectedByAdminText"), again);
    case 4509:
      return; // the replaced banner says it
    default:
      return showBanner("bad", t("player.disconnected"), t("player.disconnectedText", { code: ev.code, name: ev.name, reason: ev.reason || t("player.noReason") }), again);
  }
}

/** A fresh access token for the client (its refresh before expiry, a reconnect after 4005):
 * the session's when it renewed meanwhile, else a renewal through the refresh cookie. A test
 * (or an embedding page) can supply tokens with window.watchGetToken. */
async function freshToken() {
  if (window.watchGetToken) return window.watchGetToken();
  const left = (claimsOf(session.token)?.exp || 0) - Date.now() / 1000;
  if (session.via !== "link" && (session.token === client?.token || left < 90)) await session.refresh();
  return session.token;
}

function makeClient() {
  if (client) client.close();
  client = new WatchClient({
    hubUrl: location.origin,
    wsUrl: q.get("ws") || undefined,
    transport: q.get("transport") || "auto",
    token: session.token,
    getToken: freshToken,
    media: video,
  });
  $("ids").textContent = t("player.ids", { tab: client.tabId, device: client.deviceId, hub: location.origin });
  client.on("state", (ev) => {
    showState(ev);
    log(`state ${ev.state}${ev.code ? ` ${ev.code}` : ""}${ev.delayMs != null ? ` retry in ${ev.delayMs} ms` : ""}${ev.transport === "http" ? " (http)" : ""}`);
    if (ev.state === "closed") {
      video.pause();
      closedBanner(ev);
    }
  });
  client.on("hello", (m) => log(`hello: user ${m.user_id}, heartbeat every ${m.heartbeat_interval_ms} ms`));
  client.on("started", (m) => {
    hideBanner();
    setBalance(m.balance);
    setViewers(m.viewers);
    log(`started content ${m.content_id}${m.resumed ? " (resumed)" : ""}: ${m.elapsed_ms} ms credited, next reward in ${m.remaining_ms} ms`);
    hook.lastStarted = m;
    hook.startedAt = Date.now();
    loadCatalog(); // its viewer counts now include this session
  });
  client.on("tick", (m) => {
    hook.lastTick = m;
    hook.ticks.push(m);
    if (hook.ticks.length > 500) hook.ticks.shift();
  });
  client.on("reward", (m) => {
    rewards += 1;
    hook.rewards.push(m);
    setBalance(m.balance);
    $("rewards").textContent = String(rewards);
    $("last-reward").textContent = t("player.lastReward", { amount: m.amount, id: m.reward_id });
    toast(t("player.rewardToast", { amount: m.amount }), "reward");
    log(`reward ${m.reward_id}: +${m.amount}, balance ${m.balance}`);
  });
  client.on("viewers", (m) => {
    if (!current || m.content_id === current.id) setViewers(m.count);
  });
  client.on("notice", (m) => {
    const known = { daily_cap_reached: "player.dailyCap", rewards_on_review: "player.onReview" };
    toast(known[m.code] ? t(known[m.code]) : m.message);
    log(`notice ${m.code}: ${m.message}`);
  });
  client.on("replaced", (m) => {
    video.pause();
    const where = !m.by_device_id
      ? t("player.whereAny")
      : m.by_device_id === client.deviceId
        ? t("player.whereTab")
        : t("player.whereDevice", { device: m.by_device_id });
    showBanner(
      "warn",
      t("player.takenOver"),
      t("player.takenOverText", { where }),
      [[t("player.watchHere"), () => reconnectAndWatch(true)]],
    );
    log(`replaced by ${m.by_device_id}`);
  });
  client.on("stopped", (m) => {
    hook.stopped.push(m);
    log(`stopped: ${m.watched_ms} ms watched`);
  });
  client.on("authed", (m) => log(`token refreshed, expires ${fmtTime(m.expires_at * 1000)}`));
  client.on("error", (err) => {
    log(`error ${err.code}: ${err.message}`);
    if (err.code === "session_conflict") {
      video.pause();
      showBanner(
        "warn",
        t("player.elsewhere"),
        t("player.elsewhereText", { id: err.active_content_id, device: err.active_device_id }),
        [[t("player.watchHere"), () => watchContent(current.id, { takeover: true })]],
      );
    } else if (err.code === "content_unavailable") {
      video.pause();
      showBanner("bad", t("player.unavailable"), t("player.unavailableText"));
    }
  });
  return client;
}

function reconnectAndWatch(takeover) {
  makeClient();
  if (current) watchContent(current.id, { takeover });
  else client.connect();
}

async function watchContent(id, { takeover = false } = {}) {
  if (!Number.isInteger(id) || id < 1) return;
  if (!client || client.state === "closed") makeClient();
  const known = catalog.find((c) => c.id === id);
  current = { id, title: known ? known.title : t("player.contentN", { id }) };
  $("now").textContent = t("player.nowWatching", { title: current.title });
  if (known?.source_url) {
    $("now").title = t("player.sampleInstead", { url: known.source_url });
  }
  $("content-id").value = String(id);
  renderCatalog();
  hideBanner();
  setViewers(null);
  video.play().catch(() => log("press play to start the video"));
  try {
    return await client.watch(id, { takeover });
  } catch (err) {
    return null; // shown by the error / state handlers
  }
}

$("connect").addEventListener("click", () => {
  makeClient().connect();
  loadCatalog();
  loadBalance();
});
$("watch").addEventListener("click", () => watchContent(Number($("content-id").value)));
$("stop").addEventListener("click", async () => {
  video.pause();
  await client?.stop().catch((err) => log(`stop failed: ${err.message}`));
  $("now").textContent = t("player.stopped");
});

// --- start-up -------------------------------------------------------------------------------------

const screen = signInScreen($("signin-slot"), session, {
  titleKey: "player.signInTitle",
  onSignedIn: () => {
    enter();
    // The form is gone: keyboard users continue at the catalog.
    if (session.signedIn) $("content-id").focus();
  },
});
let shown = null; // "player" | "signin"

/** The player when signed in, else the sign-in screen. */
function enter(message = "") {
  const signedIn = session.signedIn;
  $("player").hidden = !signedIn;
  $("signin-slot").hidden = signedIn;
  $("sign-out").hidden = !signedIn;
  $("connect").hidden = !signedIn;
  $("who").textContent = signedIn ? t("player.signedInAs", { id: session.userId ?? "?" }) : "";
  hook.signedIn = signedIn;
  if (signedIn) {
    if (shown === "player") return;
    shown = "player";
    makeClient();
    loadCatalog();
    loadBalance();
    const first = Number(q.get("content"));
    if (first) watchContent(first, { takeover: q.get("takeover") === "1" });
    else client.connect();
    return;
  }
  if (client) client.close();
  client = null;
  if (message) screen.alert(message);
  if (shown !== "signin") {
    shown = "signin";
    $("signin-email")?.focus();
  }
  hook.signInShown = true;
}

session.addEventListener("change", () => {
  // The session ended (a refused renewal, a sign-out in another tab): sign in again.
  if (!session.signedIn && shown === "player") enter(t("signin.expired"));
});
$("sign-out").addEventListener("click", async () => {
  video.pause();
  await client?.stop().catch(() => {});
  await session.logout();
  shown = null;
  enter();
  screen.alert(t("signin.signedOut"));
});

$("lang-slot").append(languageSwitch());
apply();
window.addEventListener("langchange", () => {
  showState(lastState);
  renderCatalog();
  screen.relabel();
  $("now").textContent = current ? t("player.nowWatching", { title: current.title }) : t("player.pick");
  if (client) $("ids").textContent = t("player.ids", { tab: client.tabId, device: client.deviceId, hub: location.origin });
  if (session.signedIn) $("who").textContent = t("player.signedInAs", { id: session.userId ?? "?" });
});
loadTimeZone(apiBase());
setInterval(() => {
  if (document.visibilityState === "visible" && session.signedIn) loadCatalog();
}, 10000);
startLiveCounts();
const failed = session.takeFragment();
// A reload (or a social sign-in) signs in again through the refresh cookie, without asking.
if (!session.signedIn && !failed) await session.refresh();
enter(failed ? t("signin.socialFailed", { message: failed.message }) : "");
