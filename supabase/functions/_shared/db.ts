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
    // A database call may never hold an invocation past its time budget (the platform would cut
    // it off mid-request): the state functions take milliseconds; 15 s means something is wrong.
    connection: { application_name: "edge-function", statement_timeout: 15_000 },
  });
  return shared;
}
