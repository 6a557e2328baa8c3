/**
 * What `npm run bench -- ring` measures: options → a list of measurements,
 * each one invocation of sb-bench-ring (one fresh process pair, bracketed by
 * placement probes).  Rounds interleave everything, so slow drift of the
 * machine hits every transport alike.
 */
export const SIZES = [64, 1024, 16384, 65536, 1048576];
export const SWEEP_RINGS = [65536, 131072, 262144, 524288, 1048576, 2097152, 4194304];
export const SWEEP_SIZES = [65536, 1048576];

/** The round-trip variants: label → sb-bench-ring arguments.  TCP keeps the kernel's defaults (Nagle on)
 * everywhere: it helps TCP's small-message goodput, and a strict ping-pong never has unacknowledged
 * data when it sends, so Nagle never delays a round trip. */
export const RTT_VARIANTS = {
  tcp: ['-t', 'tcp'],
  unix: ['-t', 'unix'],
  'copy spin': ['-t', 'copy'],
  'copy sleep': ['-t', 'copy', '--sleep'],
  'zerocopy spin': ['-t', 'zerocopy'],
  'zerocopy sleep': ['-t', 'zerocopy', '--sleep'],
};

const USAGE = `usage: npm run bench -- ring [--repeat N] [--quick] [--sweep] [--duration S] [--sizes 64,65536,...]
  --repeat N    rounds (default 5; --quick: 2)
  --quick       a short smoke run (0.1 s per goodput figure, fewer round trips)
  --sweep       also sweep the circuit's ring size (64 KiB ... 4 MiB) at 64 KiB and 1 MiB messages
  --sweep-only  only the ring-size sweep
  --duration S  seconds per goodput figure (default 0.5)
  --sizes LIST  message sizes for goodput (default 64,1024,16384,65536,1048576)`;

export function parseArgs(args) {
  const o = { repeat: 5, quick: false, sweep: false, main: true, duration: 0.5, sizes: SIZES };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = () => {
      if (i + 1 >= args.length) throw new Error(`${a} needs a value`);
      return args[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--sweep') o.sweep = true;
    else if (a === '--sweep-only') { o.sweep = true; o.main = false; }
    else if (a === '--repeat') o.repeat = Number(next());
    else if (a === '--duration') o.duration = Number(next());
    else if (a === '--sizes') o.sizes = next().split(',').map(Number);
    else if (a === '--help' || a === '-h') return { help: USAGE };
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (o.quick) {
    if (!args.includes('--repeat')) o.repeat = 2;
    if (!args.includes('--duration')) o.duration = 0.1;
  }
  if (!(o.repeat >= 1) || !(o.duration > 0) || o.sizes.some((s) => !(s >= 1))) throw new Error(USAGE);
  return o;
}

/** Round-trip counts: enough for a stable p99, about 0.2–0.5 s each. */
function rttIters(label, quick) {
  const spin = label.endsWith('spin');
  return String((spin ? 100000 : 10000) / (quick ? 5 : 1));
}

/** One round: a list of { key, args } (key identifies the figure across rounds). */
export function round(o, transports, r) {
  const has = (t) => transports.includes(t);
  // Rotate the transport order each round so no transport always runs first.
  const order = transports.map((_, i) => transports[(i + r) % transports.length]);
  const list = [];
  if (o.main) {
    for (const size of o.sizes)
      for (const t of order)
        list.push({ kind: 'goodput', key: `goodput ${t} ${size}`, args: ['goodput', '-t', t, '-m', String(size), '-d', String(o.duration)] });
    for (const [label, args] of Object.entries(RTT_VARIANTS))
      if (has(args[1]))
        list.push({ kind: 'rtt', key: `rtt ${label}`, label, args: ['rtt', ...args, '-n', rttIters(label, o.quick)] });
  }
  if (o.sweep && has('copy')) {
    for (const size of SWEEP_SIZES) {
      for (const t of ['tcp', 'unix'])
        list.push({ kind: 'goodput', key: `sweep ${t} ${size} 0`, args: ['goodput', '-t', t, '-m', String(size), '-d', String(o.duration)] });
      for (const ring of SWEEP_RINGS)
        for (const t of ['copy', 'zerocopy'].filter(has))
          list.push({ kind: 'goodput', key: `sweep ${t} ${size} ${ring}`, args: ['goodput', '-t', t, '-m', String(size), '-r', String(ring), '-d', String(o.duration)] });
    }
  }
  return list;
}
