// The runtime suite (suite.cjs) under Node, Bun and Deno against the built package in dist/:
// one jest test per runtime and case. Bun and Deno come from the npm packages @oven/bun-linux-x64
// and @deno/linux-x64-glibc, installed by .ci/run into .runtimes/ (see the README).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const DIST = join(ROOT, 'dist', 'index.js');
const SUITE = join(__dirname, 'suite.cjs');
const RUNTIMES_DIR = join(ROOT, '.runtimes', 'node_modules');
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);

const CASES = [
  'tcp',
  'ipc',
  'tls',
  'udp',
  'stream-client',
  'frame-too-large',
  'hostile-header',
  'graceful-close',
];

interface Runtime {
  readonly name: string;
  readonly command: string | undefined;
  readonly args: readonly string[];
  readonly missing: string;
}

function find(envVar: string, packaged: string, onPath: string): string | undefined {
  const candidates = [process.env[envVar], join(RUNTIMES_DIR, packaged)];
  const found = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (found !== undefined) return found;
  return spawnSync(onPath, ['--version']).status === 0 ? onPath : undefined;
}

const RUNTIMES: readonly Runtime[] = [
  { name: 'node', command: process.execPath, args: [], missing: '' },
  {
    name: 'bun',
    command: find('BUN', '@oven/bun-linux-x64/bin/bun', 'bun'),
    args: [],
    missing: 'skipped: bun is not installed (.ci/run installs @oven/bun-linux-x64 into .runtimes/)',
  },
  {
    name: 'deno',
    command: find('DENO', '@deno/linux-x64-glibc/deno', 'deno'),
    args: ['run', '--allow-all'],
    missing: 'skipped: deno is not installed (.ci/run installs @deno/linux-x64-glibc into .runtimes/)',
  },
];

function runCase(runtime: Runtime, name: string): Promise<{ ok: boolean; error?: string; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(runtime.command as string, [...runtime.args, SUITE, DIST, name, String(SEED)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.once('close', () => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith('{"ok"'));
      const parsed =
        line === undefined
          ? { ok: false, error: 'no result line' }
          : (JSON.parse(line) as { ok: boolean; error?: string });
      resolve({ ...parsed, output });
    });
  });
}

beforeAll(() => {
  // CI builds once before the tests; a checkout without dist/ builds here.
  if (!existsSync(DIST)) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  }
}, 120_000);

describe.each(RUNTIMES)(`runtime $name (dist/, SEED=${SEED})`, (runtime) => {
  if (runtime.command === undefined) {
    test.skip(`${runtime.name} (${runtime.missing})`, () => {});
    return;
  }
  test.each(CASES)(
    `${runtime.name}: %s`,
    async (name) => {
      const result = await runCase(runtime, name);
      expect({ ok: result.ok, error: result.error }).toEqual({ ok: true, error: undefined });
    },
    60_000,
  );
});
