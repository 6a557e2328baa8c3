/** glibc symbol versions (`GLIBC_2.3.2`): parsing and ordering. */

const VERSION = /^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$/;

export function parseGlibcVersion(v: string): number[] | undefined {
  const m = VERSION.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** Negative when a < b, 0 when equal, positive when a > b; both must parse. */
export function compareGlibcVersions(a: string, b: string): number {
  const pa = parseGlibcVersion(a) ?? [0, 0, 0];
  const pb = parseGlibcVersion(b) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    const d = pa[i]! - pb[i]!;
    if (d !== 0) return d;
  }
  return 0;
}
