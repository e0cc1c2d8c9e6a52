/**
 * The request/response workloads of the benchmark suite: a client process keeps JSON-RPC calls
 * in flight against a server process (bench/rpc-worker.ts) — 1 or 32 on one connection, and 32
 * on each of 100 connections — for calls per second, latency per call (p50, p99) and CPU per
 * call (both processes). Their own field of contenders: the hand-written node:net baseline,
 * sockframe's jsonRpc(), jayson, zeromq and net-ipc.
 *
 *   npm run bench -- --only rpc --contenders baseline,sockframe,net-ipc,jayson,zeromq --rounds 7
 */
import type { Contender, WorkloadId } from './contenders';
import { formatRate } from './stats';

/** Who measures the rpc rows (the others' columns show n/a there). */
const RPC_FIELD = ['baseline', 'sockframe', 'jayson', 'zeromq', 'net-ipc'];
const RPC_IDS: readonly WorkloadId[] = ['rpc-1', 'rpc-32', 'rpc-100x32'];
/** Connections of the many-clients workload, and calls each keeps in flight. */
const MANY_CLIENTS = 100;
const MANY_INFLIGHT = 32;

/** What the suite's worker processes offer that these workloads use. */
interface Worker {
  line(prefix: string, timeoutMs: number): Promise<string>;
  json(prefix: string, timeoutMs: number): Promise<Record<string, number>>;
  command(line: string): void;
}
type WithWorkers = <T>(run: (start: (job: object) => Worker) => Promise<T>) => Promise<T>;

/** A column for a library with no raw message path of its own here: it runs the rpc rows only. */
function rpcOnly(name: string, description: string): Contender {
  const refuse = `${name} runs the rpc rows only`;
  return {
    name,
    description,
    unsupported: {},
    fdsPerClient: 1,
    payload: () => {
      throw new Error(refuse);
    },
    serve: () => Promise.reject(new Error(refuse)),
    connect: () => Promise.reject(new Error(refuse)),
  };
}

export const JAYSON = rpcOnly(
  'jayson',
  'jayson 5: its TCP server (newline-delimited JSON) and TCP client, which opens one connection per request (32 calls in flight are 32 connections; 100 clients × 32, 3,200)',
);

export const NET_IPC = rpcOnly(
  'net-ipc',
  "net-ipc 2: its Server and Client over TCP (varint-length-prefixed JSON), one connection per client, request() (its default 10 s timeout) answered from the server's 'request' event; noDelay set through its net options",
);

/** The columns that run the rpc rows only. */
export const RPC_ONLY: readonly Contender[] = [JAYSON, NET_IPC];

/** Why a contender has no cell on this workload's rows, if it has none. */
export function rpcSkip(contender: string, workload: WorkloadId): string | undefined {
  const rpcRow = RPC_IDS.includes(workload);
  if (rpcRow && !RPC_FIELD.includes(contender)) return 'not measured on the request/response rows';
  if (!rpcRow && RPC_ONLY.some((c) => c.name === contender))
    return 'a request/response library: measured on the request/response rows only';
  return undefined;
}

function calls(clients: number, inflight: number, ms: number, warmup: number, withWorkers: WithWorkers) {
  return (c: Contender): Promise<Record<string, number>> =>
    withWorkers(async (start) => {
      const server = start({ role: 'rpc-server', contender: c.name });
      const port = Number(await server.line('PORT', 20_000));
      const job = { role: 'rpc-client', contender: c.name, port, clients, inflight, ms, warmup };
      const client = start(job);
      const timeout = warmup + ms + 60_000;
      const serverCpuAtMark = client.line('MARK', timeout).then(() => {
        server.command('CPU');
        return server.line('CPU', 20_000);
      });
      serverCpuAtMark.catch(() => {});
      const result = await client.json('RESULT', timeout);
      if (result['bad'] !== 0) throw new Error(`${result['bad']} calls came back with a wrong result`);
      // No latency to show either: the cell says why instead of a rate of 0.
      if (!((result['calls'] as number) > 0))
        throw new Error(`no call completed in the ${ms} ms timed window`);
      server.command('CPU');
      const serverCpu = Number(await server.line('CPU', 20_000)) - Number(await serverCpuAtMark);
      return {
        rate: result['rate'] as number,
        cpuPerCall: (((result['cpu'] as number) + serverCpu) * 1000) / (result['calls'] as number),
        p50: result['p50'] as number,
        p99: result['p99'] as number,
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
    {
      id: 'rpc-1',
      title: 'JSON-RPC calls, 1 in flight',
      run: calls(1, 1, ms, warmup, withWorkers),
      reference,
    },
    {
      id: 'rpc-32',
      title: 'JSON-RPC calls, 32 in flight',
      run: calls(1, 32, ms, warmup, withWorkers),
      reference,
    },
    {
      id: 'rpc-100x32',
      title: `request/response, ${MANY_CLIENTS} clients × ${MANY_INFLIGHT} in flight`,
      run: calls(MANY_CLIENTS, MANY_INFLIGHT, ms, warmup, withWorkers),
      reference,
    },
  ];
}

const perCall = (v: number): string => (v / 1000).toFixed(1);

const micros = (v: number): string => v.toFixed(0);

interface RpcRow {
  workload: WorkloadId;
  metric: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  format: (value: number) => string;
  target?: number;
}

const LABELS: [WorkloadId, string][] = [
  ['rpc-1', '1 in flight'],
  ['rpc-32', '32 in flight'],
  ['rpc-100x32', `${MANY_CLIENTS} clients × ${MANY_INFLIGHT} in flight`],
];

/** The suite's table rows of these workloads: calls/s (target 0.9× the baseline), p50, p99, CPU. */
export const RPC_ROWS: RpcRow[] = [
  ...LABELS.map(([workload, label]) => ({
    workload,
    metric: 'rate',
    title: `JSON-RPC, ${label} ⁴`,
    unit: 'calls/s',
    higherIsBetter: true,
    format: formatRate,
    target: 0.9,
  })),
  ...LABELS.flatMap(([workload, label]) =>
    (['p50', 'p99'] as const).map((metric) => ({
      workload,
      metric,
      title: `JSON-RPC ${metric} per call, ${label} ⁴`,
      unit: 'µs',
      higherIsBetter: false,
      format: micros,
    })),
  ),
  ...LABELS.map(([workload, label]) => ({
    workload,
    metric: 'cpuPerCall',
    title: `CPU per call, JSON-RPC ${label} ²`,
    unit: 'µs',
    higherIsBetter: false,
    format: perCall,
  })),
];

export const RPC_NOTE = `⁴ JSON-RPC rows: one client process keeping \`add({a, b})\` calls in flight — 1 or 32 on one connection, or ${MANY_INFLIGHT} on each of ${MANY_CLIENTS} connections — every result checked (one wrong result fails the row); calls per second after the warm-up, and each call's latency from its send to its result (p50, p99; log buckets 1 % wide). Their baseline is not the framing one: a hand-written \`node:net\` client and server doing newline-delimited JSON-RPC with a pending-id map and one \`write()\` per message. sockframe: \`jsonRpc()\` over \`delimited()\`, defaults (30 s call timeout, limits on). zeromq: a DEALER per client against a ROUTER, carrying the same JSON texts correlated by their ids. jayson: its TCP client opens one connection per call. net-ipc: its \`request()\` and the server's \`'request'\` event over TCP.`;
