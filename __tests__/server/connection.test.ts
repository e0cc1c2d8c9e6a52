import {
  NotConnectedError,
  SockframeError,
  TcpServer,
  WRITE_HIGH_WATER_MARK,
  type CloseReason,
  type Connection,
} from 'sockframe';
import { frame, once, Resources, waitUntil } from '../helpers/net';
import { expectEcho, rawClient, startTcp } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A server without listeners of its own, one client, and that client's connection. */
async function connected(): Promise<{
  server: TcpServer;
  port: number;
  conn: Connection;
  client: Awaited<ReturnType<typeof rawClient>>;
}> {
  const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
  const client = await rawClient(resources, { port });
  await waitUntil(() => recorded.connects.length === 1, 5000, 'the connection');
  return { server, port, conn: recorded.connects[0] as Connection, client };
}

describe('fields', () => {
  test('ids are unique; addresses are those of both ends; the data slot is typed and free', async () => {
    const server = resources.add(new TcpServer<{ user: string }>(), (s) => s.close());
    const conns: Connection<{ user: string }>[] = [];
    server.on('connect', (conn) => {
      expect(conn.data).toBeUndefined();
      conn.data = { user: `user ${conns.length}` };
      conns.push(conn);
    });
    server.on('message', (conn) => conn.send(conn.data?.user ?? 'nobody'));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const clients = [await rawClient(resources, { port }), await rawClient(resources, { port })];
    await waitUntil(() => conns.length === 2, 5000, 'both connections');

    expect(new Set(conns.map((c) => c.id)).size).toBe(2);
    conns.forEach((conn, i) => {
      expect(conn.remoteAddress).toBe('127.0.0.1');
      expect(conn.remotePort).toBe(clients[i]?.socket.localPort);
      expect(conn.remoteFamily).toBe('IPv4');
      expect(conn.localAddress).toBe('127.0.0.1');
      expect(conn.localPort).toBe(port);
      expect(conn.isOpen).toBe(true);
      expect(server.connections.get(conn.id)).toBe(conn);
    });
    clients[1]?.write(frame('who am I?'));
    const [reply] = (await clients[1]?.waitForMessages(1)) ?? [];
    expect(reply?.toString()).toBe('user 1');
  });

  test("a server's connection keeps the peer's address after the close, even after a reset", async () => {
    const { server, port } = await startTcp(resources, {}, { echo: false });
    const seen: string[] = [];
    server.on('close', (conn, reason) =>
      seen.push(`${reason.kind} ${conn.remoteAddress}:${conn.remotePort} local ${conn.localPort}`),
    );
    const ending = await rawClient(resources, { port });
    const resetting = await rawClient(resources, { port });
    const endingPort = ending.socket.localPort;
    const resettingPort = resetting.socket.localPort;
    await waitUntil(() => server.connections.size === 2, 5000, 'both connections');
    ending.socket.end();
    await waitUntil(() => seen.length === 1, 5000, 'the first close');
    resetting.socket.resetAndDestroy();
    await waitUntil(() => seen.length === 2, 5000, 'the second close');
    expect(seen).toEqual([
      `peer-ended 127.0.0.1:${endingPort} local undefined`,
      `error 127.0.0.1:${resettingPort} local undefined`,
    ]);
  });

  test('counters count bytes and messages in both directions', async () => {
    const before = Date.now();
    const { server, conn, client } = await connected();
    const after = Date.now();
    server.on('message', (c, message) => {
      c.send(message);
      c.send('x');
    });
    const inbound = [frame('hello'), frame(''), frame(Buffer.alloc(1000))];
    client.write(Buffer.concat(inbound));
    await client.waitForMessages(6);
    const stats = conn.stats;
    expect(stats.messagesIn).toBe(3);
    expect(stats.bytesIn).toBe(4 + 5 + 4 + 0 + 4 + 1000);
    expect(stats.messagesOut).toBe(6);
    expect(stats.bytesOut).toBe(stats.bytesIn + 3 * (4 + 1));
    expect(stats.connectedAt).toBeGreaterThanOrEqual(before);
    expect(stats.connectedAt).toBeLessThanOrEqual(after);
    expect(conn.pendingBytes).toBe(0);
  });
});

describe('events', () => {
  test('a connection is a full emitter, its listener table made on the first listener', async () => {
    const { conn, client } = await connected();
    // Nothing is listening yet: every query answers "none" and emit reports no listener.
    expect(conn.eventNames()).toEqual([]);
    expect(conn.listenerCount('close')).toBe(0);
    expect(conn.listeners('drain')).toEqual([]);
    expect(conn.emit('drain')).toBe(false);
    expect(conn.removeAllListeners('close')).toBe(conn);
    expect(conn.off('close', () => {})).toBe(conn);

    const drains: string[] = [];
    const onDrain = (): void => {
      drains.push('on');
    };
    conn.on('drain', onDrain);
    conn.once('drain', () => drains.push('once'));
    expect(conn.listenerCount('drain')).toBe(2);
    expect(conn.emit('drain')).toBe(true);
    expect(conn.emit('drain')).toBe(true);
    expect(drains).toEqual(['on', 'once', 'on']);
    conn.off('drain', onDrain);
    expect(conn.eventNames()).toEqual([]);

    const reasons: CloseReason[] = [];
    conn.prependListener('close', (reason) => reasons.push(reason));
    const closed = once<[CloseReason]>(conn, 'close');
    client.socket.end();
    expect((await closed)[0]).toEqual({ kind: 'peer-ended' });
    expect(reasons).toEqual([{ kind: 'peer-ended' }]);
  });
});

describe('send()', () => {
  test('sends a Buffer, a Uint8Array (even a view into a larger buffer) and a UTF-8 string', async () => {
    const { conn, client } = await connected();
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    expect(conn.send(Buffer.from([0, 255]))).toBe(true);
    expect(conn.send(backing.subarray(2, 5))).toBe(true);
    expect(conn.send('grüße ✓')).toBe(true);
    expect(conn.send('')).toBe(true);
    const messages = await client.waitForMessages(4);
    expect([...(messages[0] as Buffer)]).toEqual([0, 255]);
    expect([...(messages[1] as Buffer)]).toEqual([1, 2, 3]);
    expect(messages[2]?.toString('utf8')).toBe('grüße ✓');
    expect(messages[3]?.length).toBe(0);
  });

  test('rejects a payload of another type with a TypeError', async () => {
    const { conn } = await connected();
    expect(() => conn.send(42 as unknown as string)).toThrow(TypeError);
    expect(conn.isOpen).toBe(true);
  });

  test('after close() or once the peer is gone, send() throws ERR_NOT_CONNECTED', async () => {
    const { conn, client, server } = await connected();
    const closing = conn.close();
    expect(conn.isOpen).toBe(false);
    expect(() => conn.send('late')).toThrow(NotConnectedError);
    await client.closed;
    await closing;
    let thrown: unknown;
    try {
      conn.send('later');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SockframeError);
    expect((thrown as SockframeError).code).toBe('ERR_NOT_CONNECTED');
    expect(server.connections.size).toBe(0);

    const second = await rawClient(resources, { port: server.address()?.port as number });
    await waitUntil(() => server.connections.size === 1, 5000, 'the second connection');
    const secondConn = [...server.connections.values()][0] as Connection;
    second.socket.destroy();
    await once(secondConn, 'close');
    expect(() => secondConn.send('to nobody')).toThrow(NotConnectedError);
  });

  test('one payload above the high-water mark returns false, and drain follows even if it all went out', async () => {
    const { conn, client } = await connected();
    const big = Buffer.alloc(WRITE_HIGH_WATER_MARK + 1024, 1);
    expect(conn.send(big)).toBe(false);
    await once(conn, 'drain');
    const [message] = await client.waitForMessages(1);
    expect(message?.equals(big)).toBe(true);
  });

  test('returns false once the reader falls behind, then emits drain when it catches up; nothing is lost', async () => {
    const { conn, client } = await connected();
    client.socket.pause();
    const chunk = Buffer.alloc(32 * 1024, 0x5a);
    let sent = 0;
    // The kernel's buffers take some first; send() says stop once 256 KiB wait in user space.
    while (conn.send(chunk)) {
      sent++;
      if (sent > 4096) throw new Error('send() never asked to wait');
    }
    sent++;
    expect(conn.pendingBytes).toBeGreaterThanOrEqual(WRITE_HIGH_WATER_MARK);
    const drained = once(conn, 'drain');
    client.socket.resume();
    await drained;
    expect(conn.pendingBytes).toBeLessThan(WRITE_HIGH_WATER_MARK);
    expect(conn.isOpen).toBe(true);
    const messages = await client.waitForMessages(sent);
    expect(messages).toHaveLength(sent);
    expect(messages.every((m) => m.equals(chunk))).toBe(true);
  });
});

describe('close() and destroy()', () => {
  test('close() flushes what is queued, ends, and resolves once closed with reason closed', async () => {
    const { server, conn, client } = await connected();
    const reasons: CloseReason[] = [];
    const order: string[] = [];
    server.on('close', (_c, reason) => {
      reasons.push(reason);
      order.push('server');
    });
    conn.on('close', () => order.push('connection'));
    const ownClose = once<[CloseReason]>(conn, 'close');
    for (let i = 0; i < 100; i++) conn.send(`bye ${i}`);
    await conn.close();
    expect(reasons).toEqual([{ kind: 'closed' }]);
    expect((await ownClose)[0]).toEqual({ kind: 'closed' });
    expect(order).toEqual(['server', 'connection']);
    await client.closed;
    expect(client.messages.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `bye ${i}`));
  });

  test('destroy() closes at once; destroy(err) reports the error first', async () => {
    const { server, port, recorded } = await startTcp(resources);
    const plain = await rawClient(resources, { port });
    const faulty = await rawClient(resources, { port });
    await expectEcho(plain, 'a');
    await expectEcho(faulty, 'b');
    const [plainConn, faultyConn] = recorded.connects as [Connection, Connection];

    plainConn.destroy();
    await plain.closed;
    const failure = new SockframeError('ERR_SOCKET', 'application gave up');
    faultyConn.destroy(failure);
    await faulty.closed;
    await waitUntil(() => recorded.closes.length === 2, 5000, 'both closes');
    expect(recorded.closes).toEqual([
      { conn: plainConn, reason: { kind: 'closed' } },
      { conn: faultyConn, reason: { kind: 'error', error: failure } },
    ]);
    expect(recorded.errors).toEqual([{ err: failure, conn: faultyConn }]);
    expect(server.connections.size).toBe(0);
    // Destroying again changes nothing.
    plainConn.destroy();
    faultyConn.destroy(new SockframeError('ERR_SOCKET', 'again'));
    expect(recorded.errors).toHaveLength(1);
  });
});
