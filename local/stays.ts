// Nights of their own for every test, benchmark, chaos and demo booking. The Guestly sandbox
// refuses a stay that overlaps a live reservation of the same listing, so bookings that are not
// about a conflict must never share nights. Dates lie far in the future (years 2100–9000: no test
// writes dates there by hand), cut into slots of 10 days, so stays of up to 9 nights never touch.
//
// Every process of a checkout draws from one counter (.local/stay-slots, under a file lock): each
// takes a block of slots and counts up inside it. Random starts per process were not enough:
// `deno test` gives every test file its own module state, and in one CI run a 300-booking burst
// landed on another test file's nights (15 conflicts).
const DAY_MS = 86_400_000;
const SLOT_DAYS = 10;
const ORIGIN_MS = Date.UTC(2100, 0, 1);
const SLOTS = Math.floor((Date.UTC(9000, 0, 1) - ORIGIN_MS) / DAY_MS / SLOT_DAYS);
/** Slots a process takes at once (about 550 years of nights; ~250 processes before wrapping). */
const BLOCK = 1000;
const COUNTER = new URL("../.local/stay-slots", import.meta.url);

let next = 0;
let end = 0;

export interface Stay {
  checkIn: string;
  checkOut: string;
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** `count` consecutive slots no other process of this checkout has; returns the first. */
function takeSlots(count: number): number {
  if (next + count <= end) {
    next += count;
    return next - count;
  }
  const size = Math.max(BLOCK, count);
  const first = claimFromCounter(size);
  next = first + count;
  end = first + size;
  return first;
}

function claimFromCounter(size: number): number {
  // More slots than the calendar has (the sweep benchmark's million rows, bulk-inserted and never
  // sent to Guestly): they run past year 9000 whatever the start, so the counter is left alone.
  if (size >= SLOTS) return 0;
  const random = () => Math.floor(Math.random() * (SLOTS - size));
  try {
    Deno.mkdirSync(new URL(".", COUNTER), { recursive: true });
    const file = Deno.openSync(COUNTER, { read: true, write: true, create: true });
    try {
      file.lockSync(true);
      const buffer = new Uint8Array(32);
      const read = file.readSync(buffer) ?? 0;
      const stored = Number.parseInt(new TextDecoder().decode(buffer.subarray(0, read)), 10);
      // First use: a random place, so two checkouts sharing one sandbox rarely meet either.
      let first = Number.isInteger(stored) && stored >= 0 ? stored : random();
      if (first + size > SLOTS) first = 0;
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      file.writeSync(new TextEncoder().encode(String(first + size)));
      return first;
    } finally {
      file.close();
    }
  } catch {
    // No writable checkout (e.g. a read-only copy): fall back to a random block.
    return random();
  }
}

/** A stay of `nights` (1..9) that no other stay of this checkout's processes shares. */
export function nextStay(nights = 3): Stay {
  if (!Number.isInteger(nights) || nights < 1 || nights >= SLOT_DAYS) {
    throw new Error(`nights must be 1..${SLOT_DAYS - 1}`);
  }
  const start = ORIGIN_MS + takeSlots(1) * SLOT_DAYS * DAY_MS;
  return { checkIn: day(start), checkOut: day(start + nights * DAY_MS) };
}

/**
 * `count` consecutive slots for a bulk SQL insert: row i (0-based) may use
 * `date '<first>' + i * <slotDays>` as check-in and stay up to slotDays - 1 nights.
 */
export function reserveSlots(count: number): { first: string; slotDays: number } {
  const start = ORIGIN_MS + takeSlots(count) * SLOT_DAYS * DAY_MS;
  return { first: day(start), slotDays: SLOT_DAYS };
}
