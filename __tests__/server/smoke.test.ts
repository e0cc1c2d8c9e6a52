import { TcpServer } from '../../src';
import { frame, RawClient, Resources } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('echo', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close());
  server.on('message', (conn, message) => conn.send(message));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(await RawClient.connect({ port, host: '127.0.0.1' }), (c) => c.socket.destroy());
  const bytes = Buffer.concat([frame('hello'), frame(''), frame('world')]);
  client.write(bytes.subarray(0, 7));
  setTimeout(() => client.write(bytes.subarray(7)), 20);
  const messages = await client.waitForMessages(3);
  expect(messages.map((m) => m.toString())).toEqual(['hello', '', 'world']);
  expect(server.connections.size).toBe(1);
});
