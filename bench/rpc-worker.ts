/**
 * One side of the request/response (JSON-RPC) workload, run in its own process through
 * bench/worker.ts. Every contender serves one method, `add({ a, b })`, and its client keeps
 * `inflight` calls outstanding on one connection, checking every result.
 *
 *   rpc-server  {contender}                             serves until stdin closes; "CPU" on request
 *   rpc-client  {contender, port, inflight, ms, warmup} calls for warmup ms, "MARK", calls for ms,
 *                                                       then "RESULT {calls, rate, cpu, bad}"
 *
 * Contenders: `baseline` (node:net, newline-delimited JSON-RPC written by hand with a pending-id
 * map), `sockframe` (jsonRpc() over delimited()), `jayson` (its TCP server and client) and
 * `zeromq` (DEALER/ROUTER carrying JSON-RPC texts).
 */
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { delimited, jsonRpc, TcpClient, TcpServer } from 'sockframe';
import { HOST } from './contenders';

export interface RpcJob {
  role: string;
  contender: string;
  port?: number;
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
/* eslint-enable @typescript-eslint/no-require-imports */

const RPC_CONTENDERS: Record<string, RpcContender> = { baseline, sockframe, jayson, zeromq };

// ------------------------------------------------------------------------ roles

function need(job: RpcJob, key: 'port' | 'inflight' | 'ms' | 'warmup'): number {
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

/** `inflight` lanes each calling in a loop; counts the calls completed in the timed window. */
async function rpcClient(
  c: RpcContender,
  port: number,
  inflight: number,
  ms: number,
  warmup: number,
): Promise<void> {
  const client = await c.connect(port);
  let counting = false;
  let running = true;
  let calls = 0;
  let bad = 0;
  let seq = 0;
  const lanes = Array.from({ length: inflight }, async () => {
    while (running) {
      const a = ++seq;
      const b = seq & 1023;
      const sum = await client.add(a, b);
      if (sum !== a + b) bad++;
      if (counting && running) calls++;
    }
  });
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
  await client.close();
  report(`RESULT ${JSON.stringify({ calls, rate: calls / seconds, cpu, bad })}`);
  process.exit(0);
}

export async function rpcRole(job: RpcJob): Promise<void> {
  const c = RPC_CONTENDERS[job.contender];
  if (c === undefined) throw new Error(`${job.contender} has no request/response contender`);
  if (job.role === 'rpc-server') return rpcServer(c);
  if (job.role === 'rpc-client') {
    return rpcClient(c, need(job, 'port'), need(job, 'inflight'), need(job, 'ms'), need(job, 'warmup'));
  }
  throw new Error(`unknown role ${job.role}`);
}
