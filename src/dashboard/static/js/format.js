// How values read on the page.

const STATUS = {
  ada: { icon: "🔴", label: "blocked", className: "blocked" },
  "tidak ada": { icon: "🟢", label: "accessible", className: "accessible" },
};

/** The Nawala status as the seed shows it: 🔴 ada / 🟢 tidak ada / unchecked. */
function nawalaStatus(status) {
  const known = STATUS[status];
  return known
    ? { text: `${known.icon} ${status}`, title: known.label, className: known.className }
    : { text: "⚪ unchecked", title: "never checked", className: "unchecked" };
}

/** Shows the Nawala `status` in `node`: its text, its colour, its meaning on hover. */
export function showStatus(node, status) {
  const shown = nawalaStatus(status);
  node.textContent = shown.text;
  node.className = `status ${shown.className}`;
  node.title = shown.title;
  return node;
}

export function dateTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString();
}

/** Shows `value` in `cell` as "3 min ago" with the exact time on hover, kept current by [`tick`]. */
export function agoCell(cell, value) {
  cell.textContent = ago(value);
  cell.title = dateTime(value);
  if (value) cell.dataset.ago = value;
  else delete cell.dataset.ago;
  return cell;
}

/** Brings every "… ago" on the page up to date. */
export function tick() {
  for (const cell of document.querySelectorAll("[data-ago]")) cell.textContent = ago(cell.dataset.ago);
}

/** "3 min ago". */
export function ago(value) {
  if (!value) return "—";
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (Number.isNaN(seconds)) return "—";
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

export function money(amount, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${amount} ${currency}`;
  }
}
