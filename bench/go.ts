/**
 * The optional Go contender: bench/go/main.go (standard library only, the same 4-byte length
 * prefix, writes batched through bufio), built into .build/bench/go-bench when `go` is on PATH and
 * run in place of bench/worker.ts for its two workloads, the 64 B flood and the 50-client echo.
 * Without a Go toolchain (CI has none) its cells say why, and the rest of the run goes on.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Contender, WorkloadId } from './contenders';

export const GO_BINARY = join(__dirname, 'go-bench');
const SOURCE = join(__dirname, '..', '..', 'bench', 'go', 'main.go');
const GO_WORKLOADS: readonly string[] = ['flood-64', 'echo-50'] satisfies readonly WorkloadId[];

/** Why the Go contender has no cell in the other workloads (shown once, as a note). */
export const GO_ONLY = 'the Go contender runs the 64 B flood and the 50-client echo only';

/** Builds the Go contender; returns why it cannot run, or undefined when it was built. */
function build(): string | undefined {
  const env = { ...process.env };
  // go needs a build cache; without HOME (some CI shells) it has nowhere to put one.
  if (env['GOCACHE'] === undefined && env['HOME'] === undefined && env['XDG_CACHE_HOME'] === undefined) {
    env['GOCACHE'] = join(tmpdir(), 'sockframe-bench-go-cache');
  }
  try {
    execFileSync('go', ['build', '-o', GO_BINARY, SOURCE], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return 'go is not on PATH';
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    return `go build failed: ${stderr.split('\n')[0] ?? 'no output'}`;
  }
}

function notInNode(): never {
  throw new Error('the Go contender runs as its own binary (bench/go/main.go), not in a Node worker');
}

/** The Go contender, built now: its cells say why where it has none. */
export function goContender(): Contender {
  const missing = build();
  const unsupported = new Proxy(
    {},
    {
      get: (_target, key) =>
        missing ?? (typeof key === 'string' && !GO_WORKLOADS.includes(key) ? GO_ONLY : undefined),
    },
  );
  return {
    name: 'go',
    description:
      'hand-written Go (standard library): 4-byte length prefix, bufio-batched writes, a goroutine per connection',
    unsupported,
    fdsPerClient: 1,
    payload: notInNode,
    serve: notInNode,
    connect: notInNode,
  };
}
