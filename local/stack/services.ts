// Background processes of the local stack (pg_net worker, functions gateway, Guestly sandbox,
// mail catcher): started detached with a pid file and a log file each, so `stack up` returns and
// `stack down` finds them again.
import type { StackConfig } from "./config.ts";
import { exists, portAnswers, run, waitFor } from "./shell.ts";
import { networkEnv } from "../network-env.ts";
import { portedService, portInUse } from "./ports.ts";

export interface ServiceSpec {
  name: string;
  script: string;
  env: Record<string, string>;
  /** A URL that answers once the service is ready; none = ready when started. */
  readyUrl?: string;
}

function pidFile(config: StackConfig, name: string) {
  return `${config.stateDir}/run/${name}.pid`;
}

export function logFile(config: StackConfig, name: string) {
  return `${config.stateDir}/logs/${name}.log`;
}

export async function servicePid(config: StackConfig, name: string): Promise<number | null> {
  const text = await Deno.readTextFile(pidFile(config, name)).catch(() => "");
  const pid = Number(text.trim());
  if (!(pid > 0)) return null;
  return (await exists(`/proc/${pid}`)) ? pid : null;
}

export async function startService(config: StackConfig, spec: ServiceSpec) {
  if (await servicePid(config, spec.name)) return false;
  const ported = portedService(spec.name);
  await Deno.mkdir(`${config.stateDir}/run`, { recursive: true });
  await Deno.mkdir(`${config.stateDir}/logs`, { recursive: true });
  const envFile = `${config.stateDir}/run/${spec.name}.env.json`;
  await Deno.writeTextFile(envFile, JSON.stringify(spec.env), { mode: 0o600 });
  // Our ports (543xx, as Supabase's) lie in Linux's ephemeral range, so a busy machine's outgoing
  // connection can hold one for a moment: a service that finds its port taken is started again.
  for (let tries = 1;; tries++) {
    const logStart = (await Deno.stat(logFile(config, spec.name)).catch(() => null))?.size ?? 0;
    const pid = await spawnDetached(config, spec, envFile);
    const problem = await waitUntilReady(spec, pid);
    if (!problem) return true;
    const log = (await Deno.readTextFile(logFile(config, spec.name)).catch(() => "")).slice(
      logStart,
    );
    await stopService(config, spec.name);
    if (/AddrInUse|address already in use/i.test(log)) {
      if (tries >= 5 && ported) throw portInUse(config, ported);
      if (tries < 5) {
        await new Promise((resolve) => setTimeout(resolve, 1000 * tries));
        continue;
      }
    }
    throw new Error(`${problem}\n--- ${spec.name} log ---\n${log.slice(-3000)}`);
  }
}

async function spawnDetached(config: StackConfig, spec: ServiceSpec, envFile: string) {
  // setsid detaches the service from this terminal so Ctrl-C of a caller does not kill it.
  const script = `exec setsid "${Deno.execPath()}" run -A --config "${config.root}/deno.json" ` +
    `"${config.root}/${spec.script}" >> "${logFile(config, spec.name)}" 2>&1 < /dev/null & echo $!`;
  const result = await run("bash", ["-c", script], {
    cwd: config.root,
    env: { ...baseEnv(), ...spec.env, LOCAL_SERVICE_ENV_FILE: envFile },
  });
  const pid = result.stdout.trim();
  await Deno.writeTextFile(pidFile(config, spec.name), pid);
  return Number(pid);
}

/** Null when ready; otherwise what went wrong (the process died, or it never answered). */
async function waitUntilReady(spec: ServiceSpec, pid: number): Promise<string | null> {
  if (!spec.readyUrl) return null;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await portAnswers(spec.readyUrl)) return null;
    if (!(await exists(`/proc/${pid}`))) return `${spec.name} exited during start`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return `timed out after 60000 ms waiting for ${spec.name} at ${spec.readyUrl}`;
}

export async function stopService(config: StackConfig, name: string) {
  const pid = await servicePid(config, name);
  if (pid) {
    try {
      Deno.kill(-pid, "SIGTERM");
    } catch {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* already gone */ }
    }
    await waitFor(`${name} to stop`, async () => !(await exists(`/proc/${pid}`)), 10_000)
      .catch(() => {
        try {
          Deno.kill(-pid, "SIGKILL");
        } catch { /* already gone */ }
      });
  }
  await Deno.remove(pidFile(config, name)).catch(() => {});
}

/** What a service keeps of this shell's environment: the basics and the network settings. */
function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "LANG", "TZ", "NO_COLOR"];
  const env: Record<string, string> = networkEnv();
  for (const key of keep) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Reads the JSON env a service was started with (set by startService). */
export function serviceEnv(): Record<string, string> {
  const file = Deno.env.get("LOCAL_SERVICE_ENV_FILE");
  return file ? JSON.parse(Deno.readTextFileSync(file)) : {};
}
