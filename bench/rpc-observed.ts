/**
 * What observing JSON-RPC costs: calls per second over loopback TCP (client and server in this
 * process, 64 calls in flight) with nobody on the tracing channels, with a no-op subscriber on
 * both, and with an AsyncLocalStorage bound at their start as a tracer would. Rounds interleave
 * the three, in a rotating order; the table gives medians and the median per-round ratio to
 * "unobserved".
 *
 *   npm run build:all && node .build/bench/rpc-observed.js [--rounds 7] [--calls 20000]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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

async function measure(client: TcpClient, mode: Mode): Promise<number> {
  const stop = observe(mode);
  try {
    let sent = 0;
    const started = process.hrtime.bigint();
    const lane = async (): Promise<void> => {
      while (sent < CALLS) {
        sent++;
        await client.call('add', { a: sent, b: 1 });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return CALLS / seconds;
  } finally {
    stop();
  }
}

async function main(): Promise<void> {
  const server = new TcpServer({ rpc: jsonRpc() });
  server.handle('add', (p) => (p as { a: number; b: number }).a + (p as { a: number; b: number }).b);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc() });
  await client.connect();
  for (const mode of MODES) await measure(client, mode); // warm-up, every path optimised first

  const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const ratios = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as Mode);
    const rates = new Map<Mode, number>();
    for (const mode of order) {
      const rate = await measure(client, mode);
      rates.set(mode, rate);
      (results.get(mode) as number[]).push(rate);
      console.log(`round ${round + 1}/${ROUNDS} ${mode}: ${Math.round(rate)} calls/s`);
    }
    const reference = rates.get('unobserved') as number;
    for (const mode of MODES) (ratios.get(mode) as number[]).push((rates.get(mode) as number) / reference);
  }
  await client.close();
  await server.close();

  console.log(
    `\nJSON-RPC calls/s, ${CALLS} calls, ${IN_FLIGHT} in flight, median of ${ROUNDS} interleaved rounds`,
  );
  console.log('| tracing channels | calls/s | × unobserved |');
  console.log('| --- | --- | --- |');
  for (const mode of MODES) {
    const rate = Math.round(median(results.get(mode) as number[]));
    console.log(`| ${mode} | ${rate} | ${median(ratios.get(mode) as number[]).toFixed(2)}× |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
