/**
 * One side of one benchmark measurement, run in its own process by bench/suite.ts. The job is
 * one JSON argument; results are lines on stdout ("PORT n", "READY", "MARK" when a timed window
 * opens, "RESULT {json}", "STATS {json}", "CPU µs"); commands arrive as lines on stdin ("STATS",
 * "CPU"); the end of stdin stops a server. A job with `transport` ("tls", "ipc") runs the
 * contender's variant over that transport (bench/transports.ts); `port` then names its server.
 *
 *   server        {contender}                       an echo server, until stdin closes
 *   flood-recv    {contender, size}                 counts messages until the 1-byte end marker
 *   flood-send    {contender, size, port, ms,       sends for warmup ms, then a 2-byte start marker,
 *                  warmup}                          then for ms, then the end marker; the rate is
 *                                                   messages / (end marker received − start sent)
 *   echo-latency  {contender, port, count}          sequential 64 B round trips: p50, p99
 *   echo-load     {contender, port, clients, ms,    concurrent ping-pong: round trips per second
 *                  warmup}                          after the warm-up
 *   churn         {contender, port, ms, warmup,     connect, one round trip, close: per second
 *                  parallel}
 *   idle-clients  {contender, port, count}          opens count connections, says READY, waits
 *   fanout-server {contender, mode, connections,    once every connection has greeted, sends
 *                  ms, warmup, burst}               bursts of `burst` 1 KiB messages to all of
 *                                                   them (mode "broadcast": broadcast(); "each":
 *                                                   one send() per connection), waiting between
 *                                                   bursts for connections over the pending mark;
 *                                                   warm-up, "MARK", timed bursts, the end frame,
 *                                                   then "RESULT"; "CPU" on request
 *   fanout-client {contender, mode, port,           opens the connections (raw net, whatever the
 *                  connections}                     contender) and checks every byte of every
 *                                                   stream (bench/fanout.ts); exits 1 with what
 *                                                   mismatched, or says "RESULT" once all ended
 *   rpc-server, rpc-client                           the request/response workload: bench/rpc-worker.ts
 *   udp-recv, udp-send                              datagrams over UDP (bench/udp.ts)
 */
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import {
  HOST,
  contenderNamed,
  isIntact,
  type ClientHandle,
  type Contender,
  type Message,
} from './contenders';
import {
  BROADCAST,
  FanoutChecker,
  FanoutMismatch,
  fanoutEnd,
  fanoutHello,
  fanoutMessage,
  type FanoutEvents,
} from './fanout';
import { rpcRole } from './rpc-worker';
import { transportContender, type Transport } from './transports';
import { udpReceive, udpSend } from './udp';

interface Job {
  role: string;
  contender: string;
  size?: number;
  port?: number;
  ms?: number;
  count?: number;
  clients?: number;
  parallel?: number;
  warmup?: number;
  connections?: number;
  burst?: number;
  mode?: string;
  inflight?: number;
  /** TLS or Unix sockets instead of TCP (bench/transports.ts). */
  transport?: Transport;
}

function overTransport(transport: Transport, name: string): Contender {
  const c = transportContender(transport, name);
  if (c === undefined) throw new Error(`${name} has no ${transport} variant`);
  return c;
}

const ECHO_SIZE = 64;
/** Flood messages of these sizes start the clock and end the flood. */
const START_MARKER = 2;
const END_MARKER = 1;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function now(): number {
  return performance.now();
}

/** CPU time this process has used (every thread, user and system), in microseconds. */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Milliseconds since the epoch, sub-millisecond and comparable between processes. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

function required(job: Job, key: keyof Job): number {
  const value = job[key];
  if (typeof value !== 'number') throw new Error(`job ${job.role} needs ${key}`);
  return value;
}

/** Awaits what send() asked for: a drain, or its promise. */
async function sent(client: ClientHandle, result: boolean | Promise<void>): Promise<void> {
  if (result === true) return;
  if (result === false) await client.drained();
  else await result;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}

/** Open file descriptors, where the platform shows them (Linux): one per TCP connection held. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

function stats(connections: number): object {
  collectGarbage();
  const usage = process.memoryUsage();
  return { connections, fds: openFds(), rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
}

async function server(c: Contender): Promise<void> {
  const handle = await c.serve({ echo: true, maxMessageSize: 1024 });
  say(`PORT ${handle.port}`);
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line === 'STATS') say(`STATS ${JSON.stringify(stats(handle.connections()))}`);
    if (line === 'CPU') say(`CPU ${cpuMicros()}`);
  });
  input.on('close', () => {
    setTimeout(() => process.exit(0), 500).unref();
    void handle.close().then(() => process.exit(0));
  });
}

async function floodReceive(c: Contender, size: number): Promise<void> {
  let warm = 0;
  let measuring = false;
  let received = 0;
  let bytes = 0;
  let bad = 0;
  let cpuAtStart = 0;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const onMessage = (message: Message): void => {
    if (message.length === END_MARKER) {
      const lastAt = wallClock();
      const cpu = cpuMicros() - cpuAtStart;
      clearInterval(sampler);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      say(`RESULT ${JSON.stringify({ warm, messages: received, bytes, bad, lastAt, peakRss, cpu })}`);
      process.exit(0);
    }
    if (message.length === START_MARKER) {
      measuring = true;
      cpuAtStart = cpuMicros();
      return;
    }
    if (!isIntact(message, size)) bad++;
    if (!measuring) {
      warm++;
      return;
    }
    received++;
    bytes += message.length;
  };
  const handle = await c.serve({ echo: false, onMessage, maxMessageSize: size });
  say(`PORT ${handle.port}`);
}

async function floodSend(
  c: Contender,
  size: number,
  port: number,
  ms: number,
  warmupMs: number,
): Promise<void> {
  const client = await c.connect(port, () => {}, true);
  const payload = c.payload(size);
  // Look at the clock about once per 64 KiB sent.
  const between = Math.max(1, Math.floor(65536 / size));
  const pump = async (until: number): Promise<number> => {
    let count = 0;
    do {
      for (let i = 0; i < between; i++) {
        const result = client.send(payload);
        count++;
        if (result !== true) await sent(client, result);
      }
    } while (now() < until);
    return count;
  };
  // The warm-up lets every contender's code be optimised before the clock starts.
  const warm = await pump(now() + warmupMs);
  await sent(client, client.send(c.payload(START_MARKER)));
  const startedAt = wallClock();
  const cpuAtStart = cpuMicros();
  const count = await pump(now() + ms);
  await sent(client, client.send(c.payload(END_MARKER)));
  const cpu = cpuMicros() - cpuAtStart;
  say(`RESULT ${JSON.stringify({ warm, sent: count, bytes: count * size, startedAt, cpu })}`);
  await client.close();
  // No process.exit() here: libzmq still sends what it has queued while the process winds down.
}

interface Pinger {
  ping(): Promise<void>;
  close(): Promise<void>;
  bad(): number;
}

async function pinger(c: Contender, port: number): Promise<Pinger> {
  const payload = c.payload(ECHO_SIZE);
  let waiting: (() => void) | undefined;
  let bad = 0;
  const client = await c.connect(port, (message) => {
    if (!isIntact(message, ECHO_SIZE)) bad++;
    const resolve = waiting;
    waiting = undefined;
    resolve?.();
  });
  return {
    ping: () =>
      new Promise<void>((resolve, reject) => {
        waiting = resolve;
        const result = client.send(payload);
        if (result instanceof Promise) result.catch(reject);
      }),
    close: () => client.close(),
    bad: () => bad,
  };
}

/** Opens `count` clients, at most `inFlight` connecting at once. */
async function openMany<T>(count: number, open: () => Promise<T>, inFlight = 64): Promise<T[]> {
  const all: T[] = [];
  let next = 0;
  const lanes = Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) {
      next++;
      all.push(await open());
    }
  });
  await Promise.all(lanes);
  return all;
}

async function echoLatency(c: Contender, port: number, count: number): Promise<void> {
  const client = await pinger(c, port);
  for (let i = 0; i < Math.min(500, count); i++) await client.ping(); // warm-up
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const start = now();
    await client.ping();
    samples[i] = (now() - start) * 1000;
  }
  await client.close();
  samples.sort();
  const at = (p: number): number => samples[Math.min(count - 1, Math.ceil(p * count) - 1)] as number;
  say(`RESULT ${JSON.stringify({ p50: at(0.5), p99: at(0.99), count, bad: client.bad() })}`);
  process.exit(0);
}

/** Repeats `step` on every lane; counts the steps that end between the warm-up's end and `ms` later. */
async function timed(
  lanes: number,
  warmupMs: number,
  ms: number,
  step: (lane: number) => Promise<void>,
): Promise<{ count: number; seconds: number; cpu: number }> {
  let counting = false;
  let running = true;
  let count = 0;
  const loops = Array.from({ length: lanes }, async (_, lane) => {
    while (running) {
      await step(lane);
      if (counting && running) count++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  counting = true;
  say('MARK');
  const cpuAtStart = cpuMicros();
  const start = now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  running = false;
  const stop = now();
  const cpu = cpuMicros() - cpuAtStart;
  await Promise.all(loops);
  return { count, seconds: (stop - start) / 1000, cpu };
}

async function echoLoad(
  c: Contender,
  port: number,
  clients: number,
  ms: number,
  warmupMs: number,
): Promise<void> {
  const all = await openMany(clients, () => pinger(c, port));
  const { count, seconds, cpu } = await timed(clients, warmupMs, ms, (lane) => (all[lane] as Pinger).ping());
  const bad = all.reduce((n, client) => n + client.bad(), 0);
  say(`RESULT ${JSON.stringify({ roundTrips: count, seconds, rate: count / seconds, bad, cpu })}`);
  await Promise.all(all.map((client) => client.close()));
  process.exit(0);
}

async function churn(
  c: Contender,
  port: number,
  ms: number,
  warmupMs: number,
  parallel: number,
): Promise<void> {
  let bad = 0;
  const { count, seconds, cpu } = await timed(parallel, warmupMs, ms, async () => {
    const client = await pinger(c, port);
    await client.ping();
    await client.close();
    bad += client.bad();
  });
  say(`RESULT ${JSON.stringify({ connections: count, seconds, rate: count / seconds, bad, cpu })}`);
  process.exit(0);
}

async function idleClients(c: Contender, port: number, count: number): Promise<void> {
  const all = await openMany(count, () => c.connect(port, () => {}));
  say(`READY ${all.length}`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

function fanoutMode(job: Job): boolean {
  if (job.mode !== 'broadcast' && job.mode !== 'each') throw new Error(`job ${job.role} needs mode`);
  return job.mode === 'broadcast';
}

async function fanoutServer(
  c: Contender,
  broadcast: boolean,
  connections: number,
  ms: number,
  warmupMs: number,
  burst: number,
): Promise<void> {
  if (c.fanout === undefined) throw new Error(`${c.name} has no fan-out server`);
  const server = await c.fanout(connections);
  say(`PORT ${server.port}`);
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line === 'CPU') say(`CPU ${cpuMicros()}`);
  });
  input.on('close', () => {
    setTimeout(() => process.exit(0), 500).unref();
    void server.close().then(() => process.exit(0));
  });
  await server.identified;
  let seq = 0;
  // Each burst is one JS turn: `burst` messages to every connection, then the writes go out.
  const pump = async (until: number): Promise<void> => {
    do {
      for (let i = 0; i < burst; i++, seq++) {
        if (broadcast) {
          server.broadcast(fanoutMessage(BROADCAST, seq));
        } else {
          const current = seq;
          server.sendEach((identity) => fanoutMessage(identity, current));
        }
      }
      await server.settle();
    } while (now() < until);
  };
  await pump(now() + warmupMs);
  const firstTimed = seq;
  const cpuAtMark = cpuMicros();
  say('MARK');
  await pump(now() + ms);
  const end = fanoutEnd(firstTimed, seq);
  if (broadcast) server.broadcast(end);
  else server.sendEach(() => end);
  await server.settle();
  say(`RESULT ${JSON.stringify({ firstTimed, count: seq, cpuAtMark })}`);
}

/** How long the client waits without a byte on any connection before it calls the run stalled. */
const FANOUT_STALL_MS = 10_000;

async function fanoutClient(port: number, connections: number, broadcast: boolean): Promise<void> {
  const fail = (what: string): never => {
    process.stderr.write(`fan-out check failed: ${what}\n`);
    process.exit(1);
  };
  // When each sequence number was first delivered (on any connection), and the CPU time then.
  const firstAt: number[] = [];
  const cpuAt: number[] = [];
  let firstTimed = -1;
  let count = -1;
  let ended = 0;
  let lastData = now();
  const checkers: FanoutChecker[] = [];
  const events: FanoutEvents = {
    delivered(seq) {
      if (firstAt[seq] === undefined) {
        firstAt[seq] = now();
        cpuAt[seq] = cpuMicros();
      }
    },
    ended(timedFrom, total) {
      if (firstTimed < 0) {
        firstTimed = timedFrom;
        count = total;
      } else if (timedFrom !== firstTimed || total !== count) {
        fail(
          `one connection's end says ${total} messages from ${timedFrom}, another's ${count} from ${firstTimed}`,
        );
      }
      if (++ended < connections) return;
      const lastAt = now();
      const cpu = cpuMicros() - (cpuAt[firstTimed] ?? NaN);
      const startAt = firstAt[firstTimed];
      if (startAt === undefined) fail(`no message was sent after the warm-up (${count} in all)`);
      const seconds = (lastAt - (startAt as number)) / 1000;
      const messages = (count - firstTimed) * connections;
      say(
        `RESULT ${JSON.stringify({ messages, seconds, rate: messages / seconds, cpu, firstTimed, count, connections })}`,
      );
      process.exit(0);
    },
  };
  const open = async (identity: number): Promise<void> => {
    const checker = new FanoutChecker(identity, broadcast, events);
    checkers.push(checker);
    const socket = connect(port, HOST);
    socket.on('data', (chunk: Buffer) => {
      lastData = now();
      try {
        checker.push(chunk);
      } catch (err) {
        fail(err instanceof FanoutMismatch ? err.message : String(err));
      }
    });
    socket.on('error', (err) => fail(`connection ${identity}: ${err.message}`));
    socket.on('close', () => {
      if (!checker.ended) fail(`connection ${identity} closed before its end (${checker.describe()})`);
    });
    await once(socket, 'connect');
    socket.write(fanoutHello(identity));
  };
  let next = 0;
  await openMany(connections, () => open(next++));
  say(`READY ${connections}`);
  lastData = now();
  setInterval(() => {
    if (now() - lastData < FANOUT_STALL_MS) return;
    const behind = checkers.filter((checker) => !checker.ended);
    fail(
      `no data for ${FANOUT_STALL_MS / 1000} s with ${behind.length} of ${connections} streams not ended (${behind
        .slice(0, 3)
        .map((checker) => checker.describe())
        .join('; ')})`,
    );
  }, 1000).unref();
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job;
  if (job.role.startsWith('rpc-')) return rpcRole(job);
  if (job.role === 'udp-recv') return udpReceive(job.contender, required(job, 'size'));
  if (job.role === 'udp-send') {
    const [size, port, ms, warmup] = (['size', 'port', 'ms', 'warmup'] as const).map((k) => required(job, k));
    return udpSend(job.contender, size as number, port as number, ms as number, warmup as number);
  }
  const c =
    job.transport === undefined ? contenderNamed(job.contender) : overTransport(job.transport, job.contender);
  switch (job.role) {
    case 'server':
      return server(c);
    case 'flood-recv':
      return floodReceive(c, required(job, 'size'));
    case 'flood-send':
      return floodSend(
        c,
        required(job, 'size'),
        required(job, 'port'),
        required(job, 'ms'),
        required(job, 'warmup'),
      );
    case 'echo-latency':
      return echoLatency(c, required(job, 'port'), required(job, 'count'));
    case 'echo-load':
      return echoLoad(
        c,
        required(job, 'port'),
        required(job, 'clients'),
        required(job, 'ms'),
        required(job, 'warmup'),
      );
    case 'churn':
      return churn(
        c,
        required(job, 'port'),
        required(job, 'ms'),
        required(job, 'warmup'),
        required(job, 'parallel'),
      );
    case 'idle-clients':
      return idleClients(c, required(job, 'port'), required(job, 'count'));
    case 'fanout-server':
      return fanoutServer(
        c,
        fanoutMode(job),
        required(job, 'connections'),
        required(job, 'ms'),
        required(job, 'warmup'),
        required(job, 'burst'),
      );
    case 'fanout-client':
      return fanoutClient(required(job, 'port'), required(job, 'connections'), fanoutMode(job));
    default:
      throw new Error(`unknown role ${job.role}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
