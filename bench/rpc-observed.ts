/**
 * What observing JSON-RPC costs: calls per second over loopback TCP (client and server in one
 * process, 64 calls in flight) with nobody on the tracing channels, with a no-op subscriber on
 * both, and with an AsyncLocalStorage bound at their start as a tracer would. Each measurement
 * runs in a process of its own; rounds interleave the three in a rotating order. The table gives
 * medians, the median per-round ratio to "unobserved", and the CPU time per call (steadier than
 * throughput on a shared machine).
 *
 *   npm run build:all && node .build/bench/rpc-observed.js [--rounds 7] [--calls 20000]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { tracingChannel } from 'node:diagnostics_channel';
import { jsonRpc, TcpClient, TcpServer } from 'sockframe';
import { median } from './stats';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option('rounds', 7);
const CALLS = option('calls', 20_000);
const IN_FLIGHT = 64;

type Mode = 'unobserved' | 'subscribed' | 'store bound';
const MODES: readonly Mode[] = ['unobserved', 'subscribed', 'store bound'];
const channels = [tracingChannel('sockframe:rpc:call'), tracingChannel('sockframe:rpc:handle')];
const ignore = (): void => {};
const subscribers = { start: ignore, end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore };
const store = new AsyncLocalStorage<object>();

function observe(mode: Mode): () => void {
  if (mode === 'unobserved') return () => {};
  for (const channel of channels) {
    channel.subscribe(subscribers);
    if (mode === 'store bound') channel.start.bindStore(store, (context) => ({ context }));
  }
  return () => {
    for (const channel of channels) {
      channel.unsubscribe(subscribers);
      channel.start.unbindStore(store);
    }
  };
}

/** Calls per second, and CPU microseconds per call (this process: both ends of every call). */
async function measure(client: TcpClient, calls: number): Promise<{ rate: number; cpu: number }> {
  let sent = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (sent < calls) {
      sent++;
      await client.call('add', { a: sent, b: 1 });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { rate: calls / seconds, cpu: (cpu.user + cpu.system) / calls };
}

/** One measurement in a fresh process: subscribing once, as an application does, never toggled. */
async function child(mode: Mode): Promise<void> {
  const server = new TcpServer({ rpc: jsonRpc() });
  server.handle('add', (p) => (p as { a: number; b: number }).a + (p as { a: number; b: number }).b);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc() });
  await client.connect();
  const stop = observe(mode);
  await measure(client, CALLS / 2); // warm-up: every path optimised first
  const result = await measure(client, CALLS);
  stop();
  await client.close();
  await server.close();
  process.stdout.write(JSON.stringify(result));
}

function runChild(mode: Mode): { rate: number; cpu: number } {
  const args = [__filename, '--child', mode, '--calls', String(CALLS)];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
  return JSON.parse(out) as { rate: number; cpu: number };
}

function main(): void {
  const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const ratios = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const cpus = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as Mode);
    const rates = new Map<Mode, number>();
    for (const mode of order) {
      const { rate, cpu } = runChild(mode);
      rates.set(mode, rate);
      (results.get(mode) as number[]).push(rate);
      (cpus.get(mode) as number[]).push(cpu);
      console.log(
        `round ${round + 1}/${ROUNDS} ${mode}: ${Math.round(rate)} calls/s, ${cpu.toFixed(1)} µs CPU/call`,
      );
    }
    const reference = rates.get('unobserved') as number;
    for (const mode of MODES) (ratios.get(mode) as number[]).push((rates.get(mode) as number) / reference);
  }
  console.log(
    `\nJSON-RPC calls/s, ${CALLS} calls, ${IN_FLIGHT} in flight, a process per measurement, median of ${ROUNDS} interleaved rounds`,
  );
  console.log('| tracing channels | calls/s | × unobserved | CPU per call (both ends) |');
  console.log('| --- | --- | --- | --- |');
  for (const mode of MODES) {
    const rate = Math.round(median(results.get(mode) as number[]));
    const ratio = median(ratios.get(mode) as number[]).toFixed(2);
    const cpu = median(cpus.get(mode) as number[]).toFixed(1);
    console.log(`| ${mode} | ${rate} | ${ratio}× | ${cpu} µs |`);
  }
}

const childMode = args.includes('--child') ? (args[args.indexOf('--child') + 1] as Mode) : undefined;
if (childMode === undefined) {
  main();
} else {
  child(childMode).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
