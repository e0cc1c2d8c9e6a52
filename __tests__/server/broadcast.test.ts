import { lengthField, TcpServer, type Connection } from 'sockframe';
import { frame, type RawClient, Resources, waitUntil } from '../helpers/net';
import { nextError, rawClient, record } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

interface Room {
  room: string;
}

/** A server whose clients join a room by sending its name. */
async function chat(
  options: ConstructorParameters<typeof TcpServer>[0] = {},
  clientCount = 3,
): Promise<{ server: TcpServer<Room>; clients: RawClient[]; conns: Connection<Room>[] }> {
  const server = resources.add(new TcpServer<Room>(options), (s) => s.close({ timeout: 500 }));
  const conns: Connection<Room>[] = [];
  server.on('connect', (conn) => conns.push(conn));
  server.on('message', (conn, message) => {
    conn.data = { room: message.toString() };
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const clients: RawClient[] = [];
  for (let i = 0; i < clientCount; i++) {
    const client = await rawClient(resources, { port });
    client.write(frame(i % 2 === 0 ? 'even' : 'odd'));
    clients.push(client);
  }
  await waitUntil(
    () => conns.length === clientCount && conns.every((c) => c.data !== undefined),
    5000,
    'rooms',
  );
  return { server, clients, conns };
}

test('reaches every open connection and returns how many it was sent to', async () => {
  const { server, clients } = await chat();
  expect(server.broadcast('to all')).toBe(3);
  expect(server.broadcast(Buffer.from('as a Buffer'))).toBe(3);
  expect(server.broadcast(new Uint8Array([1, 2, 3]))).toBe(3);
  for (const client of clients) {
    const messages = await client.waitForMessages(3);
    expect(messages[0]?.toString()).toBe('to all');
    expect(messages[1]?.toString()).toBe('as a Buffer');
    expect([...(messages[2] as Buffer)]).toEqual([1, 2, 3]);
  }
});

test('a filter chooses who receives it', async () => {
  const { server, clients, conns } = await chat({}, 4);
  expect(server.broadcast('evens only', (conn) => conn.data?.room === 'even')).toBe(2);
  expect(server.broadcast('everyone')).toBe(4);
  await waitUntil(() => clients.every((c, i) => c.messages.length === (i % 2 === 0 ? 2 : 1)), 5000, 'all');
  clients.forEach((client, i) => {
    const expected = i % 2 === 0 ? ['evens only', 'everyone'] : ['everyone'];
    expect(client.messages.map(String)).toEqual(expected);
  });
  expect(conns.map((c) => c.stats.messagesOut)).toEqual([2, 1, 2, 1]);
});

test('skips connections that are closing', async () => {
  const { server, clients, conns } = await chat();
  const closing = conns[1] as Connection<Room>;
  const closed = closing.close();
  expect(server.connections.has(closing.id)).toBe(true);
  expect(server.broadcast('after one left')).toBe(2);
  await closed;
  expect(server.broadcast('and again')).toBe(2);
  await (clients[1] as RawClient).closed;
  expect((clients[1] as RawClient).messages).toEqual([]);
  for (const client of [clients[0], clients[2]] as RawClient[]) {
    const messages = await client.waitForMessages(2);
    expect(messages.map(String)).toEqual(['after one left', 'and again']);
  }
});

test('with no connections it sends to nobody', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close());
  await server.listen({ port: 0, host: '127.0.0.1' });
  expect(server.broadcast('anyone?')).toBe(0);
});

test('frames with a per-connection framing factory too', async () => {
  const { server, clients } = await chat({ framing: () => lengthField() }, 2);
  expect(server.broadcast('framed per connection')).toBe(2);
  for (const client of clients) {
    const [message] = await client.waitForMessages(1);
    expect(message?.toString()).toBe('framed per connection');
  }
});

test("honours each connection's limit: a reader that never reads is dropped, the others get everything", async () => {
  const { server, clients, conns } = await chat({ maxPendingBytes: 512 * 1024 }, 3);
  const recorded = record(server);
  const stalled = clients[2] as RawClient;
  stalled.socket.pause();
  const chunk = Buffer.alloc(64 * 1024, 0x42);
  const fault = nextError(server);
  let rounds = 0;
  // The fast readers drain between rounds; the stalled one only piles up.
  while (conns[2]?.isOpen && rounds < 1000) {
    server.broadcast(chunk);
    rounds++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { err, conn } = await fault;
  expect(err.code).toBe('ERR_SLOW_CONSUMER');
  expect(conn).toBe(conns[2]);
  stalled.socket.resume();
  expect(server.broadcast('last')).toBe(2);
  for (const client of [clients[0], clients[1]] as RawClient[]) {
    const messages = await client.waitForMessages(rounds + 1);
    expect(messages.slice(0, rounds).every((m) => m.equals(chunk))).toBe(true);
    expect(messages[rounds]?.toString()).toBe('last');
  }
  expect(recorded.errors).toHaveLength(1);
});
