/**
 * Loading a policy: YAML (with line numbers kept), then the JSON schema, then
 * the checks a schema cannot express (references to tenants that do not
 * exist, address syntax, port ranges).  Every problem names the line and the
 * rule, e.g.
 *
 *   policy.yaml:14: connect rule #2 "web-to-db": to.ports: must be a port, a range "LO-HI" or "any"
 */
import fs from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { parseCidr, parseIp } from '../net/address.ts';
import { POLICY_SCHEMA } from './schema.ts';
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from './default.ts';
import {
  type ConnectRule,
  type ListenRule,
  type Policy,
  PolicyError,
  type PolicyProblem,
  type PortSet,
  type PublishRule,
  type TenantSpec,
} from './types.ts';

const validate = new Ajv({ allErrors: true, strict: false, verbose: true }).compile(POLICY_SCHEMA);

export interface LoadOptions {
  /** Owner of tenant sockets when the policy names none: the operator's user. */
  readonly uid: number;
  readonly gid: number;
}

function ownUser(): LoadOptions {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

export function loadPolicyFile(file: string, opts: LoadOptions = ownUser()): Policy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError(file, [{ line: 0, rule: 'policy', message: `cannot read: ${(e as Error).message}` }]);
  }
  return parsePolicy(text, file, opts);
}

export function defaultPolicy(opts: LoadOptions = ownUser()): Policy {
  return parsePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE, opts);
}

type Path = readonly (string | number)[];

class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The line of the node at `path`, or of its nearest existing ancestor. */
  line(path: Path, key?: string): number {
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n);
      const node = (p.length ? this.doc.getIn(p, true) : this.doc.contents) as YamlNode | undefined;
      if (node && n === path.length && key !== undefined && isMap(node)) {
        const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
        const keyNode = pair?.key as YamlNode | undefined;
        if (keyNode?.range) return this.lines.linePos(keyNode.range[0]).line;
      }
      if (node?.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }

  /** `connect rule #2 "web-to-db"`, `tenant "web"`, `defaults`, `policy`. */
  rule(path: Path, data: unknown): string {
    const [section, index] = path;
    if (typeof index !== 'number' || typeof section !== 'string') return typeof section === 'string' ? section : 'policy';
    const item = (data as Record<string, unknown[]>)[section]?.[index] as Record<string, unknown> | undefined;
    const named = typeof item?.name === 'string' ? ` "${item.name}"` : '';
    if (section === 'tenants') return `tenant #${index + 1}${named}`;
    return `${section} rule #${index + 1}${named}`;
  }
}

function fieldOf(path: Path): string {
  const rest = path.slice(typeof path[1] === 'number' ? 2 : 1).map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`));
  return rest.join('').replace(/^\./, '');
}

function describeAjv(e: ErrorObject): { path: Path; key?: string; message: string } {
  const path: Path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const description = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      return { path, key, message: `unknown key "${key}"` };
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      return { path, message: `missing "${key}"` };
    }
    default:
      return { path, message: description ? `must be ${description}` : (e.message ?? e.keyword) };
  }
}

export function parsePolicy(text: string, source: string, opts: LoadOptions = ownUser()): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      source,
      doc.errors.map((e) => ({
        line: e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line,
        rule: 'YAML',
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  const data: unknown = doc.toJS();
  const at = new Locator(doc, lines);
  if (!validate(data)) {
    // anyOf failures come with one error per alternative: report the anyOf itself, once per place.
    const errors = (validate.errors ?? []).filter(
      (e) => !(validate.errors ?? []).some((o) => o.keyword === 'anyOf' && o !== e && e.schemaPath.startsWith(o.schemaPath.replace(/\/anyOf$/, '/anyOf/'))),
    );
    const seen = new Set<string>();
    const problems: PolicyProblem[] = [];
    for (const e of errors) {
      const d = describeAjv(e);
      const field = fieldOf(d.key !== undefined ? [...d.path, d.key] : d.path);
      const p = { line: at.line(d.path, d.key), rule: at.rule(d.path, data), message: field ? `${field}: ${d.message}` : d.message };
      const id = `${p.line}|${p.rule}|${p.message}`;
      if (!seen.has(id)) problems.push(p), seen.add(id);
    }
    throw new PolicyError(source, problems.sort((a, b) => a.line - b.line));
  }
  return compile(data as RawPolicy, source, at, opts);
}

// ---- after the schema: references, addresses, ranges ----------------------------------------

type RawPorts = number | string | (number | string)[];
interface RawPolicy {
  version: 1;
  tenants_on_demand?: boolean;
  tenants?: { name: string; uid?: number; gid?: number; mode?: '0600' | '0660'; addresses?: string[] }[];
  listen?: { name?: string; tenant: string; ports: RawPorts; address?: string; type?: 'stream' | 'dgram' | 'any' }[];
  connect?: {
    name?: string;
    from: string;
    to: { tenant?: string; ports?: RawPorts; address?: string; external?: boolean; type?: 'stream' | 'dgram' | 'any' };
    action: 'allow' | 'deny';
    errno?: 'EPERM' | 'ECONNREFUSED';
  }[];
  publish?: { name?: string; host_address?: string; host_port: number; tenant: string; port: number; type?: 'stream' | 'dgram' }[];
  defaults?: { connect?: 'allow' | 'deny'; errno?: 'EPERM' | 'ECONNREFUSED' };
}

function compile(raw: RawPolicy, source: string, at: Locator, opts: LoadOptions): Policy {
  const problems: PolicyProblem[] = [];
  const problem = (path: Path, message: string, key?: string) =>
    problems.push({ line: at.line(path, key), rule: at.rule(path, raw), message });

  const ports = (path: Path, v: RawPorts | undefined): PortSet => {
    if (v === undefined || v === 'any') return null;
    const list = Array.isArray(v) ? v : [v];
    if (list.includes('any')) return null;
    const out: [number, number][] = [];
    list.forEach((p, i) => {
      const [lo, hi = lo] = typeof p === 'number' ? [p] : p.split('-').map(Number);
      const where = Array.isArray(v) ? [...path, i] : path;
      if (lo !== undefined && lo >= 1 && hi <= 65535 && lo <= hi) out.push([lo, hi]);
      else problem(where, `${fieldOf(where)}: "${p}" is not a port range within 1..65535`);
    });
    return out;
  };
  const cidr = (path: Path, text: string | undefined) => {
    if (text === undefined || text === 'any') return null;
    const c = parseCidr(text);
    if (!c) problem(path, `${fieldOf(path)}: "${text}" is not an IP address or CIDR range`);
    return c ?? null;
  };

  const tenants = new Map<string, TenantSpec>();
  (raw.tenants ?? []).forEach((t, i) => {
    const path = ['tenants', i];
    if (tenants.has(t.name)) problem([...path, 'name'], `name: tenant "${t.name}" is defined twice`);
    const addresses = (t.addresses ?? []).flatMap((a, j) => {
      const ip = parseIp(a);
      if (!ip) problem([...path, 'addresses', j], `addresses[${j}]: "${a}" is not a single IP address`);
      const c = ip ? parseCidr(a) : undefined;
      return c ? [c] : [];
    });
    tenants.set(t.name, {
      name: t.name,
      uid: t.uid ?? opts.uid,
      gid: t.gid ?? (t.uid !== undefined ? t.uid : opts.gid),
      mode: t.mode === '0660' ? 0o660 : 0o600,
      addresses,
      line: at.line(path),
    });
  });
  const known = (path: Path, name: string | undefined, extra: readonly string[]) => {
    if (name !== undefined && !extra.includes(name) && !tenants.has(name) && !raw.tenants_on_demand) {
      problem(path, `${fieldOf(path)}: no tenant "${name}" (tenants: ${[...tenants.keys()].join(', ') || 'none'})`);
    }
  };

  const listen: ListenRule[] = (raw.listen ?? []).map((r, i) => {
    const path = ['listen', i];
    known([...path, 'tenant'], r.tenant, ['*']);
    return {
      label: at.rule(path, raw),
      line: at.line(path),
      tenant: r.tenant,
      ports: ports([...path, 'ports'], r.ports),
      address: cidr([...path, 'address'], r.address),
      type: r.type ?? 'any',
    };
  });

  const connect: ConnectRule[] = (raw.connect ?? []).map((r, i) => {
    const path = ['connect', i];
    known([...path, 'from'], r.from, ['*']);
    known([...path, 'to', 'tenant'], r.to.tenant, ['*', 'self']);
    if (r.to.external === true && r.to.tenant !== undefined) {
      problem([...path, 'to'], 'to: "external: true" and "tenant" cannot both match: programs off the circuit network have no tenant');
    }
    return {
      label: at.rule(path, raw),
      line: at.line(path),
      from: r.from,
      to: {
        tenant: r.to.tenant ?? null,
        ports: ports([...path, 'to', 'ports'], r.to.ports),
        address: cidr([...path, 'to', 'address'], r.to.address),
        external: r.to.external ?? null,
        type: r.to.type ?? 'any',
      },
      action: r.action,
      errno: r.errno ?? raw.defaults?.errno ?? 'EPERM',
    };
  });

  const hostPorts = new Set<string>();
  const publish: PublishRule[] = (raw.publish ?? []).map((r, i) => {
    const path = ['publish', i];
    known([...path, 'tenant'], r.tenant, []);
    const hostAddress = r.host_address ?? '127.0.0.1';
    if (!parseIp(hostAddress)) problem([...path, 'host_address'], `host_address: "${hostAddress}" is not a single IP address`);
    const type = r.type ?? 'stream';
    const id = `${type} ${hostAddress} ${r.host_port}`;
    if (hostPorts.has(id)) problem([...path, 'host_port'], `host_port: ${hostAddress}:${r.host_port} (${type}) is published twice`);
    hostPorts.add(id);
    return { label: at.rule(path, raw), line: at.line(path), hostAddress, hostPort: r.host_port, tenant: r.tenant, port: r.port, type };
  });

  if (problems.length > 0) throw new PolicyError(source, problems.sort((a, b) => a.line - b.line));
  return {
    source,
    tenants,
    tenantsOnDemand: raw.tenants_on_demand ?? false,
    listen,
    connect,
    publish,
    defaults: { connect: raw.defaults?.connect ?? 'deny', errno: raw.defaults?.errno ?? 'EPERM' },
  };
}

// Re-exported so callers need one import.
export { PolicyError } from './types.ts';
export type { Policy } from './types.ts';
