// Users (admins): search, create, change role, disable, delete. The hub enforces who may do what.

import { el, fill, field, formValues, showErrors, debounce } from "../dom.js";
import { dateTime } from "../format.js";
import { pager as showPager, table, emptyRow } from "../widgets.js";

const LIMIT = 25;

export function render({ session, params, toast }) {
  let page = Math.max(1, Number(params.get("page")) || 1);
  const roles = session.user.role === "owner" ? ["user", "admin", "owner"] : ["user", "admin"];
  const body = el("tbody");
  const pager = el("div", { class: "pager" });
  const editor = el("div", { class: "editor" });
  const search = el("input", { type: "search", placeholder: "Search name or email", value: params.get("search") || "", "aria-label": "Search" });
  const columns = ["Name", "Email", "Role", "Verified", "Disabled", "Last sign-in", ""];
  const node = el("section", { class: "users" },
    el("div", { class: "heading" }, el("h1", {}, "Users"),
      el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "add-user", onclick: showForm }, "Add user"))),
    editor,
    el("div", { class: "filters" }, search),
    table("users-table", columns, body),
    pager);
  // In place, so the search box keeps its focus; the address follows.
  const go = (changes) => {
    page = changes.page;
    const query = new URLSearchParams({ search: search.value.trim(), page });
    if (!query.get("search")) query.delete("search");
    history.replaceState(null, "", `#/users?${query}`);
    reload();
  };
  search.addEventListener("input", debounce(() => go({ page: 1 }), 350));

  async function reload() {
    const query = new URLSearchParams({ page, limit: LIMIT });
    if (search.value.trim()) query.set("search", search.value.trim());
    try {
      const { data } = await session.api("GET", `/api/v1/users?${query}`);
      fill(body, data.items.map(row));
      if (!data.items.length) fill(body, emptyRow(columns.length, "No users match."));
      showPager(pager, data, (n) => go({ page: n }), "users");
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  function row(user) {
    const self = user.id === session.user.id;
    const role = el("select", { "aria-label": "Role", disabled: self }, [...new Set([...roles, user.role])].map((r) => el("option", { value: r }, r)));
    role.value = user.role;
    role.addEventListener("change", () => update(user, { role: role.value }));
    const disabled = el("input", { type: "checkbox", "aria-label": "Disabled", checked: user.disabled, disabled: self });
    disabled.addEventListener("change", () => update(user, { disabled: disabled.checked }));
    return el("tr", { dataset: { userId: user.id } },
      el("td", {}, user.name), el("td", {}, user.email), el("td", {}, role),
      el("td", {}, user.emailVerified ? "yes" : "no"), el("td", {}, disabled),
      el("td", {}, dateTime(user.lastLogin)),
      el("td", { class: "row-actions" }, !self && el("button", { type: "button", class: "quiet danger", onclick: () => remove(user) }, "Delete")));
  }

  async function update(user, changes) {
    try {
      await session.api("PUT", `/api/v1/users/${user.id}`, changes);
      toast(`Saved ${user.email}`, "good");
    } catch (error) {
      toast(error.message, "bad");
    }
    reload();
  }

  async function remove(user) {
    if (!confirm(`Delete ${user.email}?`)) return;
    try {
      await session.api("DELETE", `/api/v1/users/${user.id}`);
    } catch (error) {
      toast(error.message, "bad");
    }
    reload();
  }

  function showForm() {
    const form = el("form", { class: "card form", id: "user-form" },
      el("h2", {}, "Add a user"),
      field("Name", el("input", { name: "name", required: true })),
      field("Email", el("input", { name: "email", type: "email", required: true })),
      field("Password (8 to 72 bytes)", el("input", { name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
      field("Role", el("select", { name: "role" }, roles.map((r) => el("option", { value: r }, r)))),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Create"),
        el("button", { type: "button", onclick: () => fill(editor) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await session.api("POST", "/api/v1/users", formValues(form));
        fill(editor);
        reload();
      } catch (error) {
        showErrors(form, error);
      }
    });
    fill(editor, form);
  }

  const later = debounce(reload, 500);
  reload();
  return {
    node,
    reload,
    onEvent(frame) {
      if (frame.event.startsWith("user:")) later();
    },
  };
}
