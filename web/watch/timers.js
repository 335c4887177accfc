// watch/timers.js: part of watch-client.js (see there).
// Named timers of one client: one pending timeout per name.

import { MAX_TIMER_MS } from "./wire.js";

/** Methods of WatchClient (mixed in by watch-client.js). */
export class Timers {
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
}
