/** A policy after loading: validated, with every reference resolved and every address parsed. */
import type { Cidr } from '../net/address.ts';

export type SocketTypeMatch = 'stream' | 'dgram' | 'any';

/** Inclusive port ranges; `null` means any port. */
export type PortSet = readonly (readonly [number, number])[] | null;

/** Where a rule came from, for errors and audit lines. */
export interface RuleOrigin {
  /** `connect rule #2 "web-to-db"` */
  readonly label: string;
  readonly line: number;
}

export interface TenantSpec {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  /** Single IPs: where this tenant's wildcard listeners answer. */
  readonly addresses: readonly Cidr[];
  readonly line: number;
}

export interface ListenRule extends RuleOrigin {
  readonly tenant: string; // name or '*'
  readonly ports: PortSet;
  readonly address: Cidr | null;
  readonly type: SocketTypeMatch;
}

export interface ConnectRule extends RuleOrigin {
  readonly from: string; // name or '*'
  readonly to: {
    readonly tenant: string | null; // name, 'self', '*' or null (any)
    readonly ports: PortSet;
    readonly address: Cidr | null;
    readonly external: boolean | null;
    readonly type: SocketTypeMatch;
  };
  readonly action: 'allow' | 'deny';
  readonly errno: 'EPERM' | 'ECONNREFUSED';
}

export interface PublishRule extends RuleOrigin {
  readonly hostAddress: string;
  readonly hostPort: number;
  readonly tenant: string;
  readonly port: number;
  readonly type: 'stream' | 'dgram';
}

export interface Policy {
  /** The file it came from, or "embedded default". */
  readonly source: string;
  readonly tenants: ReadonlyMap<string, TenantSpec>;
  readonly tenantsOnDemand: boolean;
  readonly listen: readonly ListenRule[];
  readonly connect: readonly ConnectRule[];
  readonly publish: readonly PublishRule[];
  readonly defaults: { readonly connect: 'allow' | 'deny'; readonly errno: 'EPERM' | 'ECONNREFUSED' };
}

export interface PolicyProblem {
  readonly line: number;
  /** The rule or section at fault: `connect rule #2 "web-to-db"`, `tenant "web"`, `policy`. */
  readonly rule: string;
  readonly message: string;
}

export class PolicyError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly PolicyProblem[],
  ) {
    super(problems.map((p) => `${source}:${p.line}: ${p.rule}: ${p.message}`).join('\n'));
    this.name = 'PolicyError';
  }
}
