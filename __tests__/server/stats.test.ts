/** server.stats: aggregate counters over open and closed connections, computed when read. */
import { TcpServer } from 'sockframe';
import { delay, frame, RawClient, Resources, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('counts what many clients sent and were sent, refusals and errors by code', async () => {
  const server = resources.add(new TcpServer({ maxConnections: 21, maxMessageSize: 1024 }), (s) =>
    s.close({ timeout: 500 }),
  );
  server.on('message', (conn, m) => conn.send(m));
  server.on('error', () => {});
  server.on('drop', () => {});
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  expect(server.stats).toMatchObject({ connections: 0, connectionsTotal: 0, messagesIn: 0, errors: {} });

  const clients: RawClient[] = [];
  let wire = 0;
  for (let i = 0; i < 20; i++) {
    const c = await RawClient.connect({ port, host: '127.0.0.1' });
    resources.socket(c.socket);
    // Pipelined: i + 1 messages of i + 10 bytes in one write.
    const bytes = Buffer.concat(Array.from({ length: i + 1 }, () => frame(Buffer.alloc(i + 10, 0x61))));
    wire += bytes.length;
    c.write(bytes);
    clients.push(c);
  }
  const sent = (20 * 21) / 2;
  await Promise.all(clients.map((c, i) => c.waitForMessages(i + 1)));
  // Half of them leave: their counters must stay in the totals.
  for (const c of clients.slice(0, 10)) c.socket.end();
  await waitUntil(() => server.connections.size === 10, 5000, 'ten closed');
  // One hostile peer: a frame over the limit.
  const hostile = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(hostile.socket);
  hostile.write(frame(Buffer.alloc(2000)));
  await hostile.closed;
  // Fill up to maxConnections, then one more is refused.
  const fillers: RawClient[] = [];
  for (let i = 0; i < 11; i++)
    fillers.push(
      resources.add(await RawClient.connect({ port, host: '127.0.0.1' }), (c) => c.socket.destroy()),
    );
  await waitUntil(
    () => server.stats.refused.maxConnections === 1 || server.connections.size === 21,
    5000,
    'full',
  );
  const extra = await RawClient.connect({ port, host: '127.0.0.1' }).catch(() => undefined);
  if (extra !== undefined) resources.socket(extra.socket);
  await waitUntil(() => server.stats.refused.maxConnections >= 1, 5000, 'a refusal');
  await delay(20);

  const stats = server.stats;
  expect(stats.messagesIn).toBe(sent);
  expect(stats.messagesOut).toBe(sent);
  expect(stats.bytesIn).toBe(wire + 4 + 2000);
  expect(stats.bytesOut).toBe(wire);
  expect(stats.errors).toEqual({ ERR_FRAME_TOO_LARGE: 1 });
  expect(stats.connections).toBe(server.connections.size);
  expect(stats.connectionsTotal).toBe(20 + 1 + 11);
  expect(stats.refused).toEqual({ maxConnections: 1, handshake: 0 });
  expect(stats.pendingBytes).toBe(0);
  expect(stats.memoryBudget).toEqual({ used: 0, limit: 512 * 1024 * 1024 });
});
