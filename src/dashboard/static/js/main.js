// The dashboard: sign-in, the pages by role, and the live socket that keeps them current.

import { el, fill } from "./dom.js";
import { Session } from "./session.js";
import { HubSocket } from "./hub-socket.js";
import { announce } from "./live.js";
import { toast } from "./toasts.js";
import { tick } from "./format.js";
import * as login from "./pages/login.js";
import * as home from "./pages/home.js";
import * as domains from "./pages/domains.js";
import * as domain from "./pages/domain.js";
import * as brands from "./pages/brands.js";
import * as users from "./pages/users.js";
import * as keys from "./pages/keys.js";
import * as appointments from "./pages/appointments.js";

const PAGES = [
  { path: "", title: "Home", page: home },
  { path: "domains", title: "Domains", page: domains },
  { path: "brands", title: "Brands", page: brands },
  { path: "users", title: "Users", page: users, admin: true },
  { path: "keys", title: "Checker keys", page: keys, admin: true },
  { path: "appointments", title: "Appointments", page: appointments, admin: true },
];

const session = new Session();
const root = document.getElementById("app");
let current = null;
// Counts page visits: a page's requests answer only while its visit is the current one.
let visits = 0;
let liveState = "offline";
const LIVE_TEXT = { live: "● live", connecting: "○ connecting…", offline: "○ offline" };

const socket = new HubSocket({
  // After a few failed connections, ask the API once: a refused session is then signed out.
  token: async (attempt) => {
    if (attempt >= 3) await session.api("GET", "/api/v1/profile");
    return session.token();
  },
  onEvent: (frame) => {
    announce(frame);
    current?.onEvent?.(frame);
  },
  onReload: () => current?.reload?.(),
  onRevoked: (data) => {
    if (data.userId && data.userId !== session.user?.id) return;
    if (data.sessionId && data.sessionId !== session.sessionId) return;
    toast("Your session was ended; please sign in again.", "bad");
    session.drop();
  },
  onState: (state) => {
    liveState = state;
    const badge = document.getElementById("live");
    if (badge) fill(badge, LIVE_TEXT[state]).className = `live-badge ${state}`;
  },
});

session.onSignedOut(() => {
  socket.stop();
  if (location.hash === "#/login") route();
  else location.hash = "#/login";
});

/** `#/domains/<id>?search=x` → {path: "domains", id, params}. */
function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [first = "", id = null] = path.split("/");
  return { path: first, id, params: new URLSearchParams(query || "") };
}

export function navigate(path, params) {
  const query = params && [...params].length ? `?${params}` : "";
  location.hash = `#/${path}${query}`;
}

function header(active) {
  const user = session.user;
  const links = PAGES.filter((entry) => !entry.admin || session.isAdmin).map((entry) =>
    el("a", { href: `#/${entry.path}`, class: entry.path === active ? "active" : null }, entry.title),
  );
  return el(
    "header",
    { class: "top" },
    el("a", { class: "brand", href: "#/" }, "🛡️ Domain dashboard"),
    el("nav", { "aria-label": "Pages" }, links),
    el(
      "div",
      { class: "who" },
      el("span", { id: "live", class: `live-badge ${liveState}` }, LIVE_TEXT[liveState]),
      el("span", { class: "user", title: user.email }, `${user.name} (${user.role})`),
      el("button", { type: "button", class: "quiet", id: "sign-out", onclick: signOut }, "Sign out"),
    ),
  );
}

function signOut() {
  session.signOut().catch(() => toast("Signed out here, but the hub could not be told: this session ends when its tokens expire.", "bad"));
}

/** The session as a page sees it: once the page is left, its requests never answer, so nothing it
 * started (a reload, a toast, a navigation) acts on the page that replaced it. */
function pageSession(visit) {
  const never = () => new Promise(() => {});
  const current = () => visit === visits;
  const answered = (body) => (current() ? body : never());
  const failed = (error) => {
    if (current()) throw error;
    return never();
  };
  return {
    user: session.user,
    isAdmin: session.isAdmin,
    api: (...args) => (current() ? session.api(...args).then(answered, failed) : never()),
  };
}

function route() {
  visits += 1;
  current = null;
  const { path, id, params } = parseHash();
  if (!session.user) {
    socket.stop();
    const done = () => (location.hash === "#/login" ? navigate("") : route());
    fill(root, login.render({ session, done }).node);
    return;
  }
  socket.start();
  const entry = (path === "domains" && id ? { path, page: domain } : null) || PAGES.find((page) => page.path === path);
  if (!entry || (entry.admin && !session.isAdmin)) return navigate("");
  current = entry.page.render({ session: pageSession(visits), id, params, navigate, toast });
  fill(root, header(path), el("main", {}, current.node));
  document.title = `${entry.title || "Domain"} · Domain dashboard`;
}

window.addEventListener("hashchange", route);
setInterval(tick, 30_000);
route();
