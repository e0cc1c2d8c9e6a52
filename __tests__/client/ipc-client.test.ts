import { IpcClient, IpcServer, SocketError, type ReconnectingInfo } from 'sockframe';
import { Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import { nextEvent } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

async function ipcEchoServer(path: string): Promise<IpcServer> {
  const server = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
  server.on('message', (conn, message) => {
    if (conn.isOpen) conn.send(message);
  });
  await server.listen({ path });
  return server;
}

function client(options: ConstructorParameters<typeof IpcClient>[0]): IpcClient {
  return resources.add(new IpcClient(options), (c) => c.close());
}

test('echo over a Unix socket', async () => {
  const path = tmpSocketPath();
  await ipcEchoServer(path);
  const c = client({ path });
  const received: string[] = [];
  c.on('message', (message) => received.push(message.toString()));
  await c.connect();
  for (let i = 0; i < 50; i++) c.send(`ipc ${i}`);
  await waitUntil(() => received.length === 50, 5000, 'echoes');
  expect(received).toEqual(Array.from({ length: 50 }, (_, i) => `ipc ${i}`));
});

test('a path nobody serves rejects connect() with ERR_SOCKET', async () => {
  const c = client({ path: tmpSocketPath() });
  const err = (await c.connect().catch((e: unknown) => e)) as SocketError;
  expect(err).toBeInstanceOf(SocketError);
  expect(err.syscallCode).toBe('ENOENT');
  expect(c.connected).toBe(false);
});

test('path must be a non-empty string', () => {
  expect(() => new IpcClient({ path: '' })).toThrow(
    new TypeError('The "path" option must be a non-empty string.'),
  );
  expect(() => new IpcClient({} as never)).toThrow(TypeError);
});

test('reconnects when the server comes back on the same path', async () => {
  const path = tmpSocketPath();
  const first = await ipcEchoServer(path);
  const c = client({ path, reconnect: { initialDelay: 20, maxDelay: 50 } });
  const retries: ReconnectingInfo[] = [];
  c.on('reconnecting', (info) => retries.push(info));
  await c.connect();
  const dropped = nextEvent(c, 'close');
  await first.close();
  await dropped;
  await waitUntil(() => retries.length >= 2, 5000, 'retries while the path is gone');
  const reconnected = nextEvent(c, 'connect');
  await ipcEchoServer(path);
  await reconnected;
  const echoed = nextEvent<[Buffer]>(c, 'message');
  c.send('back');
  expect((await echoed)[0].toString()).toBe('back');
});
