// Placeholder until the libc generator lands (being written in parallel).
import type { Generator } from '../framework.ts';
export const libcGenerator: Generator = { name: 'libc', check: () => [], render: () => [] };
