/** Where things are: the repository's build outputs and the operator's runtime directory. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (operator/src/paths.ts is two levels below it). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The native addon, built by `npm run build` (operator/native). */
export const NATIVE_ADDON = path.join(ROOT, 'build', 'cmake', 'lib', 'switchboard_native.node');

/** The shim that `switchboard run` preloads (SWITCHBOARD_SHIM overrides, as in docs/libc-surface.md). */
export function shimPath(): string {
  return process.env.SWITCHBOARD_SHIM || path.join(ROOT, 'build', 'cmake', 'lib', 'libswitchboard.so');
}

/** The operator's version, reported in hello_reply (the package's version). */
export const OPERATOR_VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * The default runtime directory: SWITCHBOARD_RUNTIME_DIR, else /run/switchboard
 * for root, $XDG_RUNTIME_DIR/switchboard for others, else a per-user directory in /tmp.
 */
export function defaultRuntimeDir(): string {
  if (process.env.SWITCHBOARD_RUNTIME_DIR) return process.env.SWITCHBOARD_RUNTIME_DIR;
  if (process.getuid?.() === 0) return '/run/switchboard';
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'switchboard');
  return path.join(os.tmpdir(), `switchboard-${process.getuid?.() ?? 'user'}`);
}

/** The files of one runtime directory. */
export function runtimeFiles(dir: string) {
  return {
    dir,
    admin: path.join(dir, 'admin.sock'),
    state: path.join(dir, 'operator.json'),
    log: path.join(dir, 'operator.log'),
    tenantsDir: path.join(dir, 'tenants'),
    tenantDir: (name: string) => path.join(dir, 'tenants', name),
    tenantSocket: (name: string) => path.join(dir, 'tenants', name, 'control.sock'),
  };
}
export type RuntimeFiles = ReturnType<typeof runtimeFiles>;
