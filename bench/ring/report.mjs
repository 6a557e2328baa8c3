/**
 * From measurements to what `npm run bench -- ring` prints: placement
 * classes, medians, tables with ratios to TCP, the summary line.
 */
import { SWEEP_RINGS, SWEEP_SIZES, RTT_VARIANTS } from './plan.mjs';

/** Probe round trips below this are the "near" placement (~0.1 µs), above it "far" (0.35–0.45 µs). */
export const PLACEMENT_THRESHOLD_NS = 200;

export function placementOf(m) {
  const near = (ns) => ns < PLACEMENT_THRESHOLD_NS;
  if (near(m.probe_before_ns) && near(m.probe_after_ns)) return 'near';
  if (!near(m.probe_before_ns) && !near(m.probe_after_ns)) return 'far';
  return 'mixed'; // the placement changed during the measurement: reported apart, never pooled
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** placement → key → { n, gbps, cpu, rtt, p99 } (medians over that placement's measurements). */
export function summarise(records) {
  const groups = {};
  for (const m of records) ((groups[m.placement] ??= {})[m.key] ??= []).push(m);
  const out = {};
  for (const [pl, byKey] of Object.entries(groups)) {
    out[pl] = {};
    for (const [key, ms] of Object.entries(byKey)) {
      const f = { n: ms.length };
      if (ms[0].kind === 'goodput') {
        f.gbps = median(ms.map((m) => m.gbps));
        f.cpu_s_per_gib = median(ms.map((m) => m.cpu_s_per_gib));
      } else {
        f.median_ns = median(ms.map((m) => m.median_ns));
        f.p99_ns = median(ms.map((m) => m.p99_ns));
        f.cpu_ns_per_rtt = median(ms.map((m) => m.cpu_ns_per_rtt));
        f.sleeps_per_rtt = median(ms.map((m) => m.sleeps_per_rtt));
      }
      out[pl][key] = f;
    }
  }
  return out;
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const cell = (s, w) => String(s).padStart(w);
const sizeName = (b) => (b >= 1048576 ? `${b / 1048576} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

function table(title, header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : cell(c, widths[i]))).join('  ');
  return [title, line(header), ...rows.map(line)].join('\n');
}

/** The tables for one placement. */
export function tables(fig, transports, sizes, pl, count) {
  const out = [`== placement ${pl}: ${count} measurements ==`];
  const g = (t, s) => fig[`goodput ${t} ${s}`];
  if (sizes.some((s) => g('tcp', s))) {
    const rows = sizes.map((s) => [sizeName(s), ...transports.map((t) => {
      const x = g(t, s), base = g('tcp', s);
      return x ? `${fmt(x.gbps)}${t === 'tcp' ? '' : ` (${fmt(x.gbps / base?.gbps, 1)}x)`}` : '-';
    })]);
    out.push(table('goodput, Gbit/s (ratio to TCP), median', ['message', ...transports], rows));
    const cpu = sizes.map((s) => [sizeName(s), ...transports.map((t) => fmt(g(t, s)?.cpu_s_per_gib, 3))]);
    out.push(table('CPU seconds per GiB moved (user+sys, both processes), median', ['message', ...transports], cpu));
  }
  const rtt = Object.keys(RTT_VARIANTS).filter((l) => fig[`rtt ${l}`]);
  if (rtt.length) {
    const base = fig['rtt tcp']?.median_ns;
    const rows = rtt.map((l) => {
      const x = fig[`rtt ${l}`];
      return [l, fmt(x.median_ns / 1000, 3), fmt(x.p99_ns / 1000, 3), `${fmt(base / x.median_ns, 1)}x`,
        fmt(x.cpu_ns_per_rtt / 1000, 2), fmt(x.sleeps_per_rtt, 2), x.n];
    });
    out.push(table('1-byte round trip, µs (median of per-run medians / p99s); CPU and sleeps are both processes\'',
      ['transport', 'median', 'p99', 'tcp/x', 'cpu µs/rt', 'sleeps/rt', 'runs'], rows));
  }
  if (fig[`sweep copy ${SWEEP_SIZES[0]} ${SWEEP_RINGS[0]}`]) {
    const cols = SWEEP_SIZES.flatMap((s) => ['copy', 'zerocopy'].map((t) => [t, s]));
    const ref = (t, s) => fig[`sweep ${t} ${s} 0`];
    const rows = SWEEP_RINGS.map((r) => [sizeName(r), ...cols.map(([t, s]) => {
      const x = fig[`sweep ${t} ${s} ${r}`];
      return x ? `${fmt(x.gbps, 1)} /${fmt(x.cpu_s_per_gib, 2)}` : '-';
    })]);
    rows.push(['(tcp, unix)', ...cols.map(([, s]) => `${fmt(ref('tcp', s)?.gbps, 1)}, ${fmt(ref('unix', s)?.gbps, 1)}`)]);
    out.push(table('ring-size sweep: Gbit/s /CPU s per GiB, median',
      ['ring', ...cols.map(([t, s]) => `${t} @${sizeName(s)}`)], rows));
  }
  return out.join('\n\n');
}

/** The placement the summary line speaks for: the one with the most measurements. */
export function summaryPlacement(records) {
  const count = {};
  for (const m of records) if (m.placement !== 'mixed') count[m.placement] = (count[m.placement] ?? 0) + 1;
  const best = Object.entries(count).sort((a, b) => b[1] - a[1])[0];
  return best ? best[0] : 'mixed';
}

/** `ring: copy/tcp=R copy/unix=R zerocopy/copy=R rtt tcp/spin=R rtt sleep/unix=R` (larger is better for the circuit). */
export function summaryLine(fig) {
  const gp = (t) => fig[`goodput ${t} 65536`]?.gbps;
  const rt = (l) => fig[`rtt ${l}`]?.median_ns;
  const r = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
  return `ring: copy/tcp=${r(gp('copy') / gp('tcp'))} copy/unix=${r(gp('copy') / gp('unix'))} `
    + `zerocopy/copy=${r(gp('zerocopy') / gp('copy'))} rtt tcp/spin=${r(rt('tcp') / rt('copy spin'))} `
    + `rtt sleep/unix=${r(rt('unix') / rt('copy sleep'))}`;
}
