// Nights of their own for every test, benchmark, chaos and demo booking. The Guestly sandbox
// refuses a stay that overlaps a live reservation of the same listing, so bookings that are not
// about a conflict must never share nights. Each process starts at a random slot far in the
// future (years 2100–9000: no test writes dates there by hand) and counts up; a slot is 10 days,
// so stays of up to 9 nights never touch. Two processes meet only if their random starts fall
// within one run's length of each other (about 1 in 10,000 for runs of 25 stays).
const DAY_MS = 86_400_000;
const SLOT_DAYS = 10;
const ORIGIN_MS = Date.UTC(2100, 0, 1);
const SLOTS = Math.floor((Date.UTC(9000, 0, 1) - ORIGIN_MS) / DAY_MS / SLOT_DAYS);

let next = Math.floor(Math.random() * (SLOTS - 100_000));

export interface Stay {
  checkIn: string;
  checkOut: string;
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A stay of `nights` (1..9) that no other stay of this process shares. */
export function nextStay(nights = 3): Stay {
  if (!Number.isInteger(nights) || nights < 1 || nights >= SLOT_DAYS) {
    throw new Error(`nights must be 1..${SLOT_DAYS - 1}`);
  }
  const start = ORIGIN_MS + (next++) * SLOT_DAYS * DAY_MS;
  return { checkIn: day(start), checkOut: day(start + nights * DAY_MS) };
}

/**
 * `count` consecutive slots for a bulk SQL insert: row i (0-based) may use
 * `date '<first>' + i * <slotDays>` as check-in and stay up to slotDays - 1 nights.
 */
export function reserveSlots(count: number): { first: string; slotDays: number } {
  const start = ORIGIN_MS + next * SLOT_DAYS * DAY_MS;
  next += count;
  return { first: day(start), slotDays: SLOT_DAYS };
}
