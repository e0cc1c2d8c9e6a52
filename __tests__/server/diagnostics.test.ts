/** The diagnostics_channel channels: subscribe, drive real sockets, check what was published. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { TcpClient, TcpServer } from 'sockframe';
import { frame, freePort, RawClient, Resources, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

const NAMES = [
  'sockframe:server:listening',
  'sockframe:server:closed',
  'sockframe:server:drop',
  'sockframe:server:error',
  'sockframe:connection:open',
  'sockframe:connection:close',
  'sockframe:client:connect',
  'sockframe:client:close',
  'sockframe:client:reconnecting',
  'sockframe:client:error',
] as const;

function record(): { seen: { name: string; message: Record<string, unknown> }[] } {
  const seen: { name: string; message: Record<string, unknown> }[] = [];
  for (const name of NAMES) {
    const listener = (message: unknown): void =>
      void seen.push({ name, message: message as Record<string, unknown> });
    subscribe(name, listener);
    resources.add(listener, (l) => unsubscribe(name, l));
  }
  return { seen };
}

test('a server and its connections publish their lifecycle', async () => {
  const { seen } = record();
  const server = new TcpServer({ maxConnections: 1, maxMessageSize: 16 });
  server.on('error', () => {});
  server.on('drop', () => {});
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  const a = await RawClient.connect({ port: address.port, host: '127.0.0.1' });
  resources.socket(a.socket);
  await waitUntil(() => server.connections.size === 1, 5000, 'accepted');
  const refused = await RawClient.connect({ port: address.port, host: '127.0.0.1' });
  resources.socket(refused.socket);
  await refused.closed;
  a.write(frame(Buffer.alloc(64)));
  await a.closed;
  await server.close();
  const names = seen.map((s) => s.name);
  expect(names).toEqual([
    'sockframe:server:listening',
    'sockframe:connection:open',
    'sockframe:server:drop',
    'sockframe:server:error',
    'sockframe:connection:close',
    'sockframe:server:closed',
  ]);
  const conn = [...seen].find((s) => s.name === 'sockframe:connection:open')?.message.peer;
  expect(seen.every((s) => s.message.server === server)).toBe(true);
  expect(seen[1]?.message.peer).toBe(conn);
  expect(seen[0]?.message.address).toEqual(address);
  expect((seen[2]?.message.info as { reason: string }).reason).toBe('max-connections');
  expect((seen[3]?.message.error as { code: string }).code).toBe('ERR_FRAME_TOO_LARGE');
  expect(seen[3]?.message.peer).toBe(conn);
  expect((seen[4]?.message.reason as { kind: string }).kind).toBe('error');
});

test('a client publishes connect, reconnecting and close', async () => {
  const { seen } = record();
  const port = await freePort();
  const client = resources.add(
    new TcpClient({
      port,
      host: '127.0.0.1',
      reconnect: { initialDelay: 20, maxDelay: 20, maxAttempts: 50 },
    }),
    (c) => c.close({ timeout: 500 }),
  );
  client.on('error', () => {});
  const connecting = client.connect();
  await waitUntil(() => seen.some((s) => s.name === 'sockframe:client:reconnecting'), 5000, 'a retry');
  const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
  await server.listen({ port, host: '127.0.0.1' });
  await connecting;
  await client.close();
  const mine = seen.filter((s) => s.name.startsWith('sockframe:client:'));
  expect(mine.every((s) => s.message.client === client)).toBe(true);
  const retry = mine.find((s) => s.name === 'sockframe:client:reconnecting')?.message;
  expect(retry).toMatchObject({ attempt: 1, delayMs: expect.any(Number) as number });
  expect(mine.map((s) => s.name).filter((n) => n !== 'sockframe:client:reconnecting')).toEqual([
    'sockframe:client:connect',
    'sockframe:client:close',
  ]);
});
