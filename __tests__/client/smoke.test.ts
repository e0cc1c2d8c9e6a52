import { IpcClient, IpcServer, TcpClient, TcpServer } from '../../src';
import { Resources, tmpSocketPath } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('tcp client echo and reconnect', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close());
  server.on('message', (conn, message) => conn.send(message));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(
    new TcpClient({ port, host: '127.0.0.1', reconnect: { initialDelay: 10 }, queueWhileDisconnected: true }),
    (c) => c.close(),
  );
  const got: string[] = [];
  client.on('message', (m) => got.push(m.toString()));
  await client.connect();
  client.send('a');
  client.send('b');
  await new Promise((r) => setTimeout(r, 50));
  expect(got).toEqual(['a', 'b']);
  await server.close();
  await new Promise((r) => setTimeout(r, 30));
  expect(client.connected).toBe(false);
  client.send('c');
  const server2 = resources.add(new TcpServer(), (s) => s.close());
  server2.on('message', (conn, message) => conn.send(message));
  await server2.listen({ port, host: '127.0.0.1' });
  await new Promise<void>((r) => client.once('connect', () => r()));
  await new Promise((r) => setTimeout(r, 50));
  expect(got).toEqual(['a', 'b', 'c']);
});

test('ipc iterator', async () => {
  const path = tmpSocketPath();
  const server = resources.add(new IpcServer(), (s) => s.close());
  server.on('message', (conn, message) => {
    conn.send(message);
    void conn.close();
  });
  await server.listen({ path });
  const client = resources.add(new IpcClient({ path }), (c) => c.close());
  await client.connect();
  client.send('x');
  const seen: string[] = [];
  for await (const m of client.messages()) seen.push(m.toString());
  expect(seen).toEqual(['x']);
});
