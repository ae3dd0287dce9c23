// Stays for the demo a person would book: free nights in the coming weeks and months, found in
// the sandbox's availability calendar (its live reservations per listing), never the far-future
// slots tests, benchmarks and chaos use (local/stays.ts). The first stay starts two weeks out;
// every stay is checked against the calendar and against the stays this run already planned.

import type { Stay } from "../local/stays.ts";

const DAY_MS = 86_400_000;
/** How far ahead the demo looks for free nights (a real calendar opens about a year ahead). */
const HORIZON_DAYS = 365;

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function overlaps(a: Stay, b: Stay): boolean {
  return a.checkIn < b.checkOut && b.checkIn < a.checkOut;
}

/**
 * The earliest stay of `nights` nights starting on or after `from` whose nights — and `spare`
 * nights after it (for a channel booking the demo places next to it) — touch no `taken` stay.
 * Null when nothing is free within the horizon.
 */
export function firstFreeStay(
  taken: readonly Stay[],
  from: string,
  nights: number,
  spare = 0,
): Stay | null {
  const start = Date.parse(`${from}T00:00:00Z`);
  for (let offset = 0; offset <= HORIZON_DAYS; offset++) {
    const checkIn = start + offset * DAY_MS;
    const needed = { checkIn: day(checkIn), checkOut: day(checkIn + (nights + spare) * DAY_MS) };
    if (!taken.some((t) => overlaps(t, needed))) {
      return { checkIn: needed.checkIn, checkOut: day(checkIn + nights * DAY_MS) };
    }
  }
  return null;
}

/** Plans the demo's stays listing by listing; `taken` starts from the sandbox's calendar. */
export class DemoStayPlanner {
  readonly #taken = new Map<string, Stay[]>();
  readonly #from: string;

  constructor(calendar: Record<string, readonly Stay[]>, today: Date) {
    for (const [listing, stays] of Object.entries(calendar)) this.#taken.set(listing, [...stays]);
    this.#from = day(today.getTime() + 14 * DAY_MS);
  }

  /** A free stay on `listing`, kept from later plans (with its `spare` nights after it). */
  next(listing: string, nights: number, spare = 0): Stay {
    const taken = this.#taken.get(listing) ?? [];
    const stay = firstFreeStay(taken, this.#from, nights, spare);
    if (!stay) {
      throw new Error(`no ${nights} free nights on listing ${listing} within ${HORIZON_DAYS} days`);
    }
    taken.push({
      checkIn: stay.checkIn,
      checkOut: day(Date.parse(stay.checkOut) + spare * DAY_MS),
    });
    this.#taken.set(listing, taken);
    return stay;
  }
}

/** The sandbox's calendar: each listing's live (night-holding) reservations. */
export async function sandboxCalendar(sandboxUrl: string): Promise<Record<string, Stay[]>> {
  const response = await fetch(`${sandboxUrl}/__sandbox/calendars`);
  if (!response.ok) throw new Error(`the sandbox's calendar answered ${response.status}`);
  const body = await response.json() as Record<
    string,
    Array<{ checkInDateLocalized: string; checkOutDateLocalized: string }>
  >;
  return Object.fromEntries(
    Object.entries(body).map(([listing, live]) => [
      listing,
      live.map((r) => ({ checkIn: r.checkInDateLocalized, checkOut: r.checkOutDateLocalized })),
    ]),
  );
}
