// When a Guestly request may leave: a send slot of the account-wide rate limiter (Postgres,
// shared by every function), taken at the request's priority — paid work first, holds only from
// slots free now, background work from its own share — and the pre-send check (lease, booking
// status) run just before the slot. The client (client.ts) calls it before every API request.

export type RequestPriority = "live" | "hold" | "background";

/** The account-wide rate limiter: when may the next request go out (null = not within maxWaitMs). */
export interface RateLimiter {
  reserve(maxWaitMs: number, priority?: RequestPriority): Promise<Date | null>;
}

/** What waiting for a slot needs of the client's dependencies. */
export interface SlotDeps {
  limiter: RateLimiter;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Longest wait for a send slot; the invocation's deadline may shorten it. */
  maxSlotWaitMs: number;
}

/**
 * Waits for a send slot of the account-wide limiter, running beforeSend just before it.
 * Returns why not to send, or null when the request may leave now. A request must leave close
 * to its slot: one that leaves late (a slow database under a burst) bunches up with the next
 * second's requests, which Guestly answers with 429, so a late one takes a fresh slot.
 */
export async function awaitSendTime(
  deps: SlotDeps,
  waitBudget: () => number,
  beforeSend?: () => Promise<string | null>,
  priority: RequestPriority = "live",
): Promise<{ outcome: "deferred" | "aborted"; error: string; deferUntil?: Date } | null> {
  const sleepUntil = async (at: number) => {
    const wait = at - deps.now();
    if (wait > 0) await deps.sleep(wait);
  };
  let checkedAt = -Infinity;
  const waitingSince = deps.now();
  for (let tries = 1;; tries++) {
    // A hold takes only a slot that is free (almost) now: slots are handed out in time order,
    // so one reserved ahead would make the next paid booking's request wait behind it. While
    // none is free it asks again a little later, for a bounded time. (Background work has its
    // own retry loop around the client: reconcile/run.ts.)
    const slotWait = priority === "hold"
      ? Math.min(deps.maxSlotWaitMs, HOLD_SLOT_WAIT_MS)
      : deps.maxSlotWaitMs;
    const maxWait = Math.min(slotWait, waitBudget());
    let slot = maxWait < 0 ? null : await deps.limiter.reserve(Math.floor(maxWait), priority);
    let holdCheckedAt = deps.now();
    while (
      !slot && priority === "hold" &&
      deps.now() - waitingSince + HOLD_RETRY_MS <= HOLD_MAX_WAIT_MS &&
      waitBudget() > HOLD_RETRY_MS
    ) {
      await deps.sleep(HOLD_RETRY_MS);
      // The guest may pay (or leave) while the hold waits: its booking's invocation found the
      // lease taken, so this one stops at once and the paid work goes ahead — not after the
      // hold's whole wait and a deferral.
      if (beforeSend && deps.now() - holdCheckedAt >= HOLD_RECHECK_MS) {
        const stop = await beforeSend();
        if (stop) return { outcome: "aborted", error: stop };
        holdCheckedAt = deps.now();
      }
      const again = Math.min(HOLD_SLOT_WAIT_MS, waitBudget());
      slot = again < 0 ? null : await deps.limiter.reserve(Math.floor(again), priority);
    }
    if (!slot) {
      return {
        outcome: "deferred",
        error: maxWait < deps.maxSlotWaitMs
          ? "no Guestly send slot within the invocation's time budget: deferred"
          : "Guestly rate limit reached: deferred",
        deferUntil: new Date(deps.now() + 60_000),
      };
    }
    const slotAt = slot.getTime();
    if (beforeSend && slotAt - checkedAt > RECHECK_AFTER_MS) {
      await sleepUntil(slotAt - PRE_SEND_CHECK_MS);
      const stop = await beforeSend();
      if (stop) return { outcome: "aborted", error: stop };
      checkedAt = deps.now();
    }
    await sleepUntil(slotAt);
    // Judged after the sleep, not before it: on a busy runtime a timer fires late, and a request
    // that leaves then is as late as one whose check ran long.
    if (deps.now() <= slotAt + LATE_TOLERANCE_MS || tries === MAX_SLOT_TRIES) return null;
  }
}

/** How long before its send slot a request's beforeSend check runs (a database round trip). */
const PRE_SEND_CHECK_MS = 150;
/**
 * Later than this after its slot, a request takes a fresh one: the limiter counts each window
 * 300 ms longer than Guestly's, and the way to Guestly needs the rest of that spare.
 */
const LATE_TOLERANCE_MS = 50;
/** A check this recent still holds when a late request takes a fresh slot. */
const RECHECK_AFTER_MS = 1000;
/** A hold takes a send slot only if one is free within this wait… */
export const HOLD_SLOT_WAIT_MS = 100;
/** …asks again after this pause while none is… */
const HOLD_RETRY_MS = 250;
/** …and defers after this long in all (the sweep brings it back). */
const HOLD_MAX_WAIT_MS = 20_000;
/** How often a hold waiting for a slot checks that its booking still waits for payment. */
const HOLD_RECHECK_MS = 1_000;
const MAX_SLOT_TRIES = 3;
