/* eslint-disable @typescript-eslint/no-misused-promises -- async listeners are what users write, and what is tested here */
/**
 * Closing while work is under way: replies of running handlers still go out, half-closed peers
 * are answered after an await, later messages are not lost, a peer that never ends cannot hang
 * close(), and bytes that never left are counted.
 */
import { type CloseReason, type Connection } from 'sockframe';
import { delay, frame, Resources, waitUntil } from '../helpers/net';
import { expectEcho, plainSocket, rawClient, startTcp } from '../server/support';
import { RawClient } from '../helpers/net';

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

/** A raw client whose socket stays half-open when the server ends its side. */
async function halfOpenClient(port: number): Promise<RawClient> {
  const socket = await plainSocket(resources, port, true);
  return new RawClient(socket);
}

describe('a graceful server.close() while handlers run', () => {
  test('the reply of a handler still awaiting goes out, then the connection ends', async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    const started: string[] = [];
    server.on('message', async (conn, message) => {
      started.push(message.toString());
      await delay(150);
      conn.send(`reply to ${message.toString()}`);
    });
    const clients = await Promise.all([1, 2, 3].map(() => rawClient(resources, { port })));
    clients.forEach((client, i) => client.write(frame(`request ${i}`)));
    await waitUntil(() => started.length === 3, 5000, 'the requests');
    await server.close({ timeout: 3000 });
    for (const [i, client] of clients.entries()) {
      expect(client.messages.map(String)).toEqual([`reply to request ${i}`]);
      await client.closed;
    }
    expect(recorded.errors).toEqual([]);
    expect(recorded.closes.map((c) => c.reason)).toEqual([
      { kind: 'server-closing' },
      { kind: 'server-closing' },
      { kind: 'server-closing' },
    ]);
  });

  test('messages arriving after our side ended are still delivered; their replies are typed errors that close nothing', async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    const delivered: string[] = [];
    server.on('message', (conn, message) => {
      delivered.push(message.toString());
      conn.send(message);
    });
    const client = await halfOpenClient(port);
    await expectEcho(client, 'before');
    const ended = new Promise<void>((resolve) => client.socket.once('end', () => resolve()));
    const closing = server.close({ timeout: 3000 });
    await ended;
    client.write(Buffer.concat([frame('late 1'), frame('late 2')]));
    await waitUntil(() => delivered.length === 3, 5000, 'the first late message');
    client.write(frame('late 3'));
    await waitUntil(() => delivered.length === 4, 5000, 'the last late message');
    client.socket.end();
    await closing;
    expect(delivered).toEqual(['before', 'late 1', 'late 2', 'late 3']);
    expect(recorded.errors.map((e) => e.err.code)).toEqual([
      'ERR_NOT_CONNECTED',
      'ERR_NOT_CONNECTED',
      'ERR_NOT_CONNECTED',
    ]);
    expect(recorded.errors.every((e) => e.conn === recorded.connects[0])).toBe(true);
    expect(recorded.closes[0]?.reason).toEqual({ kind: 'server-closing' });
  });

  test('close() waits for running handlers no longer than its timeout', async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    let started = false;
    server.on('message', () => {
      started = true;
      return new Promise(() => {}); // never settles
    });
    const client = await rawClient(resources, { port });
    client.write(frame('stuck'));
    await waitUntil(() => started, 5000, 'the handler');
    const begun = Date.now();
    await server.close({ timeout: 200 });
    expect(Date.now() - begun).toBeGreaterThanOrEqual(150);
    await client.closed;
    expect(recorded.closes[0]?.reason.kind).toBe('server-closing');
  });
});

describe('a half-closed peer', () => {
  test('gets the replies its handlers make after an await', async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    server.on('message', async (conn, message) => {
      await delay(50);
      conn.send(`late ${message.toString()}`);
      await delay(50);
      conn.send(`later ${message.toString()}`);
    });
    const client = await halfOpenClient(port);
    client.write(Buffer.concat([frame('a'), frame('b')]));
    client.socket.end();
    await client.closed;
    expect(client.messages.map(String).sort()).toEqual(['late a', 'late b', 'later a', 'later b']);
    expect(recorded.errors).toEqual([]);
    await waitUntil(() => recorded.closes.length === 1, 5000, 'the close');
    expect(recorded.closes[0]?.reason).toEqual({ kind: 'peer-ended' });
  });
});

describe('conn.close({ timeout })', () => {
  /** The server's side of a connection whose peer answered one echo and never ends its side. */
  async function stubbornPeer(): Promise<{ conn: Connection; closes: { reason: CloseReason }[] }> {
    const { port, recorded } = await startTcp(resources, { idleTimeout: 0 });
    await expectEcho(await halfOpenClient(port), 'hi');
    return { conn: recorded.connects[0] as Connection, closes: recorded.closes };
  }

  test('a peer that never ends its side is cut off at the timeout (idleTimeout off)', async () => {
    const { conn, closes } = await stubbornPeer();
    const begun = Date.now();
    expect(await settlesWithin(conn.close({ timeout: 200 }), 3000)).toBe(true);
    expect(Date.now() - begun).toBeGreaterThanOrEqual(150);
    expect(closes[0]?.reason.kind).toBe('closed');
  });

  test('a second close() with a shorter timeout cuts the peer off at the shorter one', async () => {
    const { conn, closes } = await stubbornPeer();
    const begun = Date.now();
    const first = conn.close({ timeout: 60_000 });
    const second = conn.close({ timeout: 200 });
    expect(await settlesWithin(Promise.all([first, second]), 3000)).toBe(true);
    expect(Date.now() - begun).toBeGreaterThanOrEqual(150);
    expect(closes.map((c) => c.reason.kind)).toEqual(['closed']);
  });

  test('checks its options', async () => {
    const { port, recorded } = await startTcp(resources);
    await rawClient(resources, { port });
    await waitUntil(() => recorded.connects.length === 1, 5000, 'the connection');
    const conn = recorded.connects[0] as Connection;
    expect(() => conn.close({ timeout: -1 })).toThrow(TypeError);
  });
});

describe('destroy()', () => {
  test('stops the assembler: a framing error later in the same read does not rewrite the close reason', async () => {
    const { server, port, recorded } = await startTcp(resources, { maxMessageSize: 64 }, { echo: false });
    server.on('message', (conn) => conn.destroy());
    const client = await rawClient(resources, { port });
    const tooLarge = Buffer.alloc(4);
    tooLarge.writeUInt32BE(1000, 0);
    client.write(Buffer.concat([frame('first'), frame('second'), tooLarge]));
    await client.closed;
    await waitUntil(() => recorded.closes.length === 1, 5000, 'the close');
    expect(recorded.closes[0]?.reason).toEqual({ kind: 'closed' });
    expect(recorded.errors).toEqual([]);
    expect(recorded.connects[0]?.stats.messagesIn).toBe(1);
  });
});

describe('bytes that never left', () => {
  test('a peer that stops reading: the idle timeout says how many accepted bytes were never written', async () => {
    const { server, port, recorded } = await startTcp(
      resources,
      { idleTimeout: 300, maxPendingBytes: 256 << 20 },
      { echo: false },
    );
    const chunk = Buffer.alloc(1 << 20);
    let accepted = 0;
    server.on('message', (conn) => {
      for (let i = 0; i < 64; i++) {
        conn.send(chunk);
        accepted += chunk.length + 4;
      }
    });
    const socket = await plainSocket(resources, port);
    socket.write(frame('flood me'));
    socket.pause(); // a blackhole: it never reads
    await waitUntil(() => recorded.closes.length === 1, 10_000, 'the idle timeout');
    const { reason } = recorded.closes[0] as { conn: Connection; reason: CloseReason };
    expect(reason.kind).toBe('error');
    expect(reason.kind === 'error' && reason.error.code).toBe('ERR_IDLE_TIMEOUT');
    expect(reason.unsentBytes).toBeGreaterThan(0);
    expect(reason.unsentBytes).toBeLessThanOrEqual(accepted);
  });

  test('destroy() counts what was queued and not written', async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    server.on('message', (conn) => {
      conn.send('queued, never written');
      conn.destroy();
    });
    const client = await rawClient(resources, { port });
    client.write(frame('go'));
    await waitUntil(() => recorded.closes.length === 1, 5000, 'the close');
    expect(recorded.closes[0]?.reason).toEqual({
      kind: 'closed',
      unsentMessages: 1,
      unsentBytes: frame('queued, never written').length,
    });
  });
});
