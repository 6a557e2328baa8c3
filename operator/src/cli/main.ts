/**
 * The `switchboard` command line.
 *
 *   switchboard operator [--policy FILE] [--runtime-dir DIR] [--metrics ADDR] [--log-level L] [--connect-timeout S]
 *   switchboard run [--tenant NAME] [--isolate] [--policy FILE] [--runtime-dir DIR] -- CMD ARGS…
 *   switchboard status [--json] | circuits [--json] | reload | stats [--tenant NAME]
 *   switchboard policy check FILE
 */
import { isLevel } from '../log.ts';
import { defaultRuntimeDir } from '../paths.ts';
import { parse, UsageError } from './args.ts';
import { circuits, policyCheck, reload, stats, status } from './commands.ts';
import { runDaemon } from './daemon.ts';
import { runProgram } from './run.ts';

const USAGE = `usage:
  switchboard operator [--policy FILE] [--runtime-dir DIR] [--metrics HOST:PORT] [--log-level debug|info|warn|error] [--connect-timeout SECONDS]
  switchboard run [--tenant NAME] [--isolate] [--policy FILE] [--runtime-dir DIR] -- CMD ARGS...
  switchboard status [--json] [--runtime-dir DIR]
  switchboard circuits [--json] [--runtime-dir DIR]
  switchboard reload [--runtime-dir DIR]
  switchboard stats [--tenant NAME] [--runtime-dir DIR]
  switchboard policy check FILE
See docs/operator.md.
`;

const dirOption = { 'runtime-dir': { type: 'string' } } as const;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'operator': {
      const { values } = parse(rest, {
        ...dirOption,
        policy: { type: 'string' },
        metrics: { type: 'string' },
        'log-level': { type: 'string' },
        'connect-timeout': { type: 'string' },
      });
      const level = values['log-level'] ?? 'info';
      if (!isLevel(level)) throw new UsageError(`--log-level: "${level}" is not debug, info, warn or error`);
      const timeout = values['connect-timeout'] === undefined ? undefined : Number(values['connect-timeout']);
      if (timeout !== undefined && !(timeout > 0)) throw new UsageError('--connect-timeout: a number of seconds > 0');
      return runDaemon({
        runtimeDir: values['runtime-dir'] ?? defaultRuntimeDir(),
        policyFile: values.policy,
        metrics: values.metrics,
        logLevel: level,
        connectTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
      });
    }
    case 'run': {
      const dash = rest.indexOf('--');
      const own = dash < 0 ? rest : rest.slice(0, dash);
      const command = dash < 0 ? [] : rest.slice(dash + 1);
      const { values } = parse(own, { ...dirOption, tenant: { type: 'string' }, isolate: { type: 'boolean' }, policy: { type: 'string' } });
      return runProgram({
        runtimeDir: values['runtime-dir'] ?? defaultRuntimeDir(),
        tenant: values.tenant ?? 'default',
        isolate: values.isolate ?? false,
        policyFile: values.policy,
        command,
      });
    }
    case 'status':
    case 'circuits': {
      const { values } = parse(rest, { ...dirOption, json: { type: 'boolean' } });
      const dir = values['runtime-dir'] ?? defaultRuntimeDir();
      return cmd === 'status' ? status(dir, values.json ?? false) : circuits(dir, values.json ?? false);
    }
    case 'reload': {
      const { values } = parse(rest, dirOption);
      return reload(values['runtime-dir'] ?? defaultRuntimeDir());
    }
    case 'stats': {
      const { values } = parse(rest, { ...dirOption, tenant: { type: 'string' } });
      return stats(values['runtime-dir'] ?? defaultRuntimeDir(), values.tenant ?? '');
    }
    case 'policy': {
      const { positionals } = parse(rest, {}, true);
      if (positionals[0] !== 'check' || positionals.length !== 2) throw new UsageError('usage: switchboard policy check FILE');
      return policyCheck(positionals[1]!);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

export async function cli(argv: string[]): Promise<never> {
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`switchboard: ${e.message}\n${USAGE}`);
      code = 2;
    } else {
      process.stderr.write(`switchboard: ${(e as Error).message}\n`);
      code = 1;
    }
  }
  process.exit(code);
}
