// `deno run -A local/cli/deps.ts`: fetches every function's dependencies into Deno's cache, in
// the foreground (what `npm test` runs first; `stack up` does the same before the gateway).
import { DependencyFetchError, fetchFunctionDependencies } from "../stack/function-deps.ts";
import { REPO_ROOT } from "../stack/config.ts";

try {
  await fetchFunctionDependencies({
    functionsDir: `${REPO_ROOT}/supabase/functions`,
  });
} catch (e) {
  if (!(e instanceof DependencyFetchError)) throw e;
  console.error(e.message);
  Deno.exit(1);
}
