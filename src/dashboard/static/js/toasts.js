// Short notices in a corner; a burst is shown as a few, never as a wall.

import { el } from "./dom.js";

const MAX_VISIBLE = 4;
const SHOWN_MS = 6000;

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const note = el("div", { class: `toast ${kind}` }, text);
  note.addEventListener("click", () => note.remove());
  box.appendChild(note);
  while (box.children.length > MAX_VISIBLE) box.firstElementChild.remove();
  setTimeout(() => note.remove(), SHOWN_MS);
}
