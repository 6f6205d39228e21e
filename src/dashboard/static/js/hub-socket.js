// A client of the hub's socket protocol (GET /ws), for the dashboard and for any other browser
// client: it connects with a fresh access token, reconnects with back-off and jitter, resumes from
// the last event it saw, and says when the caller must reload over REST. No dependencies.
//
//   const socket = new HubSocket({
//     token: async () => accessToken,        // called before every connection
//     onEvent: (event) => …,                 // {event, topic, id, data}, in order, each once
//     onReload: (reason) => …,               // "connected" | "incomplete" | "resync": reload over REST
//     onRevoked: (data) => …,                // session:revoked ({userId, sessionId?})
//     onState: (state) => …,                 // "connecting" | "live" | "offline"
//   });
//   socket.start();  …  socket.stop();

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

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
    this.wake = () => this.reconnectNow();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "signed out");
      this.socket = null;
    }
    this.onState("offline");
  }

  /** A page that comes back into view, or a network that comes back, need not wait out a delay. */
  reconnectNow() {
    if (this.stopped || this.socket || document.visibilityState === "hidden") return;
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    this.timer = null;
    this.onState("connecting");
    let token;
    try {
      token = await this.token(this.attempt);
    } catch {
      return this.retry();
    }
    if (this.stopped) return;
    const params = new URLSearchParams({ token });
    // With `since` on the URL the replay comes before any live event.
    if (this.lastEventId) params.set("since", this.lastEventId);
    const socket = new WebSocket(`${this.url}?${params}`);
    this.socket = socket;
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = () => {
      if (this.socket === socket) this.socket = null;
      this.retry();
    };
  }

  retry() {
    if (this.stopped || this.timer) return;
    this.onState("offline");
    this.timer = setTimeout(() => this.connect(), backoff(this.attempt));
    this.attempt += 1;
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
    if (frame.event === "session:revoked") return this.onRevoked(frame.data);
    this.onEvent(frame);
  }

  /** Topics beyond the ones a session starts with are not needed by the dashboard, but any client
   * may change its set: `{"op": "subscribe" | "unsubscribe", "topics": […]}`. */
  send(op, topics) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ op, topics }));
  }
}
