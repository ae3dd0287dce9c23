#!/usr/bin/env bash
# `npm test`: every suite from a clean clone — static checks, Deno unit and integration tests,
# pgTAP through pg_prove, supabase db lint — against a private test stack on its own ports,
# which is torn down at the end. The last line is always "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DENO="$ROOT/node_modules/.bin/deno"
SUPABASE="$ROOT/node_modules/.bin/supabase"

if [ ! -x "$DENO" ] || [ ! -x "$SUPABASE" ] || [ ! -d "$ROOT/local/hosted-deno/node_modules/deno" ]; then
  npm install --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund
fi

# The test stack never touches a developer's running stack. Its ports sit below Linux's ephemeral
# range (32768–60999), so a busy machine's outgoing connections can never be holding one.
export LOCAL_STACK_DIR="$ROOT/.local/test-stack"
export SUPABASE_API_PORT="${TEST_API_PORT:-25321}"
export SUPABASE_DB_PORT="${TEST_DB_PORT:-25322}"
export MAIL_CATCHER_PORT="${TEST_MAIL_PORT:-25324}"
export GUESTLY_SANDBOX_PORT="${TEST_SANDBOX_PORT:-25330}"
export GUESTLY_SYNC_ENABLED=true
export GUESTLY_REQUEST_TIMEOUT_MS=3000
# Unknown creates are looked up 8 s later (production: 60 s), still longer than the slowest
# commit the tests inject after our timeout.
export GUESTLY_UNKNOWN_SETTLE_MS=8000
# The sandbox runs at 4× Guesty's limits so the burst tests stay short; our limiter keeps the
# same headroom below them as in production (14/s, 115/min, 4,900/h against 15, 120, 5,000).
export GUESTLY_SANDBOX_RATE_SCALE=4
export GUESTLY_RATE_LIMITS=56,460,19600
export NO_COLOR=1

passed=0
failed=0
failures=()
LOG_DIR="$ROOT/.local/test-logs"
mkdir -p "$LOG_DIR"

record() { # name, passed count, failed count
  passed=$((passed + $2))
  failed=$((failed + $3))
  if [ "$3" -gt 0 ]; then failures+=("$1"); fi
}

check() { # name, command…
  local name=$1; shift
  local log="$LOG_DIR/${name//[^a-zA-Z0-9_-]/_}.log"
  if "$@" >"$log" 2>&1; then
    echo "ok   $name"; record "$name" 1 0
  else
    echo "FAIL $name (see $log)"; tail -n 40 "$log"; record "$name" 0 1
  fi
}

deno_suite() { # name, files…
  local name=$1; shift
  local log="$LOG_DIR/${name}.log"
  "${SUITE_DENO:-$DENO}" test -A --no-check=remote "$@" >"$log" 2>&1
  local code=$?
  local summary
  summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
  local p f
  p=$(echo "$summary" | sed -nE 's/.*\| ([0-9]+) passed.*/\1/p')
  f=$(echo "$summary" | sed -nE 's/.*\| ([0-9]+) failed.*/\1/p')
  p=${p:-0}; f=${f:-0}
  if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$( [ "$f" -eq 0 ] && echo "ok  " || echo "FAIL") $name: $p passed, $f failed"
  if [ "$f" -gt 0 ]; then grep -E '^(FAILED|ERRORS|.* => )|error:' -A 12 "$log" | head -n 80; fi
  record "$name" "$p" "$f"
}

cleanup() {
  "$DENO" run -A "$ROOT/local/cli/stack.ts" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== dependencies"
# Every function's imports, each with its own deno.json, before anything starts a function (the
# gateway tests below do); a registry out of reach is one clear error here.
check "function dependencies" "$DENO" run -A local/cli/deps.ts

echo "== static checks"
check "deno fmt --check" "$DENO" fmt --check
check "deno lint" "$DENO" lint
check "deno check" bash -c "\"$DENO\" check \$(git ls-files --cached --others --exclude-standard '*.ts' | grep -v '^node_modules/')"

echo "== unit tests"
UNIT_TESTS=(supabase/tests/unit/ local/tests/guestly-sandbox/ local/tests/mail-catcher_test.ts local/tests/gateway_test.ts local/tests/stays_test.ts local/tests/hosted_runtime_test.ts)
# cold_start_test checks the stack's own start-up (tooling): on the tooling's Deno only.
deno_suite "deno-unit" "${UNIT_TESTS[@]}" local/tests/cold_start_test.ts local/tests/stack_ports_test.ts

# ---- hosted runtime (issue 25): the function code on the Deno that Supabase's edge runtime
# embeds (pinned in local/hosted-deno/package.json; local/hosted-runtime.ts names its binary and
# the environment it needs here). The gateway runs every function on it; this block type-checks
# each function entry with its own deno.json on it and runs the unit suite on it too.
if HOSTED_DENO=$("$DENO" run -A local/hosted-runtime.ts --check 2>"$LOG_DIR/hosted-runtime.log"); then
  mapfile -t HOSTED_ENV < <("$DENO" run -A local/hosted-runtime.ts --env)
  hosted_deno() { env "${HOSTED_ENV[@]}" "$HOSTED_DENO" "$@"; }
  HOSTED_VERSION=$(hosted_deno --version | sed -nE '1s/^deno ([^ ]+).*/\1/p')
  echo "== hosted runtime: Deno $HOSTED_VERSION"
  for entry in supabase/functions/*/index.ts; do
    fn_dir=$(dirname "$entry")
    check "deno check $(basename "$fn_dir") (Deno $HOSTED_VERSION)" \
      hosted_deno check --no-lock --config "$fn_dir/deno.json" "$entry"
  done
  SUITE_DENO=hosted_deno deno_suite "deno-unit-hosted-$HOSTED_VERSION" "${UNIT_TESTS[@]}"
else
  echo "FAIL hosted runtime Deno (see $LOG_DIR/hosted-runtime.log)"; cat "$LOG_DIR/hosted-runtime.log"
  record "hosted runtime Deno" 0 1
  hosted_deno() { return 1; }
fi
# ---- end hosted runtime

echo "== test stack"
rm -rf "$LOCAL_STACK_DIR"
if "$DENO" run -A local/cli/stack.ts up >"$LOG_DIR/stack-up.log" 2>&1; then
  echo "ok   stack up"; record "stack up" 1 0

  echo "== pgTAP"
  pgtap_log="$LOG_DIR/pgtap.log"
  pg_prove -v -d "postgresql://postgres:postgres@127.0.0.1:${SUPABASE_DB_PORT}/postgres" \
    supabase/tests/database/*.test.sql >"$pgtap_log" 2>&1
  pg_code=$?
  p=$(grep -cE '^\s*ok [0-9]+' "$pgtap_log")
  f=$(grep -cE '^\s*not ok [0-9]+' "$pgtap_log")
  if [ "$pg_code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$( [ "$f" -eq 0 ] && echo "ok  " || echo "FAIL") pgTAP: $p passed, $f failed"
  if [ "$f" -gt 0 ]; then grep -E 'not ok|Failed|#' "$pgtap_log" | head -n 60; fi
  record "pgTAP" "$p" "$f"

  # Supabase creates projects on Postgres 17: every migration and the pgTAP files again on 17
  # (npm's Postgres 17 binaries, Supabase-shaped, as the non-superuser postgres, real CLI).
  pg17_log="$LOG_DIR/pg17.log"
  "$DENO" run -A local/pg17/suite.ts >"$pg17_log" 2>&1
  pg17_code=$?
  p=$(tail -n 1 "$pg17_log" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p')
  f=$(tail -n 1 "$pg17_log" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p')
  p=${p:-0}; f=${f:-1}
  if [ "$pg17_code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$( [ "$f" -eq 0 ] && echo "ok  " || echo "FAIL") Postgres 17 migrations + pgTAP: $p passed, $f failed"
  if [ "$f" -gt 0 ]; then tail -n 40 "$pg17_log"; fi
  record "Postgres 17" "$p" "$f"

  check "supabase db lint" "$SUPABASE" db lint --remote="postgresql://postgres:postgres@127.0.0.1:${SUPABASE_DB_PORT}/postgres?sslmode=disable" --schema public,guestly,payments,guestly_events,guestly_reconcile --level warning --fail-on warning

  echo "== integration and end-to-end tests"
  deno_suite "deno-integration" local/tests/pg_net_worker_test.ts supabase/tests/integration/
  # ---- hosted runtime (issue 25): the integration tests that run function code (the sync core,
  # its Guestly client, the in-process sandbox) in the test process itself, on the hosted Deno.
  mapfile -t IN_PROCESS_TESTS < <(grep -lE 'functions/_shared/|own_sandbox\.ts' supabase/tests/integration/*_test.ts)
  SUITE_DENO=hosted_deno deno_suite "deno-integration-in-process-hosted-${HOSTED_VERSION:-missing}" "${IN_PROCESS_TESTS[@]}"
  # ---- end hosted runtime
else
  echo "FAIL stack up (see $LOG_DIR/stack-up.log)"; tail -n 60 "$LOG_DIR/stack-up.log"
  record "stack up" 0 1
fi

cleanup
trap - EXIT
if [ ${#failures[@]} -gt 0 ]; then echo "failed suites: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
