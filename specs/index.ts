/**
 * Every spec codegen reads.  Codegen imports this module for the values and
 * parses the files under specs/ for the locations its messages point at.
 */
export { stream } from './socket/stream.ts';
export { dgram } from './socket/dgram.ts';
export { libc } from './libc.ts';
export { protocol } from './protocol.ts';
