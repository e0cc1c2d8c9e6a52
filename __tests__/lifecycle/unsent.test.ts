/**
 * What a close says was never written, checked exactly against what the peer got. A peer stops
 * reading, a seeded random mix of messages is queued until the socket no longer takes bytes,
 * then the connection goes (destroy(), a close timeout, a server's close timeout, the idle
 * timeout of a dead peer). The peer then reads what reached it, decodes it with a decoder of its
 * own, and the close reason must count exactly the rest: messages not received whole, and bytes
 * not received.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { TcpClient, type CloseReason, type Connection, type TcpServerOptions } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { startTcp } from '../server/support';
import { prng as seeded } from '../stress/support';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A payload whose bytes say which message it is and where in it they are. */
function payload(index: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (index * 31 + i) & 0xff;
  return bytes;
}

/** Mostly small messages, some large, a few empty: each one counts, whatever its size. */
function nextSize(random: () => number): number {
  const pick = random();
  if (pick < 0.05) return 0;
  if (pick < 0.7) return 1 + Math.floor(random() * 64);
  if (pick < 0.95) return 1 + Math.floor(random() * 4096);
  return 1 + Math.floor(random() * 200_000);
}

/** The peer's own decoder of the default framing: whole messages, and how many bytes are left over. */
function decode(stream: Buffer): { messages: Buffer[]; leftover: number } {
  const messages: Buffer[] = [];
  let at = 0;
  while (stream.length - at >= 4) {
    const length = stream.readUInt32BE(at);
    if (stream.length - at - 4 < length) break;
    messages.push(stream.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { messages, leftover: stream.length - at };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Queue {
  payloads: Buffer[];
  bytes: number;
}

/**
 * Sends until the socket has stopped taking bytes: at least 2 MiB wait in user space after a
 * turn (so the kernel's buffers are full), and at least 1,000 messages were queued.
 */
async function fillUntilStuck(
  sender: { send(payload: Buffer): boolean; readonly pendingBytes: number },
  random: () => number,
): Promise<Queue> {
  const queue: Queue = { payloads: [], bytes: 0 };
  while (queue.payloads.length < 1000 || sender.pendingBytes < 2 << 20) {
    if (queue.bytes > 256 << 20) throw new Error('the socket kept taking bytes: the peer is reading');
    for (let i = 0; i < 200; i++) {
      const message = payload(queue.payloads.length, nextSize(random));
      // send()'s false is ignored on purpose: this is the sender that does not wait.
      sender.send(message);
      queue.payloads.push(message);
      queue.bytes += 4 + message.length;
    }
    await nextTurn();
  }
  return queue;
}

/** Everything a paused socket gets once it reads again, until the other side's FIN. */
function readToEnd(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

/** The close's counts against the queue and what the peer decoded: exactly the rest. */
function expectExactCounts(seed: number, reason: CloseReason, queue: Queue, received: Buffer): void {
  const { messages, leftover } = decode(received);
  const context = `seed ${seed}: ${queue.payloads.length} messages (${queue.bytes} bytes) queued, ${messages.length} decoded (${received.length} bytes, ${leftover} of a partial one)`;
  // The peer got a prefix of what was queued, in order.
  messages.forEach((message, i) => {
    if (!message.equals(queue.payloads[i] as Buffer)) throw new Error(`${context}: message ${i} differs`);
  });
  expect({ context, unsent: [reason.unsentMessages, reason.unsentBytes] }).toEqual({
    context,
    unsent: [queue.payloads.length - messages.length, queue.bytes - received.length],
  });
  // Something was unsent by construction: the counts cannot both be trivially zero.
  expect(reason.unsentMessages).toBeGreaterThan(0);
}

type Ending = 'destroy()' | 'close({ timeout })' | 'server.close({ timeout })' | 'the idle timeout';

const endings: [Ending, CloseReason['kind'], string | undefined][] = [
  ['destroy()', 'closed', undefined],
  ['close({ timeout })', 'closed', undefined],
  ['server.close({ timeout })', 'server-closing', undefined],
  ['the idle timeout', 'error', 'ERR_IDLE_TIMEOUT'],
];

test.each(endings)(
  'a server connection to a peer that stopped reading, ended by %s, counts exactly what it never wrote',
  async (ending, kind, code) => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const options: TcpServerOptions = { maxPendingBytes: 512 << 20, memoryBudget: 1 << 30, idleTimeout: 0 };
    if (ending === 'the idle timeout') options.idleTimeout = 400;
    const { server, port } = await startTcp(resources, options, { echo: false });
    const accepted = new Promise<Connection>((resolve) => server.once('connect', resolve));
    const peer = resources.socket(netConnect({ port, host: '127.0.0.1' }));
    peer.pause(); // never reads, until the connection is gone
    const conn = await accepted;
    const closed = new Promise<CloseReason>((resolve) => conn.once('close', resolve));
    const queue = await fillUntilStuck(conn, seeded(seed));
    if (ending === 'destroy()') conn.destroy();
    else if (ending === 'close({ timeout })') void conn.close({ timeout: 200 });
    else if (ending === 'server.close({ timeout })') void server.close({ timeout: 200 });
    const reason = await closed;
    expect(reason.kind).toBe(kind);
    if (code !== undefined) expect(reason.kind === 'error' && reason.error.code).toBe(code);
    expectExactCounts(seed, reason, queue, await readToEnd(peer));
  },
);

test('a client whose server stopped reading, closed with a timeout, counts exactly what it never wrote', async () => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  const { server, port } = await startTcp(
    resources,
    { maxPendingBytes: 512 << 20, memoryBudget: 1 << 30 },
    { echo: false },
  );
  const delivered: Buffer[] = [];
  let serverConn: Connection | undefined;
  server.on('connect', (conn) => {
    conn.pause(); // reads nothing until the client has gone
    serverConn = conn;
  });
  server.on('message', (_conn, message) => delivered.push(Buffer.from(message)));
  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', maxPendingBytes: 512 << 20 }), (c) =>
    c.close(),
  );
  await client.connect();
  await waitUntil(() => serverConn !== undefined, 5000, 'the server side');
  const closed = new Promise<CloseReason>((resolve) => client.once('close', resolve));
  const queue = await fillUntilStuck(client, seeded(seed));
  const closing = client.close({ timeout: 200 });
  const reason = await closed;
  await closing;
  expect(reason.kind).toBe('closed');
  (serverConn as Connection).resume();
  await serverClosed;
  const bytesIn = (serverConn as Connection).stats.bytesIn;
  const context = `seed ${seed}: ${queue.payloads.length} messages queued, ${delivered.length} delivered`;
  delivered.forEach((message, i) => {
    if (!message.equals(queue.payloads[i] as Buffer)) throw new Error(`${context}: message ${i} differs`);
  });
  expect({ context, unsent: [reason.unsentMessages, reason.unsentBytes] }).toEqual({
    context,
    unsent: [queue.payloads.length - delivered.length, queue.bytes - bytesIn],
  });
  expect(reason.unsentMessages).toBeGreaterThan(0);
});
