/**
 * The package as `npm pack` ships it, built from the working tree, and consumer projects that
 * install it, without the network.
 *
 * - `packFreshBuild()` copies the checkout's files (tracked and untracked, not ignored) into a
 *   staging folder, builds dist/ there with tsconfig.build.json, and runs `npm pack` on it. The
 *   checkout's own dist/ is never written, so other suites reading it are not disturbed.
 * - `makeConsumer()` makes a project of its own in a temporary folder: the tarball is unpacked
 *   into its node_modules/sockframe (what `npm install <tarball>` puts there), and the packages
 *   it needs besides (sockframe's dependencies, TypeScript, @types/node, ioredis, ...) are linked
 *   from this repository's node_modules, so no registry is asked.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const NODE_MODULES = join(ROOT, 'node_modules');
export const TSC = join(NODE_MODULES, 'typescript', 'bin', 'tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: readonly string[],
  cwd: string,
  options: { timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, timeout: options.timeout ?? 60_000, maxBuffer: 16 << 20, env: options.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        const signal = err === null ? null : (err.signal ?? null);
        resolve({ code, signal, stdout, stderr });
      },
    );
  });
}

export function expectSuccess(result: Run, what = 'command'): void {
  if (result.code !== 0) {
    throw new Error(
      `${what}: exit ${result.code} ${result.signal ?? ''}\n${result.stdout}\n${result.stderr}`,
    );
  }
}

export interface PackedFile {
  path: string;
  size: number;
}

export interface Packed {
  /** Folder holding the tarball (and the staging copy); removed by cleanup(). */
  readonly dir: string;
  readonly tarball: string;
  readonly files: readonly PackedFile[];
  /** Bytes of the .tgz, and of its files unpacked. */
  readonly size: number;
  readonly unpackedSize: number;
  cleanup(): Promise<void>;
}

async function sourceFiles(): Promise<string[]> {
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
  expectSuccess(listed, 'git ls-files');
  return listed.stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

export async function packFreshBuild(): Promise<Packed> {
  const dir = await mkdtemp(join(tmpdir(), 'sockframe-pack-'));
  const stage = join(dir, 'stage');
  for (const file of await sourceFiles()) {
    await mkdir(dirname(join(stage, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(stage, file));
  }
  await symlink(NODE_MODULES, join(stage, 'node_modules'), 'dir');
  expectSuccess(
    await run(process.execPath, [TSC, '-p', 'tsconfig.build.json'], stage, { timeout: 300_000 }),
    'build',
  );
  const packed = await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], stage, {
    timeout: 120_000,
  });
  expectSuccess(packed, 'npm pack');
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: PackedFile[];
  }[];
  if (info === undefined) throw new Error('npm pack printed no result');
  await rm(stage, { recursive: true, force: true });
  return {
    dir,
    tarball: join(dir, info.filename),
    files: info.files,
    size: info.size,
    unpackedSize: info.unpackedSize,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Packages a consumer project may use besides sockframe, linked from this repository. */
const LINKED = ['typescript', '@types/node', 'ioredis', 'msgpackr', '@opentelemetry/api'];

export interface Consumer {
  readonly dir: string;
  cleanup(): Promise<void>;
}

export async function makeConsumer(packed: Packed, packageJson: Record<string, unknown>): Promise<Consumer> {
  const dir = await mkdtemp(join(tmpdir(), 'sockframe-consumer-'));
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, ...packageJson }),
  );
  const installed = join(dir, 'node_modules', 'sockframe');
  await mkdir(installed, { recursive: true });
  expectSuccess(
    await run('tar', ['-xzf', packed.tarball, '-C', installed, '--strip-components=1'], dir),
    'tar',
  );
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...LINKED]) {
    const target = join(NODE_MODULES, name);
    if (!existsSync(target)) continue;
    const link = join(dir, 'node_modules', name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(target, link, 'dir');
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
