// Each function deploys with its own deno.json (what `supabase functions deploy` bundles), and
// the local gateway runs it with that same file. So each deno.json must map exactly the packages
// its function's module graph imports (no more: a stray mapping would hide a missing one in
// another function's file), at the versions the repository's deno.json uses for tools and tests.
import assert from "node:assert/strict";

const root = new URL("../../../", import.meta.url).pathname;
const functionsDir = `${root}supabase/functions`;
const deno = Deno.execPath();

async function functionNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (entry.isDirectory && !entry.name.startsWith("_")) names.push(entry.name);
  }
  return names.sort();
}

interface Graph {
  modules: Array<{
    specifier: string;
    error?: string;
    dependencies?: Array<
      { specifier: string; code?: { error?: string }; type?: { error?: string } }
    >;
  }>;
}

/** `deno info` of a function's index.ts resolved with ONLY its own deno.json. */
async function graphOf(name: string): Promise<{ bare: Set<string>; errors: string[] }> {
  const out = await new Deno.Command(deno, {
    args: [
      "info",
      "--json",
      "--no-lock",
      "--config",
      `${functionsDir}/${name}/deno.json`,
      `${functionsDir}/${name}/index.ts`,
    ],
    cwd: root,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `deno info ${name}: ${new TextDecoder().decode(out.stderr)}`);
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as Graph;
  const bare = new Set<string>();
  const errors: string[] = [];
  for (const module of graph.modules) {
    if (module.error) errors.push(module.error);
    if (!module.specifier.startsWith("file:")) continue;
    for (const dep of module.dependencies ?? []) {
      if (dep.code?.error) errors.push(dep.code.error);
      const s = dep.specifier;
      if (!s.startsWith(".") && !s.startsWith("node:") && !s.startsWith("file:")) bare.add(s);
    }
  }
  return { bare, errors };
}

const rootImports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(`${root}deno.json`)).imports;

Deno.test("every function has a deno.json for deployment", async () => {
  const names = await functionNames();
  assert.deepEqual(names, [
    "guestly-hold",
    "guestly-reconcile",
    "guestly-sync",
    "guestly-webhook",
    "notify-admin",
    "retry-link",
    "stripe-webhook",
  ]);
  for (const name of names) {
    const config = JSON.parse(await Deno.readTextFile(`${functionsDir}/${name}/deno.json`));
    assert.ok(config.imports, `${name}/deno.json has imports`);
  }
});

Deno.test("each function's deno.json maps exactly what the function imports", async () => {
  const seen: Record<string, string[]> = {};
  for (const name of await functionNames()) {
    const imports: Record<string, string> =
      JSON.parse(await Deno.readTextFile(`${functionsDir}/${name}/deno.json`)).imports;
    const { bare, errors } = await graphOf(name);
    assert.deepEqual(errors, [], `${name} resolves with only its own deno.json`);
    seen[name] = [...bare].sort();
    assert.deepEqual(
      Object.keys(imports).sort(),
      seen[name],
      `${name}/deno.json maps exactly the packages ${name} imports`,
    );
    for (const specifier of bare) {
      assert.equal(imports[specifier], rootImports[specifier], `${specifier} version in ${name}`);
    }
  }
  // The scan sees through _shared: the packages each function really pulls in.
  assert.deepEqual(seen["stripe-webhook"], ["postgres", "stripe", "zod"]);
  assert.ok(!seen["guestly-sync"].includes("stripe"), "guestly-sync does not bundle stripe");
});
