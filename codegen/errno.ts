/**
 * The Linux errno names, read from the kernel's UAPI headers on this machine
 * (asm-generic/errno-base.h and errno.h, which every Linux architecture's
 * asm/errno.h includes) plus glibc's aliases.  Specs may only use these.
 */
import fs from 'node:fs';

const HEADERS = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];
/** glibc defines these in bits/errno.h as aliases of kernel errnos. */
const GLIBC_ALIASES: Record<string, string> = { ENOTSUP: 'EOPNOTSUPP' };

let cache: ReadonlyMap<string, number> | undefined;

/** name → number; aliases resolve to their target's number. */
export function linuxErrnos(): ReadonlyMap<string, number> {
  if (cache) return cache;
  const byName = new Map<string, number>();
  const aliases: [string, string][] = [];
  for (const h of HEADERS) {
    if (!fs.existsSync(h)) {
      throw new Error(`codegen: ${h} is missing; install the kernel headers (Debian: apt-get install linux-libc-dev)`);
    }
    for (const m of fs.readFileSync(h, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\d+|E[A-Z0-9]+)\b/gm)) {
      const [, name, value] = m as unknown as [string, string, string];
      if (/^\d+$/.test(value)) byName.set(name, Number(value));
      else aliases.push([name, value]);
    }
  }
  for (const [name, target] of [...aliases, ...Object.entries(GLIBC_ALIASES)]) {
    const n = byName.get(target);
    if (n !== undefined) byName.set(name, n);
  }
  cache = byName;
  return byName;
}
