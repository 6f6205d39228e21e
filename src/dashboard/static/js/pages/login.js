// Sign in with email and password.

import { el, field, formValues, showErrors } from "../dom.js";

export function render({ session, done }) {
  const submit = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el(
    "form",
    { class: "card login", id: "login-form" },
    el("h1", {}, "🛡️ Domain dashboard"),
    el("p", { class: "muted" }, "Sign in to see your domains' Nawala status, live."),
    field("Email", el("input", { name: "email", type: "email", autocomplete: "username", required: true, autofocus: true })),
    field("Password", el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { email, password } = formValues(form);
    submit.disabled = true;
    try {
      await session.signIn(email, password);
      done();
    } catch (error) {
      const left = error.data?.attemptsRemaining;
      if (left !== undefined) error.message = `${error.message} (${left} attempts left)`;
      showErrors(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  return { node: el("div", { class: "center" }, form) };
}
