// Type declarations of watch-client.js (the watch-hub session protocol, PROTOCOL.md 4-5).
// Kept beside the code; tests/test_js_package.py checks that every export is declared.

/** Close codes and their names (PROTOCOL 4.3, plus 4008 and 4510 of docs/protocol-notes.md). */
export declare const CLOSE_CODES: Readonly<Record<number, string>>;

/** True when a close with this code ends the connection for good (no automatic reconnect). */
export declare function isTerminalClose(code: number): boolean;

/** The delay in ms before reconnect attempt `attempt` (1, 2, ...): 1 s doubling to 30 s, jittered. */
export declare function backoffDelay(attempt: number, random?: () => number): number;

/** The claims of a JWT (unverified), or null. */
export declare function tokenClaims(token: string): Record<string, unknown> | null;

/** YT.PlayerState codes of the YouTube IFrame Player API. */
export declare const YT_STATE: Readonly<{
  UNSTARTED: -1;
  ENDED: 0;
  PLAYING: 1;
  PAUSED: 2;
  BUFFERING: 3;
  CUED: 5;
}>;

export type PlayerState = "playing" | "paused" | "buffering" | "ended";

/** A YT.PlayerState code as one of ours (unknown codes are "paused": they never earn). */
export declare function youtubeState(code: number): PlayerState;

/** An error the server answered (`error` frame or REST error envelope). */
export declare class WatchError extends Error {
  constructor(code: string, message?: string, extra?: Record<string, unknown>);
  code: string;
  /** With `session_conflict`. */
  active_content_id?: number;
  active_device_id?: string;
  [extra: string]: unknown;
}

/** The part of a YouTube IFrame player (YT.Player) the client follows. */
export interface YouTubePlayer {
  getPlayerState?(): number;
  getCurrentTime?(): number;
  addEventListener(event: "onStateChange", listener: (event: { data: number }) => void): void;
  removeEventListener?(event: "onStateChange", listener: (event: { data: number }) => void): void;
}

export interface WatchClientOptions {
  /** http(s) or ws(s) base of the hub; default: this page's origin. */
  hubUrl?: string;
  /** The WebSocket URL (default: hubUrl + "/ws"). */
  wsUrl?: string;
  /** The base of the HTTP fallback (default: hubUrl). */
  httpUrl?: string;
  /** The access token; else getToken() is asked first. */
  token?: string;
  /** A fresh token, for refresh and reconnect. */
  getToken?: () => Promise<string>;
  /** The player element; its play state is followed. */
  media?: HTMLMediaElement;
  /** Instead of `media`: a YouTube IFrame player. */
  youtube?: YouTubePlayer;
  /** Instead of `media`: is the player playing now (then call playerChanged() on changes). */
  isPlaying?: () => boolean;
  /** The playback position in seconds. */
  position?: () => number;
  /** Default: document.visibilityState === "visible". */
  isVisible?: () => boolean;
  /** Default: kept in sessionStorage (one per tab). */
  tabId?: string;
  /** Default: kept in localStorage (one per browser). */
  deviceId?: string;
  /** "auto" (default) tries the WebSocket first and falls back to HTTP. */
  transport?: "auto" | "ws" | "http";
  /** WebSocket open failures in a row that make it fall back to HTTP (default 2). */
  fallbackAfter?: number;
  /** While on HTTP, how often to try the WebSocket again (default 15000). */
  wsRetryMs?: number;
  /** Refresh the token this long before it expires (default 60000). */
  refreshLeadMs?: number;
  /** Until the server says in `hello` (default: the last one seen in this browser, else 10000). */
  heartbeatIntervalMs?: number;
}

export interface Hello {
  type: "hello";
  user_id: number;
  heartbeat_interval_ms: number;
  session_ttl_ms: number;
  server_time: number;
}
export interface Started {
  type: "started";
  content_id: number;
  session_id: string;
  resumed: boolean;
  elapsed_ms: number;
  interval_ms: number;
  remaining_ms: number;
  balance: number;
  viewers: number;
  push_epoch?: string;
  push_offset?: number;
  recovered?: boolean;
}
export interface Tick {
  type: "tick";
  content_id: number;
  elapsed_ms: number;
  credited_ms: number;
  remaining_ms: number;
}
export interface Reward {
  type: "reward";
  reward_id: string;
  kind: "watch";
  amount: number;
  balance: number;
  content_id: number;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
}
export interface Viewers {
  type: "viewers";
  content_id: number;
  count: number;
}
/** `daily_cap_reached`, `rewards_on_review`, `http_fallback`, ... (show `message` for others). */
export interface Notice {
  type?: "notice";
  code: string;
  message: string;
  offset?: number;
  epoch?: string;
}
export interface Replaced {
  type: "replaced";
  content_id: number;
  by_device_id: string | null;
}
export interface Stopped {
  type?: "stopped";
  content_id: number;
  watched_ms: number;
}
export interface Authed {
  type: "authed";
  expires_at: number;
}
export type ClientState =
  | "idle"
  | "connecting"
  | "connected"
  | "watching"
  | "reconnecting"
  | "closed";

export interface WatchEvents {
  hello: Hello;
  started: Started;
  tick: Tick;
  reward: Reward;
  viewers: Viewers;
  notice: Notice;
  replaced: Replaced;
  stopped: Stopped;
  authed: Authed;
  error: WatchError;
  state: {
    state: ClientState;
    transport: "ws" | "http";
    code?: number;
    name?: string;
    reason?: string;
    attempt?: number;
    delayMs?: number;
  };
}

export interface Progress {
  contentId: number;
  elapsedMs: number;
  remainingMs: number;
  intervalMs: number;
  earning: boolean;
}

export declare class WatchClient {
  constructor(options?: WatchClientOptions);
  readonly tabId: string;
  readonly deviceId: string;
  /** "ws" or "http": the transport in use now. */
  readonly transport: "ws" | "http";
  /** Subscribe to an event; returns the unsubscribe function. */
  on<K extends keyof WatchEvents>(type: K, fn: (event: WatchEvents[K]) => void): () => void;
  readonly state: ClientState;
  /** The live session (the last `started`), or null. */
  readonly session: Started | null;
  /** Open the connection (idempotent); watch() calls it. */
  connect(): void;
  /** Watch a content: the `started` fields, or a WatchError (`session_conflict`, ...). */
  watch(contentId: number, options?: { takeover?: boolean }): Promise<Started>;
  /** End the watch session, crediting its last period; null when there was none. */
  stop(): Promise<Stopped | null>;
  /** Close for good (make a new client to watch again). */
  close(): void;
  /** The player's play state changed (needed with `isPlaying`). */
  playerChanged(): void;
  /** Progress towards the next reward, extrapolated from the last tick. */
  progress(): Progress | null;
}
