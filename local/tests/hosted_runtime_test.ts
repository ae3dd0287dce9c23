import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  HOSTED_DENO_PATH,
  HOSTED_DENO_VERSION,
  reportedHostedDenoVersion,
} from "../hosted-runtime.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("hosted runtime: the installed binary is the pinned Deno", async () => {
  assert.match(HOSTED_DENO_VERSION, /^\d+\.\d+\.\d+$/, "an exact version, not a range");
  assert.equal(await reportedHostedDenoVersion(), HOSTED_DENO_VERSION);
});

Deno.test("hosted runtime: the tooling's node_modules/.bin/deno is still the root's deno", async () => {
  // An npm alias of `deno` links a second `deno` bin and the last install owns .bin/deno.
  const tooling = await Deno.realPath(`${root}node_modules/.bin/deno`);
  assert.ok(
    tooling.startsWith(`${root}node_modules/deno/`),
    `node_modules/.bin/deno resolves to ${tooling}`,
  );
  assert.notEqual(await Deno.realPath(HOSTED_DENO_PATH), tooling);
  const out = await new Deno.Command(tooling, { args: ["--version"], stdout: "piped" }).output();
  assert.doesNotMatch(
    new TextDecoder().decode(out.stdout),
    new RegExp(`^deno ${HOSTED_DENO_VERSION} `),
  );
});
