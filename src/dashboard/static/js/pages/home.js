// Home: domain counts per brand and status, and the latest status changes.

import { el, fill, debounce } from "../dom.js";
import { showStatus, agoCell } from "../format.js";

const RECENT = 10;

export function render({ session, toast }) {
  const totals = el("div", { class: "tiles" });
  const byBrand = el("tbody");
  const recent = el("tbody");
  const node = el(
    "section",
    { class: "home" },
    el("h1", {}, "Overview"),
    totals,
    el("div", { class: "columns" },
      el("div", { class: "card" },
        el("h2", {}, "Domains by brand"),
        el("table", { class: "table", id: "brand-counts" },
          el("thead", {}, el("tr", {}, el("th", {}, "Brand"), el("th", { class: "num" }, "🔴 ada"), el("th", { class: "num" }, "🟢 tidak ada"), el("th", { class: "num" }, "⚪ unchecked"), el("th", { class: "num" }, "Total"))),
          byBrand)),
      el("div", { class: "card" },
        el("h2", {}, "Latest status changes"),
        el("table", { class: "table", id: "recent-changes" },
          el("thead", {}, el("tr", {}, el("th", {}, "Domain"), el("th", {}, "Status"), el("th", {}, "Since"))),
          recent))),
  );

  async function reload() {
    try {
      const [brands, changes] = await Promise.all([
        session.api("GET", "/api/v1/brands?limit=100"),
        session.api("GET", `/api/v1/domains?sort=-since&limit=${RECENT}`),
      ]);
      showCounts(brands.data.items);
      fill(recent, changes.data.items.filter((d) => d.nawala.since).map((d) =>
        el("tr", {}, el("td", {}, el("a", { href: `#/domains/${d.id}` }, d.domain)), showStatus(el("td"), d.nawala.status),
          agoCell(el("td"), d.nawala.since))));
      if (!recent.children.length) fill(recent, el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No domain has been checked yet.")));
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  function showCounts(brands) {
    const sum = { ada: 0, tidakAda: 0, unchecked: 0, total: 0 };
    fill(byBrand, brands.map((brand) => {
      const counts = brand.domains || { ada: 0, tidakAda: 0, unchecked: 0, total: 0 };
      for (const key of Object.keys(sum)) sum[key] += counts[key] || 0;
      return el("tr", {}, el("td", {}, el("a", { href: `#/domains?brand=${brand.id}` }, brand.name)),
        el("td", { class: "num" }, counts.ada), el("td", { class: "num" }, counts.tidakAda),
        el("td", { class: "num" }, counts.unchecked), el("td", { class: "num" }, counts.total));
    }));
    fill(totals,
      tile("Domains", sum.total, ""), tile("🔴 Blocked", sum.ada, "bad", "ada"),
      tile("🟢 Accessible", sum.tidakAda, "good", "tidak ada"), tile("⚪ Unchecked", sum.unchecked, "", "unchecked"));
  }

  function tile(label, count, kind, status) {
    const href = status ? `#/domains?status=${encodeURIComponent(status)}` : "#/domains";
    return el("a", { class: `tile ${kind}`, href }, el("strong", {}, count), el("span", {}, label));
  }

  const later = debounce(reload, 500, 2000);
  reload();
  return {
    node,
    reload,
    onEvent(frame) {
      if (/^(domain|domains|brand|scan):/.test(frame.event)) later();
    },
  };
}
