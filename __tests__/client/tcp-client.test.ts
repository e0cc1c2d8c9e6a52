import { createServer } from 'node:net';
import {
  ConnectAbortedError,
  ConnectTimeoutError,
  delimited,
  NotConnectedError,
  SocketError,
  STREAM_CLIENT_DEFAULTS,
  TcpClient,
  TcpServer,
  type CloseReason,
  type SockframeError,
} from 'sockframe';
import { recordingLogger, Resources, waitUntil } from '../helpers/net';
import { echoServer, nextEvent, releasedPort, unansweredPort } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

describe('TcpClient echo', () => {
  test('messages of every size come back whole and in order', async () => {
    const { port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    c.on('message', (message) => received.push(Buffer.from(message)));
    await c.connect();
    expect(c.connected).toBe(true);
    expect(c.connection?.remotePort).toBe(port);

    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const sent: Buffer[] = [Buffer.from('hello'), Buffer.alloc(0), big];
    for (let i = 0; i < 200; i++) sent.push(Buffer.from(`message ${i}`));
    c.send('hello');
    c.send(new Uint8Array(0));
    c.send(big);
    for (let i = 0; i < 200; i++) c.send(`message ${i}`);

    await waitUntil(() => received.length === sent.length, 10_000, 'all echoes');
    expect(received.map((m) => m.length)).toEqual(sent.map((m) => m.length));
    received.forEach((message, i) => expect(message.equals(sent[i] as Buffer)).toBe(true));
    expect(c.connection?.stats.messagesIn).toBe(sent.length);
  });

  test('a framing given to both sides is used for reading and for send()', async () => {
    const { port } = await echoServer(resources, { framing: delimited() });
    const c = client({ port, host: '127.0.0.1', framing: delimited() });
    await c.connect();
    const echoed = nextEvent<[Buffer]>(c, 'message');
    c.send('one line');
    const [message] = await echoed;
    expect(message.toString()).toBe('one line');
  });

  test('host defaults to localhost', async () => {
    const server = resources.add(new TcpServer(), (s) => s.close());
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: 'localhost' });
    const c = client({ port });
    await c.connect();
    const echoed = nextEvent<[Buffer]>(c, 'message');
    c.send('via localhost');
    expect((await echoed)[0].toString()).toBe('via localhost');
  });
});

describe('TcpClient options', () => {
  test('misused options throw a TypeError with an exact sentence', () => {
    expect(() => new TcpClient({ port: 0 })).toThrow(
      new TypeError('The "port" option must be an integer from 1 to 65535; got 0.'),
    );
    expect(() => new TcpClient({ port: 70000 })).toThrow(TypeError);
    expect(() => new TcpClient({ port: 80, host: '' })).toThrow(
      new TypeError('The "host" option must be a non-empty string.'),
    );
    expect(() => new TcpClient(null as never)).toThrow(new TypeError('Client options must be an object.'));
    expect(() => new TcpClient({ port: 80, connectTimeout: -1 })).toThrow(
      new TypeError(
        'The "connectTimeout" option must be a number of milliseconds from 0 to 2147483647; got -1.',
      ),
    );
    expect(() => new TcpClient({ port: 80, maxMessageSize: 0 })).toThrow(
      new TypeError('The "maxMessageSize" option must be a positive integer; got 0.'),
    );
    expect(() => new TcpClient({ port: 80, queueWhileDisconnected: 'yes' as never })).toThrow(
      new TypeError('The "queueWhileDisconnected" option must be a boolean; got "yes".'),
    );
    expect(() => new TcpClient({ port: 80, reconnect: 5 as never })).toThrow(
      new TypeError('The "reconnect" option must be a boolean or an object; got 5.'),
    );
    expect(() => new TcpClient({ port: 80, reconnect: { factor: 0.5 } })).toThrow(
      new TypeError('The "reconnect.factor" option must be a number of at least 1; got 0.5.'),
    );
    expect(() => new TcpClient({ port: 80, reconnect: { jitter: 1.5 } })).toThrow(
      new TypeError('The "reconnect.jitter" option must be a number from 0 to 1; got 1.5.'),
    );
    expect(() => new TcpClient({ port: 80, reconnect: { maxAttempts: 0 } })).toThrow(
      new TypeError('The "reconnect.maxAttempts" option must be a positive integer; got 0.'),
    );
    expect(() => new TcpClient({ port: 80, logger: {} as never })).toThrow(
      new TypeError('The "logger" option must be a pino logger.'),
    );
  });

  test('connect() rejects misused arguments with a TypeError', async () => {
    const c = client({ port: 9, host: '127.0.0.1' });
    await expect(c.connect(null as never)).rejects.toEqual(
      new TypeError('connect() takes an options object; got null.'),
    );
    await expect(c.connect({ signal: {} as AbortSignal })).rejects.toEqual(
      new TypeError('The "signal" option must be an AbortSignal; got an object.'),
    );
    expect(c.connected).toBe(false);
  });

  test('the defaults are the documented ones', () => {
    expect(STREAM_CLIENT_DEFAULTS).toEqual({
      maxMessageSize: 16 * 1024 * 1024,
      maxHeaderBytes: 64 * 1024,
      maxPendingBytes: 16 * 1024 * 1024,
      allowHalfOpen: false,
      connectTimeout: 10_000,
      idleTimeout: 0,
      messageTimeout: 30_000,
      noDelay: true,
      keepAlive: false,
      queueWhileDisconnected: false,
    });
    expect(Object.isFrozen(STREAM_CLIENT_DEFAULTS)).toBe(true);
  });
});

describe('TcpClient connect failures', () => {
  test('a refused connection rejects with ERR_SOCKET (ECONNREFUSED); a later connect() can succeed', async () => {
    const port = await releasedPort();
    const c = client({ port, host: '127.0.0.1' });
    const events: string[] = [];
    c.on('close', () => events.push('close'));
    c.on('error', (err) => events.push(err.code));
    const err = (await c.connect().catch((e: unknown) => e)) as SocketError;
    expect(err).toBeInstanceOf(SocketError);
    expect(err.code).toBe('ERR_SOCKET');
    expect(err.syscallCode).toBe('ECONNREFUSED');
    expect(c.connected).toBe(false);
    // The rejection is the report: nothing was connected, so no 'close' and no 'error'.
    expect(events).toEqual([]);

    await echoServer(resources, {}, port);
    await c.connect();
    expect(c.connected).toBe(true);
  });

  test('an attempt that never completes rejects with ERR_CONNECT_TIMEOUT after connectTimeout', async () => {
    const port = await unansweredPort(resources);
    const c = client({ port, host: '127.0.0.1', connectTimeout: 200 });
    const started = Date.now();
    const err = (await c.connect().catch((e: unknown) => e)) as ConnectTimeoutError;
    expect(err).toBeInstanceOf(ConnectTimeoutError);
    expect(err.code).toBe('ERR_CONNECT_TIMEOUT');
    expect(err.timeout).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(c.connected).toBe(false);
  });

  test('an AbortSignal aborts a pending connect() with ERR_CONNECT_ABORTED', async () => {
    const port = await unansweredPort(resources);
    const c = client({ port, host: '127.0.0.1', connectTimeout: 0 });
    const controller = new AbortController();
    const pending = c.connect({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    const err = (await pending.catch((e: unknown) => e)) as ConnectAbortedError;
    expect(err).toBeInstanceOf(ConnectAbortedError);
    expect(err.code).toBe('ERR_CONNECT_ABORTED');
    expect((err.cause as Error).message).toBe('user gave up');
    expect(c.connected).toBe(false);
  });

  test('an already aborted signal rejects at once; aborting after connecting changes nothing', async () => {
    const { port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    const aborted = AbortSignal.abort('no');
    await expect(c.connect({ signal: aborted })).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
    expect(c.connection).toBeUndefined();

    const controller = new AbortController();
    await c.connect({ signal: controller.signal });
    controller.abort();
    const echoed = nextEvent<[Buffer]>(c, 'message');
    c.send('still here');
    expect((await echoed)[0].toString()).toBe('still here');
    expect(c.connected).toBe(true);
  });

  test('close() while connecting rejects the pending connect() with ERR_CONNECT_ABORTED', async () => {
    const port = await unansweredPort(resources);
    const c = client({ port, host: '127.0.0.1', connectTimeout: 0 });
    const pending = c.connect();
    setTimeout(() => void c.close(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
    expect(c.connected).toBe(false);
  });
});

describe('TcpClient close', () => {
  test('close() flushes what was sent, ends, and reports the close once', async () => {
    const { server, port } = await echoServer(resources);
    const atServer: string[] = [];
    server.on('message', (_conn, message) => atServer.push(message.toString()));
    const c = client({ port, host: '127.0.0.1' });
    const reasons: CloseReason[] = [];
    c.on('close', (reason) => reasons.push(reason));
    await c.connect();
    for (let i = 0; i < 100; i++) c.send(`m${i}`);
    const closing = c.close();
    expect(c.close()).toBe(closing);
    await closing;
    await waitUntil(() => atServer.length === 100, 5000, 'messages at the server');
    expect(atServer).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(reasons).toEqual([{ kind: 'closed' }]);
    expect(c.connected).toBe(false);
    await waitUntil(() => server.connections.size === 0, 5000, 'the server to see the close');
  });

  test('after close(), send() throws ERR_NOT_CONNECTED and connect() rejects', async () => {
    const { port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    await c.connect();
    await c.close();
    expect(() => c.send('late')).toThrow(NotConnectedError);
    expect(() => c.send('late')).toThrow(expect.objectContaining({ code: 'ERR_NOT_CONNECTED' }) as Error);
    await expect(c.connect()).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
  });

  test('close() cuts off a server that keeps its side open past the timeout', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      socket.resume(); // reads everything, ends nothing
      resources.socket(socket);
    });
    resources.add(server, (s) => new Promise((resolve) => s.close(resolve)));
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const { port } = server.address() as { port: number };
    const { logger, records } = recordingLogger();
    const c = client({ port, host: '127.0.0.1', logger });
    const reasons: CloseReason[] = [];
    c.on('close', (reason) => reasons.push(reason));
    await c.connect();
    const started = Date.now();
    await c.close({ timeout: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(reasons).toEqual([{ kind: 'closed' }]);
    expect(records.some((r) => r.msg === 'destroying the connection left at the close timeout')).toBe(true);
    expect(() => c.send('x')).toThrow(NotConnectedError);
  });

  test('close() rejects a misused timeout with a TypeError', () => {
    const c = client({ port: 9, host: '127.0.0.1' });
    expect(() => c.close({ timeout: -1 })).toThrow(TypeError);
    expect(() => c.close('soon' as never)).toThrow(
      new TypeError('close() takes an options object; got "soon".'),
    );
  });

  test('close() before any connect() resolves at once', async () => {
    const c = new TcpClient({ port: 9, host: '127.0.0.1' });
    await c.close();
    expect(c.connected).toBe(false);
  });

  test('a server that goes away gives close with peer-ended; without reconnect the client stays down', async () => {
    const { server, port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    const errors: SockframeError[] = [];
    c.on('error', (err) => errors.push(err));
    await c.connect();
    const closed = nextEvent<[CloseReason]>(c, 'close');
    await server.close();
    expect((await closed)[0]).toEqual({ kind: 'peer-ended' });
    expect(c.connected).toBe(false);
    expect(() => c.send('x')).toThrow(
      expect.objectContaining({
        code: 'ERR_NOT_CONNECTED',
        message: `Not connected to 127.0.0.1:${port}`,
      }) as Error,
    );
    expect(errors).toEqual([]);
  });
});
