// watch/heartbeats.js: part of watch-client.js (see there).
// Heartbeats and periods: each reports the time since the previous one in the state it
// had; a stop or a closing page reports the last period with it.

import { MAX_CHANGE_BEATS_PER_S } from "./wire.js";

/** Methods of WatchClient (mixed in by watch-client.js). */
export class Heartbeats {
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
}
