/**
 * One side of a benchmark, run in its own process by bench/server.ts.
 *
 *   flood-recv <impl> <size> <count>          listens, prints "PORT n", counts, prints "RESULT {json}"
 *   flood-send <impl> <size> <count> <port>   connects and sends count messages of size bytes
 *   echo-server <impl>                        listens, prints "PORT n", echoes until stdin closes
 *   echo-latency <impl> <port> <count>        sequential round trips, prints p50/p99
 *   echo-load <impl> <port> <clients> <ms>    concurrent ping-pong, prints round trips per second
 *
 * impl: "sockframe" (TcpServer / TcpClient, default framing) or "baseline" (hand-written net
 * code with the same 4-byte length prefix, writes batched into ~64 KiB, chunk-list parsing).
 */
import { connect, createServer } from 'node:net';
import { TcpClient, TcpServer } from 'sockframe';
import { BaselineParser, BaselineWriter } from './baseline';

type Impl = 'sockframe' | 'baseline';
const HOST = '127.0.0.1';
const FIRST = 0xab;
const LAST = 0xcd;

function payloadOf(size: number): Buffer {
  const payload = Buffer.alloc(size, 0x11);
  if (size > 0) {
    payload[0] = FIRST;
    payload[size - 1] = LAST;
  }
  return payload;
}

function isExpected(message: Buffer, size: number): boolean {
  return message.length === size && (size === 0 || (message[0] === FIRST && message[size - 1] === LAST));
}

function report(result: object): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

async function floodReceive(impl: Impl, size: number, count: number): Promise<void> {
  let received = 0;
  let bytes = 0;
  let bad = 0;
  let start = 0n;
  const done = (): void => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    report({ messages: received, bytes, bad, seconds, rate: received / seconds });
    process.exit(bad === 0 && received === count ? 0 : 1);
  };
  const onMessage = (message: Buffer): void => {
    if (received === 0) start = process.hrtime.bigint();
    received++;
    bytes += message.length;
    if (!isExpected(message, size)) bad++;
    if (received === count) done();
  };
  if (impl === 'sockframe') {
    const server = new TcpServer({ maxMessageSize: size + 1024 });
    server.on('message', (_conn, message) => onMessage(message));
    const { port } = await server.listen({ port: 0, host: HOST });
    process.stdout.write(`PORT ${port}\n`);
  } else {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      const parser = new BaselineParser(onMessage);
      socket.on('data', (chunk: Buffer) => parser.push(chunk));
    });
    server.listen(0, HOST, () => {
      const address = server.address();
      process.stdout.write(`PORT ${typeof address === 'object' && address ? address.port : 0}\n`);
    });
  }
}

async function floodSend(impl: Impl, size: number, count: number, port: number): Promise<void> {
  const payload = payloadOf(size);
  if (impl === 'sockframe') {
    const client = new TcpClient({ port, host: HOST });
    await client.connect();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (sent < count) {
          sent++;
          if (!client.send(payload)) {
            client.once('drain', pump);
            return;
          }
        }
        resolve();
      };
      pump();
    });
    await client.close();
  } else {
    const socket = connect(port, HOST);
    socket.setNoDelay(true);
    await new Promise((resolve) => socket.once('connect', resolve));
    const writer = new BaselineWriter(socket);
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (sent < count) {
          sent++;
          if (!writer.send(payload)) {
            socket.once('drain', pump);
            return;
          }
        }
        writer.flush();
        resolve();
      };
      pump();
    });
    await new Promise<void>((resolve) => socket.end(resolve));
  }
}

async function echoServer(impl: Impl): Promise<void> {
  if (impl === 'sockframe') {
    const server = new TcpServer({ maxConnections: 20_000 });
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: HOST, backlog: 2048 });
    process.stdout.write(`PORT ${port}\n`);
    process.stdin.on('end', () => void server.close({ timeout: 100 }).then(() => process.exit(0)));
  } else {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      const writer = new BaselineWriter(socket);
      const parser = new BaselineParser((message) => writer.send(message));
      socket.on('data', (chunk: Buffer) => parser.push(chunk));
      socket.on('error', () => {});
    });
    server.listen({ port: 0, host: HOST, backlog: 2048 }, () => {
      const address = server.address();
      process.stdout.write(`PORT ${typeof address === 'object' && address ? address.port : 0}\n`);
    });
    process.stdin.on('end', () => process.exit(0));
  }
  process.stdin.resume();
}

/** A ping-pong client: sends one message, waits for its echo, repeats. */
interface PingClient {
  ping(): Promise<void>;
  close(): Promise<void>;
}

async function openPingClient(impl: Impl, port: number, payload: Buffer): Promise<PingClient> {
  let waiting: (() => void) | undefined;
  const onMessage = (message: Buffer): void => {
    if (!isExpected(message, payload.length)) throw new Error('bad echo');
    const resolve = waiting;
    waiting = undefined;
    resolve?.();
  };
  if (impl === 'sockframe') {
    const client = new TcpClient({ port, host: HOST });
    client.on('message', onMessage);
    await client.connect();
    return {
      ping: () =>
        new Promise<void>((resolve) => {
          waiting = resolve;
          client.send(payload);
        }),
      close: () => client.close(),
    };
  }
  const socket = connect(port, HOST);
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const writer = new BaselineWriter(socket);
  const parser = new BaselineParser(onMessage);
  socket.on('data', (chunk: Buffer) => parser.push(chunk));
  return {
    ping: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        writer.send(payload);
      }),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
  };
}

async function echoLatency(impl: Impl, port: number, count: number): Promise<void> {
  const client = await openPingClient(impl, port, payloadOf(64));
  for (let i = 0; i < 500; i++) await client.ping(); // warm-up
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await client.ping();
    samples[i] = Number(process.hrtime.bigint() - start) / 1e3;
  }
  await client.close();
  samples.sort();
  const at = (p: number): number => samples[Math.min(count - 1, Math.ceil(p * count) - 1)] as number;
  report({ p50: at(0.5), p99: at(0.99), count });
}

async function echoLoad(impl: Impl, port: number, clients: number, ms: number): Promise<void> {
  const payload = payloadOf(64);
  const all: PingClient[] = [];
  for (let i = 0; i < clients; i++) all.push(await openPingClient(impl, port, payload));
  let roundTrips = 0;
  let running = true;
  const start = process.hrtime.bigint();
  const loops = all.map(async (client) => {
    while (running) {
      await client.ping();
      roundTrips++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  running = false;
  await Promise.all(loops);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(all.map((client) => client.close()));
  report({ roundTrips, seconds, rate: roundTrips / seconds });
}

async function main(): Promise<void> {
  const [role, implArg, ...rest] = process.argv.slice(2);
  const impl = implArg as Impl;
  if (impl !== 'sockframe' && impl !== 'baseline') throw new Error(`unknown impl ${String(implArg)}`);
  const n = rest.map(Number);
  switch (role) {
    case 'flood-recv':
      return floodReceive(impl, n[0] as number, n[1] as number);
    case 'flood-send':
      return floodSend(impl, n[0] as number, n[1] as number, n[2] as number);
    case 'echo-server':
      return echoServer(impl);
    case 'echo-latency':
      return echoLatency(impl, n[0] as number, n[1] as number);
    case 'echo-load':
      return echoLoad(impl, n[0] as number, n[1] as number, n[2] as number);
    default:
      throw new Error(`unknown role ${String(role)}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(2);
});
