/**
 * `switchboard run [--tenant NAME] [--isolate] [--policy FILE] -- CMD ARGS…`
 *
 * Runs a program over circuits: finds the operator running in the runtime
 * directory or starts one inside this process (its log goes to
 * <runtime>/operator.log; it stops when the program exits), makes sure the
 * tenant exists, and starts CMD with the shim preloaded and pointed at the
 * tenant's socket:
 *
 *   LD_PRELOAD=<build>/libswitchboard.so (before anything already there)
 *   SWITCHBOARD_SOCKET=<runtime>/tenants/NAME/control.sock
 *   SWITCHBOARD_TENANT=NAME            (informational: the operator trusts the socket, not this)
 *   SWITCHBOARD_RUNTIME_DIR=<runtime>
 *   SWITCHBOARD_ISOLATED=1             (with --isolate)
 *
 * With --isolate the program runs in a new network namespace with no
 * interface up (unshare --net; as non-root also a user namespace), so
 * circuits are its only way to talk.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { adminRequest, type AdminAnswer } from '../daemon/admin.ts';
import { Operator } from '../daemon/operator.ts';
import { Logger } from '../log.ts';
import { runtimeFiles, shimPath } from '../paths.ts';

export interface RunArgs {
  readonly runtimeDir: string;
  readonly tenant: string;
  readonly isolate: boolean;
  readonly policyFile?: string | undefined;
  readonly command: readonly string[];
}

async function runningOperator(runtimeDir: string): Promise<AdminAnswer | null> {
  try {
    return await adminRequest(runtimeFiles(runtimeDir).admin, { cmd: 'status' }, 3000);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') return null;
    throw e;
  }
}

/** The argv prefix that puts a program in a fresh network namespace, or an Error saying what is missing. */
export function isolationPrefix(): string[] | Error {
  const asRoot = process.getuid?.() === 0;
  const prefix = asRoot ? ['unshare', '--net', '--'] : ['unshare', '--user', '--map-current-user', '--net', '--'];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), 'true'], { encoding: 'utf8' });
  if (probe.error && (probe.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return new Error('--isolate needs unshare(1) from util-linux, which is not installed');
  }
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim();
    return new Error(
      `--isolate cannot create a network namespace (${why}): run as root, or allow unprivileged user namespaces ` +
        '(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0)',
    );
  }
  return prefix;
}

export async function runProgram(a: RunArgs): Promise<number> {
  if (a.command.length === 0) throw new Error('switchboard run: no command (usage: switchboard run [options] -- CMD ARGS…)');
  const shim = shimPath();
  if (!fs.existsSync(shim)) throw new Error(`the shim ${shim} is missing: run \`npm run build\``);
  const prefix = a.isolate ? isolationPrefix() : [];
  if (prefix instanceof Error) throw prefix;

  const files = runtimeFiles(a.runtimeDir);
  let embedded: Operator | null = null;
  let tenant: AdminAnswer;
  const running = await runningOperator(a.runtimeDir);
  if (running?.ok) {
    const policy = (running.status as { policy: string }).policy;
    if (a.policyFile && policy !== a.policyFile) {
      process.stderr.write(`switchboard run: an operator is already running in ${a.runtimeDir} with policy ${policy}; --policy ${a.policyFile} is not used\n`);
    }
    tenant = await adminRequest(files.admin, { cmd: 'tenant', name: a.tenant, create: true });
  } else if (!running && fs.existsSync(files.tenantSocket(a.tenant)) && !canUseAdmin(files.admin)) {
    // Another user's operator: use the tenant socket if the permissions let us.
    tenant = { ok: true, tenant: { socket: files.tenantSocket(a.tenant) } };
  } else {
    fs.mkdirSync(a.runtimeDir, { recursive: true, mode: 0o755 });
    embedded = new Operator({ runtimeDir: a.runtimeDir, policyFile: a.policyFile, log: Logger.toFile(files.log) });
    await embedded.start();
    tenant = embedded.tenant(a.tenant, true);
  }
  if (!tenant.ok) {
    await embedded?.stop();
    throw new Error(tenant.error);
  }
  const socket = (tenant.tenant as { socket: string }).socket;

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LD_PRELOAD: [shim, process.env.LD_PRELOAD].filter(Boolean).join(' '),
    SWITCHBOARD_SOCKET: socket,
    SWITCHBOARD_TENANT: a.tenant,
    SWITCHBOARD_RUNTIME_DIR: a.runtimeDir,
  };
  if (a.isolate) env.SWITCHBOARD_ISOLATED = '1';
  const argv = [...prefix, ...a.command];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`switchboard run: cannot start ${argv[0]}: ${e.message}\n`);
      resolve(127);
    });
    child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? os.constants.signals[sig] : 0)));
  });
  for (const [sig, h] of handlers) process.off(sig, h);
  await embedded?.stop();
  return code;
}

function canUseAdmin(path: string): boolean {
  try {
    fs.accessSync(path, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
