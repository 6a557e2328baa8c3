/**
 * Prometheus metrics (prom-client, its own registry) and the HTTP endpoint
 * that `--metrics ADDR` serves them on: GET /metrics.  Listen on loopback
 * unless you mean to expose them.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly circuitsOpen = new Gauge({ name: 'switchboard_circuits_open', help: 'Circuits granted whose ends are not both gone', registers: [this.registry] });
  readonly reservations = new Gauge({ name: 'switchboard_reservations', help: 'Address reservations held', registers: [this.registry] });
  readonly sessions = new Gauge({ name: 'switchboard_sessions_open', help: 'Open control connections', registers: [this.registry] });
  readonly granted = new Counter({
    name: 'switchboard_connects_granted_total',
    help: 'Connects granted a circuit',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly denied = new Counter({
    name: 'switchboard_connects_denied_total',
    help: 'Connects the policy refused',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: 'switchboard_connects_failed_total',
    help: 'Connects that failed for another reason (nothing listening, backlog full, …)',
    labelNames: ['tenant', 'errno'] as const,
    registers: [this.registry],
  });
  readonly setup = new Histogram({
    name: 'switchboard_connect_setup_seconds',
    help: 'From a connect request read to its grant sent (operator side)',
    buckets: [10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3, 100e-3, 1],
    registers: [this.registry],
  });
  readonly datagrams = new Counter({
    name: 'switchboard_datagrams_total',
    help: 'Datagrams published into datagram circuits, by receiving tenant (counted by the tenants in circuit memory: statistics)',
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly datagramsDropped = new Counter({
    name: 'switchboard_datagrams_dropped_total',
    help: "Datagrams a sender dropped because the receiver's ring was full (UDP receive-buffer drops), by receiving tenant",
    labelNames: ['tenant'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'switchboard_control_messages_rejected_total',
    help: 'Control messages that could not be decoded (the connection was closed)',
    registers: [this.registry],
  });
  private server: http.Server | null = null;
  /** Runs before every scrape (the operator brings in what its native fast path counted). */
  beforeCollect: () => void = () => {};

  /** Serves /metrics on "HOST:PORT" (or ":PORT" for 127.0.0.1); resolves with the bound address. */
  async serve(address: string): Promise<string> {
    const m = /^(?:\[?([^\]]*)\]?)?:(\d+)$/.exec(address);
    if (!m) throw new Error(`--metrics: "${address}" is not HOST:PORT`);
    const host = m[1] || '127.0.0.1';
    const port = Number(m[2]);
    this.server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found: GET /metrics\n');
        return;
      }
      this.beforeCollect();
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(`${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const a = this.server.address();
    return typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : address;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
