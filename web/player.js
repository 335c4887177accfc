// The demo player page (hub: /player). Parameters, in the query or the fragment (all optional):
//   token=     access token (else the field; kept in this browser's localStorage); put it in
//              the fragment (/player#token=...) to keep it out of server logs
//   api=       the REST api base for the catalog (default: this host, port 8000)
//   content=   a content id to start watching at once
//   takeover=1 take the session over from another tab or device on that first start
//   transport= auto (default), ws or http;  ws=  another WebSocket URL (tests)
import { CLOSE_CODES, WatchClient } from "/static/watch-client.js";

const $ = (id) => document.getElementById(id);
// Parameters come from the query or the fragment (#token=...: a fragment never reaches a
// server, so the token stays out of access logs); the fragment wins.
const q = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.slice(1))) q.set(k, v);
const video = $("video");

const TOKEN_KEY = "watch.player.token";
$("token").value = q.get("token") || localStorage.getItem(TOKEN_KEY) || "";
$("api").value = (q.get("api") || `${location.protocol}//${location.hostname}:8000`).replace(/\/+$/, "");

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
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
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
  idle: ["idle", "not connected"],
  connecting: ["warn", "connecting…"],
  connected: ["good", "connected"],
  watching: ["good", "watching"],
  reconnecting: ["warn", "reconnecting"],
  closed: ["bad", "closed"],
};

function showState(ev) {
  const pill = $("state");
  const [cls, label] = STATE_LOOK[ev.state] || ["idle", ev.state];
  let text = label;
  if (ev.state === "reconnecting" && ev.delayMs != null) {
    text = `reconnecting in ${(ev.delayMs / 1000).toFixed(1)} s (attempt ${ev.attempt})`;
  } else if (ev.state === "closed") {
    text = `closed: ${ev.name} (${ev.code})`;
  }
  if (ev.transport === "http" && ev.state !== "closed") text += " · HTTP fallback";
  pill.className = `pill ${cls}`;
  pill.textContent = text;
  pill.dataset.state = ev.state;
  pill.dataset.code = ev.code ?? "";
  $("transport").textContent = `transport: ${ev.transport === "http" ? "HTTP timer endpoints" : "WebSocket"}`;
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
    $("earning").textContent = client?.session ? "" : "not watching";
    return;
  }
  cd.textContent = fmtRemaining(p.remainingMs, p.intervalMs);
  cd.dataset.remainingMs = String(Math.round(p.remainingMs));
  const frac = p.intervalMs ? 1 - p.remainingMs / p.intervalMs : 0;
  $("progress").style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
  let why = "earning";
  if (document.visibilityState !== "visible") why = "page hidden: not earning";
  else if (video.paused) why = "paused: not earning";
  else if (!p.earning) why = "resuming…";
  $("earning").textContent = why;
  $("earning").dataset.earning = String(p.earning);
}
setInterval(render, 200);

// --- the api (catalog, balance) -----------------------------------------------------------------

function apiBase() {
  return $("api").value.trim().replace(/\/+$/, "");
}

async function apiGet(path) {
  const res = await fetch(apiBase() + path, {
    headers: { Authorization: `Bearer ${$("token").value.trim()}` },
  });
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
    status.textContent = `${catalog.length} content${catalog.length === 1 ? "" : "s"}`;
    status.className = "aside small muted";
  } catch (err) {
    catalog = [];
    status.className = "aside small error-text";
    status.textContent = err.status === 404
      ? "catalog not available on this api yet: enter an id"
      : err.status
        ? `catalog: ${err.message}`
        : `api not reachable at ${apiBase()} (is CORS_ORIGINS set to ${location.origin}?)`;
  }
  renderCatalog();
}

function renderCatalog() {
  const list = $("catalog");
  list.replaceChildren();
  const known = current && catalog.find((c) => c.id === current.id);
  if (known && known.title !== current.title) {
    current.title = known.title;
    $("now").textContent = `Now watching: ${current.title}`;
  }
  for (const c of catalog) {
    const li = document.createElement("li");
    li.dataset.contentId = c.id;
    if (current && current.id === c.id) li.className = "active";
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = c.title;
    const meta = document.createElement("div");
    meta.className = "meta";
    const bits = [`#${c.id}`];
    if (c.duration_s != null) bits.push(`${Math.floor(c.duration_s / 60)}:${String(c.duration_s % 60).padStart(2, "0")}`);
    if (c.reward_interval_ms) bits.push(`reward every ${c.reward_interval_ms / 1000} s`);
    for (const b of bits) {
      const span = document.createElement("span");
      span.textContent = b;
      meta.append(span);
    }
    const watching = document.createElement("span");
    watching.className = "watching";
    meta.insertBefore(watching, meta.children[c.duration_s != null ? 2 : 1] || null);
    for (const t of c.tags || []) {
      const span = document.createElement("span");
      span.className = "tag";
      span.textContent = t;
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
    if (span) span.textContent = n == null ? "" : `${n} watching`;
    if (n) { watched += 1; viewers += n; }
  }
  // One polite summary for screen readers; the per-item counts change silently.
  const summary = $("catalog-live");
  if (live) summary.textContent = `live now: ${viewers} watching ${watched} content${watched === 1 ? "" : "s"}`;
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
  const again = [["Connect again", () => reconnectAndWatch(false)]];
  switch (ev.code) {
    case 4503:
      return showBanner("bad", "Blocked", "The server closed this player (4503 forbidden): this account or network is blocked.");
    case 4501:
      return showBanner("bad", "Token refused", "The hub refused the token (4501 unauthorized). Paste a valid token and connect again.", again);
    case 4005:
      return showBanner("bad", "Token expired", "The token expired (4005) and no fresh one could be had. Paste a new token and connect again.", again);
    case 4509:
      return; // the replaced banner says it
    default:
      return showBanner("bad", "Disconnected", `The connection closed (${ev.code} ${ev.name}): ${ev.reason || "no reason given"}.`, again);
  }
}

function makeClient() {
  if (client) client.close();
  const token = $("token").value.trim();
  if (token) localStorage.setItem(TOKEN_KEY, token);
  client = new WatchClient({
    hubUrl: location.origin,
    wsUrl: q.get("ws") || undefined,
    transport: q.get("transport") || "auto",
    token,
    // A test (or an embedding page) can supply fresh tokens; else the field is re-read, so a
    // pasted token is used at the next refresh or reconnect.
    getToken: async () => (window.watchGetToken ? window.watchGetToken() : $("token").value.trim()),
    media: video,
  });
  $("ids").textContent = `tab ${client.tabId} · device ${client.deviceId} · hub ${location.origin}`;
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
    $("last-reward").textContent = `last: +${m.amount} (${m.reward_id})`;
    toast(`+${m.amount} coins`, "reward");
    log(`reward ${m.reward_id}: +${m.amount}, balance ${m.balance}`);
  });
  client.on("viewers", (m) => {
    if (!current || m.content_id === current.id) setViewers(m.count);
  });
  client.on("notice", (m) => {
    toast(m.code === "daily_cap_reached" ? "Daily reward cap reached: no more rewards today" : m.message);
    log(`notice ${m.code}: ${m.message}`);
  });
  client.on("replaced", (m) => {
    video.pause();
    const where = !m.by_device_id
      ? "in another tab or on another device"
      : m.by_device_id === client.deviceId
        ? "in another tab of this browser"
        : `on another device (${m.by_device_id})`;
    showBanner(
      "warn",
      "Taken over by another tab",
      `This session is now watched ${where}. Watching has stopped here.`,
      [["Watch here instead", () => reconnectAndWatch(true)]],
    );
    log(`replaced by ${m.by_device_id}`);
  });
  client.on("stopped", (m) => {
    hook.stopped.push(m);
    log(`stopped: ${m.watched_ms} ms watched`);
  });
  client.on("authed", (m) => log(`token refreshed, expires ${new Date(m.expires_at * 1000).toLocaleTimeString()}`));
  client.on("error", (err) => {
    log(`error ${err.code}: ${err.message}`);
    if (err.code === "session_conflict") {
      video.pause();
      showBanner(
        "warn",
        "Watching elsewhere",
        `You are already watching content #${err.active_content_id} on device ${err.active_device_id}.`,
        [["Watch here instead", () => watchContent(current.id, { takeover: true })]],
      );
    } else if (err.code === "content_unavailable") {
      video.pause();
      showBanner("bad", "Content unavailable", "This content does not exist or is no longer published.");
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
  current = { id, title: known ? known.title : `content #${id}` };
  $("now").textContent = `Now watching: ${current.title}`;
  if (known?.source_url) {
    $("now").title = `the demo plays a local sample clip instead of ${known.source_url}`;
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
  $("now").textContent = "Stopped. Pick a content to start watching.";
});

// --- start-up -------------------------------------------------------------------------------------

loadCatalog();
setInterval(() => {
  if (document.visibilityState === "visible") loadCatalog();
}, 10000);
startLiveCounts();
if ($("token").value) {
  makeClient();
  loadBalance();
  const first = Number(q.get("content"));
  if (first) watchContent(first, { takeover: q.get("takeover") === "1" });
  else client.connect();
}
