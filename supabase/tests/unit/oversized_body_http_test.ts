// An oversized webhook body is answered 413 through the local gateway, which runs the real
// stripe-webhook function on the hosted runtime's Deno and streams the body to it as the
// platform's proxy does. On Deno 2.1 a server closes a connection whose request body was left
// unread, so a proxy still sending it sees the connection reset instead of the 413 (the
// gateway answered 502 "failed to respond"): the handlers read an oversized body to its end,
// dropping it, before they answer.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startGateway } from "../../../local/gateway/server.ts";
import { LOCAL_JWT_SECRET } from "../../../local/keys.ts";
import { MAX_BODY_BYTES } from "../../functions/_shared/stripe/webhook-handler.ts";

const FUNCTIONS = fileURLToPath(new URL("../../functions/", import.meta.url));
const BODY = new Uint8Array(2 * MAX_BODY_BYTES).fill(0x20);

async function copyDir(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyDir(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

function streamed(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

Deno.test("stripe-webhook on the hosted Deno: a 2 MB body → 413, with and without Content-Length", async () => {
  // Only stripe-webhook (and the code it shares) is served, from a copy.
  const dir = await Deno.makeTempDir({ prefix: "oversized_body_" });
  for (const name of ["stripe-webhook", "_shared"]) {
    await copyDir(`${FUNCTIONS}${name}`, `${dir}/functions/${name}`);
  }
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    "[functions.stripe-webhook]\nverify_jwt = false\n",
  );
  const gateway = await startGateway({
    port: 0,
    functionsDir: `${dir}/functions`,
    configTomlPath: `${dir}/config.toml`,
    env: {
      STRIPE_WEBHOOK_SECRET: "whsec_oversized_body_test_secret_0123456789",
      STRIPE_LIVEMODE: "false",
      // Never connected to: the body is refused before anything is recorded.
      SUPABASE_DB_URL: "postgresql://nobody@127.0.0.1:1/none",
    },
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
  });
  try {
    const url = `${gateway.url}/functions/v1/stripe-webhook`;
    const headers = { "Stripe-Signature": "t=1,v1=x", "Content-Type": "application/json" };
    for (let round = 0; round < 5; round++) {
      const declared = await fetch(url, { method: "POST", headers, body: BODY });
      assert.equal(declared.status, 413, await declared.clone().text());
      assert.match((await declared.json()).error, /too large/);
      const chunked = await fetch(url, { method: "POST", headers, body: streamed(BODY) });
      assert.equal(chunked.status, 413, await chunked.clone().text());
      assert.match((await chunked.json()).error, /too large/);
    }
  } finally {
    await gateway.close();
    await Deno.remove(dir, { recursive: true });
  }
});
