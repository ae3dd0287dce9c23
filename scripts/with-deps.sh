#!/usr/bin/env bash
# Runs a command after making sure the npm packages (Deno, the Supabase CLI, …) are installed, so
# `npm start` and `npm test` work on a fresh clone without a separate `npm install`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ] || [ ! -d local/hosted-deno/node_modules/deno ]; then
  echo "installing npm packages …" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
fi
export PATH="$PWD/node_modules/.bin:$PATH"
exec "$@"
