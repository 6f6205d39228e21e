// One domain and its scan history, newest first.

import { el, fill, debounce } from "../dom.js";
import { showStatus, dateTime } from "../format.js";
import { pager as showPager, table, emptyRow } from "../widgets.js";

const LIMIT = 25;

export function render({ session, id, params, navigate, toast }) {
  const page = Math.max(1, Number(params.get("page")) || 1);
  const summary = el("dl", { class: "summary" });
  const history = el("tbody");
  const pager = el("div", { class: "pager" });
  const title = el("h1", {}, "Domain");
  const node = el("section", { class: "domain" },
    el("p", {}, el("a", { href: "#/domains" }, "‹ All domains")),
    title, summary,
    el("div", { class: "card" }, el("h2", {}, "Scan history"),
      table("history", ["Checked", "Result", "Detail"], history),
      pager));

  async function reload() {
    try {
      const [domain, scans] = await Promise.all([
        session.api("GET", `/api/v1/domains/${id}`),
        session.api("GET", `/api/v1/domains/${id}/history?page=${page}&limit=${LIMIT}`),
      ]);
      showDomain(domain.data.domain);
      showHistory(scans.data);
    } catch (error) {
      toast(error.message, "bad");
      if (error.status === 404) navigate("domains");
    }
  }

  function showDomain(domain) {
    fill(title, domain.domain);
    const entry = (label, value, className) => [el("dt", {}, label), el("dd", { class: className }, value)];
    fill(summary, entry("Brand", domain.brand.name), entry("Note", domain.note || "—", "note"),
      [el("dt", {}, "Nawala"), showStatus(el("dd"), domain.nawala.status)], entry("Last checked", dateTime(domain.nawala.lastChecked)),
      entry("Since", dateTime(domain.nawala.since)), entry("Added", dateTime(domain.createdAt)));
  }

  function showHistory({ items, limit, total }) {
    fill(history, items.map((scan) => el("tr", {},
      el("td", {}, dateTime(scan.checkedAt)),
      el("td", {}, scan.status),
      el("td", { class: "detail" }, scan.detail ? JSON.stringify(scan.detail) : ""))));
    if (!items.length) fill(history, emptyRow(3, "Not checked yet."));
    showPager(pager, { page, limit, total }, (n) => navigate(`domains/${id}`, new URLSearchParams({ page: n })), "results");
  }

  const later = debounce(reload, 300);
  reload();
  return {
    node,
    reload,
    onEvent(frame) {
      const mine = (change) => change.domainId === id;
      if (frame.event === "domain:nawala-updated" && mine(frame.data)) later();
      if (frame.event === "domains:nawala-changed" && frame.data.changes.some(mine)) later();
      if (frame.event === "domain:updated" && frame.data.id === id) later();
      if (frame.event === "domain:deleted" && frame.data.id === id) navigate("domains");
    },
  };
}
