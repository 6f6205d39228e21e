// Pieces several pages show.

import { el, fill } from "./dom.js";

/** Fills `node` with previous/next buttons around "Page X of Y"; `go(n)` opens page n. */
export function pager(node, { page, limit, total }, go, noun = "") {
  const pages = Math.max(1, Math.ceil(total / limit));
  return fill(node,
    el("button", { type: "button", class: "previous", disabled: page <= 1, onclick: () => go(page - 1) }, "‹ Previous"),
    el("span", {}, `Page ${page} of ${pages}${noun ? ` · ${total} ${noun}` : ""}`),
    el("button", { type: "button", class: "next", disabled: page >= pages, onclick: () => go(page + 1) }, "Next ›"));
}

/** A table with `columns` as its head and `body` (a tbody) as its rows, scrolling sideways on a phone. */
export function table(id, columns, body) {
  return el("div", { class: "scroll" }, el("table", { class: "table", id },
    el("thead", {}, el("tr", {}, columns.map((column) => el("th", {}, column)))), body));
}

/** A row saying there is nothing to show. */
export function emptyRow(columns, text) {
  return el("tr", {}, el("td", { colspan: columns, class: "muted" }, text));
}
