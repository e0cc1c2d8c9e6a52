/**
 * The child processes of the benchmarks: one Node script per process, lines on its stdout read
 * as "PREFIX rest", commands written to its stdin as lines. Every wait has a timeout, and stop()
 * ends stdin and kills (SIGKILL) what has not exited after a grace period, so a wedged worker can
 * never hang a run. Shared by the suite (bench/suite.ts) and the scale-out benchmark
 * (bench/cluster.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnOptions {
  /** Flags for node itself, before the script (--expose-gc). */
  nodeFlags?: readonly string[];
  /** Runs the process under `ulimit -n` of this many descriptors (through sh). */
  fdLimit?: number | undefined;
  /** `script` is an executable of its own (the Go contender), not a Node script. */
  native?: boolean;
}

export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters: {
    prefix: string;
    resolve: (rest: string) => void;
    reject: (e: Error) => void;
  }[] = [];
  private stderr = '';
  private exitError: Error | undefined;

  constructor(script: string, args: readonly string[], options: SpawnOptions = {}) {
    const program = options.native === true ? script : process.execPath;
    const argv = options.native === true ? [...args] : [...(options.nodeFlags ?? []), script, ...args];
    this.child =
      options.fdLimit === undefined
        ? spawn(program, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
        : spawn('sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, program, ...argv], {
            stdio: ['pipe', 'pipe', 'pipe'],
          });
    let text = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n')) {
        this.onLine(text.slice(0, at));
        text = text.slice(at + 1);
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    this.child.stdin?.on('error', () => {});
    this.child.on('exit', (code, signal) => {
      const why = this.stderr.trim().split('\n').slice(-3).join(' / ');
      this.exitError = new Error(`worker exited (${signal ?? code})${why ? `: ${why}` : ''}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.exitError);
    });
  }

  private onLine(line: string): void {
    const at = this.waiters.findIndex((w) => line.startsWith(`${w.prefix} `) || line === w.prefix);
    if (at >= 0) {
      const [waiter] = this.waiters.splice(at, 1);
      waiter?.resolve(line.slice(waiter.prefix.length + 1));
    } else {
      this.lines.push(line);
    }
  }

  /** The rest of the next line that starts with `prefix`. */
  line(prefix: string, timeoutMs: number): Promise<string> {
    const at = this.lines.findIndex((l) => l.startsWith(`${prefix} `) || l === prefix);
    if (at >= 0) return Promise.resolve((this.lines.splice(at, 1)[0] as string).slice(prefix.length + 1));
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${prefix}`));
      }, timeoutMs);
      const waiter = {
        prefix,
        resolve: (rest: string) => {
          clearTimeout(timer);
          resolve(rest);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  async json(prefix: string, timeoutMs: number): Promise<Record<string, number>> {
    return JSON.parse(await this.line(prefix, timeoutMs)) as Record<string, number>;
  }

  command(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Closes stdin (which stops servers and idle clients), and kills what is left after a grace. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Runs `run` with a starter of worker processes; every process it started is stopped after, whatever happens. */
export async function withWorkers<A extends unknown[], T>(
  spawnOne: (...args: A) => WorkerProcess,
  run: (start: (...args: A) => WorkerProcess) => Promise<T>,
): Promise<T> {
  const started: WorkerProcess[] = [];
  try {
    return await run((...args: A) => {
      const worker = spawnOne(...args);
      started.push(worker);
      return worker;
    });
  } finally {
    await Promise.all(started.map((w) => w.stop()));
  }
}
