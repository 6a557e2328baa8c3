#!/usr/bin/env node
/**
 * Installs what the build and the tests need, so that `npm test` and the
 * README's first command work on a fresh machine:
 *  - npm packages (npm ci) when node_modules is missing or stale;
 *  - Debian packages through apt-get when running as root and a tool is missing.
 * Prints what it does; does nothing when everything is present.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** command on PATH → Debian package that provides it */
const TOOLS = {
  cmake: 'cmake',
  gcc: 'gcc',
  make: 'make',
  curl: 'curl',
  wget: 'wget',
  python3: 'python3',
  nginx: 'nginx',
  iperf3: 'iperf3', // bench/apps (also GNU time)
  '/usr/bin/time': 'time',
  wrk: 'wrk',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  'redis-benchmark': 'redis-tools',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  scp: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  named: 'bind9', // compat-tests/bind9 (named and dig over UDP and TCP)
  dig: 'bind9-dnsutils',
  dnsperf: 'dnsperf',
  sockperf: 'sockperf', // compat-tests/udp-tools
  nsenter: 'util-linux',
  ip: 'iproute2',
  unshare: 'util-linux',
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
    || fs.existsSync(`/usr/sbin/${cmd}`);
}

function npmDepsCurrent() {
  const lock = path.join(root, 'package-lock.json');
  const stamp = path.join(root, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(stamp)) return false;
  return fs.statSync(stamp).mtimeMs >= fs.statSync(lock).mtimeMs;
}

if (!npmDepsCurrent()) {
  console.log('setup: installing npm packages (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

const missing = [...new Set(Object.entries(TOOLS).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg))];

// clang with libFuzzer's runtime, for the circuit fuzz target (shim/tests/circuit/fuzz_peer.c)
function haveLibFuzzer() {
  const r = spawnSync('clang', ['--print-runtime-dir'], { encoding: 'utf8' });
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  return r.status === 0 && fs.existsSync(path.join(r.stdout.trim(), `libclang_rt.fuzzer-${arch}.a`));
}
if (!haveLibFuzzer()) missing.push('clang', 'libclang-rt-14-dev');
if (missing.length > 0) {
  if (process.getuid?.() !== 0) {
    console.error(`setup: missing Debian packages: ${missing.join(' ')}; install them (as root: apt-get install ${missing.join(' ')})`);
    process.exit(1);
  }
  console.log(`setup: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  // Debian's postinst scripts start services (nginx on :80) unless policy-rc.d forbids it.
  const policy = '/usr/sbin/policy-rc.d';
  const addedPolicy = !fs.existsSync(policy);
  if (addedPolicy) fs.writeFileSync(policy, '#!/bin/sh\n# switchboard setup: installing packages must not start services\nexit 101\n', { mode: 0o755 });
  try {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  } finally {
    if (addedPolicy) fs.rmSync(policy);
  }
}
