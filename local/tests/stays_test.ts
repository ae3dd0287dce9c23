// Stays of different processes never share nights: the sandbox would refuse the second as a
// double booking, and a test about something else would fail for a reason of its own making.
import assert from "node:assert/strict";

const STAYS = new URL("../stays.ts", import.meta.url).href;

async function staysOfAProcess(count: number): Promise<string[]> {
  const script = `import { nextStay, reserveSlots } from "${STAYS}";
    const out = [];
    for (let i = 0; i < ${count}; i++) out.push(nextStay(9).checkIn);
    out.push("bulk:" + reserveSlots(${count}).first);
    console.log(JSON.stringify(out));`;
  const result = await new Deno.Command(Deno.execPath(), {
    // One Math.random seed for all: processes whose random draws coincide must still not meet
    // (random starts alone put them on the same nights).
    args: ["eval", "--seed", "7", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

Deno.test("processes started together, with the same random draws, get disjoint nights", async () => {
  const runs = await Promise.all([1, 2, 3, 4].map(() => staysOfAProcess(50)));
  const DAY = 86_400_000;
  const ranges: Array<[number, number]> = [];
  for (const run of runs) {
    for (const entry of run) {
      const bulk = entry.startsWith("bulk:");
      const start = Date.parse(bulk ? entry.slice(5) : entry);
      // A stay is at most 9 nights; a bulk block of 50 spans 50 slots of 10 days.
      ranges.push([start, start + (bulk ? 500 : 9) * DAY]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    assert.ok(
      ranges[i][0] >= ranges[i - 1][1],
      `overlap: ${new Date(ranges[i - 1][0]).toISOString()} … ${
        new Date(ranges[i][0]).toISOString()
      }`,
    );
  }
});
