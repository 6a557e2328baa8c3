/** `switchboard operator`: the daemon in the foreground, logs on stderr; SIGTERM/SIGINT stop it, SIGHUP reloads the policy. */
import { Logger, type Level } from '../log.ts';
import { Operator } from '../daemon/operator.ts';

export interface DaemonArgs {
  readonly runtimeDir: string;
  readonly policyFile?: string | undefined;
  readonly metrics?: string | undefined;
  readonly logLevel: Level;
  readonly connectTimeoutMs?: number | undefined;
}

export async function runDaemon(a: DaemonArgs): Promise<number> {
  const log = Logger.toStderr(a.logLevel);
  const op = new Operator({
    runtimeDir: a.runtimeDir,
    policyFile: a.policyFile,
    metrics: a.metrics,
    log,
    ...(a.connectTimeoutMs !== undefined ? { connectTimeoutMs: a.connectTimeoutMs } : {}),
  });
  await op.start();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('operator.signal', { signal });
      op.stop().then(
        () => resolve(0),
        (e: Error) => {
          log.error('operator.stop_failed', { error: e.message });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      log.info('operator.signal', { signal: 'SIGHUP' });
      op.reload();
    });
  });
}
