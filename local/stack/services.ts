// Background processes of the local stack (pg_net worker, functions gateway, Guestly sandbox,
// mail catcher): started detached with a pid file and a log file each, so `stack up` returns and
// `stack down` finds them again.
import type { StackConfig } from "./config.ts";
import { exists, portAnswers, run, waitFor } from "./shell.ts";

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
  await Deno.mkdir(`${config.stateDir}/run`, { recursive: true });
  await Deno.mkdir(`${config.stateDir}/logs`, { recursive: true });
  const envFile = `${config.stateDir}/run/${spec.name}.env.json`;
  await Deno.writeTextFile(envFile, JSON.stringify(spec.env), { mode: 0o600 });
  // setsid detaches the service from this terminal so Ctrl-C of a caller does not kill it.
  const script = `exec setsid "${Deno.execPath()}" run -A --config "${config.root}/deno.json" ` +
    `"${config.root}/${spec.script}" >> "${logFile(config, spec.name)}" 2>&1 < /dev/null & echo $!`;
  const result = await run("bash", ["-c", script], {
    cwd: config.root,
    env: { ...baseEnv(), ...spec.env, LOCAL_SERVICE_ENV_FILE: envFile },
  });
  await Deno.writeTextFile(pidFile(config, spec.name), result.stdout.trim());
  if (spec.readyUrl) {
    await waitFor(`${spec.name} at ${spec.readyUrl}`, () => portAnswers(spec.readyUrl!), 60_000)
      .catch(async (error) => {
        const tail = await Deno.readTextFile(logFile(config, spec.name)).catch(() => "");
        throw new Error(`${error.message}\n--- ${spec.name} log ---\n${tail.slice(-3000)}`);
      });
  }
  return true;
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

function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "LANG", "TZ", "NO_COLOR"];
  const env: Record<string, string> = {};
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
