// The new API keys on the running stack. The database calls guestly-sync and notify-admin with
// the key in Vault (`service_role_key`): a project created today stores a secret key
// (sb_secret_…), an older one the legacy service_role JWT; both must sync. Anything else is
// refused by the function (verify_jwt = false there), and a function left on verify_jwt = true
// refuses a secret key at the gateway, as the platform does.
import assert from "node:assert/strict";
import {
  apiKeys,
  booking,
  connect,
  insertBooking,
  keys,
  sandbox,
  setStatus,
  stack,
  waitFor,
} from "./harness.ts";
import { configureVault, vaultKey } from "../../../local/stack/stack.ts";
import { startGateway } from "../../../local/gateway/server.ts";
import { functionsEnv } from "../../../local/stack/env.ts";
import { LOCAL_JWT_SECRET } from "../../../local/keys.ts";

const sql = connect();
const admin = connect(true);

async function vaultSecret(name: string): Promise<string> {
  const [row] = await admin`
    select decrypted_secret from vault.decrypted_secrets where name = ${name}`;
  return row.decrypted_secret as string;
}

async function setVaultSecret(name: string, value: string) {
  await admin`select vault.update_secret(id, ${value}) from vault.secrets where name = ${name}`;
}

/** Confirms a new booking (trigger → pg_net → guestly-sync) and waits for it to be synced. */
async function confirmAndSync(label: string) {
  const since = new Date();
  const id = await insertBooking(sql, { firstName: "Keys", lastName: label });
  await setStatus(sql, id, "confirmed");
  const row = await waitFor(`booking ${id} synced with the ${label} key in Vault`, async () => {
    const r = await booking(sql, id);
    return r.guestly_sync_status === "synced" && r;
  }, 10_000);
  assert.equal((await sandbox.reservationsFor(id)).length, 1);
  assert.ok(row.guestly_reservation_id);
  const [refused] = await admin`
    select count(*)::int as n from net._http_response
     where created >= ${since} and status_code in (401, 500)`;
  assert.equal(refused.n, 0, "no call of the database was refused");
}

Deno.test("DB → pg_net → guestly-sync syncs with an sb_secret_ key in Vault", async () => {
  assert.match(apiKeys.secretKey, /^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
  // The stack stores the secret key by default (what docs/operations.md says to store).
  assert.equal(await vaultSecret("service_role_key"), apiKeys.secretKey);
  await confirmAndSync("secret");
});

Deno.test("DB → pg_net → guestly-sync syncs with the legacy service_role JWT in Vault", async () => {
  await configureVault(stack, "service_role");
  try {
    assert.equal(await vaultSecret("service_role_key"), keys.serviceRoleKey);
    await confirmAndSync("legacy");
  } finally {
    await configureVault(stack, "secret");
  }
  assert.equal(await vaultSecret("service_role_key"), await vaultKey(stack, "secret"));
});

Deno.test("anon, publishable and random keys are refused with 401, in either header", async () => {
  const id = crypto.randomUUID();
  const random = `sb_secret_${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}_abcdefgh`;
  const forged = keys.serviceRoleKey.slice(0, -4) + "AAAA";
  const call = async (name: string, headers: Record<string, string>) => {
    const response = await fetch(`${stack.functionsUrl}/${name}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify({ bookingId: id }),
    });
    return { status: response.status, body: await response.json() };
  };
  for (const name of ["guestly-sync", "notify-admin"]) {
    for (const key of [keys.anonKey, apiKeys.publishableKey, random, forged, "x"]) {
      const both: Array<Record<string, string>> = [{ apikey: key }, {
        Authorization: `Bearer ${key}`,
      }];
      for (const headers of both) {
        const answer = await call(name, headers);
        assert.equal(answer.status, 401, `${name} ${JSON.stringify(headers).slice(0, 40)}`);
        assert.match(answer.body.error, /sb_secret_/);
      }
    }
    assert.equal((await call(name, {})).status, 401);
  }
  // The stack's own keys get in, in either header (404: no such booking, past the key check).
  const accepted: Array<Record<string, string>> = [
    { apikey: apiKeys.secretKey },
    { Authorization: `Bearer ${apiKeys.secretKey}` },
    { Authorization: `Bearer ${keys.serviceRoleKey}` },
  ];
  for (const headers of accepted) {
    assert.equal((await call("guestly-sync", headers)).status, 404);
  }
});

Deno.test("a verify_jwt = true function refuses the secret key at the gateway, as the platform does", async () => {
  // The old config.toml: guestly-sync behind the platform's JWT check.
  const dir = await Deno.makeTempDir({ prefix: "api_keys_" });
  const toml = (await Deno.readTextFile(`${stack.root}/supabase/config.toml`))
    .replace(/(\[functions\.guestly-sync\]\s*\nverify_jwt\s*=\s*)false/, "$1true");
  assert.match(toml, /\[functions\.guestly-sync\]\s*\nverify_jwt = true/);
  await Deno.writeTextFile(`${dir}/config.toml`, toml);
  const gateway = await startGateway({
    port: 0,
    functionsDir: `${stack.root}/supabase/functions`,
    configTomlPath: `${dir}/config.toml`,
    env: await functionsEnv(stack),
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
  });
  const projectUrl = await vaultSecret("project_url");
  try {
    const direct = async (headers: Record<string, string>) => {
      const response = await fetch(`${gateway.url}/functions/v1/guestly-sync`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ bookingId: crypto.randomUUID() }),
      });
      return { status: response.status, body: await response.json() };
    };
    assert.deepEqual(await direct({ Authorization: `Bearer ${apiKeys.secretKey}` }), {
      status: 401,
      body: { code: 401, message: "Invalid JWT" },
    });
    assert.deepEqual(await direct({ apikey: apiKeys.secretKey }), {
      status: 401,
      body: { code: 401, message: "Missing authorization header" },
    });
    // The legacy JWT passes the platform check and reaches the function (404: no such booking).
    assert.equal((await direct({ Authorization: `Bearer ${keys.serviceRoleKey}` })).status, 404);

    // The database's own call, with the secret key from Vault: refused before the function.
    await setVaultSecret("project_url", gateway.url);
    const id = await insertBooking(sql, { firstName: "Keys", lastName: "verify_jwt" });
    await sql`update public.bookings set status = 'confirmed' where id = ${id}`;
    const [{ request }] = await admin`
      select guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', ${id}::uuid))
        as request`;
    await setVaultSecret("project_url", projectUrl);
    const [response] = await waitFor("pg_net's response", async () => {
      const rows = await admin`
        select status_code, content from net._http_response where id = ${request}`;
      return rows.length > 0 && rows;
    });
    assert.equal(response.status_code, 401);
    assert.match(response.content, /Invalid JWT|Missing authorization header/);
  } finally {
    await setVaultSecret("project_url", projectUrl);
    await gateway.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "close connections",
  fn: async () => {
    await sql.end();
    await admin.end();
  },
});
