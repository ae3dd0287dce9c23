// Shared state of one Guestly sandbox instance, and the types every concern module sees.
// Each concern (auth, reservations, faults, admin) keeps its data here so that
// `POST /__sandbox/reset` can clear everything in one place.

import type { CreateReservationInput, GuestInput } from "./validate.ts";
import { type AuthState, newAuthState } from "./auth.ts";
import { defaultFaults, type Faults } from "./faults.ts";

export interface RateLimits {
  perSecond: number;
  perMinute: number;
  perHour: number;
}

export const DEFAULT_LIMITS: RateLimits = { perSecond: 15, perMinute: 120, perHour: 5000 };
export const DEFAULT_CLIENTS: Record<string, string> = {
  "sandbox-client-id": "sandbox-client-secret",
};
export const DEFAULT_LISTINGS: readonly string[] = [
  "64f1a2b3c4d5e6f7a8b9c0d1",
  "64f1a2b3c4d5e6f7a8b9c0d2",
  "64f1a2b3c4d5e6f7a8b9c0d3",
  "64f1a2b3c4d5e6f7a8b9c0d4",
];

/** A recorded refund of one payment (payments.ts). Amounts in major units. */
export interface Refund {
  _id: string;
  amount: number;
  note: string | null;
  status: "SUCCEEDED";
  createdAt: string;
}

/** An external payment recorded on a reservation (payments.ts). Amounts in major units. */
export interface Payment {
  _id: string;
  amount: number;
  currency: string;
  paymentMethod: { method: string; id?: string };
  /** SUCCEEDED counts towards totalPaid; PENDING (scheduled in the future) does not. */
  status: "SUCCEEDED" | "PENDING";
  note: string | null;
  paidAt: string | null;
  shouldBePaidAt: string | null;
  refunds: Refund[];
  refundedAmount: number;
  createdAt: string;
}

/** The reservation's money as the sandbox shows it; totals are kept current by payments.ts. */
export interface ReservationMoney {
  fareAccommodation: number;
  currency: string;
  totalPaid: number;
  balanceDue: number;
  payments: Payment[];
  [key: string]: unknown;
}

/** A guest profile (guests.ts): one per created reservation, changed by PUT /guests-crud/{id}. */
export interface GuestRecord {
  _id: string;
  firstName: string;
  lastName: string;
  fullName: string;
  email: string;
  /** Main phone; also phones[0]. */
  phone: string | null;
  phones: string[];
  /** Guesty's guest tags (vip, staff, …); the PUT must send them (its definition requires them). */
  tags: string[];
  /** The reservation this guest was created with (the request log names it). */
  reservationId: string;
  createdAt: string;
  lastUpdatedAt: string;
}

export interface Reservation extends CreateReservationInput {
  _id: string;
  reservationId: string;
  confirmationCode: string;
  guestId: string;
  guest: GuestInput;
  money: ReservationMoney;
  /** Guest breakdown sent with PUT …/guests (adults, children, …), as sent. */
  numberOfGuests?: Record<string, number>;
  canceledBy?: string;
  cancellationReason?: string;
  /** When a `reserved` hold stops blocking the dates (null = never); see calendar.ts. */
  reservedUntilAt?: string | null;
  createdAt: string;
  lastUpdatedAt: string;
}

export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  query: string;
  /** 0 = no response (connection dropped, or not answered yet while `pending`). */
  status: number;
  fault: string | null;
  durationMs: number;
  clientId: string | null;
  /** Per TCP connection, counting from 1 for the sandbox's lifetime. */
  connectionId: number;
  /** The connection had served an earlier request (keep-alive reuse). */
  reusedConnection: boolean;
  /** Mutations only (creates, changes, payments): whether the operation took effect. null otherwise. */
  committed: boolean | null;
  /** Reservation created or changed by this request, once committed. */
  reservationId: string | null;
  /** true while the request is still being handled (entries are logged when they arrive). */
  pending: boolean;
}

export interface SandboxState {
  readonly quiet: boolean;
  readonly tokensPerDay: number;
  readonly tokenTtlSeconds: number;
  readonly clients: Record<string, string>;
  limits: RateLimits;
  listings: Set<string>;
  reservations: Map<string, Reservation>;
  guests: Map<string, GuestRecord>;
  requestLog: RequestLogEntry[];
  faults: Faults;
  auth: AuthState;
  /** Random source for every rate-based fault: [0, 1). Injectable for deterministic tests. */
  random: () => number;
  /** Resolves after ms; never resolves once the sandbox is closed (the handler is abandoned). */
  sleep(ms: number): Promise<void>;
}

export const MAX_LOG = 10_000;

/** Clears everything but configuration (limits, listings) and the random source. */
export function resetState(state: SandboxState): void {
  state.reservations = new Map();
  state.guests = new Map();
  state.requestLog = [];
  state.faults = defaultFaults();
  state.auth = newAuthState();
}

/** A random 24-hex id, the shape of Guesty's (MongoDB ObjectId) ids. */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** mulberry32: a small seedable PRNG, so a whole fault plan can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
