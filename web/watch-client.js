// watch-client.js: a browser client for the watch-hub session protocol (PROTOCOL.md 4-5).
// ES modules, no build step, no dependencies. Served by the hub at /static/watch-client.js,
// which imports its parts from /static/watch/ (wire, storage, tokens, timers, socket,
// heartbeats, fallback, youtube: one concern each).
//
//   import { WatchClient } from "/static/watch-client.js";
//   const client = new WatchClient({ hubUrl: location.origin, token, getToken, media: video });
//   // or, for a YouTube IFrame player (a YT.Player): { ..., youtube: player }
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

import { HEARTBEAT_KEY, safeGet, storedId } from "./watch/storage.js";
import { Heartbeats } from "./watch/heartbeats.js";
import { HttpFallback } from "./watch/fallback.js";
import { MAX_CHANGE_BEATS_PER_S, WatchError } from "./watch/wire.js";
import { SocketTransport } from "./watch/socket.js";
import { Timers } from "./watch/timers.js";
import { Tokens } from "./watch/tokens.js";
import { YouTubeFollower } from "./watch/youtube.js";

export { CLOSE_CODES, WatchError, backoffDelay, isTerminalClose } from "./watch/wire.js";
export { tokenClaims } from "./watch/tokens.js";
export { YT_STATE, youtubeState } from "./watch/youtube.js";

export class WatchClient {
  /**
   * @param {object} options
   * @param {string} [options.hubUrl] http(s) or ws(s) base of the hub; default: this page's origin
   * @param {string} [options.wsUrl] the WebSocket URL (default: hubUrl + "/ws")
   * @param {string} [options.httpUrl] the base of the HTTP fallback (default: hubUrl)
   * @param {string} [options.token] the access token; else getToken() is asked first
   * @param {() => Promise<string>} [options.getToken] a fresh token, for refresh and reconnect
   * @param {HTMLMediaElement} [options.media] the player; its play state is followed
   * @param {object} [options.youtube] instead of `media`: a YouTube IFrame player (YT.Player);
   *   its onStateChange is followed (playing earns; paused, buffering, ended, cued do not)
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
    this._push = null; // {epoch, offset}: the last reward or notice seen (push recovery)

    this._onPlayer = () => this.playerChanged();
    this._onPageHide = () => this._pageHide();
    this._onPageShow = (ev) => this._pageShow(ev);
    this._pageGone = false; // between pagehide and pageshow: the page sends nothing
    this._buffering = false; // the media element waits for data: not playing
    this.youtube = options.youtube ? new YouTubeFollower(options.youtube, this._onPlayer) : null;
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
    if (this.youtube) this.youtube.detach();
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
    if (this.youtube) return this.youtube.playing;
    const m = this.media;
    if (!m) return true; // no player given: the caller reports through isVisible alone
    return !m.paused && !m.ended && !this._buffering;
  }

  _isEarning() {
    return this._isPlayingNow() && this._isVisibleNow();
  }

  _positionNow() {
    if (this._position) return this._position();
    if (this.youtube) return this.youtube.position();
    return this.media ? this.media.currentTime : undefined;
  }

}

// The parts of the client, one module per concern, are methods of the one class.
for (const part of [Timers, Tokens, SocketTransport, Heartbeats, HttpFallback]) {
  for (const name of Object.getOwnPropertyNames(part.prototype)) {
    if (name !== "constructor") {
      Object.defineProperty(
        WatchClient.prototype,
        name,
        Object.getOwnPropertyDescriptor(part.prototype, name),
      );
    }
  }
}
