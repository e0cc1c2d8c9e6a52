import type { Socket } from 'node:net';
import {
  FrameTooLargeError,
  IdleTimeoutError,
  IncompleteMessageError,
  MessageTimeoutError,
  SlowConsumerError,
  TcpClient,
  type CloseReason,
  type SockframeError,
} from 'sockframe';
import { delay, frame, Resources, waitUntil } from '../helpers/net';
import { echoServer, nextEvent, rawServer } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

/** Records a client's errors and close reasons, in order. */
function watch(c: TcpClient): { events: string[]; errors: SockframeError[]; closes: CloseReason[] } {
  const events: string[] = [];
  const errors: SockframeError[] = [];
  const closes: CloseReason[] = [];
  c.on('error', (err) => {
    errors.push(err);
    events.push(`error ${err.code}`);
  });
  c.on('close', (reason) => {
    closes.push(reason);
    events.push(`close ${reason.kind}`);
  });
  return { events, errors, closes };
}

test('a frame over maxMessageSize from the server is ERR_FRAME_TOO_LARGE, then the client closes', async () => {
  const { port } = await echoServer(resources);
  // The limit covers the whole frame, its 4-byte header included.
  const c = client({ port, host: '127.0.0.1', maxMessageSize: 1000 });
  const seen = watch(c);
  const received: number[] = [];
  c.on('message', (message) => received.push(message.length));
  await c.connect();
  c.send(Buffer.alloc(996));
  await waitUntil(() => received.length === 1, 5000, 'the largest allowed echo');
  expect(c.connected).toBe(true);

  c.send(Buffer.alloc(997));
  await waitUntil(() => seen.closes.length === 1, 5000, 'the close');
  expect(seen.events).toEqual(['error ERR_FRAME_TOO_LARGE', 'close error']);
  const err = seen.errors[0] as FrameTooLargeError;
  expect(err).toBeInstanceOf(FrameTooLargeError);
  expect(err).toMatchObject({ length: 1001, limit: 1000 });
  expect(seen.closes[0]).toEqual({ kind: 'error', error: err });
  expect(received).toEqual([996]);
  expect(c.connected).toBe(false);
});

test('a server announcing a huge frame is refused from its header alone', async () => {
  const { port } = await rawServer(resources, (socket) => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    socket.write(header);
  });
  const c = client({ port, host: '127.0.0.1' });
  const seen = watch(c);
  await c.connect();
  await waitUntil(() => seen.closes.length === 1, 5000, 'the close');
  expect(seen.events).toEqual(['error ERR_FRAME_TOO_LARGE', 'close error']);
  expect(seen.errors[0]).toMatchObject({ length: 0xffffffff + 4, limit: 16 * 1024 * 1024 });
});

test('idleTimeout closes a silent connection with ERR_IDLE_TIMEOUT', async () => {
  const { port } = await echoServer(resources);
  const c = client({ port, host: '127.0.0.1', idleTimeout: 150 });
  const seen = watch(c);
  await c.connect();
  await waitUntil(() => seen.closes.length === 1, 5000, 'the idle close');
  expect(seen.events).toEqual(['error ERR_IDLE_TIMEOUT', 'close error']);
  expect(seen.errors[0]).toBeInstanceOf(IdleTimeoutError);
  expect(seen.errors[0]).toMatchObject({ timeout: 150 });
});

test('traffic keeps an idleTimeout connection open; without idleTimeout nothing expires', async () => {
  const { port } = await echoServer(resources);
  const busy = client({ port, host: '127.0.0.1', idleTimeout: 500 });
  const quiet = client({ port, host: '127.0.0.1' });
  const busySeen = watch(busy);
  const quietSeen = watch(quiet);
  await busy.connect();
  await quiet.connect();
  const ticker = setInterval(() => busy.send('tick'), 25);
  try {
    await delay(1200);
  } finally {
    clearInterval(ticker);
  }
  expect(busySeen.events).toEqual([]);
  expect(quietSeen.events).toEqual([]);
  expect(busy.connected).toBe(true);
  expect(quiet.connected).toBe(true);
});

test('messageTimeout closes a connection whose message never completes', async () => {
  const { port } = await rawServer(resources, (socket) => {
    socket.write(frame('0123456789').subarray(0, 7));
  });
  const c = client({ port, host: '127.0.0.1', messageTimeout: 150 });
  const seen = watch(c);
  await c.connect();
  await waitUntil(() => seen.closes.length === 1, 5000, 'the message timeout');
  expect(seen.events).toEqual(['error ERR_MESSAGE_TIMEOUT', 'close error']);
  expect(seen.errors[0]).toBeInstanceOf(MessageTimeoutError);
});

test('a server ending in the middle of a message gives ERR_INCOMPLETE_MESSAGE', async () => {
  const { port } = await rawServer(resources, (socket) => {
    socket.end(Buffer.concat([frame('whole'), frame('cut short').subarray(0, 6)]));
  });
  const c = client({ port, host: '127.0.0.1' });
  const seen = watch(c);
  const received: string[] = [];
  c.on('message', (message) => received.push(message.toString()));
  await c.connect();
  await waitUntil(() => seen.closes.length === 1, 5000, 'the close');
  expect(received).toEqual(['whole']);
  expect(seen.events).toEqual(['error ERR_INCOMPLETE_MESSAGE', 'close error']);
  expect(seen.errors[0]).toBeInstanceOf(IncompleteMessageError);
  expect(seen.errors[0]).toMatchObject({ bufferedBytes: 6 });
});

test("send() returns false when the server does not read, and 'drain' follows once it does", async () => {
  let serverSocket: Socket | undefined;
  const { port } = await rawServer(resources, (socket) => {
    socket.pause();
    serverSocket = socket;
  });
  const c = client({ port, host: '127.0.0.1' });
  const seen = watch(c);
  await c.connect();
  await waitUntil(() => serverSocket !== undefined, 5000, 'the server side');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  while (c.send(chunk)) {
    sent++;
    if (sent % 16 === 0) await delay(1);
    if (sent > 2000) throw new Error('send() never returned false');
  }
  expect(c.pendingBytes).toBeGreaterThan(0);
  const drained = nextEvent(c, 'drain', 10_000);
  serverSocket?.resume();
  await drained;
  expect(c.connected).toBe(true);
  expect(seen.events).toEqual([]);
});

test('past maxPendingBytes unsent to a server that does not read, the client fails with ERR_SLOW_CONSUMER', async () => {
  const { port } = await rawServer(resources, (socket) => socket.pause());
  const c = client({ port, host: '127.0.0.1', maxPendingBytes: 1024 * 1024 });
  const seen = watch(c);
  await c.connect();
  const chunk = Buffer.alloc(64 * 1024, 2);
  for (let i = 0; i < 4000 && c.connected; i++) {
    c.send(chunk);
    if (i % 16 === 0) await delay(1);
  }
  await waitUntil(() => seen.closes.length === 1, 5000, 'the close');
  expect(seen.events).toEqual(['error ERR_SLOW_CONSUMER', 'close error']);
  expect(seen.errors[0]).toBeInstanceOf(SlowConsumerError);
  expect(() => c.send(chunk)).toThrow(expect.objectContaining({ code: 'ERR_NOT_CONNECTED' }) as Error);
});
