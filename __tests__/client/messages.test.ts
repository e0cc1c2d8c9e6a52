import { IpcClient, IpcServer, TcpClient } from 'sockframe';
import { Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import { echoServer, nextEvent } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

async function collect(iterator: AsyncIterable<Buffer>): Promise<string[]> {
  const seen: string[] = [];
  for await (const message of iterator) seen.push(message.toString());
  return seen;
}

test('for await yields every message in order and ends when close() is called', async () => {
  const { port } = await echoServer(resources);
  const c = client({ port, host: '127.0.0.1' });
  await c.connect();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const message of c.messages()) {
      seen.push(message.toString());
      if (seen.length === 3) void c.close();
    }
  })();
  c.send('one');
  c.send('two');
  c.send('three');
  await reading;
  expect(seen).toEqual(['one', 'two', 'three']);
  expect(c.listenerCount('message')).toBe(0);
});

test('messages that arrive while the reader is busy are kept, then the iterator ends on a drop', async () => {
  const path = tmpSocketPath();
  const server = resources.add(new IpcServer(), (s) => s.close());
  server.on('connect', (conn) => {
    for (let i = 0; i < 100; i++) conn.send(`m${i}`);
    void conn.close();
  });
  await server.listen({ path });
  const c = resources.add(new IpcClient({ path }), (x) => x.close());
  const iterator = c.messages();
  const closed = nextEvent(c, 'close');
  await c.connect();
  await closed;
  // Everything was delivered before the reader looked at a single message.
  const seen = await collect(iterator);
  expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  expect(c.finishedReading).toBe(true);
});

test('with reconnect on, the iterator spans reconnects and ends only on close()', async () => {
  const first = await echoServer(resources);
  const c = client({ port: first.port, host: '127.0.0.1', reconnect: { initialDelay: 10, maxDelay: 20 } });
  await c.connect();
  const reading = collect(c.messages());
  const firstEcho = nextEvent(c, 'message');
  c.send('before');
  await firstEcho;
  await first.server.close();
  await waitUntil(() => !c.connected, 5000, 'the drop');
  expect(c.finishedReading).toBe(false);
  await echoServer(resources, {}, first.port);
  await waitUntil(() => c.connected, 5000, 'the reconnect');
  const secondEcho = nextEvent(c, 'message');
  c.send('after');
  await secondEcho;
  await c.close();
  expect(await reading).toEqual(['before', 'after']);
});

test('the iterator ends when reconnecting gives up', async () => {
  const first = await echoServer(resources);
  const c = client({
    port: first.port,
    host: '127.0.0.1',
    reconnect: { initialDelay: 5, maxDelay: 10, maxAttempts: 2 },
  });
  c.on('error', () => {});
  await c.connect();
  const reading = collect(c.messages());
  await first.server.close();
  expect(await reading).toEqual([]);
  expect(c.connected).toBe(false);
});

test('breaking out of the loop detaches the iterator; the client keeps working', async () => {
  const { port } = await echoServer(resources);
  const c = client({ port, host: '127.0.0.1' });
  await c.connect();
  c.send('first');
  c.send('second');
  let firstSeen: string | undefined;
  for await (const message of c.messages()) {
    firstSeen = message.toString();
    break;
  }
  expect(firstSeen).toBe('first');
  expect(c.listenerCount('message')).toBe(0);
  const echoed = nextEvent<[Buffer]>(c, 'message');
  c.send('third');
  expect((await echoed)[0].toString()).toBe('third');
});

test('an iterator made after the connection closed is done at once; a new connect() reads again', async () => {
  const { port } = await echoServer(resources);
  const c = client({ port, host: '127.0.0.1' });
  await c.connect();
  const closed = nextEvent(c, 'close');
  void c.connection?.close();
  await closed;
  expect(await c.messages().next()).toEqual({ value: undefined, done: true });

  await c.connect();
  const iterator = c.messages();
  c.send('again');
  const next = await iterator.next();
  expect(next.done).toBe(false);
  expect((next.value as Buffer).toString()).toBe('again');
  await iterator.return?.();
});
