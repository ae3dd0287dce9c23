// `npm run stack -- up|down|status`: the local stack without the demo, for scripts and tests.
import {
  describeStack,
  exitOnStartProblem,
  SERVICES,
  stackDown,
  stackStatus,
  stackUp,
} from "../stack/stack.ts";
import { loadStackConfig } from "../stack/config.ts";
import { stopService } from "../stack/services.ts";

const command = Deno.args[0] ?? "status";
switch (command) {
  case "up": {
    const config = await stackUp().catch(exitOnStartProblem);
    console.log(`local stack is up\n${await describeStack(config)}`);
    break;
  }
  case "restart": {
    // Restarts one service (e.g. the gateway after adding a function); `up` starts it again.
    const name = Deno.args[1] as typeof SERVICES[number];
    if (!SERVICES.includes(name)) {
      console.error(`restart which service? one of: ${SERVICES.join(", ")}`);
      Deno.exit(2);
    }
    await stopService(loadStackConfig(), name);
    await stackUp({ log: () => {}, reuseSavedEnv: true }).catch(exitOnStartProblem);
    console.log(`${name} restarted`);
    break;
  }
  case "down":
    await stackDown();
    break;
  case "status": {
    const { status } = await stackStatus();
    for (const [name, state] of Object.entries(status)) console.log(`${name.padEnd(16)} ${state}`);
    break;
  }
  default:
    console.error(`unknown command "${command}": use up, down, status or restart <service>`);
    Deno.exit(2);
}
