// Brands and their domain counts; admins add, rename and delete.

import { el, fill, field, formValues, showErrors, debounce } from "../dom.js";
import { table, emptyRow } from "../widgets.js";

export function render({ session, toast }) {
  const admin = session.isAdmin;
  const body = el("tbody");
  const editor = el("div", { class: "editor" });
  const columns = ["Name", "Code", "🔴 ada", "🟢 tidak ada", "⚪ unchecked", "Total"];
  const node = el("section", { class: "brands" },
    el("div", { class: "heading" }, el("h1", {}, "Brands"),
      admin && el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", id: "add-brand", onclick: () => showForm(null) }, "Add brand"))),
    editor,
    table("brands-table", admin ? [...columns, ""] : columns, body));

  async function reload() {
    try {
      const { data } = await session.api("GET", "/api/v1/brands?limit=100");
      fill(body, data.items.map(row));
      if (!data.items.length) fill(body, emptyRow(columns.length + 1, "No brands yet."));
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  function row(brand) {
    const counts = brand.domains || {};
    return el("tr", { dataset: { brandId: brand.id } },
      el("td", {}, el("a", { href: `#/domains?brand=${brand.id}` }, brand.name)),
      el("td", {}, brand.code),
      el("td", { class: "num" }, counts.ada ?? 0), el("td", { class: "num" }, counts.tidakAda ?? 0),
      el("td", { class: "num" }, counts.unchecked ?? 0), el("td", { class: "num" }, counts.total ?? 0),
      admin && el("td", { class: "row-actions" },
        el("button", { type: "button", class: "quiet", onclick: () => showForm(brand) }, "Edit"),
        el("button", { type: "button", class: "quiet danger", onclick: () => remove(brand) }, "Delete")));
  }

  function showForm(brand) {
    const form = el("form", { class: "card form", id: "brand-form" },
      el("h2", {}, brand ? `Edit ${brand.name}` : "Add a brand"),
      field("Name", el("input", { name: "name", required: true, value: brand?.name || "" })),
      field("Code", el("input", { name: "code", required: true, value: brand?.code || "", placeholder: "letters, digits, - and _" })),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save"),
        el("button", { type: "button", onclick: () => fill(editor) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        if (brand) await session.api("PUT", `/api/v1/brands/${brand.id}`, formValues(form));
        else await session.api("POST", "/api/v1/brands", formValues(form));
        fill(editor);
        reload();
      } catch (error) {
        showErrors(form, error);
      }
    });
    fill(editor, form);
  }

  async function remove(brand) {
    if (!confirm(`Delete the brand ${brand.name}?`)) return;
    try {
      await session.api("DELETE", `/api/v1/brands/${brand.id}`);
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
      if (/^(domain|domains|brand):/.test(frame.event)) later();
    },
  };
}
