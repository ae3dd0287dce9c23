// Each function deploys with its own deno.json (what `supabase functions deploy` reads); locally
// every function runs with the repository's deno.json. Both must map the same packages to the
// same versions, and every bare import in the functions' code must be mapped.
import assert from "node:assert/strict";

const root = new URL("../../../", import.meta.url).pathname;
const functionsDir = `${root}supabase/functions`;

async function functionNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (entry.isDirectory && !entry.name.startsWith("_")) names.push(entry.name);
  }
  return names.sort();
}

async function bareImports(dir: string): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      for (const name of await bareImports(path)) found.add(name);
    } else if (entry.name.endsWith(".ts")) {
      const text = await Deno.readTextFile(path);
      for (const m of text.matchAll(/^(?:import|export)[^;]*?\sfrom\s+"([^"]+)"/gm)) {
        if (!m[1].startsWith(".") && !m[1].startsWith("node:")) found.add(m[1]);
      }
    }
  }
  return found;
}

const rootImports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(`${root}deno.json`)).imports;

Deno.test("every function has a deno.json for deployment", async () => {
  const names = await functionNames();
  assert.deepEqual(names, ["guestly-sync", "notify-admin", "retry-link", "stripe-webhook"]);
  for (const name of names) {
    const config = JSON.parse(await Deno.readTextFile(`${functionsDir}/${name}/deno.json`));
    assert.ok(config.imports, `${name}/deno.json has imports`);
  }
});

Deno.test("every bare import of the functions is mapped, to the same version as locally", async () => {
  const used = await bareImports(functionsDir);
  assert.ok(used.has("zod") && used.has("postgres"), "the scan finds the imports");
  for (const name of await functionNames()) {
    const imports: Record<string, string> =
      JSON.parse(await Deno.readTextFile(`${functionsDir}/${name}/deno.json`)).imports;
    for (const specifier of used) {
      assert.ok(imports[specifier], `${name}/deno.json maps "${specifier}"`);
      assert.equal(imports[specifier], rootImports[specifier], `${specifier} version in ${name}`);
    }
  }
});
