/** Per-tenant counters: what `stats_reply` and `switchboard status` report. */
export interface TenantCounters {
  circuitsTotal: bigint;
  connectsGranted: bigint;
  connectsDenied: bigint;
  /** Sums over `closed` notices: the tenant's own claims. */
  bytesSent: bigint;
  bytesReceived: bigint;
}

export class Counters {
  private readonly byTenant = new Map<string, TenantCounters>();
  messagesReceived = 0;
  /** Connects the native fast path answered itself (granted or denied). */
  fastPathAnswered = 0;
  messagesRejected = 0;
  sessionsOpened = 0;

  of(tenant: string): TenantCounters {
    let c = this.byTenant.get(tenant);
    if (!c) {
      c = { circuitsTotal: 0n, connectsGranted: 0n, connectsDenied: 0n, bytesSent: 0n, bytesReceived: 0n };
      this.byTenant.set(tenant, c);
    }
    return c;
  }
}
