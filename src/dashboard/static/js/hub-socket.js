// A client of the hub's socket protocol (GET /ws), for the dashboard and for any other browser
// client: it connects with a fresh access token, reconnects with back-off and jitter, resumes from
// the last event it saw, notices a connection that died silently, and says when the caller must
// reload over REST. No dependencies.
//
//   const socket = new HubSocket({
//     token: async (attempt) => accessToken, // called before every connection
//     onEvent: (event) => …,                 // {event, topic, id, data}, in order, each once
//     onReload: (reason) => …,               // "connected" | "incomplete" | "resync": reload over REST
//     onRevoked: (data) => …,                // session:revoked ({userId, sessionId?}), live only
//     onState: (state) => …,                 // "connecting" | "live" | "offline"
//   });
//   socket.start();  …  socket.stop();

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/** Silence after which the client asks the hub for a sign of life… */
const QUIET_MS = 25_000;
/** …and how long the hub has to give one before the connection counts as dead. */
const ANSWER_MS = 10_000;

/** `[epoch, millis, sequence]` of an id `<epoch>:<millis>-<sequence>`, or null. */
function parseId(id) {
  const match = /^([0-9a-f]+):(\d+)-(\d+)$/.exec(id || "");
  return match ? [match[1], Number(match[2]), Number(match[3])] : null;
}

/** True when `id` comes after `last` (or they cannot be compared: another epoch). */
export function isAfter(id, last) {
  const a = parseId(id);
  const b = parseId(last);
  if (!a || !b || a[0] !== b[0]) return true;
  return a[1] > b[1] || (a[1] === b[1] && a[2] > b[2]);
}

/** The wait before reconnection attempt `attempt` (0, 1, …): doubling, capped, jittered. */
export function backoff(attempt) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class HubSocket {
  constructor({ url = defaultUrl(), token, onEvent, onReload, onRevoked, onState } = {}) {
    this.url = url;
    this.token = token;
    this.onEvent = onEvent || (() => {});
    this.onReload = onReload || (() => {});
    this.onRevoked = onRevoked || (() => {});
    this.onState = onState || (() => {});
    this.lastEventId = null;
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = true;
    // Bumped by every connection attempt and by stop(): a stale attempt sees it moved and quits.
    this.generation = 0;
    this.connecting = false;
    this.replaying = false;
    this.heard = 0;
    this.heartbeat = null;
    this.wake = () => this.reconnectNow();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.heartbeat = setInterval(() => this.checkPulse(), 5_000);
    this.connect();
  }

  /** Closes the connection for good; a later start() begins afresh (nothing is resumed). */
  stop() {
    this.stopped = true;
    this.generation += 1;
    this.connecting = false;
    clearTimeout(this.timer);
    this.timer = null;
    clearInterval(this.heartbeat);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    this.drop(1000, "stopped");
    this.lastEventId = null;
    this.attempt = 0;
    this.onState("offline");
  }

  /** A page that comes back into view, or a network that comes back, need not wait out a delay. */
  reconnectNow() {
    if (this.stopped || this.socket || this.connecting || document.visibilityState === "hidden") return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  async connect() {
    const generation = ++this.generation;
    this.timer = null;
    this.connecting = true;
    this.onState("connecting");
    let token;
    try {
      token = await this.token(this.attempt);
    } catch {
      token = null;
    }
    if (generation !== this.generation) return;
    this.connecting = false;
    if (!token) return this.retry();
    const params = new URLSearchParams({ token });
    // With `since` on the URL the replay comes before any live event.
    if (this.lastEventId) params.set("since", this.lastEventId);
    this.replaying = Boolean(this.lastEventId);
    const socket = new WebSocket(`${this.url}?${params}`);
    this.socket = socket;
    this.heard = Date.now();
    socket.onmessage = (message) => {
      this.heard = Date.now();
      this.receive(message.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry();
    };
  }

  /** Forgets the current connection and closes it without waiting for it to say goodbye. */
  drop(code, reason) {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onclose = null;
    socket.onmessage = null;
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  retry() {
    if (this.stopped || this.timer) return;
    this.onState("offline");
    this.timer = setTimeout(() => this.connect(), backoff(this.attempt));
    this.attempt += 1;
  }

  /** Browsers hide WebSocket pings, so a connection that died silently is found by asking: any
   * client frame gets an answer (`subscribed` to an empty subscribe). */
  checkPulse() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    const quiet = Date.now() - this.heard;
    if (quiet > QUIET_MS + ANSWER_MS) {
      this.drop(4000, "no answer");
      this.retry();
    } else if (quiet > QUIET_MS) {
      this.send("subscribe", []);
    }
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.event) {
      case "hello":
        return this.hello(frame.data);
      case "resumed":
        this.replaying = false;
        if (!frame.data.complete) this.onReload("incomplete");
        return;
      case "resync":
        return this.onReload("resync");
      case "error":
        return console.warn("hub socket:", frame.data?.message, frame.data?.topics || "");
      case "subscribed":
        return;
      default:
        return this.event(frame);
    }
  }

  hello(data) {
    this.attempt = 0;
    this.onState("live");
    if (this.lastEventId === null) {
      // The first connection: nothing to resume, but what was loaded before it may be stale.
      this.lastEventId = data.lastEventId || null;
      this.onReload("connected");
    }
  }

  event(frame) {
    if (!frame.id) return;
    if (this.lastEventId && !isAfter(frame.id, this.lastEventId)) return;
    this.lastEventId = frame.id;
    if (frame.event === "session:revoked") {
      // A replayed revocation predates this connection, which the hub accepted with the current
      // token: it ended an earlier sign-in, not this one.
      if (!this.replaying) this.onRevoked(frame.data);
      return;
    }
    this.onEvent(frame);
  }

  /** Changes the session's topics: `send("subscribe" | "unsubscribe", [topic, …])`. */
  send(op, topics) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ op, topics }));
  }
}
