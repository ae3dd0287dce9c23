// The function code (supabase/functions, what is deployed) uses nothing the hosted edge runtime
// refuses or answers differently (hosted_runtime_rules.ts; docs/local-stack.md).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { refusedUses } from "./hosted_runtime_rules.ts";

const FUNCTIONS = fileURLToPath(new URL("../../functions/", import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) files.push(...await sourceFiles(`${path}/`));
    else if (/\.(ts|tsx|js|mjs|jsx)$/.test(entry.name)) files.push(path);
  }
  return files.sort();
}

Deno.test("function code uses no API the hosted edge runtime refuses", async () => {
  const files = await sourceFiles(FUNCTIONS);
  assert.ok(files.length > 20, `found the function code (${files.length} files)`);
  const findings = [];
  for (const file of files) {
    findings.push(...refusedUses(file.slice(FUNCTIONS.length), await Deno.readTextFile(file)));
  }
  assert.deepEqual(
    findings.map((f) => `supabase/functions/${f.file}:${f.line} ${f.what} (${f.why})`),
    [],
  );
});

Deno.test("the check finds each refused use, and not mentions in comments or strings", () => {
  const planted = [
    `const p = new Deno.Command("ls").spawn();`,
    `import { spawn } from "node:child_process";`,
    `Deno.exit(1);`,
    `const lib = Deno.dlopen("x.so", {});`,
    `const kv = await Deno.openKv();`,
    `const l = Deno.listen({ port: 8080 });`,
    `console.log(Deno.version.deno);`,
    `await Deno.writeTextFile("./state.json", "{}");`,
    "await Deno.writeFile(`${dir}/out.bin`, bytes);",
    `Deno.readTextFileSync("/etc/hosts");`,
    `await Deno.rename("/tmp/a", "/tmp/b");`,
    `new Worker(new URL("./w.ts", import.meta.url));`,
    `const shared = new SharedArrayBuffer(8);`,
    `import fs from "node:fs";`,
    `import vm from "node:vm";`,
  ];
  for (const line of planted) {
    assert.equal(refusedUses("planted.ts", line).length, 1, `found in: ${line}`);
  }
  const harmless = [
    `// Deno.exit(1) would do nothing on the platform`,
    `/* Deno.Command is refused */ const x = 1;`,
    `const message = "never call Deno.exit here";`,
    'const t = `Deno.listen is ${"not"} for us`;',
    `await Deno.writeTextFile("/tmp/scratch.json", "{}");`,
    "await Deno.mkdir(`/tmp/${id}`, { recursive: true });",
    `const url = "http://example.com//Deno.run";`,
    `Deno.serve((req) => new Response(Deno.env.get("X")));`,
    `EdgeRuntime.waitUntil(work);`,
  ];
  for (const line of harmless) {
    assert.deepEqual(refusedUses("harmless.ts", line), [], `nothing in: ${line}`);
  }
  const [finding] = refusedUses("x.ts", "const a = 1;\n\n  Deno.exit(0);\n");
  assert.equal(finding.line, 3);
  assert.match(finding.why, /bootstrap\.js/);
});
