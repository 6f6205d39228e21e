// Appointments (admins): today's and upcoming, live.

import { el, fill, debounce } from "../dom.js";
import { dateTime, money } from "../format.js";
import { table, emptyRow } from "../widgets.js";

const SHOWN = 100;

export function render({ session, toast }) {
  const body = el("tbody");
  const count = el("p", { class: "muted" });
  const columns = ["When", "Customer", "Service", "Expert", "Status", "Payment", "Price", "Expires"];
  const node = el("section", { class: "appointments" },
    el("h1", {}, "Appointments"), count,
    table("appointments-table", columns, body));

  async function reload() {
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const query = new URLSearchParams({ from: today.toISOString(), limit: SHOWN });
    try {
      const { data } = await session.api("GET", `/api/v1/appointments?${query}`);
      fill(body, data.items.map(row));
      if (!data.items.length) fill(body, emptyRow(columns.length, "Nothing today or later."));
      fill(count, data.total > SHOWN ? `The next ${SHOWN} of ${data.total}, from today on.` : `${data.total} from today on.`);
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  function row(a) {
    return el("tr", { dataset: { appointmentId: a.id }, class: `state-${a.status}` },
      el("td", {}, dateTime(a.startsAt)),
      el("td", { title: a.user.email }, a.user.name),
      el("td", {}, a.subService ? `${a.service.name} · ${a.subService.name}` : a.service.name),
      el("td", {}, a.expert.name),
      el("td", { class: "appointment-status" }, a.status),
      el("td", {}, a.paymentStatus),
      el("td", { class: "num" }, money(a.totalPrice, a.currency)),
      el("td", {}, a.expiresAt && a.paymentStatus !== "paid" ? dateTime(a.expiresAt) : "—"));
  }

  const later = debounce(reload, 300);
  reload();
  return {
    node,
    reload,
    onEvent(frame) {
      if (frame.event.startsWith("appointment:")) later();
    },
  };
}
