/**
 * sockframe's TcpServer/TcpClient against hand-written net code, in separate processes over
 * loopback, interleaved over paired rounds (alternating which goes first). Prints medians and
 * the median of the paired ratios, and writes bench/results/server.json.
 *
 *   npm run bench:server [-- --rounds 7 --quick]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { markdownTable, median, progress } from './stats';

type Impl = 'sockframe' | 'baseline';
const IMPLS: readonly Impl[] = ['sockframe', 'baseline'];
const WORKER = join(__dirname, 'flood-worker.js');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : quick ? 3 : 7;
const only = ((): string | undefined => {
  const at = args.indexOf('--only');
  return at >= 0 ? args[at + 1] : undefined;
})();

interface Worker {
  port: Promise<number>;
  result: Promise<Record<string, number>>;
  stop(): void;
}

function startWorker(argv: string[]): Worker {
  const child = spawn(process.execPath, [WORKER, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
  let resolvePort!: (port: number) => void;
  let resolveResult!: (result: Record<string, number>) => void;
  let rejectAll!: (err: Error) => void;
  const port = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectAll = reject;
  });
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    resolveResult = resolve;
    const previous = rejectAll;
    rejectAll = (err) => {
      previous(err);
      reject(err);
    };
  });
  port.catch(() => {});
  result.catch(() => {});
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n')) {
      const line = text.slice(0, at);
      text = text.slice(at + 1);
      if (line.startsWith('PORT ')) resolvePort(Number(line.slice(5)));
      if (line.startsWith('RESULT ')) resolveResult(JSON.parse(line.slice(7)) as Record<string, number>);
    }
  });
  child.on('exit', (code) => rejectAll(new Error(`worker ${argv.join(' ')} exited with ${code}`)));
  return { port, result, stop: () => child.stdin.end() };
}

async function flood(impl: Impl, size: number, count: number): Promise<number> {
  const receiver = startWorker(['flood-recv', impl, String(size), String(count)]);
  const port = await receiver.port;
  const sender = startWorker(['flood-send', impl, String(size), String(count), String(port)]);
  const result = await receiver.result;
  sender.stop();
  if (result['bad'] !== 0 || result['messages'] !== count)
    throw new Error(`${impl} flood lost or garbled messages`);
  return result['rate'] as number;
}

async function echo(
  impl: Impl,
  role: 'echo-latency' | 'echo-load',
  params: number[],
): Promise<Record<string, number>> {
  const server = startWorker(['echo-server', impl]);
  const port = await server.port;
  const client = startWorker([role, impl, String(port), ...params.map(String)]);
  const result = await client.result;
  server.stop();
  return result;
}

interface Row {
  workload: string;
  unit: string;
  sockframe: number;
  baseline: number;
  /** Median of the per-round ratios sockframe / baseline (for latency: baseline / sockframe is not used). */
  ratio: number;
  target: string;
}

async function paired(
  workload: string,
  unit: string,
  target: string,
  measure: (impl: Impl) => Promise<number>,
  lowerIsBetter = false,
): Promise<Row> {
  const values: Record<Impl, number[]> = { sockframe: [], baseline: [] };
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? IMPLS : [...IMPLS].reverse();
    const got: Partial<Record<Impl, number>> = {};
    for (const impl of order) got[impl] = await measure(impl);
    values.sockframe.push(got.sockframe as number);
    values.baseline.push(got.baseline as number);
    ratios.push((got.sockframe as number) / (got.baseline as number));
    progress(
      `${workload}: round ${round + 1}/${rounds} ratio ${ratios[ratios.length - 1]?.toFixed(3)}${lowerIsBetter ? ' (lower is better)' : ''}`,
    );
  }
  return {
    workload,
    unit,
    sockframe: median(values.sockframe),
    baseline: median(values.baseline),
    ratio: median(ratios),
    target,
  };
}

async function main(): Promise<void> {
  const scale = quick ? 0.2 : 1;
  const rows: Row[] = [];
  const floods: [string, number, number][] = [
    ['flood 64 B', 64, Math.round(2_000_000 * scale)],
    ['flood 1 KiB', 1024, Math.round(400_000 * scale)],
    ['flood 64 KiB', 65536, Math.round(12_000 * scale)],
  ];
  for (const [name, size, count] of floods) {
    if (only !== undefined && only !== 'flood') continue;
    rows.push(
      await paired(name, 'msg/s', size === 1024 ? '—' : '≥ 0.90', (impl) => flood(impl, size, count)),
    );
  }
  if (only === undefined || only === 'echo') {
    const latencyCount = quick ? 5000 : 20_000;
    const latency: Record<Impl, Record<string, number>[]> = { sockframe: [], baseline: [] };
    const p99 = await paired(
      'echo p99 (1 client, 64 B)',
      'µs',
      '≤ 1.20',
      async (impl) => {
        const result = await echo(impl, 'echo-latency', [latencyCount]);
        latency[impl].push(result);
        return result['p99'] as number;
      },
      true,
    );
    rows.push(p99);
    rows.push({
      workload: 'echo p50 (1 client, 64 B)',
      unit: 'µs',
      sockframe: median(latency.sockframe.map((r) => r['p50'] as number)),
      baseline: median(latency.baseline.map((r) => r['p50'] as number)),
      ratio: NaN,
      target: '—',
    });
    const loadMs = quick ? 1000 : 3000;
    rows.push(
      await paired('echo 100 clients (64 B)', 'round trips/s', '≥ 0.80', async (impl) => {
        const result = await echo(impl, 'echo-load', [100, loadMs]);
        return result['rate'] as number;
      }),
    );
  }
  for (const row of rows) {
    if (Number.isNaN(row.ratio)) row.ratio = row.sockframe / row.baseline;
  }
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}`;
  console.log(`sockframe vs hand-written net, loopback TCP, median of ${rounds} paired rounds; ${machine}\n`);
  console.log(
    markdownTable(
      ['workload', 'unit', 'sockframe', 'baseline', 'ratio', 'target'],
      rows.map((r) => [
        r.workload,
        r.unit,
        r.sockframe.toFixed(r.unit === 'µs' ? 1 : 0),
        r.baseline.toFixed(r.unit === 'µs' ? 1 : 0),
        r.ratio.toFixed(3),
        r.target,
      ]),
    ),
  );
  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.json'), `${JSON.stringify({ machine, rounds, rows }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
