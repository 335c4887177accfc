// watch/tokens.js: part of watch-client.js (see there).
// The access token: its claims, the refresh (`auth`) before it expires, a fresh one for a
// reconnect.

import { WatchError } from "./wire.js";

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

/** Methods of WatchClient (mixed in by watch-client.js). */
export class Tokens {
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
}
