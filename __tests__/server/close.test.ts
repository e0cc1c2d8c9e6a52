import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { IpcServer, TcpServer, TlsServer, type CloseReason } from 'sockframe';
import { frame, Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import {
  expectEcho,
  plainSocket,
  rawClient,
  rawTlsClient,
  record,
  startTcp,
  tlsCert,
  tlsKey,
} from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('messages queued for a slow reader when close() is called all arrive', async () => {
  const { server, port, recorded } = await startTcp(
    resources,
    { maxPendingBytes: 64 * 1024 * 1024 },
    { echo: false },
  );
  // 16 MiB: more than the kernel's socket buffers take, so some is still queued at close().
  const count = 4096;
  const payload = Buffer.alloc(4096, 0x33);
  server.on('message', (conn) => {
    for (let i = 0; i < count; i++) {
      payload.writeUInt32BE(i, 0);
      conn.send(Buffer.from(payload));
    }
  });
  const client = await rawClient(resources, { port });
  client.socket.pause();
  client.write(frame('send me everything'));
  await waitUntil(() => (recorded.connects[0]?.stats.messagesOut ?? 0) === count, 5000, 'the replies');
  const conn = recorded.connects[0];
  expect(conn?.pendingBytes).toBeGreaterThan(0);

  const closed = server.close({ timeout: 10_000 });
  expect(server.listening).toBe(false);
  client.socket.resume();
  await closed;
  await client.closed;
  const messages = await client.waitForMessages(count);
  expect(messages).toHaveLength(count);
  messages.forEach((message, i) => expect(message.readUInt32BE(0)).toBe(i));
  expect(recorded.closes.map((c) => c.reason)).toEqual([{ kind: 'server-closing' }]);
  expect(server.connections.size).toBe(0);
});

test('messages still on their way in while closing are delivered, and replies sent before it arrive', async () => {
  const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
  const received: number[] = [];
  let replied = 0;
  let closing: Promise<void> | undefined;
  server.on('message', (conn, message) => {
    received.push(message.readUInt32BE(0));
    if (conn.isOpen) {
      conn.send(message);
      replied++;
    }
    if (received.length === 100) closing = server.close({ timeout: 10_000 });
  });
  const client = await rawClient(resources, { port });
  const count = 2000;
  // Written in pieces, so that most of it is still in flight when the first message is read.
  for (let part = 0; part < 10; part++) {
    const frames: Buffer[] = [];
    for (let i = part * 200; i < (part + 1) * 200; i++) {
      const body = Buffer.alloc(512);
      body.writeUInt32BE(i, 0);
      frames.push(frame(body));
    }
    client.write(Buffer.concat(frames));
  }
  await waitUntil(() => closing !== undefined, 5000, 'the first message');
  await closing;
  await client.closed;
  expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(replied).toBeGreaterThanOrEqual(100);
  expect(replied).toBeLessThan(count);
  expect(client.messages).toHaveLength(replied);
  expect(recorded.errors).toEqual([]);
});

test('stops accepting at once', async () => {
  const { server, port } = await startTcp(resources);
  // A peer that never ends its side keeps the close waiting.
  await plainSocket(resources, port, true);
  await waitUntil(() => server.connections.size === 1, 5000, 'the connection');
  const closed = server.close({ timeout: 300 });
  const refused = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    const late = connect({ port, host: '127.0.0.1' });
    resources.socket(late);
    late.once('connect', () => reject(new Error('a connection was accepted after close()')));
    late.once('error', resolve);
  });
  expect(refused.code).toBe('ECONNREFUSED');
  await closed;
  expect(server.connections.size).toBe(0);
});

test('connections that do not finish in time are destroyed at the timeout', async () => {
  const { server, port, recorded } = await startTcp(resources);
  // Reads the server's end but never ends its own side.
  const lingering = await plainSocket(resources, port, true);
  lingering.resume();
  lingering.write(frame('hello'));
  await waitUntil(() => recorded.connects[0]?.stats.messagesOut === 1, 5000, 'the echo');
  const closed = server.close({ timeout: 400 });
  await new Promise((resolve) => lingering.once('end', resolve));
  // Ended by the server, but kept until the timeout while the peer has not finished.
  expect(server.connections.size).toBe(1);
  expect(recorded.closes).toEqual([]);
  await closed;
  expect(recorded.closes.map((c) => c.reason)).toEqual([{ kind: 'server-closing' }]);
  expect(server.connections.size).toBe(0);
});

test('a second close() is harmless and resolves with the first', async () => {
  const { server, port } = await startTcp(resources);
  const client = await rawClient(resources, { port });
  await expectEcho(client, 'hi');
  const first = server.close();
  const second = server.close({ timeout: 1 });
  expect(second).toBe(first);
  await Promise.all([first, second]);
  await expect(server.close()).resolves.toBeUndefined();
  await expect(server.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_SERVER_CLOSED' });
});

test('closing a server that never listened resolves', async () => {
  const server = new TcpServer();
  await expect(server.close()).resolves.toBeUndefined();
});

test('await using closes the server and its connections at the end of the block', async () => {
  const reasons: CloseReason[] = [];
  let port = 0;
  const client = await (async () => {
    await using server = new TcpServer();
    server.on('message', (conn, message) => conn.send(message));
    server.on('close', (_conn, reason) => reasons.push(reason));
    port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
    const inside = await rawClient(resources, { port });
    await expectEcho(inside, 'inside');
    return inside;
  })();
  await client.closed;
  expect(reasons).toEqual([{ kind: 'server-closing' }]);
  const refused = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const late = connect({ port, host: '127.0.0.1' });
    resources.socket(late);
    late.once('error', resolve);
  });
  expect(refused.code).toBe('ECONNREFUSED');
});

test('TLS and IPC servers close their connections gracefully too', async () => {
  const tls = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert }), (s) => s.close());
  const ipc = resources.add(new IpcServer(), (s) => s.close());
  const tlsRecorded = record(tls);
  const ipcRecorded = record(ipc);
  tls.on('message', (conn, m) => conn.send(m));
  ipc.on('message', (conn, m) => conn.send(m));
  const { port } = await tls.listen({ port: 0, host: '127.0.0.1' });
  const { path } = await ipc.listen({ path: tmpSocketPath() });
  const tlsClient = await rawTlsClient(resources, port);
  const ipcClient = await rawClient(resources, { path });
  await expectEcho(tlsClient, 'tls');
  await expectEcho(ipcClient, 'ipc');
  await Promise.all([tls.close(), ipc.close()]);
  await Promise.all([tlsClient.closed, ipcClient.closed]);
  expect(tlsRecorded.closes.map((c) => c.reason)).toEqual([{ kind: 'server-closing' }]);
  expect(ipcRecorded.closes.map((c) => c.reason)).toEqual([{ kind: 'server-closing' }]);
});

test('a TLS connection that does not finish in time is destroyed at the timeout', async () => {
  const tls = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert }), (s) => s.close());
  const recorded = record(tls);
  const { port } = await tls.listen({ port: 0, host: '127.0.0.1' });
  const client = await rawTlsClient(resources, port);
  // Never answer the server's end with our own.
  client.socket.allowHalfOpen = true;
  await waitUntil(() => recorded.connects.length === 1, 5000, 'the connection');
  const closed = tls.close({ timeout: 400 });
  await new Promise((resolve) => client.socket.once('end', resolve));
  expect(tls.connections.size).toBe(1);
  await closed;
  expect(recorded.closes.map((c) => c.reason)).toEqual([{ kind: 'server-closing' }]);
  expect(tls.connections.size).toBe(0);
});

test.each(['TCP', 'IPC'])(
  'close() while %s listen() is under way rejects it with ERR_SERVER_CLOSED and leaves nothing open',
  async (kind) => {
    const path = tmpSocketPath();
    const server = kind === 'TCP' ? new TcpServer() : new IpcServer();
    const listening =
      server instanceof IpcServer ? server.listen({ path }) : server.listen({ port: 0, host: '127.0.0.1' });
    const rejected = expect(listening).rejects.toMatchObject({ code: 'ERR_SERVER_CLOSED' });
    await server.close();
    await rejected;
    expect(server.listening).toBe(false);
    expect(server.address()).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  },
);
