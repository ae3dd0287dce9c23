// The benchmark's second copy of stripe-webhook, never deployed: the same function, served by the
// floor's gateway process instead of the stack's, for one diagnostic of measurement 1. The stack's
// gateway also proxies every sync invocation and Guestly webhook a payment causes (one event
// loop); this copy shows how much of our answer time is waiting behind them in that process.
import "../../supabase/functions/stripe-webhook/index.ts";
