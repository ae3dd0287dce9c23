// `stack up` returns only once every function behind the gateway answers. A function that cannot
// start (an import that cannot load, a crash at start) stops the caller with its name and the
// first error it wrote, instead of leaving a gateway that answers 503 while it restarts it in a
// loop. The demo asks the same before it sends a payment. Local-only: never deployed.
import type { GatewayFunctionInfo } from "../gateway/server.ts";

export class FunctionStartError extends Error {}

/** After this many failed starts a function is not coming up by itself. */
const FAILED_STARTS = 2;

/**
 * Which functions are not up, and whether that is final: a function counts as failed once it has
 * been restarted `FAILED_STARTS` times without coming up (or once `final`, at the deadline).
 */
export function startFailures(
  status: GatewayFunctionInfo[],
  final: boolean,
): { waiting: string[]; failed: GatewayFunctionInfo[] } {
  const down = status.filter((f) => !f.up);
  const failed = down.filter((f) => final || f.restarts >= FAILED_STARTS);
  return { waiting: down.filter((f) => !failed.includes(f)).map((f) => f.name), failed };
}

/** The message for functions that cannot start: each name, its first error, where its log is. */
export function describeStartFailures(failed: GatewayFunctionInfo[], logDir: string): string {
  return failed.map((f) =>
    `function ${f.name} cannot start: ${f.last_error ?? "it never listened"}\n` +
    `  its log: ${logDir}/${f.name}.log`
  ).join("\n");
}

export interface WaitOptions {
  /** Base URL of the gateway (`…:54321`). */
  apiUrl: string;
  /** Where the gateway writes `<function>.log`. */
  logDir: string;
  timeoutMs?: number;
  intervalMs?: number;
}

/** Resolves when every function is up; throws FunctionStartError naming those that are not. */
export async function waitForFunctions(options: WaitOptions): Promise<GatewayFunctionInfo[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const response = await fetch(`${options.apiUrl}/__gateway/status`);
    if (!response.ok) {
      throw new FunctionStartError(`the functions gateway answered ${response.status}`);
    }
    const status = await response.json() as GatewayFunctionInfo[];
    const { waiting, failed } = startFailures(status, Date.now() >= deadline);
    if (failed.length > 0) {
      throw new FunctionStartError(describeStartFailures(failed, options.logDir));
    }
    if (waiting.length === 0) return status;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
