/**
 * allowHalfOpen, as in node:net: when the peer ends its side, ours stays open, 'end' is emitted,
 * and send() goes on until we close, on servers and clients.
 */
import { createServer, type Socket } from 'node:net';
import { TcpClient, TcpServer, type Connection } from 'sockframe';
import { delay, frame, RawClient, Resources, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('a server connection outlives the peer ending its side, and its later replies all arrive', async () => {
  const server = resources.add(new TcpServer({ allowHalfOpen: true }), (s) => s.close({ timeout: 500 }));
  const received: string[] = [];
  const ended: Connection[] = [];
  server.on('message', (_conn, m) => received.push(m.toString()));
  server.on('connect', (conn) => {
    conn.on('end', () => {
      ended.push(conn);
      // Replies made well after the peer's FIN, then our own end.
      void (async () => {
        for (let i = 0; i < 5; i++) {
          await delay(20);
          conn.send(`late ${i} after ${received.length}`);
        }
        await conn.close();
      })();
    });
  });
  const errors: string[] = [];
  server.on('error', (err) => errors.push(err.code));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const raw = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(raw.socket);
  raw.write(Buffer.concat([frame('a'), frame('b'), frame('c')]));
  raw.socket.end();
  await raw.closed;
  expect(ended).toHaveLength(1);
  expect(errors).toEqual([]);
  expect(raw.messages.map(String)).toEqual([0, 1, 2, 3, 4].map((i) => `late ${i} after 3`));
});

test('without it, the peer ending its side closes the connection once what is queued is sent', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
  const kinds: string[] = [];
  server.on('close', (_conn, reason) => kinds.push(reason.kind));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const raw = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(raw.socket);
  raw.socket.end();
  await raw.closed;
  await waitUntil(() => kinds.length === 1, 5000, 'close');
  expect(kinds).toEqual(['peer-ended']);
});

test('a client keeps sending to a server that ended its side at once (a receive-only peer)', async () => {
  let bytes = 0;
  let peer: Socket | undefined;
  const raw = createServer({ allowHalfOpen: true }, (socket) => {
    peer = socket;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('error', () => {});
    socket.end();
  });
  resources.add(raw, (r) => new Promise((resolve) => r.close(resolve)));
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const { port } = raw.address() as { port: number };
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', allowHalfOpen: true }), (c) =>
    c.close({ timeout: 500 }),
  );
  let ended = 0;
  const errors: string[] = [];
  client.on('end', () => ended++);
  client.on('error', (err) => errors.push(err.code));
  await client.connect();
  await waitUntil(() => ended === 1, 5000, "the server's end");
  for (let i = 0; i < 100; i++) client.send(Buffer.alloc(96, i));
  await waitUntil(() => bytes === 100 * 100, 5000, 'every message');
  expect(errors).toEqual([]);
  await client.close();
  await waitUntil(() => peer?.closed === true, 5000, 'both sides closed');
});
