// A port of the stack that another process holds ends `stack up` with one line naming the port,
// the variable that moves it, and how to see who holds it — never a stack trace.
import type { StackConfig } from "./config.ts";

export class PortInUseError extends Error {
  constructor(readonly port: number, readonly variable: string, readonly service: string) {
    super(
      `port ${port} (${service}, ${variable}) is held by another process: stop it ` +
        `(\`ss -ltnp 'sport = :${port}'\` names it) or set ${variable} to a free port ` +
        "(one below 32768 is never taken by an outgoing connection)",
    );
  }
}

const PORTS = {
  postgres: ["dbPort", "SUPABASE_DB_PORT"],
  gateway: ["apiPort", "SUPABASE_API_PORT"],
  "mail-catcher": ["mailPort", "MAIL_CATCHER_PORT"],
  "guestly-sandbox": ["sandboxPort", "GUESTLY_SANDBOX_PORT"],
} as const;

export type PortedService = keyof typeof PORTS;

export function portedService(name: string): PortedService | null {
  return Object.hasOwn(PORTS, name) ? name as PortedService : null;
}

export function portInUse(config: StackConfig, service: PortedService): PortInUseError {
  const [key, variable] = PORTS[service];
  return new PortInUseError(config[key], variable, service);
}

/** Throws when something already listens on the service's port (ours is not running). */
export async function ensurePortFree(config: StackConfig, service: PortedService): Promise<void> {
  const port = config[PORTS[service][0]];
  const listener = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null);
  if (!listener) return;
  listener.close();
  throw portInUse(config, service);
}
