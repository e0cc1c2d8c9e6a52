import {
  NotConnectedError,
  QueueFullError,
  TcpClient,
  WRITE_HIGH_WATER_MARK,
  type SockframeError,
} from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { echoServer, nextEvent, releasedPort } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

/** An echo server that also records, in order, what it received. */
async function recordingServer(port = 0): Promise<{ port: number; received: string[] }> {
  const { server, port: bound } = await echoServer(resources, {}, port);
  const received: string[] = [];
  server.on('message', (_conn, message) => received.push(message.toString()));
  return { port: bound, received };
}

test('send() while disconnected throws ERR_NOT_CONNECTED by default', () => {
  const c = client({ port: 9, host: '127.0.0.1' });
  expect(() => c.send('too early')).toThrow(NotConnectedError);
  expect(() => c.send('too early')).toThrow('Not connected to 127.0.0.1:9');
  expect(c.pendingBytes).toBe(0);
});

test('with queueWhileDisconnected, messages sent before connect() go first, in order', async () => {
  const { port, received } = await recordingServer();
  const c = client({ port, host: '127.0.0.1', queueWhileDisconnected: true });
  for (let i = 0; i < 20; i++) expect(c.send(`early ${i}`)).toBe(true);
  // Framed with the default 4-byte length header.
  const expectedBytes = Array.from({ length: 20 }, (_, i) => 4 + `early ${i}`.length).reduce((a, b) => a + b);
  expect(c.pendingBytes).toBe(expectedBytes);
  const echoes: string[] = [];
  c.on('message', (message) => echoes.push(message.toString()));
  await c.connect();
  c.send('late');
  await waitUntil(() => received.length === 21, 5000, 'all messages at the server');
  const expected = [...Array.from({ length: 20 }, (_, i) => `early ${i}`), 'late'];
  expect(received).toEqual(expected);
  await waitUntil(() => echoes.length === 21, 5000, 'all echoes');
  expect(echoes).toEqual(expected);
  expect(c.connection?.stats.messagesOut).toBe(21);
});

test('the queue is bounded by maxPendingBytes: past it send() throws ERR_QUEUE_FULL, the rest is kept', async () => {
  const port = await releasedPort();
  // Each "msg-NN" is 6 bytes, 10 with its header: exactly 10 fit in 100 bytes.
  const c = client({ port, host: '127.0.0.1', queueWhileDisconnected: true, maxPendingBytes: 100 });
  for (let i = 0; i < 10; i++) c.send(`msg-${String(i).padStart(2, '0')}`);
  expect(c.pendingBytes).toBe(100);
  let thrown: unknown;
  try {
    c.send('msg-10');
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(QueueFullError);
  expect(thrown).toMatchObject({ code: 'ERR_QUEUE_FULL', queuedBytes: 110, limit: 100 });
  expect(c.pendingBytes).toBe(100);

  const { received } = await recordingServer(port);
  await c.connect();
  await waitUntil(() => received.length === 10, 5000, 'the queued messages');
  expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `msg-${String(i).padStart(2, '0')}`));
  expect(c.pendingBytes).toBe(0);
});

test('close() with messages still queued reports them as one ERR_NOT_CONNECTED error', async () => {
  const c = client({ port: 9, host: '127.0.0.1', queueWhileDisconnected: true });
  const errors: SockframeError[] = [];
  c.on('error', (err) => errors.push(err));
  c.send('a');
  c.send('b');
  c.send('c');
  await c.close();
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(NotConnectedError);
  // Each framed with a 4-byte length: 5 bytes.
  expect(errors[0]?.message).toBe('3 queued messages (15 bytes) were not sent: the client was closed');
  expect(errors[0]).toMatchObject({ unsentMessages: 3, unsentBytes: 15 });
  expect(c.pendingBytes).toBe(0);
  expect(() => c.send('d')).toThrow('The client is closed');
});

test('send() returns false once the queue reaches the high-water mark, and drain follows the flush', async () => {
  const { port, received } = await recordingServer();
  const c = client({ port, host: '127.0.0.1', queueWhileDisconnected: true });
  const chunk = 'x'.repeat(64 * 1024);
  const results: boolean[] = [];
  while (results.length === 0 || results[results.length - 1] === true) results.push(c.send(chunk));
  expect(c.pendingBytes).toBeGreaterThanOrEqual(WRITE_HIGH_WATER_MARK);
  expect(results.slice(0, -1).every((ok) => ok)).toBe(true);
  const drained = nextEvent(c, 'drain');
  await c.connect();
  await drained;
  await waitUntil(() => received.length === results.length, 5000, 'the queued chunks');
  expect(received.every((text) => text === chunk)).toBe(true);
});
