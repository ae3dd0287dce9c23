// The content step of a round: a booking whose reservation exists, with the right status, but
// whose listing, dates, guest count or guest details changed, gets Guesty's v3 change requests
// (content-changes.ts decides which). A change into taken nights is a conflict, as for a create.
import {
  applyChange,
  CHANGE_OPERATION,
  type ContentChange,
  guestPayload,
} from "./content-changes.ts";
import {
  type GuestlyChangeRequest,
  GuestlyGuestUpdate,
  type ReservationContent,
} from "./schemas.ts";
import { attempt, type RoundContext, type Step, toStep } from "./round.ts";

export async function followContent(
  ctx: RoundContext,
  reservationId: string,
  synced: ReservationContent,
  changes: ContentChange[],
): Promise<Step> {
  let content = synced;
  for (const change of changes) {
    const request = await changeRequest(ctx, reservationId, change);
    if ("kind" in request) return request;
    const operation = CHANGE_OPERATION[change.kind];
    const result = await attempt(
      ctx,
      operation,
      (options) => ctx.deps.guestly.changeReservation(request, options),
      "confirmed",
    );
    if (result.outcome !== "success") return toStep(ctx, operation, result);
    content = applyChange(content, change);
    ctx.state.content = content;
    ctx.deps.log.info("guestly.sync.changed", {
      booking_id: ctx.booking.id,
      reservation_id: reservationId,
      change: change.kind,
    });
  }
  return { kind: "done", reservationId, syncedState: content };
}

/** The request for one change; a step instead when it cannot be sent (or need not be). */
async function changeRequest(
  ctx: RoundContext,
  reservationId: string,
  change: ContentChange,
): Promise<GuestlyChangeRequest | Step> {
  const reservation = `/reservations-v3/${encodeURIComponent(reservationId)}`;
  // An operator forced this booking past a calendar conflict (sync:retry --ignore-calendar).
  const force = ctx.booking.guestly_ignore_calendar ? { ignoreCalendar: true } : {};
  switch (change.kind) {
    case "relocate":
      return { path: `${reservation}/relocate`, body: { listingId: change.listingId, ...force } };
    case "dates":
      return {
        path: `${reservation}/dates`,
        body: {
          checkInDateLocalized: change.checkIn,
          checkOutDateLocalized: change.checkOut,
          ...force,
        },
      };
    case "guests":
      if (change.guestsCount < 1) return refused("guestsCount", "must be at least 1");
      return { path: `${reservation}/guests`, body: { guestsCount: change.guestsCount } };
    case "guest": {
      const checked = GuestlyGuestUpdate.safeParse(
        guestPayload(change, ctx.booking.guestly_property_country, []),
      );
      if (!checked.success) {
        const issue = checked.error.issues[0];
        return refused(`guest.${issue.path.join(".")}`, issue.message);
      }
      // The guest is its own record in Guestly: the reservation names it.
      const read = await attempt(
        ctx,
        "get_reservation",
        (options) => ctx.deps.guestly.getReservation(reservationId, options),
      );
      if (read.outcome !== "success") return toStep(ctx, "get_reservation", read);
      const guestId = read.data?.guestId;
      if (!guestId) {
        return {
          kind: "permanent",
          error: `Guestly reservation ${reservationId} names no guest: the guest's details ` +
            "cannot be changed there",
        };
      }
      // The PUT requires the guest's tags and replaces them: send back the ones the host set.
      const guest = await attempt(
        ctx,
        "get_guest",
        (options) => ctx.deps.guestly.getGuestTags(guestId, options),
      );
      if (guest.outcome !== "success") return toStep(ctx, "get_guest", guest);
      return {
        path: `/guests-crud/${encodeURIComponent(guestId)}`,
        // The checked body (names trimmed as zod left them), with the host's tags.
        body: { ...checked.data, tags: guest.data ?? [] },
      };
    }
  }
}

function refused(field: string, why: string): Step {
  return { kind: "permanent", error: `Guestly would refuse the change: ${field}: ${why}` };
}
