/**
 * What the scale-out tests share: a redis-server of their own on a free loopback port, the
 * library compiled into a folder of its own (so that no other build can rewrite a file under a
 * running child), and child processes that speak JSON lines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delay, freePort } from '../helpers/net';

export const ROOT = join(__dirname, '..', '..');
export const FIXTURES = join(__dirname, 'fixtures');

/** Where redis-server is, or undefined (the Redis tests are then skipped, saying why). */
export const REDIS_SERVER: string | undefined = ((): string | undefined => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
})();

export const NO_REDIS_REASON =
  'skipped: redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)';

export { freePort };

/** A redis-server of the test's own, without persistence, stopped by stop(). */
export class RedisProcess {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  static async start(): Promise<RedisProcess> {
    for (let attempt = 0; ; attempt++) {
      const redis = new RedisProcess(await freePort());
      try {
        await redis.launch();
        return redis;
      } catch (err) {
        // Another process took the port between the probe and the launch: try another one.
        if (attempt >= 3) throw err;
      }
    }
  }

  /** Starts it (again) on the same port. */
  async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const child = spawn(REDIS_SERVER as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)),
      );
      child.once('error', reject);
    });
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** Freezes the process (SIGSTOP): its connections stay open and nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a paused process run again (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops it and waits for the process to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT'); // a paused process would not act on SIGTERM

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), delay(3000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/**
 * Compiles src with the package's build configuration into a temporary folder. Children load
 * the library from there, with the project's node_modules on NODE_PATH for its dependencies.
 */
export async function buildLibrary(): Promise<{ dist: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sockframe-scale-'));
  const dist = join(dir, 'dist');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist];
  args.push('--declaration', 'false', '--sourceMap', 'false', '--inlineSources', 'false');
  const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
  if (result.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the build failed:\n${result.output}`);
  }
  return { dist, remove: () => rm(dir, { recursive: true, force: true }) };
}

export type Line = Record<string, unknown>;

/**
 * A child process that prints JSON lines (its events and its pino records) and reads JSON lines
 * (commands) on stdin.
 */
export class LineProcess {
  readonly lines: Line[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private waiters: { match: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  private stderr = '';

  constructor(script: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env, NODE_PATH: join(ROOT, 'node_modules') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    let text = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n')) {
        const raw = text.slice(0, at);
        text = text.slice(at + 1);
        if (raw.trim() === '') continue;
        const line = JSON.parse(raw) as Line;
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.stdin?.on('error', () => {}); // a child that already exited
  }

  /** The first line (seen or to come) that `match` accepts; fails after `timeoutMs`. */
  async next(match: (line: Line) => boolean, timeoutMs = 8000, what = 'a line'): Promise<Line> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (typeof this.waiters)[number] | undefined;
    try {
      return await Promise.race([
        new Promise<Line>((resolve) => {
          waiter = { match, resolve };
          this.waiters.push(waiter);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  /** The lines `match` accepts so far. */
  all(match: (line: Line) => boolean): Line[] {
    return this.lines.filter(match);
  }

  send(command: Line): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** Ends stdin (the child's cue to close) and waits for the exit; kills it if it takes too long. */
  async stop(timeoutMs = 5000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.stdin?.end();
    const code = await Promise.race([this.exited, delay(timeoutMs).then(() => 'late' as const)]);
    if (code !== 'late') return code;
    this.child.kill('SIGKILL');
    await this.exited;
    throw new Error(`the child did not exit by itself; stderr: ${this.stderr.slice(-2000)}`);
  }

  get errorOutput(): string {
    return this.stderr;
  }
}

/** An event line of a given name. */
export function event(name: string, extra: (line: Line) => boolean = () => true): (line: Line) => boolean {
  return (line) => line['event'] === name && extra(line);
}

/** A pino record with this message (and, when given, this role). */
export function record(msg: string, role?: string): (line: Line) => boolean {
  return (line) => line['msg'] === msg && (role === undefined || line['role'] === role);
}
