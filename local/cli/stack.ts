// `npm run stack -- up|down|status`: the local stack without the demo, for scripts and tests.
import { describeStack, stackDown, stackStatus, stackUp } from "../stack/stack.ts";

const command = Deno.args[0] ?? "status";
switch (command) {
  case "up": {
    const config = await stackUp();
    console.log(`local stack is up\n${await describeStack(config)}`);
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
    console.error(`unknown command "${command}": use up, down or status`);
    Deno.exit(2);
}
