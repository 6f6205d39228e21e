// Domains ("money sites"): filters, search, pages; admins add, edit, delete and import. Rows change
// in place as the checker reports, at most once per animation frame however many changes arrive.

import { el, fill, field, formValues, showErrors, frameBatcher, debounce } from "../dom.js";
import { showStatus, agoCell } from "../format.js";
import { pager as showPager, table, emptyRow } from "../widgets.js";

const LIMIT = 50;

export function render(ctx) {
  const { session, params, toast } = ctx;
  const admin = session.isAdmin;
  const filters = {
    brand: params.get("brand") || "",
    status: params.get("status") || "",
    search: params.get("search") || "",
    page: Math.max(1, Number(params.get("page")) || 1),
  };
  const rows = new Map();
  // The brands (for the filter and the forms): loaded with the first list, again after a brand
  // changes, not with every reload.
  let brands = [];
  let brandsStale = true;

  const brandFilter = el("select", { name: "brand", "aria-label": "Brand" });
  const statusFilter = el("select", { name: "status", "aria-label": "Status" },
    el("option", { value: "" }, "Any status"), el("option", { value: "ada" }, "🔴 ada (blocked)"),
    el("option", { value: "tidak ada" }, "🟢 tidak ada (accessible)"), el("option", { value: "unchecked" }, "⚪ unchecked"));
  statusFilter.value = filters.status;
  const search = el("input", { type: "search", name: "search", placeholder: "Search domain or note", value: filters.search, "aria-label": "Search" });
  const body = el("tbody");
  const pager = el("div", { class: "pager" });
  const editor = el("div", { class: "editor" });

  const columns = ["Domain", "Brand", "Note", "Nawala", "Last checked", "Since"];
  const node = el("section", { class: "domains" },
    el("div", { class: "heading" }, el("h1", {}, "Domains"),
      admin && el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", id: "add-domain", onclick: () => showForm(null) }, "Add domain"),
        el("button", { type: "button", id: "import-domains", onclick: showImport }, "Import"))),
    editor,
    el("div", { class: "filters" }, brandFilter, statusFilter, search),
    table("domains-table", admin ? [...columns, ""] : columns, body),
    pager);

  /** Applies new filters in place (the address follows, without a new history entry or a new
   * page, so the search box keeps its focus). */
  function go(changes) {
    Object.assign(filters, changes);
    const query = new URLSearchParams();
    for (const key of ["brand", "status", "search"]) if (filters[key]) query.set(key, filters[key]);
    if (filters.page > 1) query.set("page", filters.page);
    history.replaceState(null, "", `#/domains${[...query].length ? `?${query}` : ""}`);
    reload();
  }
  brandFilter.addEventListener("change", () => go({ brand: brandFilter.value, page: 1 }));
  statusFilter.addEventListener("change", () => go({ status: statusFilter.value, page: 1 }));
  search.addEventListener("input", debounce(() => go({ search: search.value.trim(), page: 1 }), 350));

  async function loadBrands() {
    brands = (await session.api("GET", "/api/v1/brands?limit=100")).data.items;
    brandsStale = false;
    fill(brandFilter, el("option", { value: "" }, "All brands"), brands.map((b) => el("option", { value: b.id }, b.name)));
    brandFilter.value = filters.brand;
  }

  // Replies are shown only if no later request was made, and a live change that arrived while a
  // request was out is kept over the (older) reply.
  let requests = 0;
  let pending = 0;
  const changedMeanwhile = new Map();

  async function reload() {
    const request = ++requests;
    pending += 1;
    const query = new URLSearchParams({ page: filters.page, limit: LIMIT });
    if (filters.brand) query.set("brandId", filters.brand);
    if (filters.status) query.set("status", filters.status);
    if (filters.search) query.set("search", filters.search);
    try {
      const [, list] = await Promise.all([brandsStale ? loadBrands() : null, session.api("GET", `/api/v1/domains?${query}`)]);
      if (request === requests) show(list.data);
    } catch (error) {
      toast(error.message, "bad");
    } finally {
      pending -= 1;
      if (!pending) changedMeanwhile.clear();
    }
  }

  function newest(id, nawala) {
    const live = changedMeanwhile.get(id);
    return live && Date.parse(live.lastChecked) > Date.parse(nawala.lastChecked || 0) ? live : nawala;
  }

  function show({ items, page, limit, total }) {
    rows.clear();
    fill(body, items.map(row));
    if (!items.length) fill(body, emptyRow(columns.length + 1, "No domains match."));
    showPager(pager, { page, limit, total }, (n) => go({ page: n }), "domains");
  }

  function row(domain) {
    const cells = {
      status: el("td", { class: "status" }),
      checked: el("td", { class: "checked" }),
      since: el("td", { class: "since" }),
    };
    const tr = el("tr", { dataset: { domainId: domain.id } },
      el("td", { class: "name" }, el("a", { href: `#/domains/${domain.id}` }, domain.domain)),
      el("td", {}, domain.brand.name),
      el("td", { class: "note" }, domain.note || ""),
      cells.status, cells.checked, cells.since,
      admin && el("td", { class: "row-actions" },
        el("button", { type: "button", class: "quiet edit", onclick: () => showForm(domain) }, "Edit"),
        el("button", { type: "button", class: "quiet danger delete", onclick: () => remove(domain) }, "Delete")));
    rows.set(domain.id, { tr, cells });
    paint(cells, newest(domain.id, domain.nawala));
    return tr;
  }

  function paint(cells, nawala) {
    showStatus(cells.status, nawala.status);
    agoCell(cells.checked, nawala.lastChecked);
    agoCell(cells.since, nawala.since);
  }

  const apply = frameBatcher((changes) => {
    for (const change of changes) {
      if (pending) changedMeanwhile.set(change.domainId, change.nawala);
      const shown = rows.get(change.domainId);
      if (!shown) continue;
      paint(shown.cells, change.nawala);
      shown.tr.classList.remove("flash");
      void shown.tr.offsetWidth; // restart the animation
      shown.tr.classList.add("flash");
    }
  });

  function showForm(domain) {
    const brandSelect = el("select", { name: "brandId", required: true },
      brands.map((b) => el("option", { value: b.id }, b.name)));
    if (domain) brandSelect.value = domain.brand.id;
    const form = el("form", { class: "card form", id: "domain-form" },
      el("h2", {}, domain ? `Edit ${domain.domain}` : "Add a domain"),
      field("Domain", el("input", { name: "domain", required: true, value: domain?.domain || "", placeholder: "example.com" })),
      field("Brand", brandSelect),
      field("Note", el("input", { name: "note", value: domain?.note || "" })),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save"),
        el("button", { type: "button", onclick: () => fill(editor) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const payload = { domain: values.domain, brandId: values.brandId, note: values.note.trim() || null };
      try {
        const { data } = domain
          ? await session.api("PUT", `/api/v1/domains/${domain.id}`, payload)
          : await session.api("POST", "/api/v1/domains", payload);
        toast(`${domain ? "Saved" : "Added"} ${data.domain.domain}`, "good");
        fill(editor);
        reload();
      } catch (error) {
        showErrors(form, error);
      }
    });
    fill(editor, form);
  }

  function showImport() {
    const form = el("form", { class: "card form", id: "import-form" },
      el("h2", {}, "Import domains"),
      field("Brand", el("select", { name: "brandId", required: true }, brands.map((b) => el("option", { value: b.id }, b.name)))),
      field("Domains, one per line", el("textarea", { name: "domains", rows: 6, required: true })),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Import"),
        el("button", { type: "button", onclick: () => fill(editor) }, "Close")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const domains = values.domains.split(/[\s,]+/).filter(Boolean);
      try {
        const { data } = await session.api("POST", "/api/v1/domains/import", { brandId: values.brandId, domains });
        form.append(el("p", { class: "result" }, `${data.created} created, ${data.alreadyPresent} already present, ${data.invalid.length} invalid`),
          data.invalid.length ? el("ul", { class: "invalid" }, data.invalid.map((i) => el("li", {}, `${i.domain}: ${i.message}`))) : null);
        reload();
      } catch (error) {
        showErrors(form, error);
      }
    });
    fill(editor, form);
  }

  async function remove(domain) {
    if (!confirm(`Delete ${domain.domain}? Its scan history goes with it.`)) return;
    try {
      await session.api("DELETE", `/api/v1/domains/${domain.id}`);
      toast(`Deleted ${domain.domain}`);
      reload();
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  const later = debounce(reload, 500, 2000);
  reload();
  return {
    node,
    reload,
    onEvent(frame) {
      if (frame.event === "domain:nawala-updated") apply(frame.data);
      else if (frame.event === "domains:nawala-changed") frame.data.changes.forEach(apply);
      else if (frame.event === "domain:deleted") rows.get(frame.data.id)?.tr.remove();
      // A batch re-checks more rows than it changes: their "last checked" moves too.
      if (frame.event.startsWith("brand:")) brandsStale = true;
      if (/^(domain:(created|updated|deleted)|domains:imported|brand:|scan:completed)/.test(frame.event)) later();
    },
  };
}
