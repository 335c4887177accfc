// watch/socket.js: part of watch-client.js (see there).
// The WebSocket transport: open, reconnect with backoff, requests and their replies, the
// frames the hub sends.

import { HEARTBEAT_KEY, safeSet } from "./storage.js";
import { tokenClaims } from "./tokens.js";
import {
  CLOSE_CODES,
  REQUEST_TIMEOUT_MS,
  STABLE_AFTER_MS,
  WatchError,
  backoffDelay,
  isTerminalClose,
} from "./wire.js";

/** Methods of WatchClient (mixed in by watch-client.js). */
export class SocketTransport {
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
        this._onPush("reward", msg);
        break;
      case "viewers":
        this._emit("viewers", msg);
        break;
      case "notice":
        this._onPush("notice", msg);
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
    const start = {
      type: "start",
      id: `start-${++this._seq}`,
      content_id: want.contentId,
      tab_id: this.tabId,
      device_id: this.deviceId,
      takeover: want.takeover,
    };
    // Push recovery (docs/protocol-notes.md): after a first `started`, every start names the
    // last reward or notice seen, so that what was granted while disconnected comes again.
    if (this._push) start.recover = { epoch: this._push.epoch, offset: this._push.offset };
    this._send(start);
  }

  /** A reward or notice: emitted unless it was seen already (a push sent again). */
  _onPush(type, msg) {
    if (msg.offset !== undefined && msg.epoch !== undefined) {
      const seen = this._push;
      if (seen && seen.epoch === msg.epoch && msg.offset <= seen.offset) return;
      this._push = { epoch: msg.epoch, offset: msg.offset };
    }
    this._emit(type, msg);
  }

  _onStarted(msg) {
    if (msg.interval_ms) this._intervals.set(msg.content_id, msg.interval_ms);
    // A reconnect re-sends start without takeover: it resumes our own session, and must not
    // take one that another tab has started meanwhile.
    if (this._want) this._want.takeover = false;
    this._replacedInfo = null;
    if (msg.push_epoch !== undefined) {
      // Recovered: our place stands and the missed pushes follow (from the log's start when
      // we had seen none of it). Not recovered, or a first start: from the log's place now.
      if (msg.recovered !== true) {
        this._push = { epoch: msg.push_epoch, offset: msg.push_offset };
      } else if (this._push?.epoch !== msg.push_epoch) {
        this._push = { epoch: msg.push_epoch, offset: 0 };
      }
      if (msg.recovered === false) {
        this._emit("notice", {
          code: "pushes_lost",
          message: "some rewards may not have been shown; the balance is current",
        });
      }
    }
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
}
