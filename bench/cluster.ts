/**
 * Scale-out costs, every side in a process of its own over loopback TCP:
 *
 * - echo round trips per second served by a node:cluster of 1 and of 2 workers (TcpServer with a
 *   NodeClusterAdapter, one shared port), driven by concurrent ping-pong clients in one process;
 * - broadcasts per second to 100 connections: on one instance (local), and spread over two
 *   instances joined by a RedisAdapter (a redis-server of its own on a free loopback port).
 *
 *   npm run bench:cluster [-- --quick] [--rounds 3]    (results also in bench/results/latest/cluster.json)
 */
import { spawn, spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { NodeClusterAdapter, TcpServer } from 'sockframe';
import { RedisAdapter } from 'sockframe/redis';
import { WorkerProcess, withWorkers } from './process';
import { formatRate, markdownTable, median, progress } from './stats';

const HOST = '127.0.0.1';
const SCRIPT = __filename;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : quick ? 1 : 3;

// ------------------------------------------------------------------ small shared pieces

function frame(payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

/** Counts default-framed messages on a raw socket without keeping them. */
function countFrames(socket: Socket, onMessage: () => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (data.length >= 4) {
      const length = data.readUInt32BE(0);
      if (data.length < 4 + length) break;
      data = data.subarray(4 + length);
      onMessage();
    }
    pending = data;
  });
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST);
    socket.setNoDelay(true);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One line for the parent: "key {json}", keyed by the object's first key. */
function say(line: object): void {
  process.stdout.write(`${Object.keys(line)[0]} ${JSON.stringify(line)}\n`);
}

/** The longest wait for any line of a child: past it the round fails and the child is killed. */
const CHILD_TIMEOUT_MS = 120_000;

/** A child process of this script in a role, through the suite's process wrapper. */
function child(role: string, roleArgs: (string | number)[]): WorkerProcess {
  return new WorkerProcess(SCRIPT, [role, ...roleArgs.map(String)]);
}

/** Commands on stdin, one JSON object a line; the end of stdin calls `end`. */
function onCommands(handle: (command: Record<string, unknown>) => void, end: () => void): void {
  let text = '';
  process.stdin.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n')) {
      handle(JSON.parse(text.slice(0, at)) as Record<string, unknown>);
      text = text.slice(at + 1);
    }
  });
  process.stdin.once('end', end);
}

// ------------------------------------------------------------------ roles

/** A cluster primary with `workers` echo workers on one port. */
async function clusterServer(workers: number): Promise<void> {
  if (cluster.isWorker) {
    const server = new TcpServer({ adapter: new NodeClusterAdapter(), maxConnections: 20_000 });
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: HOST, backlog: 2048 });
    process.on('message', (message: unknown) => {
      if (message === 'stop') void server.close({ timeout: 100 }).then(() => cluster.worker?.disconnect());
    });
    process.send?.({ port });
    return;
  }
  const relay = NodeClusterAdapter.setupPrimary();
  let port = 0;
  for (let i = 0; i < workers; i++) {
    // The adapter's own messages (tagged `sockframe`) arrive here too: wait for ours.
    port = await new Promise<number>((resolve) =>
      cluster.fork().on('message', (m: { port?: unknown }) => {
        if (typeof m.port === 'number') resolve(m.port);
      }),
    );
  }
  say({ port });
  onCommands(
    () => {},
    () => {
      const all = Object.values(cluster.workers ?? {});
      let left = all.length;
      for (const worker of all) {
        worker?.once('exit', () => {
          if (--left === 0) relay.close();
        });
        worker?.send('stop');
      }
    },
  );
}

/** Concurrent ping-pong over raw sockets for `ms`; reports round trips per second. */
async function echoClients(port: number, clients: number, ms: number): Promise<void> {
  const message = frame(Buffer.alloc(64, 0x61));
  const sockets = await Promise.all(Array.from({ length: clients }, () => openSocket(port)));
  let trips = 0;
  let running = true;
  for (const socket of sockets) {
    countFrames(socket, () => {
      trips++;
      if (running) socket.write(message);
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // warm-up
  for (const socket of sockets) socket.write(message);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const start = process.hrtime.bigint();
  const before = trips;
  await new Promise((resolve) => setTimeout(resolve, ms));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = (trips - before) / seconds;
  running = false;
  for (const socket of sockets) socket.destroy();
  say({ rate });
}

/** One server instance: with a RedisAdapter when given a Redis port, else on its own. */
async function broadcastInstance(redisPort: number, channel: string): Promise<void> {
  let clients: Redis[] = [];
  let adapter: RedisAdapter | undefined;
  if (redisPort > 0) {
    clients = [
      new Redis({ port: redisPort, host: HOST, enableOfflineQueue: false }),
      new Redis({ port: redisPort, host: HOST }),
    ];
    adapter = new RedisAdapter({ publisher: clients[0] as Redis, subscriber: clients[1] as Redis, channel });
  }
  const server = new TcpServer(adapter === undefined ? {} : { adapter });
  let errors = 0;
  server.on('error', () => errors++);
  const { port } = await server.listen({ port: 0, host: HOST });
  say({ port });
  const payload = Buffer.alloc(64, 0x62);
  onCommands(
    (command) => {
      const count = command['burst'] as number;
      let sent = 0;
      // In slices, so that the sockets drain between them as they would in a running service.
      const slice = (): void => {
        for (let i = 0; i < 200 && sent < count; i++, sent++) server.broadcast(payload);
        if (sent < count) setImmediate(slice);
        else say({ done: count, errors });
      };
      slice();
    },
    () => {
      void server.close({ timeout: 100 }).then(() => Promise.all(clients.map((c) => c.quit())));
    },
  );
}

/** Holds connections spread over the ports; reports when each has received `expected` messages. */
async function receivers(ports: number[], connections: number): Promise<void> {
  const counts = new Array<number>(connections).fill(0);
  let target = 0;
  let started = 0n;
  let complete = 0;
  const sockets = await Promise.all(counts.map((_, i) => openSocket(ports[i % ports.length] as number)));
  sockets.forEach((socket, i) => {
    countFrames(socket, () => {
      counts[i] = (counts[i] as number) + 1;
      if (counts[i] === target && ++complete === connections) {
        say({ seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      }
    });
  });
  say({ ready: connections });
  onCommands(
    (command) => {
      target += command['expect'] as number;
      complete = 0;
      started = process.hrtime.bigint();
    },
    () => sockets.forEach((s) => s.destroy()),
  );
}

// ------------------------------------------------------------------ measurements

async function echoRate(workers: number, clients: number, ms: number): Promise<number> {
  return withWorkers(child, async (start) => {
    const server = start('cluster-server', [workers]);
    const { port } = await server.json('port', CHILD_TIMEOUT_MS);
    const load = start('echo-clients', [port as number, clients, ms]);
    const { rate } = await load.json('rate', CHILD_TIMEOUT_MS);
    return rate as number;
  });
}

async function broadcastRate(redisPort: number, instances: number, count: number): Promise<number> {
  const channel = `bench-${process.pid}-${Date.now()}`;
  return withWorkers(child, async (start) => {
    const servers = Array.from({ length: instances }, () =>
      start('broadcast-instance', [redisPort, channel]),
    );
    const ports = await Promise.all(
      servers.map(async (s) => (await s.json('port', CHILD_TIMEOUT_MS))['port'] as number),
    );
    const sink = start('receivers', [ports.join(','), 100]);
    await sink.json('ready', CHILD_TIMEOUT_MS);
    await new Promise((resolve) => setTimeout(resolve, 200)); // every connection accepted
    const started = process.hrtime.bigint();
    sink.command(JSON.stringify({ expect: count }));
    const first = servers[0] as WorkerProcess;
    first.command(JSON.stringify({ burst: count }));
    const done = await first.json('done', CHILD_TIMEOUT_MS);
    if (done['errors'] !== 0) throw new Error(`${String(done['errors'])} broadcast errors`);
    await sink.json('seconds', CHILD_TIMEOUT_MS);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return count / seconds;
  });
}

function hasRedis(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
}

async function launchRedis(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function main(): Promise<void> {
  const echoMs = quick ? 1500 : 4000;
  const clients = 64;
  const burst = quick ? 5_000 : 20_000;
  const rows: string[][] = [];
  const results: Record<string, number> = {};
  const measure = async (
    name: string,
    unit: string,
    run: () => Promise<number>,
    messagesEach?: number,
  ): Promise<void> => {
    const values: number[] = [];
    for (let round = 0; round < rounds; round++) {
      values.push(await run());
      progress(
        `${name}: round ${round + 1}/${rounds}: ${formatRate(values[values.length - 1] as number)}${unit}`,
      );
    }
    results[name] = median(values);
    rows.push([
      name,
      `${formatRate(median(values))}${unit}`,
      messagesEach === undefined ? '—' : `${formatRate(median(values) * messagesEach)}/s`,
    ]);
  };

  await measure(`echo, cluster of 1 worker, ${clients} clients`, ' round trips/s', () =>
    echoRate(1, clients, echoMs),
  );
  await measure(`echo, cluster of 2 workers, ${clients} clients`, ' round trips/s', () =>
    echoRate(2, clients, echoMs),
  );
  await measure(
    'broadcast to 100 connections, 1 instance (local)',
    ' broadcasts/s',
    () => broadcastRate(0, 1, burst),
    100,
  );
  if (!hasRedis()) {
    rows.push(['broadcast to 100 connections over 2 instances via Redis', 'skipped: no redis-server', '']);
  } else {
    const redis = await launchRedis();
    try {
      await measure(
        'broadcast to 100 connections over 2 instances via Redis',
        ' broadcasts/s',
        () => broadcastRate(redis.port, 2, burst),
        100,
      );
    } finally {
      await redis.stop();
    }
  }

  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}`;
  console.log(`scale-out, loopback TCP, 64-byte messages, median of ${rounds} round(s); ${machine}\n`);
  console.log(markdownTable(['workload', 'rate', 'messages delivered'], rows));
  // Ignored by git, like the suite's results: a run never changes a tracked file.
  const dir = join(__dirname, '..', '..', 'bench', 'results', 'latest');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'cluster.json'),
    `${JSON.stringify({ machine, rounds, quick, results }, null, 2)}\n`,
  );
}

const [role, ...roleArgs] = args;
const numbers = roleArgs.map(Number);
const run: Record<string, () => Promise<void>> = {
  'cluster-server': () => clusterServer(numbers[0] as number),
  'echo-clients': () => echoClients(numbers[0] as number, numbers[1] as number, numbers[2] as number),
  'broadcast-instance': () => broadcastInstance(numbers[0] as number, roleArgs[1] as string),
  receivers: () => receivers((roleArgs[0] as string).split(',').map(Number), numbers[1] as number),
};
const chosen = role === undefined ? undefined : run[role];
(chosen ?? main)().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
