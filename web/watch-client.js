// watch-client.js: a browser client for the watch-hub session protocol (PROTOCOL.md 4-5).
// One ES module, no build step, no dependencies. Served by the hub at /static/watch-client.js.
//
//   import { WatchClient } from "/static/watch-client.js";
//   const client = new WatchClient({ hubUrl: location.origin, token, getToken, media: video });
//   client.on("reward", (r) => toast(`+${r.amount}`));
//   await client.watch(contentId);          // connects if needed, resolves with `started`
//
// What it does for you:
// - heartbeats on the server's `hello.heartbeat_interval_ms`, each reporting whether the
//   player was playing and the page visible for the whole time since the previous one. A
//   change of either closes the period at once: the time before it is reported in the state
//   it had (so a pause credits the play before it, and paused or hidden time is never
//   reported as watched), and a new period starts in the new state;
// - a stop (`stop()`, the tab closing or navigating away) reports the last period with it,
//   and a resumed session (after a reconnect) reports the period that spans the outage, so
//   no credited time is left behind;
// - refreshes its token (`auth`) before it expires, with the caller's async `getToken()`;
// - reconnects with exponential backoff and jitter (1 s doubling to 30 s) on 1001, 1006, 1012
//   and 4000-4499 (and any other code not listed as terminal), and stops on 1000, 1009 and
//   4500-4999 (PROTOCOL 4.3); after a reconnect it re-sends `start` with the same tab and
//   device ids, which resumes the session;
// - falls back to the HTTP timer endpoints (PROTOCOL 5) when a WebSocket cannot be opened,
//   and goes back to the WebSocket as soon as one opens again.
//
// Events (client.on(name, fn) returns a function that unsubscribes): hello, started, tick,
// reward, viewers, notice, replaced, stopped, authed, error, state.

const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30000;
// State changes report their period at once, up to this many heartbeats in one second (the
// server closes a connection that sends over WS_MAX_MESSAGES_PER_SECOND, 20 by default);
// past it, the changes share one period, which counts as earning only if all of it did.
const MAX_CHANGE_BEATS_PER_S = 4;
const STABLE_AFTER_MS = 5000; // a connection open this long resets the backoff
const REQUEST_TIMEOUT_MS = 10000;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this (a token of 25+ days)

/** Close codes and what they mean to a client (PROTOCOL 4.3). */
export const CLOSE_CODES = Object.freeze({
  1000: "normal",
  1001: "going_away",
  1006: "abnormal",
  1009: "too_big",
  1012: "service_restart",
  1013: "try_again_later",
  4005: "token_expired",
  4029: "rate_limited",
  4500: "bad_request",
  4501: "unauthorized",
  4503: "forbidden",
  4509: "replaced",
});

/** True when a close with this code ends the connection for good (no automatic reconnect). */
export function isTerminalClose(code) {
  return code === 1000 || code === 1009 || (code >= 4500 && code <= 4999);
}

/** The delay before reconnect attempt `attempt` (1, 2, ...): 1 s doubling up to 30 s, with
 * "equal jitter" (between half and all of it), so a fleet that lost one node does not come
 * back in lockstep. */
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** The claims of a JWT (unverified: only to know when it expires), or null. */
export function tokenClaims(token) {
  try {
    const part = String(token).split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return null;
  }
}

function randomId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const HEARTBEAT_KEY = "watch.heartbeat_interval_ms";

function safeGet(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function safeSet(storage, key, value) {
  try {
    storage.setItem(key, value);
  } catch {
    // storage disabled: nothing remembered
  }
}

function storedId(storage, key, prefix) {
  try {
    let id = storage.getItem(key);
    if (!id) {
      id = randomId(prefix);
      storage.setItem(key, id);
    }
    return id;
  } catch {
    return randomId(prefix); // storage disabled: an id for this page only
  }
}

/** An error the server answered (`error` frame or REST error envelope). */
export class WatchError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "WatchError";
    this.code = code;
    Object.assign(this, extra);
  }
}

export class WatchClient {
  /**
   * @param {object} options
   * @param {string} [options.hubUrl] http(s) or ws(s) base of the hub; default: this page's origin
   * @param {string} [options.wsUrl] the WebSocket URL (default: hubUrl + "/ws")
   * @param {string} [options.httpUrl] the base of the HTTP fallback (default: hubUrl)
   * @param {string} [options.token] the access token; else getToken() is asked first
   * @param {() => Promise<string>} [options.getToken] a fresh token, for refresh and reconnect
   * @param {HTMLMediaElement} [options.media] the player; its play state is followed
   * @param {() => boolean} [options.isPlaying] instead of `media`: is the player playing now
   *   (then call client.playerChanged() whenever that changes)
   * @param {() => number} [options.position] the playback position in seconds
   * @param {() => boolean} [options.isVisible] default: document.visibilityState === "visible"
   * @param {string} [options.tabId] default: kept in sessionStorage (one per tab)
   * @param {string} [options.deviceId] default: kept in localStorage (one per browser)
   * @param {"auto"|"ws"|"http"} [options.transport] "auto" (default) tries the WebSocket
   *   first and falls back to HTTP; "http" never opens a WebSocket
   * @param {number} [options.fallbackAfter] WebSocket open failures in a row, before any
   *   WebSocket of this client got through, that make it fall back to HTTP (default 2)
   * @param {number} [options.wsRetryMs] while on HTTP, how often to try the WebSocket again
   *   (default 15000)
   * @param {number} [options.refreshLeadMs] refresh the token this long before it expires
   *   (default 60000, at most a fifth of the token's lifetime)
   * @param {number} [options.heartbeatIntervalMs] until the server says in `hello` (default:
   *   the last one a hub said in this browser, else 10000). Over HTTP, where there is no
   *   hello, it is also learnt from the credit: the server caps one heartbeat's credit at
   *   1.5 intervals, so a smaller credit than the time reported reveals the interval.
   */
  constructor(options = {}) {
    const origin = typeof location !== "undefined" ? location.origin : "http://127.0.0.1:8001";
    const base = String(options.hubUrl || origin).replace(/\/+$/, "");
    this.httpUrl = String(options.httpUrl || base.replace(/^ws/, "http")).replace(/\/+$/, "");
    this.wsUrl = options.wsUrl || base.replace(/^http/, "ws") + "/ws";
    this.token = options.token || null;
    this.getToken = options.getToken || null;
    this.media = options.media || null;
    this._isPlaying = options.isPlaying || null;
    this._position = options.position || null;
    this._isVisible = options.isVisible || null;
    this.tabId = options.tabId || storedId(sessionStorage, "watch.tab_id", "tab-");
    this.deviceId = options.deviceId || storedId(localStorage, "watch.device_id", "dev-");
    this.transportMode = options.transport || "auto";
    this.fallbackAfter = options.fallbackAfter ?? 2;
    this.wsRetryMs = options.wsRetryMs ?? 15000;
    this.refreshLeadMs = options.refreshLeadMs ?? 60000;
    const remembered = Number(safeGet(localStorage, HEARTBEAT_KEY)) || 0;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? (remembered || 10000);
    this._intervalKnown = Boolean(options.heartbeatIntervalMs || remembered);

    this._handlers = new Map();
    this._state = "idle";
    this.transport = this.transportMode === "http" ? "http" : "ws";
    this.ws = null;
    this._helloed = false;
    this._pending = new Map(); // message id -> {resolve, reject, timer}
    this._seq = 0;
    this._attempt = 0; // reconnect attempts since the last stable connection
    this._openFailures = 0; // WebSocket opens that failed in a row
    this._wsWorked = false; // a WebSocket got as far as `hello` at least once
    this._timers = {};
    this._closedByUs = false;
    this._terminal = null; // {code, reason} once the client gave up for good
    this._clockOffsetMs = 0; // server time - local time, from hello
    this._want = null; // {contentId, takeover}: the session the caller asked for
    this._session = null; // the live session: started frame
    this._watchWaiters = []; // watch() promises waiting for started
    this._progress = null; // {contentId, elapsedMs, remainingMs, intervalMs, at}
    // The period since the last heartbeat, and the state it started in (folded with later
    // states when a change could not be reported on its own: then it earns only if all of
    // it did).
    this._period = { playing: false, visible: false, since: 0 };
    this._intervals = new Map(); // content id -> reward interval, as the server last said
    this._recentBeats = []; // when the last heartbeats were sent (for MAX_CHANGE_BEATS_PER_S)

    this._onPlayer = () => this.playerChanged();
    this._onPageHide = () => this._pageHide();
    this._onPageShow = (ev) => this._pageShow(ev);
    this._pageGone = false; // between pagehide and pageshow: the page sends nothing
    this._buffering = false; // the media element waits for data: not playing
    if (this.media) {
      this._onWaiting = () => { this._buffering = true; };
      this._onPlaying = () => { this._buffering = false; };
      this.media.addEventListener("waiting", this._onWaiting);
      this.media.addEventListener("playing", this._onPlaying);
      for (const ev of ["play", "playing", "pause", "ended", "waiting"]) {
        this.media.addEventListener(ev, this._onPlayer);
      }
    }
    if (typeof document !== "undefined") {
      document.addEventListener("visibilitychange", this._onPlayer);
      addEventListener("pagehide", this._onPageHide);
      addEventListener("pageshow", this._onPageShow);
    }
  }

  // --- public API ---------------------------------------------------------------------------

  /** Subscribe to an event; returns the unsubscribe function. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }

  /** idle, connecting, connected, watching, reconnecting, closed. */
  get state() {
    return this._state;
  }

  /** The live session (the last `started`), or null. */
  get session() {
    return this._session;
  }

  /** Open the connection (idempotent). watch() calls it. */
  connect() {
    if (this._terminal || this._state !== "idle") return;
    this._closedByUs = false;
    if (this.transport === "http") this._startHttp();
    else this._openSocket();
  }

  /** Watch a content: resolves with the `started` frame's fields, rejects with a WatchError
   * (code `session_conflict` carries active_content_id and active_device_id). With
   * `takeover`, another tab's or device's session is taken over. */
  watch(contentId, { takeover = false } = {}) {
    if (this._terminal) {
      return Promise.reject(new WatchError("closed", `connection closed (${this._terminal.code})`));
    }
    this._want = { contentId: Number(contentId), takeover: Boolean(takeover) };
    const done = new Promise((resolve, reject) => this._watchWaiters.push({ resolve, reject }));
    if (this._state === "idle") this.connect();
    else this._sendStart();
    return done;
  }

  /** End the watch session (the out event). Resolves with `{content_id, watched_ms}`, or
   * null when there was none. */
  async stop() {
    const session = this._session;
    // The last period is reported with the stop: over the WebSocket as a heartbeat right
    // before it (the hub handles one connection's messages in order), over HTTP in the
    // out-event itself.
    const last = session ? this._closePeriod() : null;
    if (session && this.transport === "ws") this._sendHeartbeat(last);
    this._want = null;
    this._setSession(null);
    if (this._state === "watching") this._setState("connected");
    if (!session) return null;
    try {
      if (this.transport === "http") {
        const stopped = await this._post("/api/service/out-event", this._outEvent(session, last));
        this._emit("stopped", { type: "stopped", ...stopped });
        return stopped;
      }
      return await this._request({ type: "stop" });
    } catch (err) {
      if (err.code === "no_session") return null;
      throw err;
    }
  }

  /** Close for good: no reconnect, and this client cannot be used again (make a new one).
   * The session stays live on the server until it expires (call stop() first to end it). */
  close() {
    this._closedByUs = true;
    this._terminal = { code: 1000, reason: "client closed", name: "normal" };
    if (this.media) {
      for (const ev of ["play", "playing", "pause", "ended", "waiting"]) {
        this.media.removeEventListener(ev, this._onPlayer);
      }
      this.media.removeEventListener("waiting", this._onWaiting);
      this.media.removeEventListener("playing", this._onPlaying);
    }
    if (typeof document !== "undefined") {
      document.removeEventListener("visibilitychange", this._onPlayer);
      removeEventListener("pagehide", this._onPageHide);
      removeEventListener("pageshow", this._onPageShow);
    }
    this._clearTimers();
    this._want = null;
    this._rejectWaiters(new WatchError("closed", "client closed"));
    if (this.ws) {
      try { this.ws.close(1000, "client closed"); } catch { /* already closed */ }
    }
    this.ws = null;
    this._setSession(null);
    this._setState("idle");
  }

  /** Tell the client that the player's play state changed (needed with `isPlaying`; a
   * `media` element is followed by itself). */
  playerChanged() {
    if (!this._session || this._pageGone) return;
    const p = this._period;
    if (this._isPlayingNow() === p.playing && this._isVisibleNow() === p.visible) return;
    // The period so far was in the old state: report it in that state, and start a new one
    // in the new state. Too many changes in a second share one period instead.
    const now = Date.now();
    this._recentBeats = this._recentBeats.filter((t) => now - t < 1000);
    if (this._recentBeats.length < MAX_CHANGE_BEATS_PER_S) {
      this._heartbeat();
      return;
    }
    p.playing = p.playing && this._isPlayingNow();
    p.visible = p.visible && this._isVisibleNow();
    this._schedule("heartbeat", 1000 - (now - this._recentBeats[0]), () => this._heartbeat());
  }

  /** Progress towards the next reward, extrapolated from the last tick by the time this page
   * has been earning since: {contentId, elapsedMs, remainingMs, intervalMs, earning}. */
  progress() {
    const p = this._progress;
    if (!p || !this._session) return null;
    const earning = this._state === "watching" && this._periodEarns() && this._isEarning();
    const cap = 1.5 * this.heartbeatIntervalMs; // the server never credits more per heartbeat
    const extra = earning ? Math.min(cap, Math.max(0, Date.now() - this._period.since)) : 0;
    return {
      contentId: p.contentId,
      elapsedMs: p.elapsedMs + extra,
      remainingMs: Math.max(0, p.remainingMs - extra),
      intervalMs: p.intervalMs,
      earning,
    };
  }

  // --- events and state -----------------------------------------------------------------------

  _emit(type, payload) {
    for (const fn of this._handlers.get(type) || []) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`watch-client: ${type} handler failed`, err);
      }
    }
  }

  _setState(state, detail = {}) {
    this._state = state;
    this._emit("state", { state, transport: this.transport, ...detail });
  }

  _setSession(started) {
    this._session = started;
    if (!started) {
      this._progress = null;
      this._clearTimer("heartbeat");
    }
  }

  _isVisibleNow() {
    if (this._isVisible) return Boolean(this._isVisible());
    return typeof document === "undefined" || document.visibilityState === "visible";
  }

  _isPlayingNow() {
    if (this._isPlaying) return Boolean(this._isPlaying());
    const m = this.media;
    if (!m) return true; // no player given: the caller reports through isVisible alone
    return !m.paused && !m.ended && !this._buffering;
  }

  _isEarning() {
    return this._isPlayingNow() && this._isVisibleNow();
  }

  _positionNow() {
    if (this._position) return this._position();
    return this.media ? this.media.currentTime : undefined;
  }

  // --- timers -----------------------------------------------------------------------------------

  _schedule(name, ms, fn) {
    this._clearTimer(name);
    this._timers[name] = setTimeout(() => {
      delete this._timers[name];
      fn();
    }, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
  }

  _clearTimer(name) {
    if (this._timers[name] !== undefined) clearTimeout(this._timers[name]);
    delete this._timers[name];
  }

  _clearTimers() {
    for (const name of Object.keys(this._timers)) this._clearTimer(name);
  }

  // --- tokens -----------------------------------------------------------------------------------

  async _freshToken() {
    if (!this.getToken) return this.token;
    const token = await this.getToken();
    if (token) this.token = token;
    return this.token;
  }

  _scheduleRefresh(expiresAtS) {
    this._clearTimer("refresh");
    if (!this.getToken || !expiresAtS) return;
    const claims = tokenClaims(this.token) || {};
    const lifetimeMs = claims.iat ? (expiresAtS - claims.iat) * 1000 : this.refreshLeadMs * 5;
    const lead = Math.min(this.refreshLeadMs, Math.max(1000, lifetimeMs / 5));
    const serverNow = Date.now() + this._clockOffsetMs;
    this._schedule("refresh", expiresAtS * 1000 - lead - serverNow, () => this._refresh());
  }

  async _refresh() {
    try {
      const before = tokenClaims(this.token)?.exp || 0;
      const token = await this._freshToken();
      const after = tokenClaims(token)?.exp || 0;
      if (after && after <= before) {
        // getToken() gave no newer token: ask again later rather than in a tight loop.
        throw new WatchError("token_refresh", "getToken() returned no newer token");
      }
      if (this.transport === "ws" && this.ws && this._helloed) {
        const authed = await this._request({ type: "auth", token });
        this._scheduleRefresh(authed.expires_at);
      } else {
        this._scheduleRefresh(tokenClaims(token)?.exp);
      }
    } catch (err) {
      this._emit("error", err instanceof WatchError ? err : new WatchError("token_refresh", String(err)));
      this._schedule("refresh", 15000, () => this._refresh()); // the old one may still hold
    }
  }

  // --- WebSocket transport ------------------------------------------------------------------------

  async _openSocket() {
    this._clearTimer("reconnect");
    if (typeof WebSocket === "undefined") {
      this._fallBack("this browser has no WebSocket");
      return;
    }
    const probe = this.transport === "http"; // from HTTP mode: try to go back quietly
    if (!probe) this._setState(this._attempt ? "reconnecting" : "connecting", { attempt: this._attempt });
    if (this._needFreshToken === "stale") {
      this._giveUp(4005, "token expired, and no getToken() to get a fresh one");
      return;
    }
    let token = this.token;
    if (!token || this._needFreshToken) {
      try {
        token = await this._freshToken();
        this._needFreshToken = false;
      } catch (err) {
        this._emit("error", new WatchError("token_refresh", String(err)));
        this._attempt += 1;
        this._schedule("reconnect", backoffDelay(this._attempt), () => this._openSocket());
        return;
      }
    }
    if (!token) {
      this._giveUp(4501, "no token: pass `token` or `getToken`");
      return;
    }
    const exp = tokenClaims(token)?.exp;
    if (exp && exp * 1000 <= Date.now() + this._clockOffsetMs) {
      this._giveUp(4005, "the token has expired and getToken() gave no fresh one");
      return;
    }
    if (this._closedByUs || this._terminal) return;
    const sep = this.wsUrl.includes("?") ? "&" : "?";
    let ws;
    try {
      ws = new WebSocket(`${this.wsUrl}${sep}token=${encodeURIComponent(token)}`);
    } catch (err) {
      this._socketClosed(null, 1006, String(err));
      return;
    }
    this.ws = ws;
    this._helloed = false;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this._schedule("stable", STABLE_AFTER_MS, () => { this._attempt = 0; });
    };
    ws.onmessage = (ev) => this._onFrame(ws, ev.data);
    ws.onclose = (ev) => this._socketClosed(ws, ev.code, ev.reason, opened);
  }

  _socketClosed(ws, code, reason, opened = false) {
    if (ws && ws !== this.ws) return; // an old socket
    this.ws = null;
    this._helloed = false;
    this._clearTimer("stable");
    if (this._closedByUs) return;
    if (this.transport === "http" && !isTerminalClose(code)) {
      // A probe from HTTP mode failed: stay on HTTP (its timers run on), try again later.
      this._schedule("wsProbe", this.wsRetryMs, () => this._openSocket());
      return;
    }
    this._clearTimer("heartbeat");
    this._clearTimer("refresh");
    this._failPending(new WatchError("disconnected", `connection closed (${code})`));
    const name = CLOSE_CODES[code] || "closed";
    if (code === 4509) {
      // `replaced` came first with the details; a close alone still means the same.
      if (this._session || this._want) this._emit("replaced", this._replacedInfo || { content_id: this._want?.contentId ?? null, by_device_id: null });
    }
    if (isTerminalClose(code)) {
      this._giveUp(code, reason || name);
      return;
    }
    if (code === 4005) this._needFreshToken = this.getToken ? true : "stale";
    this._openFailures = opened ? 0 : this._openFailures + 1;
    // Fall back only when no WebSocket ever got through from this page (a proxy or network
    // that refuses them). Once one did, failures mean the hub is down or restarting: the
    // HTTP endpoints live in the same process, so keep retrying the WebSocket.
    if (this.transportMode === "auto" && !this._wsWorked && this._openFailures >= this.fallbackAfter && this._want) {
      this._fallBack(`WebSocket could not be opened ${this._openFailures} times`);
      return;
    }
    this._attempt += 1;
    const delayMs = backoffDelay(this._attempt);
    this._setState("reconnecting", { code, name, reason, attempt: this._attempt, delayMs });
    this._schedule("reconnect", delayMs, () => this._openSocket());
  }

  _giveUp(code, reason) {
    this._terminal = { code, reason, name: CLOSE_CODES[code] || "closed" };
    this._clearTimers();
    this._setSession(null);
    this._want = null;
    this._rejectWaiters(new WatchError(CLOSE_CODES[code] || "closed", reason, { closeCode: code }));
    this._setState("closed", { code, reason, name: this._terminal.name });
  }

  _send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  _request(msg) {
    const id = `c${++this._seq}`;
    return new Promise((resolve, reject) => {
      if (!this._send({ ...msg, id })) {
        reject(new WatchError("disconnected", "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new WatchError("timeout", `no answer to ${msg.type}`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer, type: msg.type });
    });
  }

  _failPending(err) {
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this._pending.delete(id);
    }
  }

  _settle(ref, ok, value) {
    const p = ref && this._pending.get(ref);
    if (!p) return false;
    this._pending.delete(ref);
    clearTimeout(p.timer);
    if (ok) p.resolve(value);
    else p.reject(value);
    return true;
  }

  _onFrame(ws, data) {
    if (ws !== this.ws) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    switch (msg.type) {
      case "hello":
        if (this.transport === "http") {
          // A probe got through: leave the HTTP fallback; `start` below resumes the session.
          this.transport = "ws";
          this._clearTimer("httpRetry");
          this._clearTimer("heartbeat");
        }
        this._helloed = true;
        this._wsWorked = true;
        this._openFailures = 0;
        this._clockOffsetMs = (msg.server_time || Date.now()) - Date.now();
        if (msg.heartbeat_interval_ms) {
          this.heartbeatIntervalMs = msg.heartbeat_interval_ms;
          this._intervalKnown = true;
          safeSet(localStorage, HEARTBEAT_KEY, String(msg.heartbeat_interval_ms));
        }
        this._emit("hello", msg);
        this._scheduleRefresh(tokenClaims(this.token)?.exp);
        if (this._want) this._sendStart();
        else this._setState("connected");
        break;
      case "started":
        this._settle(msg.ref, true, msg);
        this._onStarted(msg);
        break;
      case "tick":
        this._onTick(msg);
        break;
      case "reward":
        this._emit("reward", msg);
        break;
      case "viewers":
        this._emit("viewers", msg);
        break;
      case "notice":
        this._emit("notice", msg);
        break;
      case "replaced":
        this._replacedInfo = msg;
        this._emit("replaced", msg);
        this._setSession(null);
        this._want = null;
        break;
      case "stopped":
        this._settle(msg.ref, true, msg);
        this._emit("stopped", msg);
        break;
      case "authed":
        this._settle(msg.ref, true, msg);
        this._emit("authed", msg);
        break;
      case "pong":
        this._settle(msg.ref, true, msg);
        break;
      case "error":
        this._onError(msg);
        break;
      default:
        break; // newer server, newer pushes: ignore
    }
  }

  _sendStart() {
    const want = this._want;
    if (!want) return;
    if (this.transport === "http") {
      this._httpBeat(true);
      return;
    }
    if (!this._helloed) return; // sent on hello
    this._send({
      type: "start",
      id: `start-${++this._seq}`,
      content_id: want.contentId,
      tab_id: this.tabId,
      device_id: this.deviceId,
      takeover: want.takeover,
    });
  }

  _onStarted(msg) {
    if (msg.interval_ms) this._intervals.set(msg.content_id, msg.interval_ms);
    // A reconnect re-sends start without takeover: it resumes our own session, and must not
    // take one that another tab has started meanwhile.
    if (this._want) this._want.takeover = false;
    this._replacedInfo = null;
    // Resuming our own session (a reconnect, or a switch between WebSocket and HTTP): the
    // hub kept the time of our last heartbeat, so the period since then, which spans the
    // outage, is reported at once (the hub credits at most 1.5 intervals of it).
    const resumedOwn = msg.resumed && this._session?.session_id === msg.session_id
      && this._period.since > 0;
    this._progress = {
      contentId: msg.content_id,
      elapsedMs: msg.elapsed_ms,
      remainingMs: msg.remaining_ms,
      intervalMs: msg.interval_ms,
    };
    this._setSession(msg);
    if (!resumedOwn) this._newPeriod();
    this._emit("started", msg);
    this._setState("watching", { resumed: msg.resumed });
    const waiters = this._watchWaiters.splice(0);
    for (const w of waiters) w.resolve(msg);
    if (resumedOwn && this.transport === "ws") this._heartbeat();
    else this._scheduleHeartbeat();
  }

  _onTick(msg) {
    const interval = this._intervals.get(msg.content_id) || this._progress?.intervalMs || null;
    this._progress = {
      contentId: msg.content_id,
      elapsedMs: msg.elapsed_ms,
      remainingMs: msg.remaining_ms,
      intervalMs: interval,
    };
    this._emit("tick", msg);
  }

  _onError(msg) {
    const err = new WatchError(msg.code, msg.message, msg);
    if (msg.ref && msg.ref.startsWith("start-")) {
      // A refused start: the caller decides (e.g. offer a takeover on session_conflict).
      this._want = null;
      this._rejectWaiters(err);
      this._setState("connected");
    } else {
      this._settle(msg.ref, false, err);
    }
    if (msg.code === "no_session" && this._session) {
      // The session expired (e.g. the page was frozen past SESSION_TTL_MS): start again.
      const s = this._session;
      this._setSession(null);
      this._want = this._want || { contentId: s.content_id, takeover: false };
      this._sendStart();
    } else if (msg.code === "content_unavailable" && this._session) {
      this._setSession(null);
      this._want = null;
      this._setState("connected");
    }
    this._emit("error", err);
  }

  _rejectWaiters(err) {
    for (const w of this._watchWaiters.splice(0)) w.reject(err);
  }

  // --- heartbeats ---------------------------------------------------------------------------------

  _newPeriod() {
    this._period = {
      playing: this._isPlayingNow(), visible: this._isVisibleNow(), since: Date.now(),
    };
  }

  /** True when the period so far counts as watched: playing and visible all along. */
  _periodEarns() {
    return this._period.playing && this._period.visible;
  }

  /** End the period being measured and start the next: returns what to report of it
   * ({playing, visible, periodMs}), in the state it was in. */
  _closePeriod() {
    const { playing, visible, since } = this._period;
    const now = Date.now();
    this._newPeriod();
    this._recentBeats.push(now);
    if (this._recentBeats.length > MAX_CHANGE_BEATS_PER_S) this._recentBeats.shift();
    return { playing, visible, periodMs: now - since };
  }

  _scheduleHeartbeat() {
    // Over HTTP with no interval known yet, report soon: the credit tells the interval.
    const ms = this._intervalKnown ? this.heartbeatIntervalMs : Math.min(1000, this.heartbeatIntervalMs);
    this._schedule("heartbeat", ms, () => this._heartbeat());
  }

  /** Report the period since the last heartbeat, in the state it had, and start the next. */
  _heartbeat() {
    if (!this._session || this._pageGone) return;
    if (this.transport === "ws" && !(this.ws && this.ws.readyState === WebSocket.OPEN && this._helloed)) {
      // No connection to report to: the period goes on, and the resumed session reports it.
      // A change meanwhile makes it count as earning only if all of it did (the hub credits
      // from our last delivered heartbeat).
      const p = this._period;
      p.playing = p.playing && this._isPlayingNow();
      p.visible = p.visible && this._isVisibleNow();
      return;
    }
    const last = this._closePeriod();
    if (last.playing && last.visible && this._progress) {
      // Move the countdown on now by what the server will credit; the tick corrects it.
      const credit = Math.min(1.5 * this.heartbeatIntervalMs, last.periodMs);
      this._progress.elapsedMs += credit;
      this._progress.remainingMs = Math.max(0, this._progress.remainingMs - credit);
    }
    if (this.transport === "http") this._httpBeat(false, last.playing, last.visible, last.periodMs);
    else this._sendHeartbeat(last);
    this._scheduleHeartbeat();
  }

  _sendHeartbeat({ playing, visible }) {
    const msg = { type: "heartbeat", playing, visible };
    const pos = this._positionNow();
    if (typeof pos === "number" && Number.isFinite(pos) && pos >= 0) msg.position_s = pos;
    return this._send(msg);
  }

  /** The out-event's body: the session, and the last period for the hub to credit first. */
  _outEvent(session, last) {
    const body = { content_id: session.content_id, tab_id: this.tabId };
    if (last) Object.assign(body, { device_id: this.deviceId, playing: last.playing, visible: last.visible });
    return body;
  }

  _pageHide() {
    // A closed tab ends its session at once, so the user can start elsewhere without waiting
    // for SESSION_TTL_MS, and reports its last period with the stop. (A reload resumes:
    // credited time is kept per content.) Nothing can be awaited here: the WebSocket sends
    // what is queued before it closes, and a keepalive fetch outlives the page.
    const session = this._session;
    if (!session || this._pageGone) return;
    // Nothing more is sent from this page (a heartbeat after the stop would open a new
    // session), unless it comes back from the back-forward cache.
    this._pageGone = true;
    this._clearTimer("heartbeat");
    const last = this._closePeriod();
    if (this.transport === "ws") {
      this._sendHeartbeat(last);
      this._send({ type: "stop" });
    } else if (this.token && typeof fetch !== "undefined") {
      fetch(this.httpUrl + "/api/service/out-event", {
        method: "POST",
        keepalive: true,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
        body: JSON.stringify(this._outEvent(session, last)),
      }).catch(() => { /* the page is gone: the session expires instead */ });
    }
  }

  _pageShow(ev) {
    if (!this._pageGone) return;
    this._pageGone = false;
    if (!ev.persisted) return;
    // Back from the back-forward cache: the session was stopped at pagehide; start again.
    this._setSession(null);
    this._sendStart();
  }

  // --- HTTP fallback ------------------------------------------------------------------------------

  _fallBack(why) {
    this.transport = "http";
    this._clearTimer("reconnect");
    this._emit("notice", { code: "http_fallback", message: `using the HTTP timer endpoints: ${why}` });
    this._startHttp();
    if (typeof WebSocket !== "undefined" && this.transportMode === "auto") {
      this._schedule("wsProbe", this.wsRetryMs, () => this._openSocket());
    }
  }

  _startHttp() {
    this._setState("connecting", { attempt: this._attempt });
    if (this._want) this._httpBeat(true);
    else this._setState("connected");
  }

  async _post(path, body, retriedToken = false) {
    let token = this.token || (await this._freshToken());
    let res;
    try {
      res = await fetch(this.httpUrl + path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new WatchError("network", String(err), { transient: true });
    }
    let payload = null;
    try {
      payload = await res.json();
    } catch {
      payload = null;
    }
    if (res.ok && payload && payload.success) return payload.data;
    const e = payload?.error || { code: res.status >= 500 ? "internal" : "error", message: res.statusText };
    if (e.code === "token_expired" && this.getToken && !retriedToken) {
      await this._freshToken();
      return this._post(path, body, true);
    }
    throw new WatchError(e.code, e.message, {
      status: res.status,
      transient: res.status >= 500 || res.status === 429,
      retryAfterS: Number(res.headers.get("Retry-After")) || 0,
      ...(e.details || {}),
    });
  }

  /** One timer-session call: opens or resumes the session (`first`), else reports the
   * period since the previous call. */
  async _httpBeat(first, playing = false, visible = false, periodMs = 0) {
    const want = this._want;
    const session = this._session;
    const contentId = session ? session.content_id : want?.contentId;
    if (contentId == null || this.transport !== "http") return;
    if (first && session) {
      // Our session is live (a retry, or a switch from the WebSocket): this call resumes it
      // as a heartbeat, so it reports the period since the last one.
      ({ playing, visible, periodMs } = this._closePeriod());
      first = false;
    }
    let data;
    try {
      data = await this._post("/api/service/timer-session", {
        content_id: contentId,
        tab_id: this.tabId,
        device_id: this.deviceId,
        playing: first ? false : playing,
        visible: first ? this._isVisibleNow() : visible,
        takeover: Boolean(first && want?.takeover),
      });
    } catch (err) {
      this._httpFailed(err, first, session);
      return;
    }
    if (this.transport !== "http") return; // back on the WebSocket meanwhile
    this._attempt = 0;
    if (first || !this._session || data.session_id !== this._session.session_id) {
      // The timer reply carries no interval: use the one the hub gave for this content over
      // the WebSocket, or, at the very start, the time to the first boundary.
      const known = this._intervals.get(data.content_id);
      this._onStarted({
        type: "started",
        content_id: data.content_id,
        session_id: data.session_id,
        resumed: Boolean(data.resumed),
        elapsed_ms: data.elapsed_ms,
        interval_ms: known || (data.elapsed_ms === 0 ? data.remaining_ms : null),
        remaining_ms: data.remaining_ms,
        balance: data.balance,
        viewers: data.viewers,
      });
      this._lastViewers = data.viewers;
      this._emit("viewers", { type: "viewers", content_id: data.content_id, count: data.viewers });
      return;
    }
    if (playing && visible && data.credited_ms > 0 && data.credited_ms < 0.8 * periodMs) {
      // Credit capped at 1.5 x the server's heartbeat interval: that is the interval.
      this.heartbeatIntervalMs = Math.max(100, Math.floor(data.credited_ms / 1.5));
      this._intervalKnown = true;
      this._scheduleHeartbeat();
    }
    for (const r of data.rewards || []) {
      // After boundary n, the next one is n + 1 intervals in: that gives the interval.
      const n = Number(String(r.reward_id).split(":").pop());
      if (n > 0) this._intervals.set(data.content_id, (data.elapsed_ms + data.remaining_ms) / (n + 1));
      this._emit("reward", { type: "reward", ...r });
    }
    for (const code of data.notices || []) {
      this._emit("notice", { type: "notice", code, message: code });
    }
    this._onTick({
      type: "tick",
      content_id: data.content_id,
      elapsed_ms: data.elapsed_ms,
      credited_ms: data.credited_ms,
      remaining_ms: data.remaining_ms,
    });
    if (data.viewers !== this._lastViewers) {
      this._lastViewers = data.viewers;
      this._emit("viewers", { type: "viewers", content_id: data.content_id, count: data.viewers });
    }
  }

  _httpFailed(err, first, session) {
    if (this.transport !== "http") return;
    if (err.transient || err.code === "network" || err.code === "internal") {
      this._attempt += 1;
      const delayMs = Math.max(backoffDelay(this._attempt), (err.retryAfterS || 0) * 1000);
      this._setState("reconnecting", { code: err.status || 0, name: err.code, attempt: this._attempt, delayMs });
      this._clearTimer("heartbeat");
      this._schedule("httpRetry", delayMs, () => {
        if (this._session) this._heartbeat();
        else this._httpBeat(true);
      });
      return;
    }
    if (err.code === "forbidden") return this._giveUp(4503, err.message);
    if (err.code === "unauthorized" || err.code === "token_expired") return this._giveUp(4501, err.message);
    if (err.code === "session_conflict" && session && !first) {
      // Another tab or device took the session over (the HTTP twin of `replaced`).
      this._emit("replaced", { type: "replaced", content_id: session.content_id, by_device_id: err.active_device_id ?? null });
      return this._giveUp(4509, "replaced");
    }
    if (err.code === "no_session") {
      this._setSession(null);
      this._httpBeat(true);
      return;
    }
    // session_conflict on start, content_unavailable, bad_request: the caller decides.
    this._want = null;
    this._setSession(null);
    if (first) this._rejectWaiters(err);
    this._setState("connected");
    this._emit("error", err);
  }
}
