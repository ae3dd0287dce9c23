// docs/configuration.md must list every variable the code and .env.example read, and nothing
// else: a new Deno.env.get without a docs line, or a stale docs line, fails here.
import assert from "node:assert/strict";

const root = new URL("../../../", import.meta.url).pathname;
const VAR = "[A-Z][A-Z0-9]*_[A-Z0-9_]+";
const READ_PATTERNS = [
  new RegExp(`Deno\\.env\\.get\\("(${VAR})"\\)`, "g"),
  new RegExp(`process\\.env\\.(${VAR})`, "g"),
  new RegExp(`\\benv\\.(${VAR})\\b`, "g"),
  new RegExp(`portFrom\\("(${VAR})"`, "g"),
];
/** zod schemas of environment variables: `  NAME: z.…` lines in config modules. */
const SCHEMA_KEY = new RegExp(`^\\s+(${VAR}): `, "gm");

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (
      entry.isDirectory && !["node_modules", ".local", "tests", "fixtures"].includes(entry.name)
    ) {
      yield* sourceFiles(path);
    } else if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield path;
    }
  }
}

async function variablesReadInCode(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const dir of ["supabase/functions", "scripts", "local"]) {
    for await (const file of sourceFiles(`${root}${dir}`)) {
      const text = await Deno.readTextFile(file);
      const patterns = file.endsWith("config.ts") && file.includes("_shared")
        ? [...READ_PATTERNS, SCHEMA_KEY]
        : READ_PATTERNS;
      for (const pattern of patterns) {
        for (const match of text.matchAll(pattern)) found.set(match[1], file.slice(root.length));
      }
    }
  }
  return found;
}

async function variablesInEnvExample(): Promise<Set<string>> {
  const text = await Deno.readTextFile(`${root}.env.example`);
  return new Set([...text.matchAll(new RegExp(`^(${VAR})=`, "gm"))].map((m) => m[1]));
}

async function variablesInDocs(): Promise<Set<string>> {
  const text = await Deno.readTextFile(`${root}docs/configuration.md`);
  return new Set([...text.matchAll(new RegExp(`^\\| \`(${VAR})\` \\|`, "gm"))].map((m) => m[1]));
}

Deno.test("every variable read in code is documented in docs/configuration.md", async () => {
  const docs = await variablesInDocs();
  const missing = [...(await variablesReadInCode())].filter(([name]) => !docs.has(name))
    .map(([name, file]) => `${name} (read in ${file})`);
  assert.deepEqual(missing, []);
});

Deno.test("every variable in .env.example is documented", async () => {
  const docs = await variablesInDocs();
  assert.deepEqual([...(await variablesInEnvExample())].filter((name) => !docs.has(name)), []);
});

Deno.test("the docs name no variable that nothing reads", async () => {
  const read = await variablesReadInCode();
  const stale = [...(await variablesInDocs())].filter((name) => !read.has(name));
  assert.deepEqual(stale, []);
});

Deno.test("the scanner finds variables (guards against a pattern that matches nothing)", async () => {
  const read = await variablesReadInCode();
  for (const name of ["GUESTLY_SYNC_ENABLED", "STRIPE_WEBHOOK_SECRET", "ADMIN_ALERT_EMAILS"]) {
    assert.ok(read.has(name), `${name} should be found in code`);
  }
  assert.ok((await variablesInDocs()).size > 20);
});
