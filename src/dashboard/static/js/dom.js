// Building the page from values: every value becomes a text node or an attribute, never HTML.

/**
 * el("button", {class: "primary", onclick: save, disabled: true}, "Save")
 * Props: `class`, `on<event>` handlers, `dataset` (an object), booleans as presence, anything else
 * as an attribute. Children: nodes, strings/numbers (as text), arrays, null/false (skipped).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "value") {
      node.value = value;
    } else {
      node.setAttribute(key === "className" ? "class" : key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces what `node` holds with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A labelled form field. */
export function field(label, input) {
  return el("label", { class: "field" }, el("span", {}, label), input);
}

/** The form's values by input name (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const input of form.elements) {
    if (!input.name) continue;
    values[input.name] = input.type === "checkbox" ? input.checked : input.value;
  }
  return values;
}

/** Shows an API error on a form: its message, and each field's message beside the field. */
export function showErrors(form, error) {
  for (const old of form.querySelectorAll(".field-error, .form-error")) old.remove();
  const byField = new Map((error.errors || []).map((e) => [e.field, e.message]));
  for (const [name, message] of byField) {
    const input = form.elements.namedItem(name);
    if (input && input.closest) input.closest(".field")?.appendChild(el("small", { class: "field-error" }, message));
  }
  form.prepend(el("p", { class: "form-error", role: "alert" }, error.message || "Something went wrong"));
}

/** Calls `fn` at most once per animation frame, with everything queued since the last call. */
export function frameBatcher(fn) {
  let queue = [];
  let scheduled = false;
  return (item) => {
    queue.push(item);
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      const items = queue;
      queue = [];
      scheduled = false;
      fn(items);
    });
  };
}

/** `fn` once `ms` have passed without another call, or at the latest `maxWait` after the first
 * call that is still waiting (so a steady stream of calls does not put it off for ever). */
export function debounce(fn, ms, maxWait = Infinity) {
  let timer = null;
  let waitingSince = null;
  return (...args) => {
    clearTimeout(timer);
    waitingSince ??= Date.now();
    const wait = Math.min(ms, Math.max(0, waitingSince + maxWait - Date.now()));
    timer = setTimeout(() => {
      waitingSince = null;
      fn(...args);
    }, wait);
  };
}
