// `deno run -A local/cli/deps.ts`: fetches every function's dependencies into Deno's cache, in
// the foreground (what `npm test` runs first; `stack up` does the same before the gateway).
import { DependencyFetchError, fetchFunctionDependencies } from "../stack/function-deps.ts";
import { HOSTED_DENO_ENV, HOSTED_DENO_PATH } from "../hosted-runtime.ts";
import { REPO_ROOT } from "../stack/config.ts";

try {
  await fetchFunctionDependencies({
    // The Deno that runs the functions, in this shell's environment plus what it needs here.
    deno: HOSTED_DENO_PATH,
    env: { ...HOSTED_DENO_ENV, ...Deno.env.toObject() },
    functionsDir: `${REPO_ROOT}/supabase/functions`,
  });
} catch (e) {
  if (!(e instanceof DependencyFetchError)) throw e;
  console.error(e.message);
  Deno.exit(1);
}
