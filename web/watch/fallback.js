// watch/fallback.js: part of watch-client.js (see there).
// The HTTP fallback (PROTOCOL 5): timer calls when no WebSocket can be opened, and the way
// back to the WebSocket.

import { WatchError, backoffDelay } from "./wire.js";

/** Methods of WatchClient (mixed in by watch-client.js). */
export class HttpFallback {
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
      // Through the push log's bookkeeping too: a later WebSocket start recovers from here.
      this._onPush("reward", { type: "reward", ...r });
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
