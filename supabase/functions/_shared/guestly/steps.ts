// The reservation step of a sync round: decide what Guestly needs next for this booking and send
// it (a lookup, a create, or status changes), or hand over to the content step (modify-steps.ts)
// and the money step (payment-steps.ts). The rules for unknown outcomes live here: a create is
// never sent again before a lookup that could see the first one's effect.
import {
  type CreateKey,
  type GuestlyReservation,
  GuestlyReservationCreate,
  type GuestlyStatus,
  type ReservationContent,
} from "./schemas.ts";
import {
  BOOKING_REF_SOURCE,
  guestlyTarget,
  mapBookingToGuestlyReservation,
  statusChange,
  syncedTarget,
} from "./mapping.ts";
import { describeDuplicates, judgeLookup, type LookupKey, needsGuestEmail } from "./lookup.ts";
import { referenceDue, setReference } from "./reference-step.ts";
import { contentOf, planContentChanges } from "./content-changes.ts";
import { followContent } from "./modify-steps.ts";
import { pendingPayments, recordPayments } from "./payment-steps.ts";
import { attempt, now, type RoundContext, settledAt, type Step, toStep } from "./round.ts";

export { newRoundState, type RoundContext, type RoundState, type Step } from "./round.ts";

/**
 * The next piece of work, in this order: the reservation and its status (lookup, create, status
 * change, a cancellation included); then, with the status right, our booking reference on it
 * (reference-step.ts: the create cannot carry it); then the money (payments, refunds —
 * after a cancel too: a refund never holds a cancellation back); then the content (listing,
 * dates, guests, guest details). Each piece ends the pass with `done`, which records what Guestly
 * now holds; record_success then says whether more is due, and the next pass does it.
 */
export async function performStep(ctx: RoundContext): Promise<Step> {
  const { booking, state, deps } = ctx;
  // A booking waiting for payment asks for its hold (`reserved`), or for its release.
  const target = guestlyTarget(booking);
  if (target === null) return { kind: "done", reservationId: booking.guestly_reservation_id };
  const known = booking.guestly_reservation_id;
  if (known && syncedTarget(booking.guestly_synced_status) === target) {
    // A reservation recorded before we tracked its content: Guestly holds what we have.
    const synced = booking.guestly_synced_state ?? booking.guestly_desired_state;
    // The reference before anything else: every later match by reference rests on it.
    if (referenceDue(booking)) return await setReference(ctx, known, target);
    // Money first: a change Guestly refuses (taken nights) must not keep the money from it.
    if (pendingPayments(ctx).length) return await recordPayments(ctx, known, target);
    const changes = target === "confirmed"
      ? planContentChanges(synced, booking.guestly_desired_state)
      : [];
    if (synced && changes.length) return await followContent(ctx, known, synced, changes);
    return { kind: "done", reservationId: known, syncedState: synced ?? undefined };
  }
  // A cancel of a booking whose create was ever unknown must also find a phantom reservation.
  const everUnknown = booking.guestly_sync_unknown_at != null;
  const mustLookUp = state.found === null &&
    (known ? target === "canceled" && everUnknown : state.lookupNeeded);

  if (mustLookUp) {
    const settled = settledAt(booking.guestly_sync_unknown_at, deps);
    if (settled > now(deps)) {
      return {
        kind: "deferred",
        until: new Date(settled),
        reason: "an earlier create's outcome is unknown: looking up once it has settled",
      };
    }
    const looked = await lookUp(ctx, target);
    if (looked) return looked;
  }

  if (target === "canceled") return await cancelAll(ctx);

  if (known) {
    if (target === "confirmed" && booking.guestly_synced_status === "pending_payment") {
      const cancelled = await unlessHoldCancelled(ctx, known);
      if (cancelled) return cancelled;
    }
    const step = await setStatus(ctx, known, target);
    if (
      step.kind === "permanent" && step.errorKind === "conflict" && target === "confirmed" &&
      booking.guestly_synced_status === "pending_payment" &&
      await deps.store.forgetLapsedHold(booking.id, ctx.leaseId, known)
    ) {
      // The hold ran out and a channel took its nights: Guestly will not confirm it. It is not
      // the booking's reservation any more; a new create decides — refused as a double booking
      // (then moved dates or a forced retry can create), or made if the nights are free again.
      return await createInsteadOfHold(ctx, booking, "expired", target);
    }
    return step;
  }
  const [only] = state.found ?? [];
  if (!only) return await create(ctx, target);
  // Bound to the reservation an earlier create made: it holds what that create sent.
  const syncedState = contentOf(only, booking.guestly_desired_state);
  if (only.status === target) return { kind: "done", reservationId: only.id, syncedState };
  return withContent(await setStatus(ctx, only.id, target), syncedState);
}

/**
 * Before the payment confirms the hold, is it still live in Guestly? The host may have cancelled
 * it (or Guestly declined it) and the webhook not reached us yet — lost, or on its way: setting
 * it to confirmed would undo the host's cancellation without anyone noticing. A cancelled hold is
 * let go of, as the webhook would (the admin is alerted, tg_bookings__alert_paid_after_hold_…),
 * and the stay gets a reservation of its own in this round (a hold our own release cancelled
 * has lapsed: nobody is alerted). Null: go on and confirm it.
 */
async function unlessHoldCancelled(ctx: RoundContext, holdId: string): Promise<Step | null> {
  const { booking, deps } = ctx;
  const read = await attempt(
    ctx,
    "get_reservation",
    (options) => deps.guestly.getReservation(holdId, options),
  );
  // Gone (404): the confirm answers it as for any reservation.
  if (read.outcome !== "success") {
    return read.httpStatus === 404 ? null : toStep(ctx, "get_reservation", read);
  }
  const status = read.data?.status;
  if (status !== "canceled" && status !== "declined") return null;
  if (booking.guestly_hold_status === "releasing") {
    // Our own release cancelled it (the Checkout ended, then the guest paid): no host's doing,
    // so nothing to tell the admin — the hold lapsed, and the stay gets its own reservation.
    if (!await deps.store.forgetLapsedHold(booking.id, ctx.leaseId, holdId)) {
      return { kind: "lease_lost" };
    }
    return await createInsteadOfHold(ctx, booking, "expired", "confirmed");
  }
  const by = read.data?.canceledBy ?? null;
  if (!await deps.store.forgetCancelledHold(booking.id, ctx.leaseId, holdId, by)) {
    return { kind: "lease_lost" };
  }
  deps.log.warn("guestly.hold.cancelled_in_guestly", {
    booking_id: booking.id,
    reservation_id: holdId,
    guestly_status: status,
  });
  return await createInsteadOfHold(ctx, booking, "cancelled", "confirmed");
}

/**
 * The hold is no longer the booking's reservation (the SQL has let go of it, as forgetLapsedHold
 * or forgetCancelledHold recorded): the round goes on as for a booking Guestly holds nothing of,
 * and a new create decides.
 */
async function createInsteadOfHold(
  ctx: RoundContext,
  booking: RoundContext["booking"],
  holdStatus: "expired" | "cancelled",
  target: GuestlyStatus,
): Promise<Step> {
  ctx.booking = {
    ...booking,
    guestly_reservation_id: null,
    guestly_synced_status: null,
    guestly_synced_state: null,
    guestly_hold_status: holdStatus,
  };
  return await create(ctx, target);
}

function withContent(step: Step, syncedState: ReservationContent | undefined): Step {
  return step.kind === "done" ? { ...step, syncedState } : step;
}

/** The stay a create of the booking as it is now sends (noted before it leaves). */
function createKeyOf(booking: RoundContext["booking"]): CreateKey {
  return {
    listing_id: booking.guestly_listing_id,
    check_in: booking.check_in,
    check_out: booking.check_out,
    guest_email: booking.guest_email,
  };
}

/**
 * What names this booking's reservation in Guestly: our reference, or — before it is set — the
 * stay a create sent with our source and the guest's email. A create whose outcome is unknown
 * sent the stay the booking had then (guestly_create_keys), which the website may have changed
 * since: each such stay is searched, and the current one (what the next create would send).
 */
function lookupKeys(ctx: RoundContext): LookupKey[] {
  const { booking, deps } = ctx;
  const stays = [...(booking.guestly_create_keys ?? []), createKeyOf(booking)];
  const seen = new Set<string>();
  return stays.filter((stay) => {
    const id = JSON.stringify([stay.listing_id, stay.check_in, stay.check_out, stay.guest_email]);
    return !seen.has(id) && seen.add(id);
  }).map((stay) => ({
    bookingId: booking.id,
    fieldId: deps.settings.bookingRefFieldId,
    listingId: stay.listing_id,
    checkIn: stay.check_in,
    checkOut: stay.check_out,
    source: BOOKING_REF_SOURCE,
    email: stay.guest_email,
  }));
}

/** Runs the lookup; returns a step when the round cannot go on from here. */
async function lookUp(ctx: RoundContext, target: GuestlyStatus): Promise<Step | null> {
  const { booking, state, deps } = ctx;
  const keys = lookupKeys(ctx);
  // One search per stay (two keys with the same stay but another email share it).
  const results = new Map<string, unknown>();
  const searched = new Set<string>();
  let overflow: { results: unknown[]; count?: number } | null = null;
  for (const key of keys) {
    const stay = `${key.listingId}|${key.checkIn}|${key.checkOut}`;
    if (searched.has(stay)) continue;
    searched.add(stay);
    const result = await attempt(
      ctx,
      "lookup",
      (options) =>
        deps.guestly.findByStay({
          listingId: key.listingId,
          checkIn: key.checkIn,
          checkOut: key.checkOut,
          source: key.source,
        }, options),
    );
    if (result.outcome !== "success") return toStep(ctx, "lookup", result);
    const found = result.data ?? { results: [] };
    if (found.count !== undefined && found.count > found.results.length) overflow ??= found;
    found.results.forEach((hit, i) => {
      const id = (hit as { _id?: unknown })?._id;
      results.set(typeof id === "string" ? id : `${stay}#${i}`, hit);
    });
  }
  const page = overflow ?? { results: [...results.values()] };
  // A hit on the stay with no reference yet is ours only with our guest: a search that does not
  // return the guest leaves its email to read from the guest's profile.
  const emails = new Map<string, string | null>();
  for (const hit of page.results) {
    const guestId = keys.map((key) => needsGuestEmail(hit, key)).find((id) => id !== null);
    if (!guestId || emails.has(guestId)) continue;
    const guest = await attempt(
      ctx,
      "lookup",
      (options) => deps.guestly.getGuestEmail(guestId, options),
    );
    if (guest.outcome !== "success") return toStep(ctx, "lookup", guest);
    emails.set(guestId, guest.data ?? null);
  }
  const elsewhere = new Set(booking.guestly_reservations_elsewhere ?? []);
  const verdict = judgeLookup(page, keys, emails, elsewhere);
  if (verdict.kind === "unreadable") return { kind: "permanent", error: verdict.error };
  if (verdict.kind !== "duplicates" && verdict.ignored > 0) {
    // The search matched reservations that are not this booking's (another booking's
    // reference, another guest, another stay): never ours.
    deps.log.warn("guestly.lookup.foreign_hits", {
      booking_id: booking.id,
      ignored: verdict.ignored,
    });
  }
  // Cancelling: every live reservation of ours goes, however many there are.
  if (verdict.kind === "duplicates" && target !== "canceled") {
    const error = describeDuplicates(verdict.reservations);
    return {
      kind: "permanent",
      error,
      alertDetails: {
        duplicate_reservations: verdict.reservations.map((r) => ({
          id: r.id,
          confirmation_code: r.confirmationCode ?? null,
          status: r.status ?? null,
          source: r.source ?? null,
        })),
      },
    };
  }
  state.lookupNeeded = false;
  state.found = verdict.kind === "duplicates"
    ? verdict.reservations
    : verdict.kind === "one"
    ? [verdict.reservation]
    : [];
  return null;
}

/** `target`: `confirmed` for a paid booking, `reserved` for a hold while the guest pays. */
async function create(ctx: RoundContext, target: GuestlyStatus): Promise<Step> {
  const { booking, state, deps } = ctx;
  // Past the attempt limit a round only looks up (a phantom from an unknown create may exist);
  // it never sends another create.
  const total = state.attempts || (booking.guestly_sync_attempts ?? 0);
  if (total - (booking.guestly_sync_episode_base ?? 0) >= deps.settings.maxAttempts) {
    return {
      kind: "permanent",
      error: "attempts used up: the last create's outcome was unknown and the lookup found no " +
        "reservation in Guestly; retry by hand once Guestly answers again",
    };
  }
  const mapped = mapBookingToGuestlyReservation(booking);
  // What Guestly would refuse is caught here, naming the field, without spending a request.
  const checked = GuestlyReservationCreate.safeParse(mapped);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return {
      kind: "permanent",
      error: `Guestly would refuse the reservation: ${issue.path.join(".")}: ${issue.message}`,
    };
  }
  const payload = checked.data;
  // Noted before it leaves: if its answer is lost (or we crash), the lookup searches this stay
  // even after the booking's dates, listing or email changed.
  if (!await deps.store.noteCreateKey(booking.id, ctx.leaseId, createKeyOf(booking))) {
    return { kind: "lease_lost" };
  }
  const created = await attempt(
    ctx,
    "create",
    (options) => deps.guestly.createReservation(payload, options),
    target,
  );
  if (created.outcome === "success") {
    return {
      kind: "done",
      reservationId: created.data!.id,
      syncedState: booking.guestly_desired_state,
    };
  }
  if (created.outcome === "conflict" && booking.guestly_sync_unknown_at != null) {
    // What holds the nights may be our own earlier create, whose outcome was unknown and which
    // committed after the lookup (a very slow backend): look again before calling it a double
    // booking. Found → bound; nothing of ours → the conflict stands.
    state.found = null;
    const looked = await lookUp(ctx, target);
    if (looked) return looked;
    const found: GuestlyReservation[] | null = ctx.state.found; // set by lookUp
    const [only] = found ?? [];
    if (only) {
      deps.log.warn("guestly.sync.conflict_was_ours", {
        booking_id: booking.id,
        reservation_id: only.id,
      });
      const syncedState = contentOf(only, booking.guestly_desired_state);
      return only.status === target
        ? { kind: "done", reservationId: only.id, syncedState }
        : withContent(await setStatus(ctx, only.id, target), syncedState);
    }
  }
  return toStep(ctx, "create", created);
}

/** Cancels the known reservation and every live one the lookup found to be this booking's. */
async function cancelAll(ctx: RoundContext): Promise<Step> {
  const { booking, state } = ctx;
  const known = booking.guestly_reservation_id;
  const ids = [...new Set([known, ...(state.found ?? []).map((r) => r.id)])]
    .filter((id): id is string => id !== null && !state.settled.has(id));
  for (const id of ids) {
    const step = await setStatus(ctx, id, "canceled");
    if (step.kind !== "done") return step;
    state.settled.add(id);
  }
  // Never created, and nothing in Guestly carries our reference: nothing to cancel there.
  return { kind: "done", reservationId: known ?? state.found?.[0]?.id ?? null };
}

async function setStatus(
  ctx: RoundContext,
  reservationId: string,
  target: GuestlyStatus,
): Promise<Step> {
  const { booking, deps } = ctx;
  const change = statusChange(booking, target);
  const updated = await attempt(
    ctx,
    "update_status",
    (options) => deps.guestly.updateReservationStatus(reservationId, change, options),
    target,
  );
  if (updated.outcome === "success") return { kind: "done", reservationId };
  return toStep(ctx, "update_status", updated);
}
