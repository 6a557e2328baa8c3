/**
 * Structured logs: one JSON object per line, `{"time", "level", "event", …fields}`.
 * The daemon writes them to stderr in the foreground (or to a file when the
 * launcher embeds it).  Denied connects are `audit` lines: one per decision.
 */
import fs from 'node:fs';

export type Level = 'debug' | 'info' | 'audit' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 0, info: 1, audit: 2, warn: 3, error: 4 };

export type Fields = Record<string, unknown>;

export class Logger {
  constructor(
    private readonly write: (line: string) => void,
    private readonly min: Level = 'info',
  ) {}

  static toStderr(min: Level = 'info'): Logger {
    return new Logger((line) => process.stderr.write(line), min);
  }

  static toFile(file: string, min: Level = 'info'): Logger {
    const fd = fs.openSync(file, 'a', 0o600);
    return new Logger((line) => fs.writeSync(fd, line), min);
  }

  static silent(): Logger {
    return new Logger(() => {}, 'error');
  }

  /** `at`: when it happened, if that was earlier (what the native fast path did is logged a little later). */
  log(level: Level, event: string, fields: Fields = {}, at: Date = new Date()): void {
    if (RANK[level] < RANK[this.min]) return;
    this.write(`${JSON.stringify({ time: at.toISOString(), level, event, ...fields }, jsonValue)}\n`);
  }

  enabled(level: Level): boolean {
    return RANK[level] >= RANK[this.min];
  }

  debug(event: string, fields?: Fields): void {
    this.log('debug', event, fields);
  }
  info(event: string, fields?: Fields): void {
    this.log('info', event, fields);
  }
  audit(event: string, fields?: Fields): void {
    this.log('audit', event, fields);
  }
  warn(event: string, fields?: Fields): void {
    this.log('warn', event, fields);
  }
  error(event: string, fields?: Fields): void {
    this.log('error', event, fields);
  }
}

/** bigint ids and counters print as numbers' text. */
function jsonValue(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export function isLevel(s: string): s is Level {
  return s in RANK;
}
