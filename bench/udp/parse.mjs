/**
 * bench/udp's inputs and parsers: the zone named serves, dnsperf's query
 * file, and the figures in sockperf's and dnsperf's output.  No processes
 * here, so `node bench/udp/parse.mjs --self-test` checks the parsers on
 * recorded outputs without root.
 */

export const HOSTS = 200; // www1 .. www200, A 192.0.2.1 .. 192.0.2.200

/** An authoritative zone: SOA, NS, and HOSTS A records. */
export function zoneFile(zone) {
  const lines = [
    '$TTL 300',
    `@ IN SOA ns.${zone}. admin.${zone}. 1 3600 600 86400 300`,
    `@ IN NS ns.${zone}.`,
    'ns IN A 127.0.0.1',
  ];
  for (let i = 1; i <= HOSTS; i++) lines.push(`www${i} IN A 192.0.2.${i}`);
  return `${lines.join('\n')}\n`;
}

/**
 * dnsperf's input: 1,000 queries in a fixed pseudo-random order (the same
 * every run), 90% A queries for names in the zone (NOERROR with one answer),
 * 10% for names that are not (NXDOMAIN), as dnsperf's man page recommends a
 * mix.  dnsperf loops over the file for its time limit.
 */
export function queryFile(zone, n = 1000) {
  let x = 12345;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const lines = [];
  let nx = 0;
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.1) {
      lines.push(`nx${1 + Math.floor(rnd() * 1000)}.${zone} A`);
      nx++;
    } else lines.push(`www${1 + Math.floor(rnd() * HOSTS)}.${zone} A`);
  }
  return { text: `${lines.join('\n')}\n`, expected: { NOERROR: (n - nx) / n, NXDOMAIN: nx / n } };
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * sockperf ping-pong --full-rtt: its summary ("[Valid Duration]": the run
 * without warm-up and the tail) gives avg-rtt and the percentiles, in µs;
 * "[Total Run]" counts every round trip of the process (for CPU per round trip).
 */
export function parseSockperf(raw) {
  const out = stripAnsi(raw);
  const problems = [];
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const pct = (p) => num(new RegExp(`---> percentile ${p.replace('.', '\\.')}\\s*=\\s*([\\d.]+)`));
  const valid = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(out);
  const total = /\[Total Run\] RunTime=([\d.]+) sec; Warm up time=(\d+) msec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(out);
  const avg = num(/avg-rtt=([\d.]+)/);
  const lost = /# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)/.exec(out);
  if (!Number.isFinite(avg)) problems.push(/avg-lat=/.test(out) ? 'sockperf printed latency, not round trips (--full-rtt missing?)' : 'no avg-rtt in sockperf\'s output');
  if (!valid) problems.push('no [Valid Duration] line in sockperf\'s output');
  if (lost && lost.slice(1).some((v) => Number(v) > 0)) problems.push(lost[0]);
  const seconds = valid ? Number(valid[1]) : NaN;
  const received = valid ? Number(valid[3]) : NaN;
  return {
    figures: {
      rtt_avg_us: avg,
      rtt_std_us: num(/avg-rtt=[\d.]+ \(std-dev=([\d.]+)\)/),
      rtt_min_us: num(/<MIN> observation =\s*([\d.]+)/),
      rtt_p50_us: pct('50.000'),
      rtt_p90_us: pct('90.000'),
      rtt_p99_us: pct('99.000'),
      rtt_p999_us: pct('99.900'),
      rtt_max_us: num(/<MAX> observation =\s*([\d.]+)/),
      rtt_per_s: received / seconds,
    },
    count: total ? Number(total[4]) : received,
    seconds: total ? Number(total[1]) : seconds,
    extra: {
      valid: valid ? { seconds, sent: Number(valid[2]), received } : null,
      total: total ? { seconds: Number(total[1]), warmup_ms: Number(total[2]), sent: Number(total[3]), received: Number(total[4]) } : null,
      sockperf_lost: lost ? { dropped: Number(lost[1]), duplicated: Number(lost[2]), out_of_order: Number(lost[3]) } : null,
    },
    problems,
  };
}

/**
 * dnsperf's statistics: queries sent, completed, lost, the response codes,
 * queries per second, average latency.  Problems: no statistics, lost
 * queries above 0.1%, a response code other than NOERROR and NXDOMAIN, or
 * shares of those two far from the query file's (the answers are not the
 * zone's).
 */
export function parseDnsperf(out, expected) {
  const problems = [];
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const sent = num(/Queries sent:\s+(\d+)/);
  const completed = num(/Queries completed:\s+(\d+)/);
  const lost = num(/Queries lost:\s+(\d+)/);
  const qps = num(/Queries per second:\s+([\d.]+)/);
  const seconds = num(/Run time \(s\):\s+([\d.]+)/);
  const lat = /Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/.exec(out);
  const std = num(/Latency StdDev \(s\):\s+([\d.]+)/);
  const rcodes = {};
  const line = /Response codes:\s+(.*)/.exec(out)?.[1] ?? '';
  for (const m of line.matchAll(/([A-Z]+) (\d+) \(/g)) rcodes[m[1]] = Number(m[2]);
  if (!Number.isFinite(qps)) problems.push('no "Queries per second" in dnsperf\'s output');
  if (lost > 0.001 * sent) problems.push(`${lost} of ${sent} queries lost`);
  for (const k of Object.keys(rcodes)) if (k !== 'NOERROR' && k !== 'NXDOMAIN') problems.push(`${rcodes[k]} answers ${k}`);
  if (expected && completed > 0) {
    for (const k of ['NOERROR', 'NXDOMAIN']) {
      const share = (rcodes[k] ?? 0) / completed;
      if (Math.abs(share - expected[k]) > 0.05) problems.push(`${k} in ${(share * 100).toFixed(1)}% of answers, ${(expected[k] * 100).toFixed(1)}% expected`);
    }
  }
  return {
    figures: {
      qps,
      latency_avg_ms: lat ? Number(lat[1]) * 1e3 : NaN,
      latency_min_ms: lat ? Number(lat[2]) * 1e3 : NaN,
      latency_max_ms: lat ? Number(lat[3]) * 1e3 : NaN,
      latency_std_ms: std * 1e3,
    },
    count: completed,
    seconds,
    extra: { sent, completed, lost, rcodes },
    problems,
  };
}

// ---------------------------------------------------------------- self-test (recorded outputs)

const SOCKPERF = `sockperf: \x1b[2;35m== version #3.7-no.git == \x1b[0m
sockperf[CLIENT] send on:sockperf: using recvfrom() to block on socket(s)

[ 0] IP = 127.0.0.1       PORT = 11111 # UDP
sockperf: Warmup stage (sending a few dummy messages)...
sockperf: Starting test...
sockperf: Test end (interrupted by timer)
sockperf: Test ended
sockperf: [Total Run] RunTime=2.000 sec; Warm up time=400 msec; SentMessages=93311; ReceivedMessages=93310
sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=1.550 sec; SentMessages=74523; ReceivedMessages=74523
sockperf: \x1b[2;35m====> avg-rtt=20.763 (std-dev=9.435)\x1b[0m
sockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0
sockperf: Summary: Round trip is 20.763 usec
sockperf: \x1b[2;35mTotal 74523 observations\x1b[0m; each percentile contains 745.23 observations
sockperf: ---> <MAX> observation = 1143.193
sockperf: ---> percentile 99.999 = 1085.826
sockperf: ---> percentile 99.990 =  148.617
sockperf: ---> percentile 99.900 =   57.758
sockperf: ---> percentile 99.000 =   35.897
sockperf: ---> percentile 90.000 =   23.944
sockperf: ---> percentile 75.000 =   20.387
sockperf: ---> percentile 50.000 =   19.386
sockperf: ---> percentile 25.000 =   19.065
sockperf: ---> <MIN> observation =   14.496
`;

const DNSPERF = `Statistics:

  Queries sent:         211468
  Queries completed:    211468 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 190321 (90.00%), NXDOMAIN 21147 (10.00%)
  Average packet size:  request 32, response 48
  Run time (s):         3.001017
  Queries per second:   70465.445547

  Average Latency (s):  0.001325 (min 0.000057, max 0.006008)
  Latency StdDev (s):   0.000350
`;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()) && process.argv.includes('--self-test')) {
  const assert = (c, what) => {
    if (!c) {
      console.error(`self-test: ${what}`);
      process.exit(1);
    }
  };
  const s = parseSockperf(SOCKPERF);
  assert(s.figures.rtt_avg_us === 20.763 && s.figures.rtt_p50_us === 19.386 && s.figures.rtt_p99_us === 35.897, 'sockperf avg/p50/p99');
  assert(s.figures.rtt_p999_us === 57.758 && s.figures.rtt_min_us === 14.496 && s.figures.rtt_max_us === 1143.193, 'sockperf p99.9/min/max');
  assert(s.count === 93310 && s.seconds === 2 && Math.round(s.figures.rtt_per_s) === 48079 && s.problems.length === 0, 'sockperf counts');
  assert(parseSockperf(SOCKPERF.replace('dropped messages = 0', 'dropped messages = 3')).problems.length === 1, 'sockperf drops');
  const q = queryFile('bench.test');
  const d = parseDnsperf(DNSPERF, { NOERROR: 0.9, NXDOMAIN: 0.1 });
  assert(d.figures.qps === 70465.445547 && d.count === 211468 && d.extra.lost === 0 && d.problems.length === 0, 'dnsperf');
  assert(Math.abs(d.figures.latency_avg_ms - 1.325) < 1e-9, 'dnsperf latency');
  assert(parseDnsperf(DNSPERF.replace('NXDOMAIN 21147', 'SERVFAIL 21147'), q.expected).problems.length >= 1, 'dnsperf rcodes');
  assert(q.expected.NXDOMAIN > 0.07 && q.expected.NXDOMAIN < 0.13, `query mix ${q.expected.NXDOMAIN}`);
  console.log(`self-test: ok (query file: ${(q.expected.NXDOMAIN * 100).toFixed(1)}% NXDOMAIN)`);
}
