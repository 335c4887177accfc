// watch/youtube.js: part of watch-client.js (see there).
// Follows a YouTube IFrame player object (the `YT.Player` of the IFrame Player API) as the
// client follows a <video> element: its player states mapped to playing, paused,
// buffering and ended, so that only playing time is reported as watched. Nothing here loads
// the IFrame API: the page creates its player and hands it over (`youtube:` option).

/** YT.PlayerState codes (the IFrame Player API's `onStateChange` `data`). */
export const YT_STATE = Object.freeze({
  UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5,
});

/** A YT.PlayerState code as one of ours: playing, paused, buffering or ended. Unstarted and
 * cued (a video loaded, not played yet) are paused: nothing plays. An unknown code is paused
 * too, so a state we do not know never earns. */
export function youtubeState(code) {
  switch (code) {
    case YT_STATE.PLAYING: return "playing";
    case YT_STATE.BUFFERING: return "buffering";
    case YT_STATE.ENDED: return "ended";
    default: return "paused";
  }
}

/** Follows one YT.Player: `state` is ours, `onChange` is called after each change. */
export class YouTubeFollower {
  constructor(player, onChange) {
    this.player = player;
    this._code = typeof player.getPlayerState === "function" ? player.getPlayerState() : YT_STATE.UNSTARTED;
    this._listener = (event) => {
      this._code = event && typeof event.data === "number" ? event.data : this._code;
      onChange();
    };
    player.addEventListener("onStateChange", this._listener);
  }

  get state() {
    return youtubeState(this._code);
  }

  get playing() {
    return this.state === "playing";
  }

  /** The playback position in seconds (a live's position grows as it streams). */
  position() {
    const t = typeof this.player.getCurrentTime === "function" ? this.player.getCurrentTime() : NaN;
    return Number.isFinite(t) && t >= 0 ? t : undefined;
  }

  detach() {
    // YT.Player has removeEventListener (not in the reference, but present); a player that
    // lacks it is left as is: the client ignores changes once closed.
    if (typeof this.player.removeEventListener === "function") {
      this.player.removeEventListener("onStateChange", this._listener);
    }
  }
}
