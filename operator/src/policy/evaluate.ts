/**
 * Policy decisions.  Listening: some listen rule must permit the tenant, the
 * bound address and the port (else EACCES, as for a privileged port).
 * Connecting: the first connect rule that matches decides; none matching,
 * `defaults.connect` does.  A denied connect fails with the rule's errno,
 * EPERM by default: what Linux returns when a local firewall rule drops the
 * outgoing SYN (OUTPUT chain DROP), distinct from ECONNREFUSED ("nobody
 * listens"), which a rule may choose to mimic a REJECT.
 */
import { cidrContains, type InetAddress, isWildcard } from '../net/address.ts';
import type { ConnectRule, ListenRule, Policy, PortSet, SocketTypeMatch } from './types.ts';

function portIn(set: PortSet, port: number): boolean {
  return set === null || set.some(([lo, hi]) => port >= lo && port <= hi);
}

function typeIn(m: SocketTypeMatch, type: 'stream' | 'dgram'): boolean {
  return m === 'any' || m === type;
}

/** The listen rule that permits it, or null. A wildcard bind needs a rule without an address (or "any"). */
export function listenRuleFor(
  p: Policy,
  tenant: string,
  address: InetAddress,
  type: 'stream' | 'dgram',
): ListenRule | null {
  return (
    p.listen.find(
      (r) =>
        (r.tenant === '*' || r.tenant === tenant) &&
        typeIn(r.type, type) &&
        portIn(r.ports, address.port) &&
        (r.address === null || (!isWildcard(address) && cidrContains(r.address, address))),
    ) ?? null
  );
}

export interface ConnectQuery {
  readonly from: string;
  /** The tenant that owns the destination address, or null when it is off the circuit network. */
  readonly toTenant: string | null;
  readonly destination: InetAddress;
  readonly type: 'stream' | 'dgram';
}

export interface ConnectDecision {
  readonly allow: boolean;
  /** `connect rule #2 "web-to-db" (line 14)` or `defaults.connect`. */
  readonly rule: string;
  readonly errno: 'EPERM' | 'ECONNREFUSED';
}

function matches(r: ConnectRule, q: ConnectQuery): boolean {
  if (r.from !== '*' && r.from !== q.from) return false;
  const to = r.to;
  if (!typeIn(to.type, q.type) || !portIn(to.ports, q.destination.port)) return false;
  if (to.address !== null && !cidrContains(to.address, q.destination)) return false;
  if (to.external !== null && to.external !== (q.toTenant === null)) return false;
  if (to.tenant !== null) {
    if (q.toTenant === null) return false;
    if (to.tenant === 'self' ? q.toTenant !== q.from : to.tenant !== '*' && to.tenant !== q.toTenant) return false;
  }
  return true;
}

export function decideConnect(p: Policy, q: ConnectQuery): ConnectDecision {
  const r = p.connect.find((rule) => matches(rule, q));
  if (r) return { allow: r.action === 'allow', rule: `${r.label} (line ${r.line})`, errno: r.errno };
  return { allow: p.defaults.connect === 'allow', rule: 'defaults.connect', errno: p.defaults.errno };
}
