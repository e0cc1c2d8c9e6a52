/**
 * The write path under the loads users bring: fan-out from one server to many connections in one
 * turn, many clients in one process, and backpressure. Every receiver here decodes with its own
 * code (not sockframe's), and every message names its connection and carries a sequence number,
 * so a byte on the wrong connection, a corrupted frame, a loss or a reorder is caught.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  fixedSize,
  IpcServer,
  lengthField,
  TcpClient,
  TcpServer,
  varint,
  type Connection,
  type Framing,
  type LengthFraming,
} from 'sockframe';
import { delay, frame, RawClient, Resources, tmpSocketPath, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A body that only `(conn, seq)` produces: its own label, then filler derived from both. */
function body(conn: number, seq: number, size: number): Buffer {
  const label = Buffer.from(`c${conn}s${seq}:`);
  const out = Buffer.allocUnsafe(Math.max(size, label.length));
  label.copy(out);
  let x = (conn * 2654435761 + seq * 40503 + 1) >>> 0;
  for (let i = label.length; i < out.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = 97 + ((x >>> 16) % 26);
  }
  return out;
}

/** Checks what one receiver got against what was sent to it, naming the first difference. */
function expectStream(received: Buffer[], expected: Buffer[], who: string): void {
  for (let i = 0; i < Math.max(received.length, expected.length); i++) {
    const got = received[i];
    const want = expected[i];
    if (got === undefined || want === undefined || !got.equals(want)) {
      const show = (b: Buffer | undefined): string =>
        b === undefined ? 'nothing' : b.subarray(0, 16).toString();
      throw new Error(`${who}: message ${i} is ${show(got)}…, expected ${show(want)}…`);
    }
  }
}

/** Waits (boundedly) for every receiver to hold `count` messages; the checks then name what is wrong. */
async function settle(streams: () => Buffer[][], count: number): Promise<void> {
  try {
    await waitUntil(() => streams().every((s) => s.length >= count), 5000, 'every message');
  } catch {
    // Reported by the stream checks, which say which message is missing or wrong.
  }
  await delay(20);
}

/** A server whose connections are known by the index each client announces in its first message. */
async function indexedServer(
  server: TcpServer | IpcServer,
  listen: () => Promise<unknown>,
  connect: () => Promise<RawClient>,
  count: number,
): Promise<{ conns: Connection[]; clients: RawClient[] }> {
  const conns: Connection[] = [];
  server.on('message', (conn, message) => {
    conns[Number(message.toString())] = conn;
  });
  await listen();
  const clients: RawClient[] = [];
  for (let i = 0; i < count; i++) {
    const client = await connect();
    resources.socket(client.socket);
    client.write(frame(String(i)));
    clients.push(client);
  }
  await waitUntil(() => conns.filter(Boolean).length === count, 10_000, 'every connection announced');
  return { conns, clients };
}

async function tcpFanOut(
  count: number,
): Promise<{ server: TcpServer; conns: Connection[]; clients: RawClient[] }> {
  const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
  let port = 0;
  const { conns, clients } = await indexedServer(
    server,
    async () => ({ port } = await server.listen({ port: 0, host: '127.0.0.1' })),
    () => RawClient.connect({ port, host: '127.0.0.1' }),
    count,
  );
  return { server, conns, clients };
}

describe('fan-out from one server', () => {
  test('broadcasts of 1,000 bytes to 100 connections arrive whole at every one of them', async () => {
    const { server, clients } = await tcpFanOut(100);
    const sent: Buffer[] = [];
    for (let seq = 0; seq < 5; seq++) {
      const message = body(0, seq, 1000);
      sent.push(message);
      expect(server.broadcast(message)).toBe(100);
    }
    await settle(() => clients.map((c) => c.messages), 5);
    clients.forEach((client, i) => expectStream(client.messages, sent, `client ${i}`));
  });

  test('a loop answering each of 100 connections with its own message reaches the right one', async () => {
    const { conns, clients } = await tcpFanOut(100);
    const expected: Buffer[][] = clients.map(() => []);
    for (let round = 0; round < 3; round++) {
      conns.forEach((conn, i) => {
        const message = body(i, round, 1000);
        (expected[i] as Buffer[]).push(message);
        conn.send(message);
      });
    }
    await settle(() => clients.map((c) => c.messages), 3);
    clients.forEach((client, i) => expectStream(client.messages, expected[i] as Buffer[], `client ${i}`));
  });

  test('the same over a Unix socket, with sizes on both sides of the copy limit', async () => {
    const path = resources.removeFile(tmpSocketPath());
    const server = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
    const { conns, clients } = await indexedServer(
      server,
      () => server.listen({ path }),
      () => RawClient.connect({ path }),
      40,
    );
    const sizes = [1, 900, 16 * 1024 - 5, 16 * 1024 + 3, 3000, 0, 40_000, 12];
    const expected: Buffer[][] = clients.map(() => []);
    sizes.forEach((size, seq) => {
      conns.forEach((conn, i) => {
        const message = body(i, seq, size);
        (expected[i] as Buffer[]).push(message);
        conn.send(message);
      });
    });
    await settle(() => clients.map((c) => c.messages), sizes.length);
    clients.forEach((client, i) => expectStream(client.messages, expected[i] as Buffer[], `client ${i}`));
  });
});

/** A raw server that decodes varint-prefixed messages per socket, in order of connection. */
function varintSink(): { server: Server; streams: Buffer[][]; listening: Promise<number> } {
  const streams: Buffer[][] = [];
  const server = createServer((socket: Socket) => {
    const messages: Buffer[] = [];
    streams.push(messages);
    let backlog = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      backlog = Buffer.concat([backlog, chunk]);
      for (;;) {
        let length = 0;
        let shift = 0;
        let at = 0;
        for (;;) {
          if (at >= backlog.length) return;
          const byte = backlog[at++] as number;
          length += (byte & 0x7f) * 2 ** shift;
          shift += 7;
          if (byte < 0x80) break;
        }
        if (backlog.length < at + length) return;
        messages.push(backlog.subarray(at, at + length));
        backlog = backlog.subarray(at + length);
      }
    });
    socket.on('error', () => {});
  });
  resources.add(server, (s) => new Promise((resolve) => s.close(resolve)));
  const listening = new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return { server, streams, listening };
}

test('many TcpClients in one process, each flooding its own connection, never mix their bytes', async () => {
  const sink = varintSink();
  const port = await sink.listening;
  const clients: TcpClient[] = [];
  for (let i = 0; i < 4; i++) {
    const client = resources.add(new TcpClient({ port, host: '127.0.0.1', framing: varint() }), (c) =>
      c.close({ timeout: 500 }),
    );
    await client.connect();
    await waitUntil(() => sink.streams.length === i + 1, 5000, 'accepted');
    clients.push(client);
  }
  const perClient = 1000;
  const expected: Buffer[][] = clients.map(() => []);
  for (let seq = 0; seq < perClient; seq++) {
    clients.forEach((client, i) => {
      const message = body(i, seq, 200 + ((seq * 37) % 1500));
      (expected[i] as Buffer[]).push(message);
      client.send(message);
    });
    if (seq % 100 === 99) await delay(0);
  }
  await settle(() => sink.streams, perClient);
  sink.streams.forEach((stream, i) => expectStream(stream, expected[i] as Buffer[], `client ${i}`));
});

describe('drain', () => {
  /** A user's own header hook with no encoder: send() writes the payload as it is. */
  const rawHook: LengthFraming = { headerSize: 4, messageLength: (head) => 4 + head.readUInt32BE(0) };

  /** Each made for the size of the messages a test sends (fixedSize() needs it). */
  const framings: Record<string, (size: number) => Framing> = {
    'a hook without encode': () => rawHook,
    'fixedSize()': (size) => fixedSize(size),
    'lengthField()': () => lengthField(),
  };

  /** A TcpClient connected to a raw server that reads (and drops) everything, counting bytes. */
  async function clientTo(
    framing: Framing,
    { paused = false } = {},
  ): Promise<{ client: TcpClient; received: () => number; resumeReading: () => void }> {
    let received = 0;
    let reader: Socket | undefined;
    const server = createServer((socket) => {
      reader = socket;
      if (paused) socket.pause();
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.on('error', () => {});
    });
    resources.add(server, (s) => new Promise((resolve) => s.close(resolve)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = resources.add(new TcpClient({ port, host: '127.0.0.1', framing }), (c) =>
      c.close({ timeout: 500 }),
    );
    await client.connect();
    await waitUntil(() => reader !== undefined, 5000, 'accepted');
    return { client, received: () => received, resumeReading: () => reader?.resume() };
  }

  for (const [name, make] of Object.entries(framings)) {
    test(`with ${name}: one big send on an idle socket that returns false is followed by drain`, async () => {
      const big = Buffer.alloc(4 * 64 * 1024 + 8, 1);
      const { client, received } = await clientTo(make(big.length));
      big.writeUInt32BE(big.length - 4, 0);
      let drained = false;
      client.on('drain', () => (drained = true));
      const ok = client.send(big);
      if (!ok) await waitUntil(() => drained, 5000, 'drain after a big send');
      await waitUntil(() => received() >= big.length, 5000, 'every byte');
    });

    test(`with ${name}: small sends on a busy socket until false, then drain, every time`, async () => {
      const piece = Buffer.alloc(64 * 1024, 2);
      const { client, received } = await clientTo(make(piece.length));
      piece.writeUInt32BE(piece.length - 4, 0);
      let sent = 0;
      for (let burst = 0; burst < 3; burst++) {
        let ok = true;
        while (ok) {
          ok = client.send(piece);
          sent += piece.length;
        }
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no drain after burst ${burst}`)), 5000);
          client.once('drain', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await waitUntil(() => received() >= sent, 5000, 'every byte');
    });
  }

  test('is never emitted inside send(), even for a sender that keeps sending past false', async () => {
    // The reader stops for a while, so the sender's bytes pile up and send() answers false.
    const { client, received, resumeReading } = await clientTo(lengthField(), { paused: true });
    let inSend = false;
    let reentered = 0;
    let drains = 0;
    let sent = 0;
    let falses = 0;
    const payload = Buffer.alloc(20_000, 3);
    client.on('drain', () => {
      if (inSend) reentered++;
      drains++;
    });
    const round = async (): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        inSend = true;
        if (!client.send(payload)) falses++;
        inSend = false;
        sent++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    };
    // Until the kernel's buffers are full and send() says so (bounded: 64 MB at most) ...
    while (falses === 0 && sent * payload.length < 64e6) await round();
    // ... then the reader catches up while the sender goes on as if nothing had happened.
    resumeReading();
    for (let i = 0; i < 40; i++) await round();
    await waitUntil(() => received() >= sent * (payload.length + 4), 10_000, 'every byte');
    await waitUntil(() => drains > 0, 5000, 'a drain');
    expect(falses).toBeGreaterThan(0);
    expect(reentered).toBe(0);
  });
});

test('a header writer that writes more than its maxHeaderSize is a RangeError, never a short frame', async () => {
  const liar: LengthFraming = {
    headerSize: 4,
    messageLength: (head) => 4 + head.readUInt32BE(0),
    maxHeaderSize: 2,
    encodeHeader: (length, target, offset) => target.writeUInt32BE(length, offset) - offset,
    encode: (payload) => [Buffer.from([0, 0, 0, payload.length]), payload],
  };
  const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', framing: liar }), (c) =>
    c.close({ timeout: 500 }),
  );
  await client.connect();
  const seen: string[] = [];
  server.on('message', (_conn, m) => seen.push(`message ${m.length}`));
  server.on('error', (err) => seen.push(err.code));
  expect(() => client.send('hello')).toThrow(RangeError);
  await delay(50);
  // Nothing half-written went out.
  expect(seen).toEqual([]);
});
