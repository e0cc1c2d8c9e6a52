/**
 * Hostile peers. In each case one misbehaving connection runs beside a steady, healthy client on
 * the same server: the misbehaving one gets a typed error and is closed (or, when what it does is
 * odd but valid, is served correctly), the healthy one gets every reply, the server accepts new
 * connections afterwards, and the case's peak RSS is reported.
 */
import { existsSync, lstatSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import {
  AddressInUseError,
  FrameTooLargeError,
  IpcClient,
  IpcServer,
  lengthField,
  ListenerError,
  MessageTimeoutError,
  IdleTimeoutError,
  SlowConsumerError,
  SocketError,
  TcpClient,
  TcpServer,
  TlsServer,
  type Connection,
  type LengthFraming,
  type SockframeError,
  type StreamClient,
  type StreamServer,
  type StreamServerOptions,
} from 'sockframe';
import { delay, frame, Resources, staleSocketFile, tmpSocketPath, waitUntil } from '../helpers/net';
import { expectEcho, rawTlsClient, record, tlsCert, tlsKey, type Recorded } from '../server/support';
import { logUniform, payload, prng, ReplyReader, report, RssSampler, sha1, writeSplit } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const MiB = 1024 * 1024;
const unixOnly = process.platform === 'win32' ? test.skip : test;

/**
 * A healthy client that keeps exchanging messages of random size (two every 5 ms) and checks
 * every reply against the hash of what it sent, in order.
 */
class Steady {
  private readonly random: () => number;
  private readonly expected: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  received = 0;
  mismatches = 0;
  /** Times the client lost its connection, and sends refused, while it was meant to be running. */
  drops = 0;
  sendFailures = 0;
  readonly errors: SockframeError[] = [];
  private running = false;

  constructor(
    private readonly client: StreamClient,
    seed: number,
  ) {
    this.random = prng(seed);
    client.on('message', (message) => {
      if (sha1(message) !== this.expected[this.received]) this.mismatches++;
      this.received++;
    });
    client.on('close', () => {
      if (this.running) this.drops++;
    });
    client.on('error', (err) => this.errors.push(err));
  }

  get sent(): number {
    return this.expected.length;
  }

  start(): void {
    this.running = true;
    this.timer = setInterval(() => {
      for (let i = 0; i < 2; i++) {
        const body = payload(this.random, logUniform(this.random, 0, 4096));
        try {
          this.client.send(body);
          this.expected.push(sha1(body));
        } catch {
          this.sendFailures++;
        }
      }
    }, 5);
  }

  /** Stops sending at once (a failed test must not leave the timer running). */
  halt(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops sending and waits for the replies still on their way. */
  async stop(): Promise<void> {
    this.halt();
    await waitUntil(() => this.received >= this.expected.length, 15_000, "the healthy client's replies");
    this.running = false;
  }
}

/** A raw socket to the arena's server, with the server's side of it. */
interface Raw {
  socket: Socket;
  conn: Connection;
  closed: Promise<void>;
}

interface Arena {
  server: StreamServer<unknown, unknown>;
  recorded: Recorded;
  target: { port: number } | { path: string };
  steady: Steady;
  rss: RssSampler;
  /** A new client of the arena's framing, closed after the test. */
  client(): StreamClient;
  /** A raw socket, resolved once the server has accepted it. */
  raw(allowHalfOpen?: boolean): Promise<Raw>;
}

interface ArenaOptions extends StreamServerOptions {
  ipc?: boolean;
  mode?: number;
  /** Runs before the echo for every message; throwing there is the listener throwing. */
  special?: (conn: Connection, message: Buffer) => void;
}

/** A server that echoes, a healthy client running on it, and an RSS sampler started. */
async function arena(options: ArenaOptions = {}): Promise<Arena> {
  const { ipc = false, mode, special, ...serverOptions } = options;
  global.gc?.();
  const server: StreamServer<unknown, unknown> = resources.add(
    ipc ? new IpcServer(serverOptions) : new TcpServer(serverOptions),
    (s) => s.close({ timeout: 500 }),
  );
  const recorded = record(server);
  server.on('message', (conn, message) => {
    special?.(conn, message);
    if (conn.isOpen) conn.send(message);
  });
  let target: { port: number } | { path: string };
  if (ipc) {
    const path = tmpSocketPath();
    await (server as IpcServer).listen({ path, ...(mode === undefined ? {} : { mode }) });
    target = { path };
  } else {
    const { port } = await (server as TcpServer).listen({ port: 0, host: '127.0.0.1' });
    target = { port };
  }
  const client = (): StreamClient => {
    const framing = serverOptions.framing;
    const c =
      'path' in target
        ? new IpcClient({ path: target.path, framing })
        : new TcpClient({ host: '127.0.0.1', port: target.port, framing });
    return resources.add(c, (x) => x.close({ timeout: 500 }));
  };
  const raw = async (allowHalfOpen = false): Promise<Raw> => {
    const accepted = new Promise<Connection>((resolve) => server.once('connect', resolve));
    const socket = resources.socket(
      'path' in target
        ? netConnect({ path: target.path, allowHalfOpen })
        : netConnect({ port: target.port, host: '127.0.0.1', allowHalfOpen }),
    );
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('close', () => reject(new Error('closed before connecting')));
    });
    return { socket, conn: await accepted, closed };
  };
  const healthy = client();
  const steady = resources.add(new Steady(healthy, 4242), (s) => s.halt());
  await healthy.connect();
  steady.start();
  const rss = resources.add(new RssSampler(), (r) => r.stop());
  return { server, recorded, target, steady, rss, client, raw };
}

/**
 * Ends a case: the healthy client got every reply and never lost its connection, no fault was
 * reported for anyone but `hostile`, a new client is still served, and the figures are reported.
 */
async function finish(
  a: Arena,
  name: string,
  hostile: Connection[],
  figures: Record<string, unknown> = {},
): Promise<{ growthMiB: number }> {
  // The healthy client was running all along; let it go on a little past the hostile peer.
  const sentBefore = a.steady.sent;
  await waitUntil(() => a.steady.received >= sentBefore + 10, 10_000, 'healthy traffic');
  await a.steady.stop();
  const memory = a.rss.stop();

  const fresh = a.client();
  await fresh.connect();
  const reply = new Promise<Buffer>((resolve) => fresh.once('message', resolve));
  fresh.send('still serving');
  expect((await reply).toString()).toBe('still serving');
  await fresh.close();

  report(`hostile-${name}`, {
    healthySent: a.steady.sent,
    healthyReplies: a.steady.received,
    ...memory,
    ...figures,
  });
  expect(a.steady.received).toBe(a.steady.sent);
  expect(a.steady.mismatches).toBe(0);
  expect(a.steady.drops).toBe(0);
  expect(a.steady.sendFailures).toBe(0);
  expect(a.steady.errors).toEqual([]);
  const others = a.recorded.errors.filter((e) => e.conn === undefined || !hostile.includes(e.conn));
  expect(others.map((e) => e.err.code)).toEqual([]);
  return memory;
}

/** The hostile connection was failed with exactly one error of `code`, and both ends closed. */
async function expectFailed(a: Arena, raw: Raw, code: string): Promise<SockframeError> {
  await waitUntil(
    () => a.recorded.closes.some((c) => c.conn === raw.conn),
    10_000,
    'the hostile connection to close',
  );
  const errors = a.recorded.errors.filter((e) => e.conn === raw.conn).map((e) => e.err);
  expect(errors.map((e) => e.code)).toEqual([code]);
  const err = errors[0] as SockframeError;
  const { unsentBytes, unsentMessages, ...reason } =
    a.recorded.closes.find((c) => c.conn === raw.conn)?.reason ?? {};
  expect(reason).toEqual({ kind: 'error', error: err });
  // What the server had queued for it (its echoes) and never wrote, when there was any: both
  // counts or neither, a message for every few bytes at most.
  expect(unsentMessages === undefined).toBe(unsentBytes === undefined);
  if (unsentBytes !== undefined) {
    expect(Number.isInteger(unsentBytes) && unsentBytes > 0).toBe(true);
    expect(Number.isInteger(unsentMessages) && (unsentMessages as number) > 0).toBe(true);
    expect(unsentMessages).toBeLessThanOrEqual(unsentBytes);
  }
  expect(raw.conn.isOpen).toBe(false);
  expect(a.server.connections.has(raw.conn.id)).toBe(false);
  await raw.closed;
  return err;
}

/** A header with an unsigned big-endian value. */
function header(size: 4 | 8, value: bigint): Buffer {
  const bytes = Buffer.alloc(size);
  if (size === 4) bytes.writeUInt32BE(Number(value));
  else bytes.writeBigUInt64BE(value);
  return bytes;
}

describe('huge length headers are refused before allocation', () => {
  test.each([
    { name: 'length-0xffffffff', lengthSize: 4 as const, value: 0xffffffffn },
    { name: 'length-2^53', lengthSize: 8 as const, value: 2n ** 53n },
    { name: 'length-2^64-1', lengthSize: 8 as const, value: 2n ** 64n - 1n },
  ])('$name', async ({ name, lengthSize, value }) => {
    const a = await arena({ framing: lengthField({ lengthSize }) });
    const raw = await a.raw();
    // The header and then a little body: none of the announced size is ever set aside.
    raw.socket.write(Buffer.concat([header(lengthSize, value), Buffer.alloc(64 * 1024, 1)]));
    const err = await expectFailed(a, raw, 'ERR_FRAME_TOO_LARGE');
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect((err as FrameTooLargeError).length).toBeGreaterThanOrEqual(Number(value));
    expect((err as FrameTooLargeError).limit).toBe(16 * MiB);
    const memory = await finish(a, name, [raw.conn], { declaredLength: value.toString() });
    expect(memory.growthMiB).toBeLessThan(64);
  });
});

/**
 * A gosof-style header (u32 big-endian whole length, stripped on delivery); values from
 * 0xEE000000 up make the hook misbehave.
 */
function hookFraming(misbehave: () => unknown): LengthFraming {
  return {
    headerSize: 4,
    strip: 4,
    messageLength(head: Buffer): number {
      const value = head.readUInt32BE(0);
      return value >= 0xee000000 ? (misbehave() as number) : value;
    },
    encode(body: Buffer): Buffer[] {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(4 + body.length);
      return [head, body];
    },
  };
}

describe('custom hooks that misbehave fail only their connection', () => {
  test.each([
    {
      name: 'hook-throws',
      misbehave: () => {
        throw new Error('unreadable header');
      },
      code: 'ERR_FRAMING_HOOK_FAILED',
    },
    { name: 'hook-nan', misbehave: () => NaN, code: 'ERR_INVALID_FRAME_LENGTH' },
    { name: 'hook-negative', misbehave: () => -1, code: 'ERR_INVALID_FRAME_LENGTH' },
    { name: 'hook-below-header-size', misbehave: () => 2, code: 'ERR_INVALID_FRAME_LENGTH' },
    { name: 'hook-zero', misbehave: () => 0, code: 'ERR_INVALID_FRAME_LENGTH' },
    { name: 'hook-fraction', misbehave: () => 10.5, code: 'ERR_INVALID_FRAME_LENGTH' },
    { name: 'hook-not-a-number', misbehave: () => 'twelve', code: 'ERR_INVALID_FRAME_LENGTH' },
  ])('$name', async ({ name, misbehave, code }) => {
    const a = await arena({ framing: hookFraming(misbehave) });
    const raw = await a.raw();
    // One good message first: the hook serves this connection until the bad header.
    raw.socket.write(Buffer.from([0, 0, 0, 6, 0x68, 0x69]));
    raw.socket.write(Buffer.from([0xee, 0, 0, 1, 9, 9, 9, 9]));
    const err = await expectFailed(a, raw, code);
    if (code === 'ERR_FRAMING_HOOK_FAILED') expect((err.cause as Error).message).toBe('unreadable header');
    expect(raw.conn.stats.messagesIn).toBe(1);
    await finish(a, name, [raw.conn], { code });
  });
});

/**
 * How busy the event loop is over a wait of `ms` (0 to 1), and the process's CPU time. The
 * collector's own threads may run after a burst; a timer or a loop spinning keeps the loop busy.
 */
async function busyOver(ms: number): Promise<{ loop: number; cpuMs: number }> {
  const loopStart = performance.eventLoopUtilization();
  const start = process.cpuUsage();
  await delay(ms);
  const used = process.cpuUsage(start);
  return {
    loop: performance.eventLoopUtilization(loopStart).utilization,
    cpuMs: (used.user + used.system) / 1000,
  };
}

test('a stream of empty messages is delivered as empty messages, without spinning', async () => {
  const zero: { conn?: Connection } = {};
  let delivered = 0;
  let nonEmpty = 0;
  const a = await arena({
    special: (conn, message) => {
      if (conn !== zero.conn) return;
      delivered++;
      if (message.length !== 0) nonEmpty++;
    },
  });
  const raw = await a.raw();
  zero.conn = raw.conn;
  const COUNT = 100_000;
  let echoedBytes = 0;
  let nonZeroBytes = 0;
  raw.socket.on('data', (chunk: Buffer) => {
    echoedBytes += chunk.length;
    for (const byte of chunk) if (byte !== 0) nonZeroBytes++;
  });
  const cpuStart = process.cpuUsage();
  await writeSplit(raw.socket, Buffer.alloc(4 * COUNT), prng(7), 16 * 1024);
  await waitUntil(() => echoedBytes === 4 * COUNT, 30_000, 'every empty message echoed');
  const busy = process.cpuUsage(cpuStart);
  // Nothing left to do: an idle connection with no partial message costs no CPU. The burst's
  // garbage is collected first, or the collector's work would be counted.
  global.gc?.();
  const idle = await busyOver(500);

  expect(delivered).toBe(COUNT);
  expect(nonEmpty).toBe(0);
  expect(nonZeroBytes).toBe(0);
  expect(raw.conn.stats.messagesIn).toBe(COUNT);
  // A loop spinning keeps the event loop busy all the time (1.0). The bound leaves room for the
  // test runner's own work on the same loop: under --detectOpenHandles, a stack trace per async
  // resource, about 0.4 of the loop here while sockframe does nothing.
  expect(idle.loop).toBeLessThan(0.75);
  const busyMs = (busy.user + busy.system) / 1000;
  expect(busyMs).toBeLessThan(20_000);

  raw.socket.end();
  await raw.closed;
  await waitUntil(() => a.recorded.closes.some((c) => c.conn === raw.conn), 5000, 'the server side to close');
  expect(a.recorded.closes.find((c) => c.conn === raw.conn)?.reason).toEqual({ kind: 'peer-ended' });
  await finish(a, 'zero-length-stream', [], {
    emptyMessages: COUNT,
    cpuMsDelivering: Math.round(busyMs),
    cpuMsIdle: Math.round(idle.cpuMs),
    idleLoopUtilization: Number(idle.loop.toFixed(3)),
  });
});

test('slowloris: a message trickling in one byte per 100 ms is cut off by messageTimeout', async () => {
  const a = await arena({ messageTimeout: 500, idleTimeout: 0 });
  const raw = await a.raw();
  const started = Date.now();
  raw.socket.write(header(4, 100n));
  let trickled = 0;
  const trickle = resources.add(
    setInterval(() => {
      if (raw.socket.destroyed) return;
      raw.socket.write(Buffer.from([0x41]));
      trickled++;
    }, 100),
    clearInterval,
  );
  const err = await expectFailed(a, raw, 'ERR_MESSAGE_TIMEOUT');
  clearInterval(trickle);
  const elapsedMs = Date.now() - started;
  expect(err).toBeInstanceOf(MessageTimeoutError);
  expect((err as MessageTimeoutError).timeout).toBe(500);
  // A timer cannot fire early; the message never completed.
  expect(elapsedMs).toBeGreaterThanOrEqual(450);
  expect(trickled).toBeLessThan(100);
  expect(raw.conn.stats.messagesIn).toBe(0);
  await finish(a, 'slowloris', [raw.conn], { bytesTrickled: trickled, cutAfterMs: elapsedMs });
});

test('a connection that sends nothing is closed by idleTimeout', async () => {
  const a = await arena({ idleTimeout: 500 });
  const started = Date.now();
  const raw = await a.raw();
  const err = await expectFailed(a, raw, 'ERR_IDLE_TIMEOUT');
  const elapsedMs = Date.now() - started;
  expect(err).toBeInstanceOf(IdleTimeoutError);
  expect((err as IdleTimeoutError).timeout).toBe(500);
  expect(elapsedMs).toBeGreaterThanOrEqual(450);
  await finish(a, 'silent', [raw.conn], { cutAfterMs: elapsedMs });
});

test('a busy connection whose reads always end mid-message outlives both timeouts', async () => {
  const a = await arena({ idleTimeout: 500, messageTimeout: 500 });
  const raw = await a.raw();
  const reader = new ReplyReader();
  raw.socket.on('data', (chunk: Buffer) => reader.push(chunk));
  const random = prng(99);
  const sent: string[] = [];
  const next = (): Buffer => {
    const body = payload(random, 1024);
    sent.push(sha1(body));
    return frame(body);
  };
  let message = next();
  raw.socket.write(message.subarray(0, 500));
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    // The end of one message and the start of the next: the server never holds a whole one only.
    const following = next();
    raw.socket.write(Buffer.concat([message.subarray(500), following.subarray(0, 500)]));
    message = following;
    await delay(20);
  }
  raw.socket.write(message.subarray(500));
  await waitUntil(() => reader.replies.length === sent.length, 10_000, 'every busy reply');
  expect(reader.replies).toEqual(sent);
  expect(raw.conn.isOpen).toBe(true);
  expect(a.recorded.errors.filter((e) => e.conn === raw.conn)).toEqual([]);
  raw.socket.end();
  await raw.closed;
  await finish(a, 'busy-connection', [], { messages: sent.length, seconds: 2.5 });
});

test('a reader that never reads is destroyed at maxPendingBytes; server memory stays bounded', async () => {
  const limit = 4 * MiB;
  let flooded = 0;
  const chunk = Buffer.alloc(64 * 1024, 0xab);
  const a = await arena({
    maxPendingBytes: limit,
    special: (conn, message) => {
      if (message.toString() !== 'flood me') return;
      const timer = resources.add(
        setInterval(() => {
          // Sends on regardless of backpressure, as a careless application would; at most 1 GiB.
          for (let i = 0; i < 16 && conn.isOpen && flooded < 1024 * MiB; i++) {
            conn.send(chunk);
            flooded += chunk.length;
          }
          if (!conn.isOpen || flooded >= 1024 * MiB) clearInterval(timer);
        }, 1),
        clearInterval,
      );
    },
  });
  const raw = await a.raw();
  raw.socket.pause();
  raw.socket.write(frame('flood me'));
  await waitUntil(
    () => a.recorded.errors.some((e) => e.conn === raw.conn),
    20_000,
    'the slow consumer fault',
  );
  // A paused socket only notices it was dropped once it reads again.
  raw.socket.resume();
  const err = await expectFailed(a, raw, 'ERR_SLOW_CONSUMER');
  expect(err).toBeInstanceOf(SlowConsumerError);
  expect((err as SlowConsumerError).limit).toBe(limit);
  expect((err as SlowConsumerError).pendingBytes).toBeGreaterThan(limit);
  // Cut by the very send that went past the limit: never more than one frame beyond it.
  expect((err as SlowConsumerError).pendingBytes).toBeLessThanOrEqual(limit + 4 + chunk.length);
  expect(flooded).toBeLessThan(1024 * MiB);
  const memory = await finish(a, 'slow-consumer', [raw.conn], {
    maxPendingBytes: limit,
    bytesQueuedBeforeCut: flooded,
  });
  expect(memory.growthMiB).toBeLessThan(64);
});

test('a connection flood above maxConnections gives drop events; existing connections are unaffected', async () => {
  const MAX = 50;
  const FLOOD = 300;
  const a = await arena({ maxConnections: MAX });
  const drops: string[] = [];
  a.server.on('drop', (info) => drops.push(info.reason));
  let largest = 0;
  a.server.on('connect', () => (largest = Math.max(largest, a.server.connections.size)));
  const existing = await Promise.all(Array.from({ length: 5 }, () => a.raw()));
  for (const [i, r] of existing.entries()) await echo(r, `existing ${i}`);

  const connectsBefore = a.recorded.connects.length;
  const flood = Array.from({ length: FLOOD }, () => {
    const socket = resources.socket(netConnect({ port: portOf(a), host: '127.0.0.1' }));
    socket.on('error', () => {});
    return socket;
  });
  const accepted = MAX - 1 - existing.length;
  await waitUntil(
    () => drops.length + (a.recorded.connects.length - connectsBefore) === FLOOD,
    30_000,
    'every flood connection accepted or dropped',
  );
  expect(a.recorded.connects.length - connectsBefore).toBe(accepted);
  expect(drops.length).toBe(FLOOD - accepted);
  expect(new Set(drops)).toEqual(new Set(['max-connections']));
  expect(largest).toBeLessThanOrEqual(MAX);
  for (const [i, r] of existing.entries()) await echo(r, `existing ${i} after the flood`);

  for (const socket of flood) socket.destroy();
  await waitUntil(() => a.server.connections.size === 1 + existing.length, 10_000, 'the flood to leave');
  await finish(a, 'connection-flood', [], {
    maxConnections: MAX,
    opened: FLOOD,
    accepted,
    dropped: drops.length,
  });
});

function portOf(a: Arena): number {
  if (!('port' in a.target)) throw new Error('not a TCP arena');
  return a.target.port;
}

/** Sends `text` on a raw socket of the default framing and expects it echoed as the next reply. */
async function echo(raw: Raw, text: string): Promise<void> {
  const reply = new Promise<string>((resolve) => {
    let backlog = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      backlog = Buffer.concat([backlog, chunk]);
      if (backlog.length < 4 || backlog.length < 4 + backlog.readUInt32BE(0)) return;
      raw.socket.off('data', onData);
      resolve(backlog.subarray(4, 4 + backlog.readUInt32BE(0)).toString());
    };
    raw.socket.on('data', onData);
  });
  raw.socket.write(frame(text));
  expect(await reply).toBe(text);
}

test('a TLS peer that connects and never starts a handshake is cut off at the default 10 s', async () => {
  const server = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert }), (s) =>
    s.close({ timeout: 100 }),
  );
  server.on('message', (conn, message) => conn.send(message));
  const recorded = record(server);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const silent = resources.socket(netConnect({ port, host: '127.0.0.1' }));
  silent.on('error', () => {});
  const startedAt = Date.now();
  const closed = new Promise((resolve) => silent.once('close', resolve));
  // Served meanwhile.
  await expectEcho(await rawTlsClient(resources, port), 'served while the silent peer waits');
  await closed;
  const elapsedMs = Date.now() - startedAt;
  expect(elapsedMs).toBeGreaterThanOrEqual(9_500);
  expect(elapsedMs).toBeLessThan(15_000);
  expect(recorded.errors.map(({ err }) => (err as SocketError).syscallCode)).toEqual([
    'ERR_TLS_HANDSHAKE_TIMEOUT',
  ]);
  report('tls-silent', { cutAfterMs: elapsedMs });
}, 30_000);

test("a 'message' listener that throws fails that connection with ERR_LISTENER_THREW", async () => {
  const a = await arena({
    special: (_conn, message) => {
      if (message.toString() === 'make it throw') throw new Error('listener bug');
    },
  });
  const raw = await a.raw();
  await echo(raw, 'fine');
  raw.socket.write(frame('make it throw'));
  const err = await expectFailed(a, raw, 'ERR_LISTENER_THREW');
  expect(err).toBeInstanceOf(ListenerError);
  expect((err as ListenerError).event).toBe('message');
  expect((err.cause as Error).message).toBe('listener bug');
  await finish(a, 'listener-throws', [raw.conn]);
});

test('a client that resets in the middle of a message', async () => {
  const a = await arena();
  const raw = await a.raw();
  raw.socket.write(Buffer.concat([header(4, 1000n), Buffer.alloc(100, 7)]));
  await waitUntil(() => raw.conn.stats.bytesIn === 104, 5000, 'the partial message to arrive');
  raw.socket.resetAndDestroy();
  const err = await expectFailed(a, raw, 'ERR_SOCKET');
  expect(err).toBeInstanceOf(SocketError);
  expect((err as SocketError).syscallCode).toBe('ECONNRESET');
  expect(raw.conn.stats.messagesIn).toBe(0);
  await finish(a, 'reset-mid-message', [raw.conn]);
});

test('a half-closed socket still gets every reply, then the server ends its side', async () => {
  const a = await arena();
  const raw = await a.raw(true);
  const reader = new ReplyReader();
  raw.socket.on('data', (chunk: Buffer) => reader.push(chunk));
  const ended = new Promise<void>((resolve) => raw.socket.once('end', () => resolve()));
  const random = prng(3);
  const sent: string[] = [];
  const bodies: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const body = payload(random, logUniform(random, 0, 64 * 1024));
    sent.push(sha1(body));
    bodies.push(frame(body));
  }
  await writeSplit(raw.socket, Buffer.concat(bodies), random, 16 * 1024);
  raw.socket.end();
  await ended;
  expect(reader.replies).toEqual(sent);
  await raw.closed;
  await waitUntil(() => a.recorded.closes.some((c) => c.conn === raw.conn), 5000, 'the server side to close');
  expect(a.recorded.closes.find((c) => c.conn === raw.conn)?.reason).toEqual({ kind: 'peer-ended' });
  await finish(a, 'half-closed', [], { messages: sent.length });
});

describe('IPC socket files', () => {
  unixOnly('a stale socket file is replaced; the running server is unaffected', async () => {
    const a = await arena({ ipc: true });
    const path = resources.removeFile(tmpSocketPath());
    await staleSocketFile(resources, path);
    expect(lstatSync(path).isSocket()).toBe(true);
    const second = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
    second.on('message', (conn, message) => conn.send(message));
    await expect(second.listen({ path })).resolves.toEqual({ path });
    const client = resources.add(new IpcClient({ path }), (c) => c.close({ timeout: 500 }));
    await client.connect();
    const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
    client.send('on the replaced file');
    expect((await reply).toString()).toBe('on the replaced file');
    await client.close();
    await second.close();
    expect(existsSync(path)).toBe(false);
    await finish(a, 'ipc-stale-socket-file', []);
  });

  unixOnly('a live socket file is left alone: ERR_ADDRESS_IN_USE, its server keeps serving', async () => {
    const a = await arena({ ipc: true });
    const path = (a.target as { path: string }).path;
    const intruder = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
    const attempt = intruder.listen({ path });
    await expect(attempt).rejects.toBeInstanceOf(AddressInUseError);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_ADDRESS_IN_USE', address: path });
    await intruder.close();
    expect(lstatSync(path).isSocket()).toBe(true);
    await finish(a, 'ipc-live-socket-file', [], { code: 'ERR_ADDRESS_IN_USE' });
  });

  unixOnly('the socket file mode 0o600 is honoured', async () => {
    const a = await arena({ ipc: true, mode: 0o600 });
    const path = (a.target as { path: string }).path;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await finish(a, 'ipc-socket-mode', [], { mode: '0600' });
    await a.server.close();
    expect(existsSync(path)).toBe(false);
  });
});
