// Direct Postgres from Edge Functions (SUPABASE_DB_URL), as Supabase documents it. One small
// pool per function process; `prepare: false` keeps it working behind Supavisor's pooler.
import postgres from "postgres";

export type Sql = ReturnType<typeof postgres>;

let shared: Sql | null = null;

export function database(url: string): Sql {
  shared ??= postgres(url, {
    prepare: false,
    max: 5,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "edge-function" },
  });
  return shared;
}
