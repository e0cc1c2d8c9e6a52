/**
 * Receive-side flow control: pause() stops reading (the peer is pushed back on through TCP) and
 * holds every assembled message until resume(); an echo server that pauses while its replies
 * cannot be written loses nothing and cuts nobody off, however slowly the peer reads.
 */
import { createServer, type Socket } from 'node:net';
import { TcpClient, TcpServer, type Connection } from 'sockframe';
import { delay, frame, RawClient, Resources, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** `count` default-framed messages, each carrying its index, back to back in one buffer. */
function numbered(count: number, size = 64): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body = Buffer.alloc(size, 0x2e);
    body.writeUInt32BE(i, 0);
    parts.push(frame(body));
  }
  return Buffer.concat(parts);
}

function indexes(messages: readonly Buffer[]): number[] {
  return messages.map((m) => m.readUInt32BE(0));
}

async function server(options: ConstructorParameters<typeof TcpServer>[0] = {}): Promise<{
  server: TcpServer;
  port: number;
}> {
  const s = resources.add(new TcpServer(options), (x) => x.close({ timeout: 500 }));
  const { port } = await s.listen({ port: 0, host: '127.0.0.1' });
  return { server: s, port };
}

test('a connection paused inside a message handler delivers nothing more, even from the same read, until resumed', async () => {
  const { server: s, port } = await server();
  const got: Buffer[] = [];
  let conn: Connection | undefined;
  s.on('message', (c, message) => {
    conn = c;
    got.push(message);
    if (got.length === 3) c.pause();
  });
  const raw = resources.socket((await RawClient.connect({ port, host: '127.0.0.1' })).socket);
  // 100 messages in one write, so the first read holds many of them.
  raw.write(numbered(100));
  await waitUntil(() => got.length === 3, 5000, 'three messages');
  await delay(100);
  expect(got.length).toBe(3);
  expect(conn?.isPaused).toBe(true);
  conn?.resume();
  await waitUntil(() => got.length === 100, 5000, 'the rest');
  expect(indexes(got)).toEqual([...Array(100).keys()]);
  expect(conn?.isPaused).toBe(false);
});

test('while paused nothing is read: a flooding peer is pushed back on, and gets everything through after resume', async () => {
  const { server: s, port } = await server({ messageTimeout: 200 });
  const got: Buffer[] = [];
  let conn: Connection | undefined;
  s.on('connect', (c) => {
    conn = c;
    c.pause();
  });
  const errors: string[] = [];
  s.on('error', (err) => errors.push(err.code));
  const raw = resources.socket((await RawClient.connect({ port, host: '127.0.0.1' })).socket);
  s.on('message', (_c, m) => got.push(m));
  await waitUntil(() => conn !== undefined, 5000, 'accepted');
  // Write until the kernel's buffers on both sides are full (bounded at 256 MB).
  const chunk = numbered(1000, 1020);
  let written = 0;
  while (written < 256e6 && raw.write(chunk)) written += chunk.length;
  written += chunk.length;
  await delay(300);
  // Pushed back: the peer's own socket holds what the paused server would not read. And the
  // message timeout (200 ms) did not blame the peer for a message we were not reading.
  expect(raw.writableLength).toBeGreaterThan(0);
  expect(got).toEqual([]);
  expect(errors).toEqual([]);
  conn?.resume();
  const expected = written / 1024;
  await waitUntil(() => got.length === expected, 20_000, 'every message');
  const order = indexes(got);
  expect(order.every((n, i) => n === i % 1000)).toBe(true);
  expect(errors).toEqual([]);
});

test('a paused TcpClient holds its messages across the pause and gets them in order', async () => {
  let peer: Socket | undefined;
  const raw = createServer((socket) => {
    peer = socket;
    socket.on('error', () => {});
  });
  resources.add(raw, (r) => new Promise((resolve) => r.close(resolve)));
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const { port } = raw.address() as { port: number };
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (c) => c.close({ timeout: 500 }));
  const got: Buffer[] = [];
  client.on('message', (m) => {
    got.push(m);
    if (got.length === 10) client.pause();
  });
  await client.connect();
  await waitUntil(() => peer !== undefined, 5000, 'accepted');
  peer?.write(numbered(500));
  await waitUntil(() => got.length === 10, 5000, 'ten');
  await delay(100);
  expect(got.length).toBe(10);
  expect(client.isPaused).toBe(true);
  client.resume();
  await waitUntil(() => got.length === 500, 5000, 'all');
  expect(indexes(got)).toEqual([...Array(500).keys()]);
});

test('messages() stops reading when its consumer falls behind, and loses nothing', async () => {
  let peer: Socket | undefined;
  const raw = createServer((socket) => {
    peer = socket;
    socket.on('error', () => {});
  });
  resources.add(raw, (r) => new Promise((resolve) => r.close(resolve)));
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const { port } = raw.address() as { port: number };
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (c) => c.close({ timeout: 500 }));
  await client.connect();
  await waitUntil(() => peer !== undefined, 5000, 'accepted');
  const iterator = client.messages();
  // 64 MB offered at once; without a bound the iterator would queue all of it.
  const chunk = numbered(1000, 1020);
  const total = 64_000;
  let sent = 0;
  const pump = (): void => {
    while (sent < total && (peer as Socket).write(chunk)) sent += 1000;
    if (sent < total) {
      sent += 1000;
      (peer as Socket).once('drain', pump);
    }
  };
  pump();
  // A slow consumer: one message, then a pause.
  const first = await iterator.next();
  expect((first.value as Buffer).readUInt32BE(0)).toBe(0);
  await delay(300);
  // The server could not hand everything over: the client stopped reading.
  expect(sent).toBeLessThan(total);
  let n = 1;
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) break;
    const value: Buffer = next.value;
    expect(value.readUInt32BE(0)).toBe(n % 1000);
    if (++n === total) break;
  }
  expect(n).toBe(total);
  await iterator.return?.();
});

test('an echo server that pauses while its replies cannot be written serves a slow reader without cutting it off', async () => {
  const { server: s, port } = await server({ maxPendingBytes: 1024 * 1024 });
  const errors: string[] = [];
  s.on('error', (err) => errors.push(err.code));
  // The README's echo: honour send()'s false by pausing until 'drain'.
  s.on('message', (conn, message) => {
    if (!conn.send(message)) {
      conn.pause();
      conn.once('drain', () => conn.resume());
    }
  });
  const raw = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(raw.socket);
  // A reader slower than the writer: it reads in short bursts.
  const timer = setInterval(() => {
    raw.socket.resume();
    setTimeout(() => raw.socket.pause(), 2);
  }, 10);
  resources.add(timer, (t) => clearInterval(t));
  raw.socket.pause();
  const count = 16_000;
  const wire = numbered(count, 1020);
  let at = 0;
  const pump = (): void => {
    while (at < wire.length) {
      const end = Math.min(wire.length, at + 64 * 1024);
      const ok = raw.socket.write(wire.subarray(at, end));
      at = end;
      if (!ok) {
        raw.socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
  await waitUntil(() => raw.messages.length === count, 30_000, 'every echo');
  expect(errors).toEqual([]);
  expect(raw.messages.every((m, i) => m.readUInt32BE(0) === i)).toBe(true);
}, 40_000);

describe('the server-wide memory budget', () => {
  test('cuts the connections holding the most once their incomplete messages pass it; others are served', async () => {
    const MiB = 1024 * 1024;
    const { server: s, port } = await server({ memoryBudget: 2 * MiB, maxMessageSize: MiB });
    const errors: { code: string; held?: number }[] = [];
    s.on('error', (err) => errors.push({ code: err.code, held: (err as { heldBytes?: number }).heldBytes }));
    s.on('message', (conn, message) => conn.send(message));
    // Ten peers each announce 1 MiB and send 900 KB of it: 9 MB held if nothing stops them.
    const hostile: Socket[] = [];
    for (let i = 0; i < 10; i++) {
      const peer = resources.socket((await RawClient.connect({ port, host: '127.0.0.1' })).socket);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(MiB - 4);
      peer.write(head);
      peer.write(Buffer.alloc(900 * 1024, 0x68));
      hostile.push(peer);
    }
    await waitUntil(() => errors.length >= 8, 10_000, 'peers cut');
    await delay(200);
    expect(errors.every((e) => e.code === 'ERR_MEMORY_BUDGET')).toBe(true);
    // At most two of the ten fit in 2 MiB at once.
    expect(errors.length).toBeGreaterThanOrEqual(8);
    expect(errors.every((e) => (e.held ?? 0) > 0)).toBe(true);
    // A healthy client is served all along.
    const healthy = await RawClient.connect({ port, host: '127.0.0.1' });
    resources.socket(healthy.socket);
    healthy.write(frame('still here'));
    const [reply] = await healthy.waitForMessages(1);
    expect(reply?.toString()).toBe('still here');
  });

  test('must be at least maxMessageSize', () => {
    expect(() => new TcpServer({ memoryBudget: 1000, maxMessageSize: 2000 })).toThrow(
      'The "memoryBudget" option (1000) must be at least "maxMessageSize" (2000).',
    );
  });
});
