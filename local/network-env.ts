// The environment variables that say how this machine reaches the network: which certificate
// authorities a TLS connection trusts, which proxy it goes through, which npm registry it asks.
// Local processes started with a cleared environment (the functions behind the gateway, the
// stack's services) keep exactly these, so they reach the registry the way the user's own shell
// does. On the platform, functions have the platform's network; locally, the machine's.
// Local-only: never deployed.

/** Read by Deno (and by Node, for the tools that run on it); each name is passed on as is. */
export const NETWORK_ENV = [
  // TLS: Deno's own (a CA file; the "system"/"mozilla" store choice) …
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  // … Node's extra CA file (Deno honours it too: with it, a machine behind a TLS-inspecting
  // proxy reaches npm; without it, "invalid peer certificate: UnknownIssuer") …
  "NODE_EXTRA_CA_CERTS",
  // … and OpenSSL's, which rustls-based and OpenSSL-based clients read.
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  // Proxies (both spellings: Deno reads either).
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "all_proxy",
  "no_proxy",
  // Which npm registry (a mirror) and the tokens for private hosts.
  "NPM_CONFIG_REGISTRY",
  "npm_config_registry",
  "DENO_AUTH_TOKENS",
] as const;

/** The subset of `env` that is network settings (unset ones left out). */
export function networkEnv(
  get: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NETWORK_ENV) {
    const value = get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
