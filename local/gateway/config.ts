// What the local gateway reads at start: which functions exist, their verify_jwt flags from
// supabase/config.toml, the functions' .env file, and which of its own environment variables a
// function process inherits. Local-only: never deployed.
import { parse as parseToml } from "smol-toml";
import { NETWORK_ENV } from "../network-env.ts";

/**
 * Environment variables function processes inherit from the gateway (everything else is set):
 * what any process needs to run, plus the machine's network settings (`NETWORK_ENV`: CA files,
 * proxies, the npm registry), so a function reaches the registry as the user's shell does.
 */
export const PASSTHROUGH_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "TMPDIR",
  "TMP",
  "TEMP",
  "LANG",
  "LC_ALL",
  "TZ",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "NO_COLOR",
  ...NETWORK_ENV,
];

/** Parses KEY=VALUE lines: `#` comments, blank lines, optional `export `, quoted values. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2];
    if (value.startsWith('"') && value.lastIndexOf('"') > 0) {
      value = value.slice(1, value.lastIndexOf('"'))
        .replace(/\\n/g, "\n").replace(/\\r/g, "\r").replace(/\\t/g, "\t")
        .replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    } else if (value.startsWith("'") && value.lastIndexOf("'") > 0) {
      value = value.slice(1, value.lastIndexOf("'"));
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    out[m[1]] = value;
  }
  return out;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export async function discoverFunctions(functionsDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (!entry.isDirectory || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
    if (await exists(`${functionsDir}/${entry.name}/index.ts`)) names.push(entry.name);
  }
  return names.sort();
}

export async function readVerifyJwt(configTomlPath: string): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  let text: string;
  try {
    text = await Deno.readTextFile(configTomlPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  const config = parseToml(text) as { functions?: Record<string, { verify_jwt?: unknown }> };
  for (const [name, fn] of Object.entries(config.functions ?? {})) {
    if (typeof fn?.verify_jwt === "boolean") out.set(name, fn.verify_jwt);
  }
  return out;
}
