/** errno numbers and names (Linux values, from Node's own table). */
import os from 'node:os';

export const E = os.constants.errno;

const NAMES = new Map<number, string>(Object.entries(E).map(([name, n]) => [n, name]));

export function errnoName(n: number): string {
  return NAMES.get(n) ?? `errno ${n}`;
}

export function errnoByName(name: string): number | undefined {
  return (E as Record<string, number>)[name];
}
