// The reference step of a sync round: once a paid booking's reservation id is recorded, put our
// booking reference on it through the operation Guesty's definition declares for it
// (`PUT /reservations-v3/{id}/custom-fields`; the create declares no customFields and Guesty
// drops them), then — only when the host needs them (a phone we could not read) — the notes
// (`PUT …/notes`), and see that the reference stuck: in the PUT's
// answer, which the definition declares as the reservation's custom fields after the update
// (`{reservationId, customFields: [{_id, fieldId, value}]}`), or — when the answer does not show
// it — by reading the reservation back. Only then is "reference set" recorded (record_success's
// reference_set), so a crash anywhere in between leaves the reference due and the next round
// sets it again — the PUTs set values, so repeating them changes nothing more.
import type { BookingRow, GuestlyStatus } from "./schemas.ts";
import { bookingNotes, bookingReference } from "./mapping.ts";
import { carriesBookingRef } from "./lookup.ts";
import { attempt, type RoundContext, type Step, toStep } from "./round.ts";

/** As guestly.reference_due (SQL): a paid booking's reservation without a verified reference. */
export function referenceDue(
  booking: Pick<BookingRow, "status" | "guestly_reservation_id" | "guestly_reference_set_at">,
): boolean {
  return booking.status === "confirmed" && booking.guestly_reservation_id != null &&
    booking.guestly_reference_set_at == null;
}

export async function setReference(
  ctx: RoundContext,
  reservationId: string,
  target: GuestlyStatus,
): Promise<Step> {
  const { booking, deps } = ctx;
  const fieldId = deps.settings.bookingRefFieldId;
  const reference = await attempt(
    ctx,
    "set_reference",
    (options) =>
      deps.guestly.setCustomFields(reservationId, bookingReference(booking, fieldId), options),
    target,
  );
  if (reference.outcome !== "success") return toStep(ctx, "set_reference", reference);

  const notesUpdate = bookingNotes(booking);
  const notes = notesUpdate === null ? null : await attempt(
    ctx,
    "set_notes",
    (options) => deps.guestly.setNotes(reservationId, notesUpdate, options),
    target,
  );
  // No notes (nothing for the host beyond the reference): null, and nothing to wait for.
  if (notes?.outcome === "permanent") {
    // The notes are for the host to read; a refusal of them must not hold the booking back.
    deps.log.warn("guestly.notes.refused", {
      booking_id: booking.id,
      reservation_id: reservationId,
      http_status: notes.httpStatus,
    });
  } else if (notes && notes.outcome !== "success") return toStep(ctx, "set_notes", notes);

  // The PUT's declared answer lists the reservation's custom fields: ours there is the read back.
  if (carriesBookingRef(reference.data, fieldId, booking.id)) {
    return { kind: "done", reservationId, referenceSet: true };
  }
  const read = await attempt(
    ctx,
    "get_reservation",
    (options) => deps.guestly.getReservation(reservationId, options),
  );
  if (read.outcome !== "success") return toStep(ctx, "get_reservation", read);
  if (!carriesBookingRef(read.data, fieldId, booking.id)) {
    return {
      kind: "permanent",
      error: `Guestly did not keep our booking reference on reservation ${reservationId}: its ` +
        `custom field ${fieldId} does not read ${booking.id} after it was set. Check that ` +
        "GUESTLY_BOOKING_REF_FIELD_ID names a reservation custom field of the account, then retry",
    };
  }
  return { kind: "done", reservationId, referenceSet: true };
}
