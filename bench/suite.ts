/**
 * The benchmark suite: sockframe side by side with hand-written net code and the Node peers.
 * Each measurement runs the contender in its own pair of processes over loopback TCP (the tls-,
 * ipc- and udp- workloads: over TLS, a Unix socket or UDP, against a hand-written baseline on the
 * same transport; bench/transports.ts, bench/udp.ts), and every receiver checks message count and
 * bytes. The optional Go contender (bench/go.ts) runs where `go` is on PATH. Contenders are interleaved (A B C …, the order reversed
 * every other round); each cell is the median over the rounds, and each ratio the median of the
 * per-round ratios to the baseline measured in the same round.
 *
 *   npm run bench [-- --quick] [--rounds 7] [--only flood,echo-latency,tls] [--contenders baseline,sockframe]
 *
 * Writes the Markdown table to stdout, and bench.json and bench.svg to bench/results/latest/
 * (ignored by git); progress goes to stderr. The committed chart, bench/results/bench.svg, is
 * redrawn from those results only on purpose: npm run bench:chart.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { suiteChart } from './chart';
import { BARE_NET, CONTENDERS, type Contender, type WorkloadId } from './contenders';
import { RPC_NOTE, RPC_ONLY, RPC_ROWS, rpcSkip, rpcWorkloads } from './rpc';
import { WorkerProcess, withWorkers as withWorkerProcesses } from './process';
import { GO_BINARY, GO_ONLY, goContender } from './go';
import { missingOver, type Transport } from './transports';
import { udpMissing } from './udp';
import { formatRate, markdownTable, median, progress } from './stats';

// ------------------------------------------------------------------------ options

const args = process.argv.slice(2);
const quick = args.includes('--quick');
function option(name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}
const rounds = Number(option('rounds') ?? (quick ? 1 : 7));
const onlyWorkloads = option('only')?.split(',');
const onlyContenders = option('contenders')?.split(',');

const FLOOD_MS = quick ? 150 : 1500;
const LOAD_MS = quick ? 200 : 1500;
const CHURN_MS = quick ? 200 : 1500;
const LATENCY_COUNT = quick ? 1000 : 20_000;
const IDLE_CONNECTIONS = quick ? 300 : 10_000;
const FANOUT_MS = quick ? 150 : 1500;
const RPC_MS = quick ? 200 : 1500;
const FANOUT_CONNECTIONS = 1000;
/** Messages to every connection per JS turn in the fan-out workload. */
const FANOUT_BURST = 8;
/** How long idle connections sit before the second memory reading. */
const SETTLE_MS = quick ? 200 : 1000;
const CHURN_PARALLEL = 8;
/** Concurrent ping-pong clients of the echo workloads over TLS and Unix sockets. */
const TRANSPORT_ECHO_CLIENTS = 50;
const UDP_SIZES = [64, 1400] as const;
const UDP_MS = quick ? 200 : 1500;
/** Untimed work before each timed one, so every contender's code is optimised first. */
const WARMUP_MS = quick ? 50 : 500;

const WORKER = join(__dirname, 'worker.js');
const RESULTS = join(__dirname, '..', '..', 'bench', 'results', 'latest');

// ------------------------------------------------------------------------ file descriptors

/** The open-file limit the workers get: raised to the hard limit when the soft one is too low. */
const fdLimit = ((): { soft: number; hard: number; raiseTo: number | undefined } => {
  let soft = 1024;
  let hard = 1024;
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
    soft = out[0] === 'unlimited' ? Infinity : Number(out[0]);
    hard = out[1] === 'unlimited' ? Infinity : Number(out[1]);
  } catch {
    // No shell: keep the conservative guess.
  }
  const wanted = Math.max(IDLE_CONNECTIONS, FANOUT_CONNECTIONS) + 256;
  const raiseTo = soft < wanted && hard > soft ? Math.min(hard, wanted) : undefined;
  return { soft, hard, raiseTo };
})();
const usableFds = fdLimit.raiseTo ?? fdLimit.soft;
const idleConnections = Math.min(IDLE_CONNECTIONS, usableFds - 256);
const notes: string[] = [];
if (idleConnections < IDLE_CONNECTIONS) {
  notes.push(
    `The open-file limit (${usableFds}) allows ${idleConnections} idle connections, not ${IDLE_CONNECTIONS}; raise \`ulimit -n\` to measure ${IDLE_CONNECTIONS}.`,
  );
}
const fanoutConnections = Math.min(FANOUT_CONNECTIONS, usableFds - 256);
if (fanoutConnections < FANOUT_CONNECTIONS) {
  notes.push(
    `The open-file limit (${usableFds}) allows fan-out to ${fanoutConnections} connections, not ${FANOUT_CONNECTIONS}; raise \`ulimit -n\` to measure ${FANOUT_CONNECTIONS}.`,
  );
}

// ------------------------------------------------------------------------ worker processes

/** A worker's job: its role and contender, and what the role needs. */
type Job = { role: string; contender: string } & Record<string, unknown>;

function startWorker(job: Job, exposeGc = false): WorkerProcess {
  if (job.contender === 'go') return new WorkerProcess(GO_BINARY, [JSON.stringify(job)], { native: true });
  return new WorkerProcess(WORKER, [JSON.stringify(job)], {
    nodeFlags: exposeGc ? ['--expose-gc'] : [],
    fdLimit: fdLimit.raiseTo,
  });
}

function withWorkers<T>(run: (start: (job: Job, gc?: boolean) => WorkerProcess) => Promise<T>): Promise<T> {
  return withWorkerProcesses(startWorker, run);
}

// ------------------------------------------------------------------------ measurements

type Metrics = Record<string, number>;

/** Starts the receiver, then the sender pointed at the port the receiver announced. */
async function receiverThenSender(
  start: (job: Job) => WorkerProcess,
  receiverJob: Job,
  senderJob: Job,
): Promise<[WorkerProcess, WorkerProcess]> {
  const receiver = start(receiverJob);
  const port = Number(await receiver.line('PORT', 20_000));
  return [receiver, start({ ...senderJob, port })];
}

function flood(size: number, transport?: Transport): (c: Contender) => Promise<Metrics> {
  return (c) =>
    withWorkers(async (start) => {
      const [receiver, sender] = await receiverThenSender(
        start,
        { role: 'flood-recv', contender: c.name, size, transport },
        { role: 'flood-send', contender: c.name, transport, size, ms: FLOOD_MS, warmup: WARMUP_MS },
      );
      const timeout = WARMUP_MS + FLOOD_MS + 60_000;
      const [got, sent] = await Promise.all([
        receiver.json('RESULT', timeout),
        sender.json('RESULT', timeout),
      ]);
      if (
        got['bad'] !== 0 ||
        got['warm'] !== sent['warm'] ||
        got['messages'] !== sent['sent'] ||
        got['bytes'] !== sent['bytes']
      ) {
        throw new Error(
          `receiver got ${got['warm']} + ${got['messages']} messages / ${got['bytes']} B (${got['bad']} garbled) of ${sent['warm']} + ${sent['sent']} / ${sent['bytes']} B sent`,
        );
      }
      // From the first send to the last delivery: a receiver that delivers late is not flattered.
      const seconds = ((got['lastAt'] as number) - (sent['startedAt'] as number)) / 1000;
      return {
        rate: (got['messages'] as number) / seconds,
        mbps: (got['bytes'] as number) / seconds / 1e6,
        peakRss: got['peakRss'] as number,
        // CPU time of both processes per message, in ns: robust to other load on the machine.
        cpuPerMessage:
          (((got['cpu'] as number) + (sent['cpu'] as number)) * 1000) / (got['messages'] as number),
      };
    });
}

function echo(
  role: string,
  params: object,
  timeoutMs: number,
  transport?: Transport,
): (c: Contender) => Promise<Metrics> {
  return (c) =>
    withWorkers(async (start) => {
      const server = start({ role: 'server', contender: c.name, transport });
      const port = Number(await server.line('PORT', 20_000));
      const client = start({ role, contender: c.name, port, transport, ...params });
      // The server's CPU time over the client's timed window, asked for when it opens and closes.
      const serverCpuAtMark =
        role === 'echo-latency'
          ? undefined
          : client.line('MARK', timeoutMs).then(() => {
              server.command('CPU');
              return server.line('CPU', 20_000);
            });
      serverCpuAtMark?.catch(() => {});
      const result = await client.json('RESULT', timeoutMs);
      if (result['bad'] !== 0) throw new Error(`${result['bad']} echoes came back garbled`);
      if (serverCpuAtMark !== undefined) {
        server.command('CPU');
        const serverCpu = Number(await server.line('CPU', 20_000)) - Number(await serverCpuAtMark);
        const operations = (result['roundTrips'] ?? result['connections']) as number;
        result['cpuPerOperation'] = (((result['cpu'] as number) + serverCpu) * 1000) / operations;
      }
      return result;
    });
}

async function idle(c: Contender): Promise<Metrics> {
  return withWorkers(async (start) => {
    const server = start({ role: 'server', contender: c.name }, true);
    const port = Number(await server.line('PORT', 20_000));
    server.command('STATS');
    const before = await server.json('STATS', 20_000);
    const perProcess = Math.max(1, Math.floor((usableFds - 256) / c.fdsPerClient));
    const clients: WorkerProcess[] = [];
    for (let left = idleConnections; left > 0; left -= perProcess) {
      clients.push(
        start({ role: 'idle-clients', contender: c.name, port, count: Math.min(left, perProcess) }),
      );
    }
    await Promise.all(clients.map((client) => client.line('READY', 120_000)));
    let after: Metrics;
    const deadline = Date.now() + 30_000;
    // zeromq counts peers through monitor events, which libzmq may drop in a burst of accepts;
    // the server's open file descriptors (one per TCP connection) count them for everyone.
    const held = (stats: Metrics): number =>
      Math.max(
        stats['connections'] as number,
        stats['fds'] === undefined ? 0 : stats['fds'] - (before['fds'] as number),
      );
    for (;;) {
      server.command('STATS');
      after = await server.json('STATS', 20_000);
      if (held(after) >= idleConnections) break;
      if (Date.now() > deadline) {
        throw new Error(`the server holds ${held(after)} of ${idleConnections} connections`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Let handshakes and first allocations settle, then measure again.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    server.command('STATS');
    after = await server.json('STATS', 20_000);
    return {
      rssPer: ((after['rss'] as number) - (before['rss'] as number)) / idleConnections,
      heapPer: ((after['heapUsed'] as number) - (before['heapUsed'] as number)) / idleConnections,
    };
  });
}

/**
 * One server, `fanoutConnections` connections from one client process that checks every byte of
 * every stream; delivered messages per second over all connections, from the first delivery of
 * the first timed message to the last delivery.
 */
function fanout(mode: 'broadcast' | 'each'): (c: Contender) => Promise<Metrics> {
  return (c) =>
    withWorkers(async (start) => {
      const connections = fanoutConnections;
      const server = start({
        role: 'fanout-server',
        contender: c.name,
        mode,
        connections,
        ms: FANOUT_MS,
        warmup: WARMUP_MS,
        burst: FANOUT_BURST,
      });
      const port = Number(await server.line('PORT', 20_000));
      const client = start({ role: 'fanout-client', contender: c.name, mode, port, connections });
      const timeout = WARMUP_MS + FANOUT_MS + 60_000;
      // The client exits at the first wrong byte: its message is the error, whatever the server does.
      const [sent, got] = await Promise.all([server.json('RESULT', timeout), client.json('RESULT', timeout)]);
      if (
        got['firstTimed'] !== sent['firstTimed'] ||
        got['count'] !== sent['count'] ||
        got['connections'] !== connections
      ) {
        throw new Error(
          `the client checked ${got['count']} messages (timed from ${got['firstTimed']}) on ${got['connections']} connections; the server sent ${sent['count']} (timed from ${sent['firstTimed']}) to ${connections}`,
        );
      }
      server.command('CPU');
      const serverCpu = Number(await server.line('CPU', 20_000)) - (sent['cpuAtMark'] as number);
      const messages = got['messages'] as number;
      return {
        rate: got['rate'] as number,
        cpuPerMessage: (((got['cpu'] as number) + serverCpu) * 1000) / messages,
      };
    });
}

/**
 * One sender, one receiver: datagrams per second that arrived over the sender's timed window, and
 * the share of the timed ones lost; CPU of both processes per datagram received.
 */
function datagrams(size: number): (c: Contender) => Promise<Metrics> {
  return (c) =>
    withWorkers(async (start) => {
      const [receiver, sender] = await receiverThenSender(
        start,
        { role: 'udp-recv', contender: c.name, size },
        { role: 'udp-send', contender: c.name, size, ms: UDP_MS, warmup: WARMUP_MS },
      );
      const sent = await sender.json('RESULT', WARMUP_MS + UDP_MS + 60_000);
      // Datagrams still in the kernel's queues arrive within moments.
      await new Promise((resolve) => setTimeout(resolve, 200));
      receiver.command('RESULT');
      const got = await receiver.json('RESULT', 20_000);
      if (got['bad'] !== 0) throw new Error(`${got['bad']} datagrams arrived garbled`);
      const received = got['received'] as number;
      return {
        rate: received / (sent['seconds'] as number),
        lossPercent: 100 * (1 - received / (sent['sent'] as number)),
        cpuPerMessage:
          received === 0 ? NaN : (((sent['cpu'] as number) + (got['cpu'] as number)) * 1000) / received,
      };
    });
}

interface Workload {
  id: WorkloadId;
  title: string;
  run: (c: Contender) => Promise<Metrics>;
  /** What the ratios of this workload are taken against. */
  reference: Contender;
  /** Why a contender has no result here, beyond its own `unsupported` list. */
  unsupported?: (name: string) => string | undefined;
}

const WORKLOADS: Workload[] = [
  { id: 'flood-64', title: 'one-way flood, 64 B', run: flood(64), reference: CONTENDERS[0] as Contender },
  { id: 'flood-1k', title: 'one-way flood, 1 KiB', run: flood(1024), reference: CONTENDERS[0] as Contender },
  {
    id: 'flood-64k',
    title: 'one-way flood, 64 KiB',
    run: flood(65536),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'flood-1m',
    title: 'one-way flood, 1 MiB',
    run: flood(1 << 20),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'echo-latency',
    title: 'echo round trip, 1 client',
    run: echo('echo-latency', { count: LATENCY_COUNT }, 120_000),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'echo-100',
    title: 'echo, 100 clients',
    run: echo('echo-load', { clients: 100, ms: LOAD_MS, warmup: WARMUP_MS }, LOAD_MS + 60_000),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'echo-50',
    title: 'echo, 50 clients',
    run: echo('echo-load', { clients: 50, ms: LOAD_MS, warmup: WARMUP_MS }, LOAD_MS + 60_000),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'echo-1000',
    title: 'echo, 1,000 clients',
    run: echo('echo-load', { clients: 1000, ms: LOAD_MS, warmup: WARMUP_MS }, LOAD_MS + 120_000),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'churn',
    title: 'connection churn',
    run: echo('churn', { ms: CHURN_MS, warmup: WARMUP_MS, parallel: CHURN_PARALLEL }, CHURN_MS + 60_000),
    reference: CONTENDERS[0] as Contender,
  },
  { id: 'idle', title: `idle connections (${idleConnections})`, run: idle, reference: BARE_NET },
  {
    id: 'fanout-broadcast',
    title: `fan-out, broadcast() to ${fanoutConnections}`,
    run: fanout('broadcast'),
    reference: CONTENDERS[0] as Contender,
  },
  {
    id: 'fanout-each',
    title: `fan-out, send() to each of ${fanoutConnections}`,
    run: fanout('each'),
    reference: CONTENDERS[0] as Contender,
  },
  ...rpcWorkloads(CONTENDERS[0] as Contender, { ms: RPC_MS, warmup: WARMUP_MS }, (run) =>
    withWorkers((start) => run((job) => start(job as Job))),
  ),
  ...overTransport('tls', 'TLS'),
  ...overTransport('ipc', 'Unix socket'),
  ...UDP_SIZES.map((size): Workload => ({
    id: `udp-${size}` as WorkloadId,
    title: `UDP datagrams, ${size} B`,
    run: datagrams(size),
    reference: CONTENDERS[0] as Contender,
    unsupported: udpMissing,
  })),
];

/** The flood and echo workloads over TLS or a Unix socket, each against the baseline on it. */
function overTransport(transport: Transport, label: string): Workload[] {
  const reference = CONTENDERS[0] as Contender;
  const unsupported = (name: string): string | undefined => missingOver(transport, name);
  const load = { clients: TRANSPORT_ECHO_CLIENTS, ms: LOAD_MS, warmup: WARMUP_MS };
  return [
    {
      id: `${transport}-flood-64`,
      title: `${label} flood, 64 B`,
      run: flood(64, transport),
      reference,
      unsupported,
    },
    {
      id: `${transport}-flood-64k`,
      title: `${label} flood, 64 KiB`,
      run: flood(65536, transport),
      reference,
      unsupported,
    },
    {
      id: `${transport}-echo-latency`,
      title: `${label} echo round trip, 1 client`,
      run: echo('echo-latency', { count: LATENCY_COUNT }, 120_000, transport),
      reference,
      unsupported,
    },
    {
      id: `${transport}-echo-50`,
      title: `${label} echo, ${TRANSPORT_ECHO_CLIENTS} clients`,
      run: echo('echo-load', load, LOAD_MS + 60_000, transport),
      reference,
      unsupported,
    },
  ];
}

// ------------------------------------------------------------------------ table rows

type Format = (value: number) => string;
const rate: Format = (v) => formatRate(v);
const mbps: Format = (v) => v.toFixed(0);
const micros: Format = (v) => v.toFixed(1);
const kib: Format = (v) => (v / 1024).toFixed(2);
const mib: Format = (v) => (v / 1048576).toFixed(0);

interface RowSpec {
  workload: WorkloadId;
  metric: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  format: Format;
  /** sockframe's target, as a ratio to the workload's reference. */
  target?: number;
}

const ROWS: RowSpec[] = [
  {
    workload: 'flood-64',
    metric: 'rate',
    title: 'flood 64 B',
    unit: 'msg/s',
    higherIsBetter: true,
    format: rate,
    target: 0.9,
  },
  {
    workload: 'flood-1k',
    metric: 'rate',
    title: 'flood 1 KiB',
    unit: 'msg/s',
    higherIsBetter: true,
    format: rate,
  },
  {
    workload: 'flood-64k',
    metric: 'mbps',
    title: 'flood 64 KiB',
    unit: 'MB/s',
    higherIsBetter: true,
    format: mbps,
    target: 0.9,
  },
  {
    workload: 'flood-1m',
    metric: 'mbps',
    title: 'flood 1 MiB',
    unit: 'MB/s',
    higherIsBetter: true,
    format: mbps,
    target: 0.9,
  },
  {
    workload: 'echo-latency',
    metric: 'p50',
    title: 'echo p50, 1 client',
    unit: 'µs',
    higherIsBetter: false,
    format: micros,
    target: 1.05,
  },
  {
    workload: 'echo-latency',
    metric: 'p99',
    title: 'echo p99, 1 client',
    unit: 'µs',
    higherIsBetter: false,
    format: micros,
    target: 1.2,
  },
  {
    workload: 'echo-100',
    metric: 'rate',
    title: 'echo, 100 clients',
    unit: 'round trips/s',
    higherIsBetter: true,
    format: rate,
    target: 0.8,
  },
  {
    workload: 'echo-50',
    metric: 'rate',
    title: 'echo, 50 clients',
    unit: 'round trips/s',
    higherIsBetter: true,
    format: rate,
  },
  {
    workload: 'echo-1000',
    metric: 'rate',
    title: 'echo, 1,000 clients',
    unit: 'round trips/s',
    higherIsBetter: true,
    format: rate,
    target: 0.9,
  },
  {
    workload: 'churn',
    metric: 'rate',
    title: 'churn (connect, 1 echo, close)',
    unit: 'conn/s',
    higherIsBetter: true,
    format: rate,
    target: 0.9,
  },
  {
    workload: 'fanout-broadcast',
    metric: 'rate',
    title: `fan-out 1 KiB, broadcast() to ${fanoutConnections.toLocaleString('en-US')} ³`,
    unit: 'msg/s',
    higherIsBetter: true,
    format: rate,
  },
  {
    workload: 'fanout-each',
    metric: 'rate',
    title: `fan-out 1 KiB, send() to each of ${fanoutConnections.toLocaleString('en-US')} ³`,
    unit: 'msg/s',
    higherIsBetter: true,
    format: rate,
  },
  {
    workload: 'idle',
    metric: 'rssPer',
    title: 'idle RSS per connection ¹',
    unit: 'KiB',
    higherIsBetter: false,
    format: kib,
    target: 1.5,
  },
  {
    workload: 'idle',
    metric: 'heapPer',
    title: 'idle heap per connection ¹',
    unit: 'KiB',
    higherIsBetter: false,
    format: kib,
  },
  {
    workload: 'flood-64',
    metric: 'cpuPerMessage',
    title: 'CPU per message, flood 64 B ²',
    unit: 'ns',
    higherIsBetter: false,
    format: (v) => v.toFixed(0),
  },
  {
    workload: 'flood-64k',
    metric: 'cpuPerMessage',
    title: 'CPU per message, flood 64 KiB ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(1),
  },
  {
    workload: 'flood-1m',
    metric: 'cpuPerMessage',
    title: 'CPU per message, flood 1 MiB ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(0),
  },
  {
    workload: 'echo-100',
    metric: 'cpuPerOperation',
    title: 'CPU per round trip, 100 clients ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(1),
  },
  {
    workload: 'echo-50',
    metric: 'cpuPerOperation',
    title: 'CPU per round trip, 50 clients ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(1),
  },
  {
    workload: 'echo-1000',
    metric: 'cpuPerOperation',
    title: 'CPU per round trip, 1,000 clients ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(1),
    target: 1.1,
  },
  {
    workload: 'churn',
    metric: 'cpuPerOperation',
    title: 'CPU per connection, churn ²',
    unit: 'µs',
    higherIsBetter: false,
    format: (v) => (v / 1000).toFixed(0),
    target: 1.15,
  },
  {
    workload: 'fanout-broadcast',
    metric: 'cpuPerMessage',
    title: 'CPU per message, fan-out broadcast() ²',
    unit: 'ns',
    higherIsBetter: false,
    format: (v) => v.toFixed(0),
  },
  {
    workload: 'fanout-each',
    metric: 'cpuPerMessage',
    title: 'CPU per message, fan-out send() each ²',
    unit: 'ns',
    higherIsBetter: false,
    format: (v) => v.toFixed(0),
  },
  {
    workload: 'flood-64',
    metric: 'peakRss',
    title: 'receiver RSS, flood 64 B',
    unit: 'MiB',
    higherIsBetter: false,
    format: mib,
  },
  {
    workload: 'flood-1m',
    metric: 'peakRss',
    title: 'receiver RSS, flood 1 MiB',
    unit: 'MiB',
    higherIsBetter: false,
    format: mib,
  },
  ...RPC_ROWS,
];

/** The rows of the flood and echo workloads over TLS or a Unix socket. */
function transportRows(transport: Transport, label: string): RowSpec[] {
  const id = (rest: string): WorkloadId => `${transport}-${rest}` as WorkloadId;
  return [
    {
      workload: id('flood-64'),
      metric: 'rate',
      title: `${label} flood 64 B`,
      unit: 'msg/s',
      higherIsBetter: true,
      format: rate,
      target: 0.9,
    },
    {
      workload: id('flood-64k'),
      metric: 'mbps',
      title: `${label} flood 64 KiB`,
      unit: 'MB/s',
      higherIsBetter: true,
      format: mbps,
      target: 0.9,
    },
    {
      workload: id('echo-latency'),
      metric: 'p50',
      title: `${label} echo p50, 1 client`,
      unit: 'µs',
      higherIsBetter: false,
      format: micros,
      target: 1.1,
    },
    {
      workload: id('echo-50'),
      metric: 'rate',
      title: `${label} echo, ${TRANSPORT_ECHO_CLIENTS} clients`,
      unit: 'round trips/s',
      higherIsBetter: true,
      format: rate,
      target: 0.9,
    },
    {
      workload: id('flood-64'),
      metric: 'cpuPerMessage',
      title: `${label} CPU per message, flood 64 B ²`,
      unit: 'ns',
      higherIsBetter: false,
      format: (v) => v.toFixed(0),
    },
    {
      workload: id('echo-50'),
      metric: 'cpuPerOperation',
      title: `${label} CPU per round trip, ${TRANSPORT_ECHO_CLIENTS} clients ²`,
      unit: 'µs',
      higherIsBetter: false,
      format: (v) => (v / 1000).toFixed(1),
    },
  ];
}

ROWS.push(
  ...transportRows('tls', 'TLS'),
  ...transportRows('ipc', 'IPC'),
  ...UDP_SIZES.flatMap((size): RowSpec[] => [
    {
      workload: `udp-${size}` as WorkloadId,
      metric: 'rate',
      title: `UDP ${size} B datagrams received`,
      unit: 'datagrams/s',
      higherIsBetter: true,
      format: rate,
      target: 0.9,
    },
    {
      workload: `udp-${size}` as WorkloadId,
      metric: 'lossPercent',
      title: `UDP ${size} B datagrams lost`,
      unit: '%',
      higherIsBetter: false,
      format: (v) => v.toFixed(1),
    },
    {
      workload: `udp-${size}` as WorkloadId,
      metric: 'cpuPerMessage',
      title: `UDP ${size} B CPU per datagram received ²`,
      unit: 'ns',
      higherIsBetter: false,
      format: (v) => v.toFixed(0),
    },
  ]),
);

// ------------------------------------------------------------------------ running

/** Per workload, per contender: the metrics of each round (undefined where it failed). */
type Measured = Map<WorkloadId, Map<string, (Metrics | undefined)[]>>;
/** Per workload, per contender: why it has no result. */
type Missing = Map<WorkloadId, Map<string, string>>;

const wanted = (name: string): boolean =>
  onlyContenders === undefined || name === 'baseline' || onlyContenders.includes(name);
const contenders = [
  ...[...CONTENDERS, ...RPC_ONLY].filter((c) => wanted(c.name)),
  ...(wanted('go') ? [goContender()] : []),
];
const workloads = WORKLOADS.filter(
  (w) => onlyWorkloads === undefined || onlyWorkloads.some((o) => w.id === o || w.id.startsWith(`${o}-`)),
);

function describe(metrics: Metrics, workload: WorkloadId): string {
  const row = ROWS.find((r) => r.workload === workload);
  if (row === undefined) return JSON.stringify(metrics);
  return `${row.format(metrics[row.metric] as number)} ${row.unit}`;
}

async function runAll(): Promise<{ measured: Measured; missing: Missing; seconds: number }> {
  const measured: Measured = new Map();
  const missing: Missing = new Map();
  const begin = Date.now();
  for (const workload of workloads) {
    const field = [...(workload.reference === BARE_NET ? [BARE_NET] : []), ...contenders];
    const results = new Map<string, (Metrics | undefined)[]>(field.map((c) => [c.name, []]));
    const why = new Map<string, string>();
    measured.set(workload.id, results);
    missing.set(workload.id, why);
    for (const c of field) {
      const reason =
        c.unsupported[workload.id] ?? workload.unsupported?.(c.name) ?? rpcSkip(c.name, workload.id);
      if (reason !== undefined) why.set(c.name, reason);
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? field : [...field].reverse();
      for (const c of order) {
        const list = results.get(c.name) as (Metrics | undefined)[];
        if (why.has(c.name)) {
          list.push(undefined);
          continue;
        }
        try {
          const metrics = await workload.run(c);
          list.push(metrics);
          progress(
            `[${workload.title}] round ${round + 1}/${rounds} ${c.name}: ${describe(metrics, workload.id)}`,
          );
        } catch (err) {
          list.push(undefined);
          const message = err instanceof Error ? err.message : String(err);
          why.set(c.name, message);
          progress(`[${workload.title}] round ${round + 1}/${rounds} ${c.name}: FAILED ${message}`);
        }
      }
    }
  }
  return { measured, missing, seconds: (Date.now() - begin) / 1000 };
}

// ------------------------------------------------------------------------ summary

interface Cell {
  median?: number;
  /** Median of the per-round ratios to the reference (contender / reference). */
  ratio?: number;
  values: number[];
  ratios: number[];
  na?: string;
}

interface Row extends RowSpec {
  reference: string;
  cells: Record<string, Cell>;
}

function summarise(measured: Measured, missing: Missing): Row[] {
  const rows: Row[] = [];
  for (const spec of ROWS) {
    const workload = workloads.find((w) => w.id === spec.workload);
    const results = measured.get(spec.workload);
    if (workload === undefined || results === undefined) continue;
    const referenceRounds = results.get(workload.reference.name) ?? [];
    const cells: Record<string, Cell> = {};
    for (const [name, list] of results) {
      const values: number[] = [];
      const ratios: number[] = [];
      list.forEach((metrics, round) => {
        const value = metrics?.[spec.metric];
        if (value === undefined) return;
        values.push(value);
        const reference = referenceRounds[round]?.[spec.metric];
        if (reference !== undefined && reference !== 0) ratios.push(value / reference);
      });
      const na = missing.get(spec.workload)?.get(name);
      cells[name] =
        na !== undefined
          ? { values, ratios, na }
          : { values, ratios, median: median(values), ratio: median(ratios) };
    }
    rows.push({ ...spec, reference: workload.reference.name, cells });
  }
  return rows;
}

/** A row title without its footnote mark. */
function plain(title: string): string {
  return title.replace(/ [¹²³⁴]$/, '');
}

function meets(row: Row): boolean | undefined {
  const ratio = row.cells['sockframe']?.ratio;
  if (row.target === undefined || ratio === undefined) return undefined;
  return row.higherIsBetter ? ratio >= row.target : ratio <= row.target;
}

// The Node packages; the Go contender stands beside Node, not among its peers.
const PEERS = ['frame-stream', 'length-prefixed-stream', 'node-ipc', 'zeromq', 'jayson', 'net-ipc'];

/** Peers ahead of sockframe on this row, by their median ratio to the same reference. */
function peersAhead(row: Row): string[] {
  const own = row.cells['sockframe']?.ratio;
  if (own === undefined) return [];
  return PEERS.filter((peer) => {
    const theirs = row.cells[peer]?.ratio;
    return theirs !== undefined && (row.higherIsBetter ? theirs > own : theirs < own);
  });
}

function machine(): Record<string, string | number> {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // nproc is missing: the count of CPUs Node sees stands in.
  }
  return {
    cpus: cpus().length,
    nproc,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Why some cells are empty: one note per workload and reason, naming every contender it covers. */
interface Footnote {
  workload: string;
  reason: string;
  names: string[];
}

function footnoteText({ workload, reason, names }: Footnote): string {
  return names.length === 1
    ? `${names[0]}, ${workload}: ${reason}`
    : `${names.join(', ')} — ${workload}: ${reason}`;
}

function renderTable(rows: Row[], footnotes: Footnote[]): string {
  const names = contenders.map((c) => c.name);
  const header = ['workload', 'unit', ...names, 'sockframe target'];
  const body = rows.map((row) => {
    const cells = names.map((name) => {
      const cell = row.cells[name];
      if (cell === undefined || cell.na === GO_ONLY) return '—';
      if (cell.na !== undefined) {
        const workload = workloads.find((w) => w.id === row.workload)?.title ?? plain(row.title);
        let index = footnotes.findIndex((f) => f.workload === workload && f.reason === cell.na);
        if (index < 0) index = footnotes.push({ workload, reason: cell.na, names: [] }) - 1;
        const note = footnotes[index] as Footnote;
        if (!note.names.includes(name)) note.names.push(name);
        return `n/a [${index + 1}]`;
      }
      const value = row.format(cell.median as number);
      const showRatio = name !== row.reference && cell.ratio !== undefined && Number.isFinite(cell.ratio);
      return showRatio ? `${value} (${(cell.ratio as number).toFixed(2)}×)` : value;
    });
    const met = meets(row);
    const target =
      row.target === undefined
        ? '—'
        : `${row.higherIsBetter ? '≥' : '≤'} ${row.target.toFixed(2)}× ${met === undefined ? '?' : met ? '✓' : '✗'}`;
    return [row.title, row.unit, ...cells, target];
  });
  return markdownTable(header, body);
}

async function main(): Promise<void> {
  const info = machine();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  progress(
    `bench: ${contenders.length} contenders × ${workloads.length} workloads × ${rounds} round(s)${quick ? ' (quick)' : ''}; load average ${load}`,
  );
  const { measured, missing, seconds } = await runAll();
  const rows = summarise(measured, missing);
  const footnotes: Footnote[] = [];
  const table = renderTable(rows, footnotes);
  const machineLine = `${info['nproc']} cores (nproc ${info['nproc']}, ${info['cpuModel']}), ${info['memoryGiB']} GiB, Node ${info['node']}, ${info['platform']}`;
  const summaryLine = `Loopback TCP (TLS, Unix-socket and UDP rows: those transports), each contender in its own pair of processes; median of ${rounds} interleaved round${rounds === 1 ? '' : 's'}${quick ? ' (--quick: short runs, smoke test only)' : ''}; (×) = median of per-round ratios to baseline.`;
  const missed = rows.filter((row) => meets(row) === false).map((row) => plain(row.title));
  const behind = rows
    .map((row) => ({ row, peers: peersAhead(row) }))
    .filter((x) => x.peers.length > 0)
    .map((x) => `${plain(x.row.title)} (${x.peers.join(', ')})`);
  const lines = [
    summaryLine,
    `Machine: ${machineLine}. Load average at start: ${load}. Took ${Math.round(seconds)} s.`,
    '',
    table,
    '',
    ...(rows.some((r) => r.workload === 'idle')
      ? [
          `¹ Idle rows: (server RSS or heap after − before) / ${idleConnections} connections; (×) is against a bare \`net\` server holding the same connections (${rows
            .filter((r) => r.workload === 'idle')
            .map((r) => {
              const bare = r.cells[BARE_NET.name]?.median;
              return `${r.metric === 'rssPer' ? 'RSS' : 'heap'} ${bare === undefined ? 'n/a' : r.format(bare)} KiB`;
            })
            .join(', ')}).`,
        ]
      : []),
    '² CPU rows: user + system time of both processes (every thread) over the timed window — floods from the start marker to the last delivery, echo from the end of the warm-up to the end, fan-out from the first timed send (server) or delivery (client) to the last delivery — per message or round trip; unlike throughput, this barely moves when other work shares the cores.',
    ...(rows.some((r) => r.workload.startsWith('fanout-'))
      ? [
          `³ Fan-out rows: one server, ${fanoutConnections} connections from one client process, ${FANOUT_BURST} messages of 1 KiB to every connection per JS turn (broadcast(): the same message to all; send(): each connection its own), waiting for \`drain\` on connections with 256 KiB or more unsent; messages delivered per second over all connections. The client decodes every stream itself and checks every byte (connection, sequence, body): one wrong byte fails the row.`,
        ]
      : []),
    ...(rows.some((r) => r.workload.startsWith('rpc-')) ? [RPC_NOTE] : []),
    ...footnotes.map((note, i) => `[${i + 1}] n/a — ${footnoteText(note)}`),
    ...(contenders.some((c) => c.name === 'go') ? [`— in the go column: ${GO_ONLY}.`] : []),
    ...notes,
    '',
    `sockframe targets missed: ${missed.length === 0 ? 'none' : missed.join('; ')}.`,
    `Rows where a peer is ahead of sockframe: ${behind.length === 0 ? 'none' : behind.join('; ')}.`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(RESULTS, { recursive: true });
  const chart = {
    contenders: contenders.map((c) => c.name),
    subtitle: `median of ${rounds} round${rounds === 1 ? '' : 's'}; ${machineLine}`,
  };
  const json = {
    date: new Date().toISOString(),
    command: `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    quick,
    rounds,
    machine: { ...info, loadAverageAtStart: loadavg() },
    seconds,
    idleConnections,
    contenders: [...contenders, BARE_NET].map((c) => ({ name: c.name, description: c.description })),
    rows,
    notes: [...footnotes.map(footnoteText), ...notes],
    chart,
  };
  writeFileSync(join(RESULTS, 'bench.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'bench.svg'), suiteChart(rows, chart.contenders, chart.subtitle));
  progress(
    `wrote ${join(RESULTS, 'bench.json')} and bench.svg (npm run bench:chart redraws the committed chart from them)`,
  );
  const broken = ['baseline', 'sockframe'].filter((name) =>
    [...missing.values()].some((why) => why.has(name)),
  );
  if (broken.length > 0) {
    progress(`failed: ${broken.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
