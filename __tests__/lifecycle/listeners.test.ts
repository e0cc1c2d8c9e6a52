/* eslint-disable @typescript-eslint/no-misused-promises -- async listeners are what users write, and what is tested here */
/**
 * One guarded dispatch: whatever a listener does (throw, reject), the process never sees an
 * uncaught exception or an unhandled rejection; the fault is ERR_LISTENER_THREW on the owner's
 * 'error' event and what it concerns is closed.
 */
import { ListenerError, TcpClient, type CloseReason, type Connection, type SockframeError } from 'sockframe';
import { delay, frame, Resources, waitUntil } from '../helpers/net';
import { expectEcho, expectEchoFromNewClient, nextError, rawClient, startTcp } from '../server/support';
import { prng as seeded } from '../helpers/random';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** Whether `promise` settles within `ms` (the timer is cleared either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a connection's own listeners", () => {
  test("a throwing conn.on('close') listener is reported with the connection, and close() still resolves", async () => {
    const { server, port, recorded } = await startTcp(resources);
    const bug = new Error('close listener bug');
    server.on('connect', (conn) => conn.on('close', () => Promise.reject(bug)));
    server.once('connect', (conn) =>
      conn.on('close', () => {
        throw bug;
      }),
    );
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'hi');
    const conn = recorded.connects[0] as Connection;
    const closing = conn.close();
    expect(await settlesWithin(closing, 2000)).toBe(true);
    await waitUntil(() => recorded.errors.length === 2, 5000, 'both listener faults');
    for (const { err, conn: about } of recorded.errors) {
      expect(err).toBeInstanceOf(ListenerError);
      expect((err as ListenerError).event).toBe('close');
      expect(err.cause).toBe(bug);
      expect(about).toBe(conn);
    }
    await expectEchoFromNewClient(resources, port, 'still serving');
  });

  test("a throwing conn.on('drain') listener closes that connection with ERR_LISTENER_THREW", async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    const bug = new TypeError('drain listener bug');
    server.on('message', (conn) => {
      conn.on('drain', () => {
        throw bug;
      });
      // Past the high-water mark: send() returns false and 'drain' follows once the peer has read.
      while (conn.send(Buffer.alloc(64 * 1024))) {
        /* fill */
      }
    });
    const client = await rawClient(resources, { port });
    client.write(frame('go'));
    const { err, conn } = await nextError(server);
    expect(err.code).toBe('ERR_LISTENER_THREW');
    expect((err as ListenerError).event).toBe('drain');
    expect(err.cause).toBe(bug);
    await waitUntil(() => recorded.closes.length === 1, 5000, 'the close');
    expect(recorded.closes[0]).toEqual({
      conn,
      reason: expect.objectContaining({ kind: 'error', error: err }) as CloseReason,
    });
  });
});

describe('async listeners', () => {
  test("an async 'message' listener that rejects closes only its connection", async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    const bug = new Error('async bug');
    server.on('message', async (conn, message) => {
      await delay(5);
      if (message.toString() === 'boom') throw bug;
      conn.send(message);
    });
    const victim = await rawClient(resources, { port });
    const bystander = await rawClient(resources, { port });
    await expectEcho(victim, 'fine');
    const fault = nextError(server);
    victim.write(frame('boom'));
    const { err, conn } = await fault;
    expect(err).toBeInstanceOf(ListenerError);
    expect((err as ListenerError).event).toBe('message');
    expect(err.cause).toBe(bug);
    expect(conn).toBe(recorded.connects[0]);
    await victim.closed;
    await expectEcho(bystander, 'unaffected');
  });

  test("an async 'connect' listener that rejects closes that connection", async () => {
    const { server, port, recorded } = await startTcp(resources);
    const bug = new Error('async connect bug');
    server.once('connect', async () => {
      await delay(1);
      throw bug;
    });
    const victim = await rawClient(resources, { port });
    await victim.closed;
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the fault');
    expect(recorded.errors[0]?.err.cause).toBe(bug);
    expect((recorded.errors[0]?.err as ListenerError).event).toBe('connect');
    await expectEchoFromNewClient(resources, port, 'next');
  });

  test("async 'close', 'drop' and 'listening' listeners that reject are reported, nothing escapes", async () => {
    const { server, port, recorded } = await startTcp(resources, { maxConnections: 1 });
    server.on('close', async () => Promise.reject(new Error('close')));
    server.on('drop', async () => Promise.reject(new Error('drop')));
    const first = await rawClient(resources, { port });
    await expectEcho(first, 'one');
    const refused = await rawClient(resources, { port });
    await refused.closed;
    first.socket.end();
    await waitUntil(() => recorded.errors.length === 2, 5000, 'both faults');
    expect(recorded.errors.map((e) => (e.err as ListenerError).event).sort()).toEqual(['close', 'drop']);
  });

  test("a client's async 'message' listener that rejects is ERR_LISTENER_THREW and drops the connection", async () => {
    const { port } = await startTcp(resources);
    const client = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (c) => c.close());
    const bug = new Error('client async bug');
    client.on('message', async () => {
      await delay(1);
      throw bug;
    });
    const errors: SockframeError[] = [];
    client.on('error', (err) => errors.push(err));
    const closed = new Promise<CloseReason>((resolve) => client.once('close', resolve));
    await client.connect();
    client.send('ping');
    const reason = await closed;
    expect(reason.kind).toBe('error');
    expect(errors[0]?.code).toBe('ERR_LISTENER_THREW');
    expect(errors[0]?.cause).toBe(bug);
  });

  test('pipelined requests from many clients, a seeded share of them failing: only those connections close', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    const random = seeded(seed);
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    server.on('message', async (conn, message) => {
      const text = message.toString();
      if (text.endsWith('!')) throw new Error(`bad ${text}`);
      await delay(Math.floor(random() * 3));
      conn.send(message);
    });
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(resources, { port })));
    const failing = new Set<number>();
    clients.forEach((client, i) => {
      const bad = random() < 0.3;
      if (bad) failing.add(i);
      // Ten requests in one write, the failing one last, so every reply before it is owed.
      const texts = Array.from({ length: 10 }, (_, n) => `${i}:${n}${bad && n === 9 ? '!' : ''}`);
      client.write(Buffer.concat(texts.map((t) => frame(t))));
    });
    // Replies of a failed connection's other requests can no longer be written: each is an
    // ERR_NOT_CONNECTED for that connection, which is closed already.
    const threw = (): SockframeError[] =>
      recorded.errors.map((e) => e.err).filter((err) => err.code === 'ERR_LISTENER_THREW');
    try {
      await waitUntil(() => threw().length === failing.size, 5000, 'the faults');
      await Promise.all(
        clients.map((client, i) => (failing.has(i) ? client.closed : client.waitForMessages(10))),
      );
      for (const [i, client] of clients.entries()) {
        if (failing.has(i)) continue;
        // Handlers take a random while: replies come in any order, each exactly once.
        expect(client.messages.map(String).sort()).toEqual(Array.from({ length: 10 }, (_, n) => `${i}:${n}`));
      }
      const failedConns = new Set(
        recorded.closes.filter((c) => c.reason.kind === 'error').map((c) => c.conn),
      );
      for (const { err, conn } of recorded.errors) {
        expect(['ERR_LISTENER_THREW', 'ERR_NOT_CONNECTED']).toContain(err.code);
        expect(failedConns.has(conn as Connection)).toBe(true);
      }
      expect(failedConns.size).toBe(failing.size);
      expect(server.connections.size).toBe(clients.length - failing.size);
    } catch (err) {
      throw new Error(`seed ${seed}: ${String(err)}`, { cause: err });
    }
  });
});

describe('the cached message listeners', () => {
  test("removeAllListeners('newListener') does not freeze them", async () => {
    const { server, port } = await startTcp(resources);
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'one');
    const emitter = server as unknown as NodeJS.EventEmitter;
    emitter.removeAllListeners('newListener');
    emitter.removeAllListeners('removeListener');
    await expectEcho(client, 'two');
    const heard: string[] = [];
    const late = (_conn: Connection, message: Buffer): void => {
      heard.push(message.toString());
    };
    server.on('message', late);
    await expectEcho(client, 'three');
    server.off('message', late);
    server.prependOnceListener('message', (_conn, message) => heard.push(`once ${message.toString()}`));
    await expectEcho(client, 'four');
    await expectEcho(client, 'five');
    expect(heard).toEqual(['three', 'once four']);
  });
});
