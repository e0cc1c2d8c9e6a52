/**
 * One side of the request/response (JSON-RPC) workloads, run in its own process through
 * bench/worker.ts. Every contender serves one method, `add({ a, b })`, and its client process
 * opens `clients` connections, each keeping `inflight` calls outstanding, checking every result
 * and timing every call from its send to its result.
 *
 *   rpc-server  {contender}                                      serves until stdin closes; "CPU" on request
 *   rpc-client  {contender, port, clients, inflight, ms, warmup} calls for warmup ms, "MARK", calls for ms,
 *                                                                then "RESULT {calls, rate, cpu, bad, p50, p99}"
 *
 * Contenders: `baseline` (node:net, newline-delimited JSON-RPC written by hand with a pending-id
 * map), `sockframe` (jsonRpc() over delimited()), `jayson` (its TCP server and client), `zeromq`
 * (DEALER/ROUTER carrying JSON-RPC texts, correlated by their ids) and `net-ipc` (its Server and
 * Client over TCP, request() answered from the server's 'request' event).
 */
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { delimited, jsonRpc, TcpClient, TcpServer } from 'sockframe';
import { HOST } from './contenders';
import { LatencyHistogram } from './stats';

export interface RpcJob {
  role: string;
  contender: string;
  port?: number;
  clients?: number;
  inflight?: number;
  ms?: number;
  warmup?: number;
}

interface RpcServer {
  port: number;
  close(): Promise<void>;
}

interface RpcClient {
  add(a: number, b: number): Promise<number>;
  close(): Promise<void>;
}

interface RpcContender {
  serve(): Promise<RpcServer>;
  connect(port: number): Promise<RpcClient>;
}

interface AddApi {
  add(p: { a: number; b: number }): number;
}

interface Request {
  id: number;
  method: string;
  params: { a: number; b: number };
}

function report(line: string): void {
  process.stdout.write(`${line}\n`);
}

function cpuNow(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

// ------------------------------------------------------------------------ baseline

/** What a user writes by hand: lines in, JSON.parse, a method table, one write per response. */
const baseline: RpcContender = {
  serve() {
    const methods: Record<string, (params: { a: number; b: number }) => unknown> = {
      add: ({ a, b }) => a + b,
    };
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.setEncoding('utf8');
      socket.on('error', () => {});
      let backlog = '';
      socket.on('data', (text: string) => {
        backlog += text;
        let at: number;
        while ((at = backlog.indexOf('\n')) >= 0) {
          const line = backlog.slice(0, at);
          backlog = backlog.slice(at + 1);
          const request = JSON.parse(line) as Request;
          const method = methods[request.method];
          const response =
            method === undefined
              ? { jsonrpc: '2.0', id: request.id, error: { code: -32601, message: 'Method not found' } }
              : { jsonrpc: '2.0', id: request.id, result: method(request.params) };
          socket.write(`${JSON.stringify(response)}\n`);
        }
      });
    });
    return new Promise((resolve) => {
      server.listen(0, HOST, () => {
        const address = server.address();
        resolve({
          port: typeof address === 'object' && address !== null ? address.port : 0,
          close: () => new Promise<void>((done) => server.close(() => done())),
        });
      });
    });
  },
  connect(port) {
    return new Promise((resolve, reject) => {
      const socket = connect(port, HOST);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.setNoDelay(true);
        socket.setEncoding('utf8');
        const pending = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();
        let nextId = 0;
        let backlog = '';
        socket.on('data', (text: string) => {
          backlog += text;
          let at: number;
          while ((at = backlog.indexOf('\n')) >= 0) {
            const response = JSON.parse(backlog.slice(0, at)) as {
              id: number;
              result?: number;
              error?: { message: string };
            };
            backlog = backlog.slice(at + 1);
            const call = pending.get(response.id);
            if (call === undefined) continue;
            pending.delete(response.id);
            if (response.error !== undefined) call.reject(new Error(response.error.message));
            else call.resolve(response.result as number);
          }
        });
        resolve({
          add: (a, b) =>
            new Promise<number>((ok, fail) => {
              const id = ++nextId;
              pending.set(id, { resolve: ok, reject: fail });
              socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method: 'add', params: { a, b } })}\n`);
            }),
          close: () => new Promise<void>((done) => socket.end(() => done())),
        });
      });
    });
  },
};

// ------------------------------------------------------------------------ sockframe

const sockframe: RpcContender = {
  async serve() {
    const server = new TcpServer({ framing: delimited(), rpc: jsonRpc<AddApi>() });
    server.handle('add', ({ a, b }) => a + b);
    const { port } = await server.listen({ port: 0, host: HOST });
    return { port, close: () => server.close({ timeout: 500 }) };
  },
  async connect(port) {
    const client = new TcpClient({ port, host: HOST, framing: delimited(), rpc: jsonRpc<unknown, AddApi>() });
    client.on('error', () => {});
    await client.connect();
    return { add: (a, b) => client.call('add', { a, b }), close: () => client.close({ timeout: 500 }) };
  },
};

// ------------------------------------------------------------------------ jayson

/* eslint-disable @typescript-eslint/no-require-imports -- the peers load only in their own worker */
type Jayson = typeof import('jayson');

const jayson: RpcContender = {
  serve() {
    const j = require('jayson') as Jayson;
    const server = new j.Server({
      add: (args: { a: number; b: number }, callback: (err: null, result: number) => void) =>
        callback(null, args.a + args.b),
    });
    const tcp = server.tcp();
    const sockets = new Set<Socket>();
    tcp.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    return new Promise((resolve) => {
      tcp.listen(0, HOST, () => {
        const address = tcp.address();
        resolve({
          port: typeof address === 'object' && address !== null ? address.port : 0,
          close: () =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy();
              tcp.close(() => done());
            }),
        });
      });
    });
  },
  connect(port) {
    const j = require('jayson') as Jayson;
    // jayson's TCP client opens one connection per request, as it is documented to.
    const client = j.Client.tcp({ port, host: HOST, noDelay: true });
    return Promise.resolve({
      add: (a, b) =>
        new Promise<number>((resolve, reject) => {
          const callback: import('jayson').JSONRPCCallbackTypePlain = (err, response) => {
            const answer = response as { result?: number; error?: unknown } | undefined;
            if (err !== null && err !== undefined) reject(new Error(JSON.stringify(err)));
            else if (answer?.error !== undefined) reject(new Error(JSON.stringify(answer.error)));
            else resolve(answer?.result as number);
          };
          client.request('add', { a, b }, callback);
        }),
      close: () => Promise.resolve(),
    });
  },
};

// ------------------------------------------------------------------------ zeromq

type Zmq = typeof import('zeromq');

function zmqPort(endpoint: string | null): number {
  return Number(endpoint?.slice(endpoint.lastIndexOf(':') + 1));
}

/** zeromq allows one send() in progress per socket: sends go out one after another from a queue. */
function serialSender(
  send: (frames: (Buffer | string)[]) => Promise<void>,
): (frames: (Buffer | string)[]) => void {
  const queue: (Buffer | string)[][] = [];
  let pumping = false;
  const pump = async (): Promise<void> => {
    pumping = true;
    try {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await send(next);
    } finally {
      pumping = false;
    }
  };
  return (frames) => {
    queue.push(frames);
    if (!pumping) void pump().catch(() => {});
  };
}

const zeromq: RpcContender = {
  async serve() {
    const z = require('zeromq') as Zmq;
    const socket = new z.Router({ linger: 0 });
    await socket.bind(`tcp://${HOST}:*`);
    void (async () => {
      try {
        for await (const [peer, message] of socket) {
          const request = JSON.parse((message as Buffer).toString('utf8')) as Request;
          const response = { jsonrpc: '2.0', id: request.id, result: request.params.a + request.params.b };
          await socket.send([peer as Buffer, JSON.stringify(response)]);
        }
      } catch {
        // The socket was closed.
      }
    })();
    return {
      port: zmqPort(socket.lastEndpoint),
      close: () => {
        socket.close();
        return Promise.resolve();
      },
    };
  },
  connect(port) {
    const z = require('zeromq') as Zmq;
    const socket = new z.Dealer({ linger: 0 });
    socket.connect(`tcp://${HOST}:${port}`);
    const pending = new Map<number, (v: number) => void>();
    let nextId = 0;
    void (async () => {
      try {
        for await (const [message] of socket) {
          const response = JSON.parse((message as Buffer).toString('utf8')) as { id: number; result: number };
          const resolve = pending.get(response.id);
          pending.delete(response.id);
          resolve?.(response.result);
        }
      } catch {
        // The socket was closed.
      }
    })();
    const send = serialSender((frames) => socket.send(frames));
    return Promise.resolve({
      add: (a, b) =>
        new Promise<number>((resolve) => {
          const id = ++nextId;
          pending.set(id, resolve);
          send([JSON.stringify({ jsonrpc: '2.0', id, method: 'add', params: { a, b } })]);
        }),
      close: () => {
        socket.close();
        return Promise.resolve();
      },
    });
  },
};
// ------------------------------------------------------------------------ net-ipc

type NetIpc = typeof import('net-ipc');

/**
 * A free loopback port: net-ipc's Server listens on a Unix socket when its `port` is 0 (falsy),
 * so the port is found first and handed to it.
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const netIpc: RpcContender = {
  async serve() {
    const { Server } = require('net-ipc') as NetIpc;
    const port = await freePort();
    // Its `options` are net.createServer()'s: no Nagle delay, like every other contender here.
    const server = new Server({ port, listenOptions: { host: HOST }, options: { noDelay: true } });
    server.on('error', () => {});
    server.on('request', (request: Request, respond) => {
      const answer =
        request.method === 'add'
          ? { result: request.params.a + request.params.b }
          : { error: { code: -32601, message: 'Method not found' } };
      respond(answer).catch(() => {});
    });
    await server.start();
    return {
      port,
      close: async () => {
        await server.close();
      },
    };
  },
  async connect(port) {
    const { Client } = require('net-ipc') as NetIpc;
    // Its `options` are net.connect()'s (it sets host and port itself from its own); request()
    // keeps its default 10 s timeout.
    const options = { host: HOST, port, noDelay: true };
    const client = new Client({ host: HOST, port, reconnect: false, options });
    client.on('error', () => {});
    await client.connect();
    return {
      add: async (a, b) => {
        const answer = (await client.request({ method: 'add', params: { a, b } })) as {
          result?: number;
          error?: { message: string };
        };
        if (answer.error !== undefined) throw new Error(answer.error.message);
        return answer.result as number;
      },
      close: async () => {
        await client.close();
      },
    };
  },
};
/* eslint-enable @typescript-eslint/no-require-imports */

const RPC_CONTENDERS: Record<string, RpcContender> = {
  baseline,
  sockframe,
  jayson,
  zeromq,
  'net-ipc': netIpc,
};

// ------------------------------------------------------------------------ roles

function need(job: RpcJob, key: 'port' | 'clients' | 'inflight' | 'ms' | 'warmup'): number {
  const value = job[key];
  if (typeof value !== 'number') throw new Error(`job ${job.role} needs ${key}`);
  return value;
}

async function rpcServer(c: RpcContender): Promise<void> {
  const handle = await c.serve();
  report(`PORT ${handle.port}`);
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line === 'CPU') report(`CPU ${cpuNow()}`);
  });
  input.on('close', () => {
    setTimeout(() => process.exit(0), 500).unref();
    void handle.close().then(() => process.exit(0));
  });
}

/**
 * `clients` connections with `inflight` lanes each, every lane calling in a loop; counts the
 * calls completed in the timed window and their latencies (send to result, µs).
 */
async function rpcClient(
  c: RpcContender,
  port: number,
  clients: number,
  inflight: number,
  ms: number,
  warmup: number,
): Promise<void> {
  const connected = await Promise.all(Array.from({ length: clients }, () => c.connect(port)));
  const latency = new LatencyHistogram();
  let counting = false;
  let running = true;
  let calls = 0;
  let bad = 0;
  let seq = 0;
  const lanes = connected.flatMap((client) =>
    Array.from({ length: inflight }, async () => {
      while (running) {
        const a = ++seq;
        const b = seq & 1023;
        const sentAt = performance.now();
        const sum = await client.add(a, b);
        if (sum !== a + b) bad++;
        if (counting && running) {
          latency.record((performance.now() - sentAt) * 1000);
          calls++;
        }
      }
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, warmup));
  counting = true;
  report('MARK');
  const cpuAtStart = cpuNow();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  running = false;
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuNow() - cpuAtStart;
  await Promise.all(lanes);
  await Promise.all(connected.map((client) => client.close()));
  const p50 = latency.percentile(50);
  const p99 = latency.percentile(99);
  report(`RESULT ${JSON.stringify({ calls, rate: calls / seconds, cpu, bad, p50, p99 })}`);
  process.exit(0);
}

export async function rpcRole(job: RpcJob): Promise<void> {
  const c = RPC_CONTENDERS[job.contender];
  if (c === undefined) throw new Error(`${job.contender} has no request/response contender`);
  if (job.role === 'rpc-server') return rpcServer(c);
  if (job.role === 'rpc-client') {
    const [port, clients, inflight] = [need(job, 'port'), need(job, 'clients'), need(job, 'inflight')];
    return rpcClient(c, port, clients, inflight, need(job, 'ms'), need(job, 'warmup'));
  }
  throw new Error(`unknown role ${job.role}`);
}
