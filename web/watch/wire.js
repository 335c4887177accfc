// watch/wire.js: part of watch-client.js (see there).
// The protocol facts a client needs (PROTOCOL 4.3 and the timing rules): close codes,
// reconnect backoff, request and timer bounds, the error type.

export const RECONNECT_BASE_MS = 1000;
export const RECONNECT_MAX_MS = 30000;
// State changes report their period at once, up to this many heartbeats in one second (the
// server closes a connection that sends over WS_MAX_MESSAGES_PER_SECOND, 20 by default);
// past it, the changes share one period, which counts as earning only if all of it did.
export const MAX_CHANGE_BEATS_PER_S = 4;
export const STABLE_AFTER_MS = 5000; // a connection open this long resets the backoff
export const REQUEST_TIMEOUT_MS = 10000;
export const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this (a token of 25+ days)

/** Close codes and what they mean to a client (PROTOCOL 4.3; 4008 and 4510 are
 * docs/protocol-notes.md's; 1006 is the browser's own, never sent). The same codes and names
 * as the hub's realtime/closes.py (tests/test_js_package.py). */
export const CLOSE_CODES = Object.freeze({
  1000: "normal",
  1001: "going_away",
  1006: "abnormal",
  1009: "too_big",
  1012: "service_restart",
  1013: "try_again_later",
  4005: "token_expired",
  4008: "slow_consumer",
  4029: "rate_limited",
  4500: "bad_request",
  4501: "unauthorized",
  4503: "forbidden",
  4509: "replaced",
  4510: "disconnected",
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

/** An error the server answered (`error` frame or REST error envelope). */
export class WatchError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "WatchError";
    this.code = code;
    Object.assign(this, extra);
  }
}
