// Placeholder until the protocol generator lands (being written in parallel).
import type { Generator } from '../framework.ts';
export const protocolGenerator: Generator = { name: 'protocol', check: () => [], render: () => [] };
