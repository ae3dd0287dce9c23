// Secrets a function refuses to run with: the placeholders of .env.example, the local stack's
// fixed test values (outside a local stack), and secrets too short or too regular to resist
// guessing. A value copied from .env.example must never work in production. Pure: the caller
// passes the environment.

/** Every placeholder value .env.example ships (a unit test keeps this list complete). */
export const ENV_EXAMPLE_PLACEHOLDERS: ReadonlySet<string> = new Set([
  "your-guestly-client-id",
  "your-guestly-client-secret",
  "whsec_replace_me",
  "re_replace_me",
  "replace-with-at-least-32-random-characters",
]);

/**
 * Fixed values of the local stack and the test suites: fine against the sandbox and the mail
 * catcher, never on a deployed project.
 */
export const LOCAL_TEST_VALUES: ReadonlySet<string> = new Set([
  "sandbox-client-id",
  "sandbox-client-secret",
  "whsec_local_stack_only",
  "re_local_mail_catcher",
  "local-stack-retry-link-secret-not-for-production",
  "sk_test_placeholder_not_used",
]);

export interface SecretRule {
  name: string;
  /** Estimated bits of entropy the value must carry (e.g. 256 for a signing key we choose). */
  minBits?: number;
  /** What to do, in the error: defaults to generating one with openssl. */
  howToFix?: string;
}

const GENERATE = "generate one with `openssl rand -hex 32`";

/**
 * A conservative entropy estimate: length × log2(size of the smallest usual alphabet the value
 * fits in). `openssl rand -hex 32` (64 hex digits) gives 256 bits, as does 43 characters of
 * base64. Values that repeat a few characters are cut down to what their distinct ones allow.
 */
export function estimatedEntropyBits(value: string): number {
  const alphabets: Array<[RegExp, number]> = [
    [/^[0-9]+$/, 10],
    [/^[0-9a-f]+$/, 16],
    [/^[0-9A-F]+$/, 16],
    [/^[a-z]+$/, 26],
    [/^[a-z0-9_-]+$/, 38],
    [/^[A-Za-z0-9]+$/, 62],
    [/^[A-Za-z0-9+/=_-]+$/, 64],
  ];
  const alphabet = alphabets.find(([pattern]) => pattern.test(value))?.[1] ?? 95;
  const distinct = new Set(value).size;
  return value.length * Math.log2(Math.max(2, Math.min(alphabet, distinct * 2)));
}

/** Whether the function runs on a local stack (`supabase start` or ours), judged by SUPABASE_URL. */
export function isLocalDeployment(env: Record<string, string | undefined>): boolean {
  try {
    const host = new URL(env.SUPABASE_URL ?? "").hostname;
    return ["127.0.0.1", "localhost", "[::1]", "::1", "kong", "host.docker.internal"].includes(
      host,
    );
  } catch {
    return false;
  }
}

/** What is wrong with each present secret, one message per variable naming it and the fix. */
export function weakSecretProblems(
  env: Record<string, string | undefined>,
  rules: SecretRule[],
): string[] {
  const local = isLocalDeployment(env);
  const problems: string[] = [];
  for (const rule of rules) {
    const value = env[rule.name];
    if (value === undefined || value === "") continue; // required-ness is the config's business
    const fix = rule.howToFix ?? GENERATE;
    if (ENV_EXAMPLE_PLACEHOLDERS.has(value)) {
      problems.push(`${rule.name} is still the placeholder from .env.example: ${fix}`);
    } else if (!local && LOCAL_TEST_VALUES.has(value)) {
      problems.push(`${rule.name} is the local stack's test value, not for a deployment: ${fix}`);
    } else if (rule.minBits && estimatedEntropyBits(value) < rule.minBits) {
      problems.push(
        `${rule.name} is too weak (about ${
          Math.floor(estimatedEntropyBits(value))
        } bits; at least ${rule.minBits} needed): ${fix}`,
      );
    }
  }
  return problems;
}

/** Throws one error naming every weak secret; the function then answers 500 with it. */
export function assertStrongSecrets(
  env: Record<string, string | undefined>,
  rules: SecretRule[],
): void {
  const problems = weakSecretProblems(env, rules);
  if (problems.length) throw new Error(`unsafe configuration: ${problems.join("; ")}`);
}

export const RETRY_LINK_SECRET_RULE: SecretRule = {
  name: "RETRY_LINK_SECRET",
  minBits: 256,
  howToFix:
    "generate one with `openssl rand -hex 32` and set it with `supabase secrets set RETRY_LINK_SECRET=…` (it signs one-click retry links)",
};
