// The signed-in session: tokens, their refresh, and requests to the hub's API.
//
// The refresh token is kept in localStorage so the dashboard survives a reload and is shared by
// the tabs of one browser; the access token is refreshed a minute before it expires (half its
// life, for a short one), or at once when the hub answers 401. Refresh tokens rotate and a reused
// one revokes its whole family, so a tab runs one refresh at a time, and tabs take turns (Web
// Locks, where the origin has them) and adopt what another tab stored meanwhile.

const KEY = "hub.session";
const REFRESH_AHEAD_MS = 60_000;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `The hub answered ${status}`);
    this.status = status;
    this.errors = body?.errors || [];
    this.data = body?.data;
  }
}

/** The claims of a JWT (read, not verified: the hub verifies). */
function claims(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

/** When to refresh `token`: a minute before it expires, or halfway through a shorter life. */
function refreshAt(token) {
  const { exp = 0, iat = 0 } = claims(token);
  const ahead = Math.min(REFRESH_AHEAD_MS, Math.max(0, ((exp - iat) * 1000) / 2));
  return exp * 1000 - ahead;
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

export class Session {
  constructor() {
    // Web Locks let tabs take turns; plain-HTTP origins (other than localhost) have none.
    this.locks = navigator.locks || null;
    this.refreshing = null;
    this.state = load();
    this.listeners = new Set();
    this.timer = null;
    // Another tab signed in, refreshed or signed out.
    window.addEventListener("storage", (event) => {
      if (event.key !== KEY) return;
      const before = this.state;
      this.state = load();
      this.schedule();
      if (!this.state && before) this.emit();
    });
    this.schedule();
  }

  get user() {
    return this.state?.user || null;
  }

  /** The sign-in session the tokens belong to (their refresh-token family). */
  get sessionId() {
    return this.state ? claims(this.state.accessToken).sid || null : null;
  }

  get isAdmin() {
    return ["admin", "owner"].includes(this.user?.role);
  }

  /** `fn()` whenever this session ends (signed out here or elsewhere, or refused). */
  onSignedOut(fn) {
    this.listeners.add(fn);
  }

  emit() {
    for (const fn of this.listeners) fn();
  }

  save(state) {
    this.state = state;
    if (state) localStorage.setItem(KEY, JSON.stringify(state));
    else localStorage.removeItem(KEY);
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.state) return;
    const wait = refreshAt(this.state.accessToken) - Date.now();
    // setTimeout holds at most ~24 days; a longer token is looked at again then.
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.min(Math.max(wait, 0), 2 ** 31 - 1));
  }

  async signIn(email, password) {
    const body = await this.send("POST", "/api/v1/auth/login", { email, password }, null);
    const { user, accessToken, refreshToken } = body.data;
    this.save({ user, accessToken, refreshToken });
    return user;
  }

  /** Revokes this session at the hub, then forgets it; throws (after forgetting it here) when the
   * hub could not be told. */
  async signOut() {
    if (!this.state) return;
    try {
      const token = await this.token();
      await this.send("POST", "/api/v1/auth/logout", { refreshToken: this.state.refreshToken }, token);
    } finally {
      this.save(null);
      this.emit();
    }
  }

  /** Forgets the session without asking the hub (it was revoked there already). */
  drop() {
    if (!this.state) return;
    this.save(null);
    this.emit();
  }

  /** An access token that is not about to expire, refreshing it first if needed. */
  async token() {
    if (!this.state) throw new ApiError(401, { message: "Signed out" });
    if (Date.now() >= refreshAt(this.state.accessToken)) await this.refresh();
    if (!this.state) throw new ApiError(401, { message: "Signed out" });
    return this.state.accessToken;
  }

  /** Rotates the tokens; every caller meanwhile waits for the same rotation. */
  refresh() {
    if (!this.refreshing) {
      const seen = this.state?.refreshToken;
      const run = () => this.rotate(seen);
      this.refreshing = (this.locks ? this.locks.request("hub.refresh", run) : run()).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async rotate(seen) {
    const stored = load();
    if (!stored) return this.drop();
    if (stored.refreshToken !== seen) {
      // Another tab rotated it while this one waited.
      this.save(stored);
      return;
    }
    let body;
    try {
      body = await this.send("POST", "/api/v1/auth/refresh", { refreshToken: seen }, null);
    } catch (error) {
      if (error.status === 401) this.drop();
      throw error;
    }
    this.save({ ...stored, ...body.data });
  }

  /** The API's envelope for `method path`; a 401 is answered by one refresh and one retry. */
  async api(method, path, body) {
    const token = await this.token();
    try {
      return await this.send(method, path, body, token);
    } catch (error) {
      if (error.status !== 401 || !this.state) throw error;
      await this.refresh();
      if (!this.state) throw error;
      return this.send(method, path, body, this.state.accessToken);
    }
  }

  async send(method, path, body, token) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, { message: "The hub cannot be reached; check your connection" });
    }
    const parsed = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }
}
