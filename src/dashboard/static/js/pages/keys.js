// Checker keys (admins): the checker program authenticates with one; a new key is shown once.

import { el, fill, field, formValues, showErrors } from "../dom.js";
import { dateTime } from "../format.js";
import { pager as showPager, table, emptyRow } from "../widgets.js";

export function render({ session, params, navigate, toast }) {
  const page = Math.max(1, Number(params.get("page")) || 1);
  const body = el("tbody");
  const pager = el("div", { class: "pager" });
  const editor = el("div", { class: "editor" });
  const columns = ["Name", "Created", "Last used", "State", ""];
  const node = el("section", { class: "keys" },
    el("div", { class: "heading" }, el("h1", {}, "Checker keys"),
      el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "add-key", onclick: showForm }, "New key"))),
    el("p", { class: "muted" }, "The checker sends its key as Authorization: Bearer <key> or X-Api-Key: <key>."),
    editor,
    table("keys-table", columns, body),
    pager);

  async function reload() {
    try {
      const { data } = await session.api("GET", `/api/v1/checker-keys?page=${page}&limit=25`);
      fill(body, data.items.map((key) => el("tr", { dataset: { keyId: key.id } },
        el("td", {}, key.name), el("td", {}, dateTime(key.createdAt)), el("td", {}, dateTime(key.lastUsedAt)),
        el("td", {}, key.revokedAt ? `revoked ${dateTime(key.revokedAt)}` : "active"),
        el("td", { class: "row-actions" }, !key.revokedAt && el("button", { type: "button", class: "quiet danger", onclick: () => revoke(key) }, "Revoke")))));
      if (!data.items.length) fill(body, emptyRow(columns.length, "No keys yet."));
      showPager(pager, data, (n) => navigate("keys", new URLSearchParams({ page: n })), "keys");
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  async function revoke(key) {
    if (!confirm(`Revoke ${key.name}? A checker using it is refused from now on.`)) return;
    try {
      await session.api("DELETE", `/api/v1/checker-keys/${key.id}`);
    } catch (error) {
      toast(error.message, "bad");
    }
    reload();
  }

  function showForm() {
    const form = el("form", { class: "card form", id: "key-form" },
      el("h2", {}, "New checker key"),
      field("Name", el("input", { name: "name", required: true, placeholder: "e.g. checker on host-1" })),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Create"),
        el("button", { type: "button", onclick: () => fill(editor) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const { data } = await session.api("POST", "/api/v1/checker-keys", formValues(form));
        fill(editor, el("div", { class: "card secret" },
          el("h2", {}, `Key for ${data.name}`),
          el("p", {}, "Copy it now: it is not shown again."),
          el("code", { id: "new-key" }, data.key),
          el("div", { class: "actions" }, el("button", { type: "button", onclick: () => fill(editor) }, "Done"))));
        reload();
      } catch (error) {
        showErrors(form, error);
      }
    });
    fill(editor, form);
  }

  reload();
  return { node, reload };
}
