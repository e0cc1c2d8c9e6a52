/**
 * The request/response workloads of the benchmark suite: one client process keeps 1 or 32
 * JSON-RPC calls in flight on one connection to a server process (bench/rpc-worker.ts), for
 * calls per second and CPU per call (both processes). Their own field of contenders: the
 * hand-written node:net baseline, sockframe's jsonRpc(), jayson, zeromq.
 *
 *   npm run bench -- --only rpc --contenders baseline,sockframe,jayson,zeromq --rounds 7
 */
import type { Contender, WorkloadId } from './contenders';
import { formatRate } from './stats';

/** Who measures the rpc rows (the others' columns show n/a there). */
const RPC_FIELD = ['baseline', 'sockframe', 'jayson', 'zeromq'];
const RPC_IDS: readonly WorkloadId[] = ['rpc-1', 'rpc-32'];

/** What the suite's worker processes offer that these workloads use. */
interface Worker {
  line(prefix: string, timeoutMs: number): Promise<string>;
  json(prefix: string, timeoutMs: number): Promise<Record<string, number>>;
  command(line: string): void;
}
type WithWorkers = <T>(run: (start: (job: object) => Worker) => Promise<T>) => Promise<T>;

/** A column for the jayson library, which has no raw message path: it runs the rpc rows only. */
export const JAYSON: Contender = {
  name: 'jayson',
  description:
    'jayson 5: its TCP server (newline-delimited JSON) and TCP client (one connection per request)',
  unsupported: {},
  fdsPerClient: 1,
  payload: () => {
    throw new Error('jayson runs the rpc rows only');
  },
  serve: () => Promise.reject(new Error('jayson runs the rpc rows only')),
  connect: () => Promise.reject(new Error('jayson runs the rpc rows only')),
};

/** Why a contender has no cell on this workload's rows, if it has none. */
export function rpcSkip(contender: string, workload: WorkloadId): string | undefined {
  const rpcRow = RPC_IDS.includes(workload);
  if (rpcRow && !RPC_FIELD.includes(contender)) return 'not measured on the request/response rows';
  if (!rpcRow && contender === JAYSON.name)
    return 'a JSON-RPC library: measured on the request/response rows only';
  return undefined;
}

function calls(inflight: number, ms: number, warmup: number, withWorkers: WithWorkers) {
  return (c: Contender): Promise<Record<string, number>> =>
    withWorkers(async (start) => {
      const server = start({ role: 'rpc-server', contender: c.name });
      const port = Number(await server.line('PORT', 20_000));
      const client = start({ role: 'rpc-client', contender: c.name, port, inflight, ms, warmup });
      const timeout = warmup + ms + 60_000;
      const serverCpuAtMark = client.line('MARK', timeout).then(() => {
        server.command('CPU');
        return server.line('CPU', 20_000);
      });
      serverCpuAtMark.catch(() => {});
      const result = await client.json('RESULT', timeout);
      if (result['bad'] !== 0) throw new Error(`${result['bad']} calls came back with a wrong result`);
      server.command('CPU');
      const serverCpu = Number(await server.line('CPU', 20_000)) - Number(await serverCpuAtMark);
      return {
        rate: result['rate'] as number,
        cpuPerCall: (((result['cpu'] as number) + serverCpu) * 1000) / (result['calls'] as number),
      };
    });
}

/** The workloads, for the suite's list: `reference` is the suite's baseline column. */
export function rpcWorkloads(
  reference: Contender,
  { ms, warmup }: { ms: number; warmup: number },
  withWorkers: WithWorkers,
): {
  id: WorkloadId;
  title: string;
  run: (c: Contender) => Promise<Record<string, number>>;
  reference: Contender;
}[] {
  return [
    { id: 'rpc-1', title: 'JSON-RPC calls, 1 in flight', run: calls(1, ms, warmup, withWorkers), reference },
    {
      id: 'rpc-32',
      title: 'JSON-RPC calls, 32 in flight',
      run: calls(32, ms, warmup, withWorkers),
      reference,
    },
  ];
}

const perCall = (v: number): string => (v / 1000).toFixed(1);

/** The suite's table rows of these workloads. */
export const RPC_ROWS = [
  {
    workload: 'rpc-1' as WorkloadId,
    metric: 'rate',
    title: 'JSON-RPC, 1 in flight ⁴',
    unit: 'calls/s',
    higherIsBetter: true,
    format: formatRate,
    target: 0.9,
  },
  {
    workload: 'rpc-32' as WorkloadId,
    metric: 'rate',
    title: 'JSON-RPC, 32 in flight ⁴',
    unit: 'calls/s',
    higherIsBetter: true,
    format: formatRate,
    target: 0.9,
  },
  {
    workload: 'rpc-1' as WorkloadId,
    metric: 'cpuPerCall',
    title: 'CPU per call, JSON-RPC 1 in flight ²',
    unit: 'µs',
    higherIsBetter: false,
    format: perCall,
  },
  {
    workload: 'rpc-32' as WorkloadId,
    metric: 'cpuPerCall',
    title: 'CPU per call, JSON-RPC 32 in flight ²',
    unit: 'µs',
    higherIsBetter: false,
    format: perCall,
  },
];

export const RPC_NOTE =
  '⁴ JSON-RPC rows: one client process, one connection (jayson: one per call, its TCP client does so), `add({a, b})` with 1 or 32 calls kept in flight, every result checked; calls per second after the warm-up. Their baseline is not the framing one: a hand-written `node:net` client and server doing newline-delimited JSON-RPC with a pending-id map and one `write()` per message. sockframe: `jsonRpc()` over `delimited()`, defaults (30 s call timeout, limits on). zeromq: DEALER/ROUTER carrying the same JSON texts.';
