// What live events mean to a person: the toasts the whole dashboard shows, whatever the page.

import { frameBatcher } from "./dom.js";
import { toast } from "./toasts.js";

const STATUS_WORDS = { ada: "blocked 🔴", "tidak ada": "accessible 🟢" };

/** A status change (not a re-check that found the same status): `since` moved to this check. */
export function statusChanged(change) {
  const nawala = change.nawala || {};
  return nawala.status != null && nawala.since != null && nawala.since === nawala.lastChecked;
}

function describeChanges(changes) {
  if (changes.length === 1) {
    const [change] = changes;
    return [`${change.domain} is now ${STATUS_WORDS[change.nawala.status] || "unchecked"}`, kindOf(change)];
  }
  const blocked = changes.filter((change) => change.nawala.status === "ada").length;
  return [`${changes.length} domains changed: ${blocked} blocked, ${changes.length - blocked} accessible`, blocked ? "bad" : "good"];
}

function kindOf(change) {
  return change.nawala.status === "ada" ? "bad" : "good";
}

/** Toasts for the events of one animation frame, summarised when there are many. */
export const announce = frameBatcher((frames) => {
  const changes = [];
  for (const frame of frames) {
    if (frame.event === "domain:nawala-updated" && statusChanged(frame.data)) changes.push(frame.data);
    if (frame.event === "domains:nawala-changed") changes.push(...frame.data.changes);
    if (frame.event === "appointment:created") toast(`New appointment: ${appointmentLine(frame.data.appointment)}`);
    if (frame.event === "appointment:expired") toast(`Reservation expired: ${appointmentLine(frame.data.appointment)}`, "bad");
    if (frame.event === "appointment:cancelled") toast(`Cancelled: ${appointmentLine(frame.data.appointment)}`, "bad");
    if (frame.event === "appointment:paid") toast(`Paid: ${appointmentLine(frame.data.appointment)}`, "good");
  }
  if (changes.length) toast(...describeChanges(changes));
});

function appointmentLine(appointment) {
  return `${appointment.service?.name} with ${appointment.expert?.name}, ${new Date(appointment.startsAt).toLocaleString()}`;
}
