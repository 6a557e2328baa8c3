/**
 * npm run bench -- ring [options]: the circuit against the kernel, same run.
 *
 * Runs sb-bench-ring (build/cmake/bin) once per measurement, in interleaved
 * rounds; classifies each measurement by the placement probes around it;
 * prints median tables per placement, writes every measurement to
 * build/bench/ring-<timestamp>.json, and ends with the summary line.
 * Method and results: docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, round } from './plan.mjs';
import { placementOf, summarise, tables, summaryPlacement, summaryLine, PLACEMENT_THRESHOLD_NS } from './report.mjs';

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown', cpus: cpus.length, kernel: os.release(),
    host: os.hostname(), date: new Date().toISOString(),
  };
}

export async function run(args, { root }) {
  let o;
  try {
    o = parseArgs(args);
  } catch (e) {
    console.error(`bench ring: ${e.message}`);
    return 2;
  }
  if (o.help) {
    console.log(o.help);
    return 0;
  }
  const bin = path.join(root, 'build/cmake/bin/sb-bench-ring');
  if (!fs.existsSync(bin)) {
    console.error('bench ring: sb-bench-ring is not built; run: npm run build');
    return 2;
  }
  const exec = (a) => execFileSync(bin, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const transports = exec(['transports']).trim().split('\n');
  const m = machine();
  console.log(`bench ring: ${m.cpus} CPUs (${m.cpu}), Linux ${m.kernel}, ${o.repeat} rounds; `
    + `placement probe: near < ${PLACEMENT_THRESHOLD_NS} ns <= far`);

  const records = [];
  for (let r = 0; r < o.repeat; r++) {
    const list = round(o, transports, r);
    const started = Date.now();
    for (const item of list) {
      let res;
      try {
        res = JSON.parse(exec(item.args));
      } catch (e) {
        console.error(`bench ring: ${item.args.join(' ')} failed: ${e.message.split('\n')[0]}`);
        return 1;
      }
      records.push({ ...res, key: item.key, round: r, placement: placementOf(res) });
    }
    const mine = records.filter((x) => x.round === r);
    const pls = mine.map((x) => x.placement).reduce((a, p) => ({ ...a, [p]: (a[p] ?? 0) + 1 }), {});
    console.log(`round ${r + 1}/${o.repeat}: ${list.length} measurements in ${((Date.now() - started) / 1000).toFixed(1)} s; `
      + `placements ${Object.entries(pls).map(([p, n]) => `${p} ${n}`).join(', ')}`);
  }

  const figures = summarise(records);
  const order = ['near', 'far', 'mixed'].filter((p) => figures[p]);
  for (const pl of order) {
    const count = records.filter((x) => x.placement === pl).length;
    console.log(`\n${tables(figures[pl], transports, o.sizes, pl, count)}`);
  }

  const dir = path.join(root, 'build/bench');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ring-${m.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ machine: m, options: o, transports, threshold_ns: PLACEMENT_THRESHOLD_NS, figures, records }, null, 1)}\n`);
  const pl = summaryPlacement(records);
  const n = records.filter((x) => x.placement === pl).length;
  console.log(`\nbench ring: all measurements in ${path.relative(process.cwd(), file)}`);
  console.log(`bench ring: summary for placement ${pl} (${n} of ${records.length} measurements)`);
  console.log(summaryLine(figures[pl] ?? {}));
  return 0;
}
