/** `switchboard status | circuits | reload | stats | policy check`: small clients of a running operator. */
import { adminRequest, type AdminAnswer } from '../daemon/admin.ts';
import { ControlClient, describe } from '../client/control.ts';
import { runtimeFiles } from '../paths.ts';
import { loadPolicyFile } from '../policy/load.ts';
import { PolicyError } from '../policy/types.ts';

async function ask(runtimeDir: string, req: Parameters<typeof adminRequest>[1]): Promise<AdminAnswer> {
  const path = runtimeFiles(runtimeDir).admin;
  try {
    return await adminRequest(path, req);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new Error(`no operator is running in ${runtimeDir} (start one with \`switchboard operator\`)`);
    }
    if (code === 'EACCES') throw new Error(`${path}: permission denied (the admin socket belongs to the operator's user)`);
    throw e;
  }
}

function must(a: AdminAnswer): Record<string, unknown> {
  if (!a.ok) throw new Error(a.error);
  return a;
}

export async function status(runtimeDir: string, json: boolean): Promise<number> {
  const s = must(await ask(runtimeDir, { cmd: 'status' })).status as Record<string, unknown> & {
    tenants: { name: string; socket: string; sessions: number; listeners: { address: string; type: string }[]; circuits_open: number; connects_denied: string }[];
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `operator pid ${s.pid}, version ${s.version}, up ${Math.round(Number(s.uptime_ms) / 1000)} s`,
    `runtime dir ${s.runtime_dir}; policy ${s.policy}${s.metrics ? `; metrics http://${s.metrics}/metrics` : ''}`,
    `${s.sessions} sessions, ${s.reservations} reservations, ${s.circuits_open} circuits open`,
    '',
    'tenant            sessions  listeners  circuits  denied  socket',
    ...s.tenants.map(
      (t) =>
        `${t.name.padEnd(17)} ${String(t.sessions).padStart(8)}  ${String(t.listeners.length).padStart(9)}  ${String(t.circuits_open).padStart(8)}  ${String(t.connects_denied).padStart(6)}  ${t.socket}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

interface CircuitRow {
  id: string;
  type: string;
  age_ms: number;
  connector: { tenant: string; address: string; pid: number };
  acceptor: { tenant: string; address: string; pid: number };
  bytes: EachWay | null;
  datagrams: EachWay | null;
  dropped: EachWay | null;
}

/** A counter in each direction, as `circuits --json` carries it (bigints as strings). */
interface EachWay {
  connector_to_acceptor: string;
  acceptor_to_connector: string;
}

export async function circuits(runtimeDir: string, json: boolean): Promise<number> {
  const list = must(await ask(runtimeDir, { cmd: 'circuits' })).circuits as CircuitRow[];
  if (json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  const rows = list.map((c) => [
    c.id,
    c.type,
    `${c.connector.tenant} ${c.connector.address}`,
    `${c.acceptor.tenant} ${c.acceptor.address}`,
    c.bytes ? `${c.bytes.connector_to_acceptor}/${c.bytes.acceptor_to_connector}` : '-',
    c.datagrams ? `${c.datagrams.connector_to_acceptor}/${c.datagrams.acceptor_to_connector}` : '-',
    c.dropped ? `${c.dropped.connector_to_acceptor}/${c.dropped.acceptor_to_connector}` : '-',
    `${(c.age_ms / 1000).toFixed(1)}s`,
  ]);
  const head = ['id', 'type', 'connector', 'acceptor', 'bytes c>a/a>c', 'datagrams', 'dropped', 'age'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${[fmt(head), ...rows.map(fmt)].join('\n')}\n${list.length} circuits\n`);
  return 0;
}

export async function reload(runtimeDir: string): Promise<number> {
  must(await ask(runtimeDir, { cmd: 'reload' }));
  process.stdout.write('policy reloaded\n');
  return 0;
}

/** A tenant's counters, asked the way a shim asks: stats_query on the tenant socket. */
export async function stats(runtimeDir: string, tenant: string): Promise<number> {
  const socket = process.env.SWITCHBOARD_SOCKET && !tenant ? process.env.SWITCHBOARD_SOCKET : runtimeFiles(runtimeDir).tenantSocket(tenant || 'default');
  const c = new ControlClient(socket);
  try {
    c.hello('switchboard-stats');
    const r = c.request({ type: 'stats_query' });
    if (r.msg.type !== 'stats_reply') throw new Error(describe(r.msg));
    const { type: _t, requestId: _r, ...counters } = r.msg;
    process.stdout.write(`${JSON.stringify(counters, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`);
    return 0;
  } finally {
    c.close();
  }
}

export function policyCheck(file: string): number {
  try {
    const p = loadPolicyFile(file);
    process.stdout.write(
      `${file}: ok (${p.tenants.size} tenants, ${p.listen.length} listen, ${p.connect.length} connect, ${p.publish.length} publish rules)\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
}
