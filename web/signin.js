// The sign-in of a page (the console, the player): its screen (email + password, a button per
// social login the api has configured) and its session. The access token lives in memory
// only (a variable of this module, never storage); the refresh token only in the api's
// httpOnly cookie (REFRESH_COOKIE=1, docs/security.md "The refresh cookie"), which renews the
// access token before it expires and, after a reload, signs the page in again silently.
// A social sign-in leaves the page for /api/auth/{provider}/start?return_to=<this page> and
// comes back with the access token (or the error) in the fragment, read here and removed
// from the address bar at once.
import { apply, define, t } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const RENEW_LEAD_S = 60; // renew a minute before expiry (at least 5 s after getting it)

/** The claims of a JWT (unverified: only its exp, sub and roles for the page), or null. */
export function claimsOf(token) {
  try {
    const b64 = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return null;
  }
}

/** One page's session. `apiBase`: the api's origin ("" when it serves the page). Events
 * (EventTarget): `change` after every sign-in, renewal and sign-out. */
export class Session extends EventTarget {
  constructor({ apiBase = "", page = location.origin + location.pathname } = {}) {
    super();
    this.apiBase = apiBase;
    this.page = page;
    this.token = "";
    this.userId = null;
    this.roles = [];
    this.via = null; // password | refresh | google | kakao | naver | link (a #token= of the dev run)
    this._timer = null;
    this._renewing = null;
  }

  get signedIn() { return Boolean(this.token); }

  async _send(method, path, body) {
    // The refresh cookie goes (and comes) on login and refresh only: the api allows a
    // credentialed cross-origin call (the player on the hub's origin) on those paths alone.
    const cookie = path === "/api/auth/login" || path === "/api/auth/refresh";
    const init = { method, credentials: cookie ? "include" : "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.apiBase + path, init);
    } catch (err) {
      return { ok: false, status: 0, error: { code: "network", message: String(err) } };
    }
    const answer = await res.json().catch(() => null);
    if (res.ok && answer?.success) return { ok: true, status: res.status, data: answer.data };
    return {
      ok: false,
      status: res.status,
      retryAfter: res.headers.get("Retry-After"),
      error: answer?.error || { code: String(res.status), message: res.statusText },
    };
  }

  /** fetch() with the access token; a 401 renews the token through the refresh cookie once
   * (unless another call renewed it meanwhile) and asks again. Throws what fetch throws. */
  async authorizedFetch(url, init = {}) {
    const sent = this.token;
    const ask = () => fetch(url, { ...init, headers: { ...init.headers, Authorization: `Bearer ${this.token}` } });
    const res = await ask();
    if (res.status === 401 && this.via !== "link" && sent && (this.token !== sent || (await this.refresh()))) {
      return ask();
    }
    return res;
  }

  /** Keep an access token (from a login, a refresh, the fragment) and plan its renewal. */
  use(token, { via, userId, roles, expiresIn } = {}) {
    const claims = claimsOf(token) || {};
    this.token = token;
    this.userId = userId ?? (claims.sub != null ? Number(claims.sub) : null);
    this.roles = roles || claims.roles || [];
    this.via = via || this.via;
    const lifeS = expiresIn ?? (claims.exp ? claims.exp - Date.now() / 1000 : 0);
    clearTimeout(this._timer);
    // A token handed in the URL by the dev run (#token=) has no refresh cookie behind it.
    if (lifeS > 0 && via !== "link") {
      this._timer = setTimeout(() => this.refresh(), Math.max(5, lifeS - RENEW_LEAD_S) * 1000);
    }
    this.dispatchEvent(new Event("change"));
  }

  forget() {
    clearTimeout(this._timer);
    this.token = "";
    this.userId = null;
    this.roles = [];
    this.via = null;
    this.dispatchEvent(new Event("change"));
  }

  /** The sign-in screen's options (GET /api/auth/providers); null when the api is not there. */
  async options() {
    const r = await this._send("GET", "/api/auth/providers");
    return r.ok ? r.data : null;
  }

  /** Email + password. {ok} or {ok: false, status, error, retryAfter}. */
  async login(email, password) {
    const r = await this._send("POST", "/api/auth/login", { email, password });
    if (r.ok) {
      // The answer also carries the refresh token (for apps without the cookie): dropped
      // here, the cookie holds it.
      this.use(r.data.access_token, { via: "password", userId: r.data.user_id, roles: r.data.roles, expiresIn: r.data.expires_in });
    }
    return r;
  }

  /** A new access token through the refresh cookie (empty body). Concurrent calls share one
   * request: a refresh rotates the cookie, and the same cookie presented twice would look
   * like a stolen one (the api revokes the whole family). */
  refresh() {
    this._renewing ||= (async () => {
      // Tabs of one origin take turns too (Web Locks): each presents the cookie the previous
      // one's refresh rotated in.
      const post = () => this._send("POST", "/api/auth/refresh");
      const r = navigator.locks ? await navigator.locks.request("watch.signin.refresh", post) : await post();
      if (r.ok) {
        this.use(r.data.access_token, { via: this.via || "refresh", userId: r.data.user_id, roles: r.data.roles, expiresIn: r.data.expires_in });
      } else if (r.status === 401 || r.status === 403) {
        if (this.token) this.forget();
      }
      return r.ok;
    })().finally(() => { this._renewing = null; });
    return this._renewing;
  }

  /** Sign out: revoke the cookie's refresh family and clear the cookie, forget the token. */
  async logout() {
    await this._send("DELETE", "/api/auth/refresh");
    this.forget();
  }

  /** Where a provider's button goes: its start, asked to come back to this page. */
  startUrl(provider) {
    return `${this.apiBase}${provider.start_url}?return_to=${encodeURIComponent(this.page)}`;
  }

  /** Read what a social callback (or the dev run's link) put in the fragment, remove it from
   * the address bar, and keep the token. Returns {error, message} of a failed sign-in, or
   * null. Other fragment parameters stay. */
  takeFragment() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const got = Object.fromEntries(hash);
    if (!got.access_token && !got.token && !got.error) return null;
    // What a callback handed goes from the address bar (and the history) at once. The dev
    // run's #token= link stays: it is the link's whole point, and a reload uses it again.
    for (const k of ["access_token", "token_type", "expires_in", "user_id", "provider", "refresh_token", "error", "message"]) hash.delete(k);
    const rest = hash.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    if (got.access_token) {
      this.use(got.access_token, {
        via: got.provider || "social",
        userId: got.user_id ? Number(got.user_id) : undefined,
        expiresIn: Number(got.expires_in) || undefined,
      });
    } else if (got.token) {
      this.use(got.token, { via: "link" });
    }
    return got.error ? { error: got.error, message: got.message || got.error } : null;
  }
}

const FIELDS = [
  ["signin-email", "email", "username", "signin.email"],
  ["signin-password", "password", "current-password", "signin.password"],
];

function node(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** The sign-in screen in `root`: a form, a button per provider, an alert line. `onSignedIn`
 * runs after a password sign-in. `screen.alert(text)` shows a message (role=alert). */
export function signInScreen(root, session, { titleKey = "signin.title", onSignedIn = () => {} } = {}) {
  const alertLine = node("p", { id: "signin-alert", class: "signin-alert", role: "alert" });
  const form = node("form", { id: "signin-form", class: "signin-form", novalidate: true });
  for (const [id, type, complete, label] of FIELDS) {
    const input = node("input", { id, name: type, type, autocomplete: complete, required: true, spellcheck: "false" });
    form.append(node("label", { for: id }, node("span", { "data-i18n": label }, t(label)), input));
  }
  const submit = node("button", { type: "submit", id: "signin-submit", "data-i18n": "signin.submit" }, t("signin.submit"));
  form.append(submit);
  const providers = node("ul", { id: "signin-providers", class: "signin-providers" });
  const or = node("p", { class: "signin-or small muted", "data-i18n": "signin.or", hidden: true }, t("signin.or"));
  const heading = node("h2", { id: "signin-title", tabindex: "-1", "data-i18n": titleKey }, t(titleKey));
  root.replaceChildren(node("section", { class: "panel signin", "aria-labelledby": "signin-title" },
    heading, alertLine, form, or, providers));

  function fieldError(input, key) {
    const id = `${input.id}-error`;
    $(id)?.remove();
    if (!key) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      return;
    }
    input.closest("label").after(node("span", { id, class: "field-error small", "data-i18n": key }, t(key)));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
  }

  function alert(text, { both = false } = {}) {
    alertLine.textContent = text || "";
    // A refusal of the pair names neither field: both point at the one message.
    for (const [id] of FIELDS) {
      const input = $(id);
      if (both && text) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "signin-alert");
      } else if (input.getAttribute("aria-describedby") === "signin-alert") {
        fieldError(input, null);
      }
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("signin-email");
    const password = $("signin-password");
    alert("");
    fieldError(email, email.value.trim() ? null : "signin.needEmail");
    fieldError(password, password.value ? null : "signin.needPassword");
    const first = [email, password].find((i) => i.getAttribute("aria-invalid"));
    if (first) {
      first.focus();
      return;
    }
    submit.disabled = true;
    const r = await session.login(email.value.trim(), password.value);
    submit.disabled = false;
    if (r.ok) {
      password.value = "";
      onSignedIn();
      return;
    }
    if (r.status === 401 || (r.status === 400 && r.error.code === "validation_error")) {
      alert(t("signin.wrong"), { both: true });
    } else if (r.status === 429) {
      alert(t("signin.tooMany", { s: r.retryAfter || "?" }));
    } else if (r.status === 403) {
      alert(t("signin.blocked"));
    } else if (r.status === 0) {
      alert(t("signin.unreachable"));
    } else {
      alert(t("signin.failed", { status: r.status, code: r.error.code }));
    }
    password.select();
    password.focus();
  });

  session.options().then((options) => {
    for (const p of options?.providers || []) {
      providers.append(node("li", {}, node("a", {
        class: `button provider provider-${p.name}`,
        href: session.startUrl(p),
        "data-provider": p.name,
        "data-label": p.label,
      }, t("signin.with", { name: p.label }))));
    }
    or.hidden = !providers.children.length;
    window.dispatchEvent(new Event("signin-ready"));
  });

  return {
    alert,
    focus() { heading.focus(); },
    relabel() {
      apply(root);
      for (const a of providers.querySelectorAll("a")) a.textContent = t("signin.with", { name: a.dataset.label });
    },
  };
}

define({
  en: {
    "signin.title": "Sign in",
    "signin.email": "Email",
    "signin.password": "Password",
    "signin.submit": "Sign in",
    "signin.or": "or",
    "signin.with": "Sign in with {name}",
    "signin.needEmail": "Enter your email.",
    "signin.needPassword": "Enter your password.",
    "signin.wrong": "The email or the password is not right.",
    "signin.tooMany": "Too many attempts: try again in {s} s.",
    "signin.blocked": "This account is blocked.",
    "signin.unreachable": "The server cannot be reached. Try again in a moment.",
    "signin.failed": "Sign-in failed ({status} {code}).",
    "signin.signOut": "Sign out",
    "signin.signedOut": "You are signed out.",
    "signin.socialFailed": "Sign-in with the provider did not finish: {message}",
    "signin.expired": "Your session ended. Sign in again.",
  },
  ko: {
    "signin.title": "로그인",
    "signin.email": "이메일",
    "signin.password": "비밀번호",
    "signin.submit": "로그인",
    "signin.or": "또는",
    "signin.with": "{name}(으)로 로그인",
    "signin.needEmail": "이메일을 입력하세요.",
    "signin.needPassword": "비밀번호를 입력하세요.",
    "signin.wrong": "이메일 또는 비밀번호가 올바르지 않습니다.",
    "signin.tooMany": "시도 횟수가 너무 많습니다: {s}초 후에 다시 시도하세요.",
    "signin.blocked": "차단된 계정입니다.",
    "signin.unreachable": "서버에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    "signin.failed": "로그인에 실패했습니다 ({status} {code}).",
    "signin.signOut": "로그아웃",
    "signin.signedOut": "로그아웃되었습니다.",
    "signin.socialFailed": "소셜 로그인이 완료되지 않았습니다: {message}",
    "signin.expired": "세션이 만료되었습니다. 다시 로그인하세요.",
  },
});
