/** client.stats on stream clients: every field, after seeded traffic over reconnects. */
import { jsonRpc, TcpClient, TcpServer, type Connection, type StreamClientStats } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { prng } from '../stress/support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const HEADER = 4; // lengthField(): 4-byte length, stripped on delivery

test('counts bytes and messages over every connection, reconnects, errors by code, the queue', async () => {
  const seed = Date.now() % 100_000;
  const next = prng(seed);
  const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
  const serverConns: Connection[] = [];
  server.on('connect', (conn) => serverConns.push(conn));
  server.on('message', (conn, message) => conn.send(message));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(
    new TcpClient({
      port,
      host: '127.0.0.1',
      queueWhileDisconnected: true,
      reconnect: { initialDelay: 10, maxDelay: 10, jitter: 0 },
    }),
    (c) => c.close({ timeout: 500 }),
  );
  const received: Buffer[] = [];
  client.on('message', (message) => {
    received.push(message);
    if (message.toString() === 'boom') throw new Error('a listener fault');
  });
  client.on('error', () => {});
  const empty: StreamClientStats = {
    connected: false,
    connects: 0,
    reconnectAttempts: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    pendingBytes: 0,
    queuedMessages: 0,
    pendingCalls: 0,
    errors: {},
  };
  expect(client.stats).toEqual(empty);

  // Queued while disconnected: counted as pending, not yet as sent.
  let wire = 0;
  let count = 0;
  const send = (size: number): void => {
    client.send(Buffer.alloc(size, 0x61 + (count % 26)));
    wire += HEADER + size;
    count++;
  };
  for (let i = 0; i < 3; i++) send(1 + Math.floor(next() * 50));
  expect(client.stats).toEqual({ ...empty, pendingBytes: wire, queuedMessages: 3 });

  await client.connect();
  for (let i = 0; i < 40; i++) send(Math.floor(next() * 3000));
  await waitUntil(() => received.length === count, 5000, `echoes (seed ${seed})`);
  expect(client.stats).toEqual({
    ...empty,
    connected: true,
    connects: 1,
    bytesIn: wire,
    bytesOut: wire,
    messagesIn: count,
    messagesOut: count,
  });

  // A listener fault drops the connection; the client reconnects, the totals carry over.
  client.send(Buffer.from('boom'));
  wire += HEADER + 4;
  count++;
  await waitUntil(() => client.stats.connects === 2, 5000, `a reconnect (seed ${seed})`);
  for (let i = 0; i < 25; i++) send(Math.floor(next() * 70_000));
  await waitUntil(() => received.length === count, 5000, `echoes after reconnecting (seed ${seed})`);
  const expected = {
    ...empty,
    connected: true,
    connects: 2,
    reconnectAttempts: 1,
    bytesIn: wire,
    bytesOut: wire,
    messagesIn: count,
    messagesOut: count,
    errors: { ERR_LISTENER_THREW: 1 },
  };
  expect(client.stats).toEqual(expected);
  expect(serverConns.length).toBe(2);

  await client.close();
  expect(client.stats).toEqual({ ...expected, connected: false });
});

test('pendingCalls counts outgoing JSON-RPC calls awaiting responses', async () => {
  const server = resources.add(new TcpServer({ rpc: jsonRpc() }), (s) => s.close({ timeout: 500 }));
  const release: (() => void)[] = [];
  server.handle('wait', () => new Promise<void>((resolve) => release.push(resolve)));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc() }), (c) =>
    c.close({ timeout: 500 }),
  );
  await client.connect();
  const calls = [client.call('wait'), client.call('wait'), client.call('wait')];
  expect(client.stats.pendingCalls).toBe(3);
  await waitUntil(() => release.length === 3, 5000, 'three handlers');
  release.shift()?.();
  await calls[0];
  expect(client.stats.pendingCalls).toBe(2);
  for (const r of release.splice(0)) r();
  await Promise.all(calls);
  expect(client.stats).toMatchObject({ pendingCalls: 0, messagesOut: 3, messagesIn: 3, connects: 1 });
});
