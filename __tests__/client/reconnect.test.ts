import fc from 'fast-check';
import {
  ConnectTimeoutError,
  RECONNECT_DEFAULTS,
  SocketError,
  TcpClient,
  type CloseReason,
  type ReconnectingInfo,
  type SockframeError,
} from 'sockframe';
import { backoffDelay } from '../../src/client/stream-client';
import { delay, Resources, waitUntil } from '../helpers/net';
import { echoServer, nextEvent, releasedPort, unansweredPort } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

/** The largest delay retry number `attempt` may wait under a policy. */
function ceiling(
  policy: { initialDelay: number; maxDelay: number; factor: number },
  attempt: number,
): number {
  return Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
}

describe('backoffDelay', () => {
  const policy = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0, maxAttempts: Infinity };

  test('without jitter it grows by factor from initialDelay and stops at maxDelay', () => {
    const delays = [1, 2, 3, 4, 5, 6, 50, 5000].map((attempt) => backoffDelay(policy, attempt));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  test('a zero initialDelay stays zero however many retries, and growth never overflows', () => {
    expect(backoffDelay({ ...policy, initialDelay: 0 }, 5000)).toBe(0);
    expect(backoffDelay({ ...policy, factor: 10 }, 5000)).toBe(1000);
    expect(backoffDelay({ ...policy, initialDelay: 0, factor: 10, jitter: 1 }, 5000, () => 0.3)).toBe(0);
  });

  test('full jitter draws anywhere from 0 to the backoff', () => {
    const full = { ...policy, jitter: 1 };
    expect(backoffDelay(full, 3, () => 0)).toBe(400);
    expect(backoffDelay(full, 3, () => 0.5)).toBe(200);
    expect(backoffDelay(full, 3, () => 0.999999)).toBe(0);
  });

  test('partial jitter keeps at least (1 - jitter) of the backoff', () => {
    const half = { ...policy, jitter: 0.5 };
    expect(backoffDelay(half, 4, () => 0)).toBe(800);
    expect(backoffDelay(half, 4, () => 0.999999)).toBe(400);
  });

  test('every delay lies within its bounds, for any policy, attempt and draw', () => {
    fc.assert(
      fc.property(
        fc.record({
          initialDelay: fc.integer({ min: 0, max: 10_000 }),
          extra: fc.integer({ min: 0, max: 100_000 }),
          factor: fc.double({ min: 1, max: 10, noNaN: true }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        fc.integer({ min: 1, max: 3000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        ({ initialDelay, extra, factor, jitter }, attempt, draw) => {
          const p = { initialDelay, maxDelay: initialDelay + extra, factor, jitter, maxAttempts: Infinity };
          const value = backoffDelay(p, attempt, () => draw);
          const top = initialDelay === 0 ? 0 : ceiling(p, attempt);
          expect(Number.isInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(Math.floor(top * (1 - jitter)));
          expect(value).toBeLessThanOrEqual(Math.ceil(top));
        },
      ),
    );
  });

  test('the defaults are the documented ones', () => {
    expect(RECONNECT_DEFAULTS).toEqual({
      initialDelay: 100,
      maxDelay: 30_000,
      factor: 2,
      jitter: 1,
      maxAttempts: Infinity,
    });
  });
});

describe('reconnecting after a drop', () => {
  test('the server restarts on the same port: reconnecting events, then queued messages once and in order', async () => {
    const reconnect = { initialDelay: 20, maxDelay: 80, factor: 2, jitter: 1, maxAttempts: Infinity };
    const first = await echoServer(resources);
    const port = first.port;
    const c = client({ port, host: '127.0.0.1', reconnect, queueWhileDisconnected: true });
    const retries: ReconnectingInfo[] = [];
    const echoes: string[] = [];
    const closes: CloseReason[] = [];
    let connects = 0;
    c.on('reconnecting', (info) => retries.push(info));
    c.on('message', (message) => echoes.push(message.toString()));
    c.on('close', (reason) => closes.push(reason));
    c.on('connect', () => connects++);
    await c.connect();
    c.send('before 1');
    c.send('before 2');
    await waitUntil(() => echoes.length === 2, 5000, 'echoes before the restart');

    await first.server.close();
    await waitUntil(() => retries.length >= 3, 5000, 'retries while the server is down');
    expect(c.connected).toBe(false);
    expect(closes).toEqual([{ kind: 'peer-ended' }]);
    const queued = Array.from({ length: 50 }, (_, i) => `queued ${i}`);
    for (const text of queued) expect(c.send(text)).toBe(true);

    const second = await echoServer(resources, {}, port);
    const atSecond: string[] = [];
    second.server.on('message', (_conn, message) => atSecond.push(message.toString()));
    await waitUntil(() => connects === 2, 5000, 'the reconnect');
    c.send('after');
    await waitUntil(() => echoes.length === 2 + queued.length + 1, 5000, 'all echoes');

    expect(atSecond).toEqual([...queued, 'after']);
    expect(echoes).toEqual(['before 1', 'before 2', ...queued, 'after']);
    expect(second.server.connections.size).toBe(1);
    retries.forEach((info, i) => {
      expect(info.attempt).toBe(i + 1);
      expect(info.delayMs).toBeGreaterThanOrEqual(0);
      expect(info.delayMs).toBeLessThanOrEqual(ceiling(reconnect, info.attempt));
    });
  });

  test('attempts count from 1 again after each successful reconnect', async () => {
    const first = await echoServer(resources);
    const c = client({ port: first.port, host: '127.0.0.1', reconnect: { initialDelay: 10, jitter: 0 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    await c.connect();
    await first.server.close();
    await waitUntil(() => retries.length >= 2, 5000, 'retries');
    const second = await echoServer(resources, {}, first.port);
    await waitUntil(() => c.connected, 5000, 'the reconnect');
    const before = retries.length;
    await second.server.close();
    await waitUntil(() => retries.length > before, 5000, 'a retry after the second drop');
    expect(retries.slice(0, 2)).toEqual([
      { attempt: 1, delayMs: 10 },
      { attempt: 2, delayMs: 20 },
    ]);
    expect(retries[before]).toEqual({ attempt: 1, delayMs: 10 });
  });

  test('close() stops reconnecting for good', async () => {
    const first = await echoServer(resources);
    const port = first.port;
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 10, maxDelay: 20 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    await c.connect();
    await first.server.close();
    await waitUntil(() => retries.length >= 2, 5000, 'retries');
    await c.close();
    const retriesAtClose = retries.length;

    // A listener on the same port sees no connection from the closed client.
    const second = await echoServer(resources, {}, port);
    let connections = 0;
    second.server.on('connect', () => connections++);
    await delay(300);
    expect(connections).toBe(0);
    expect(retries.length).toBe(retriesAtClose);
    expect(c.connected).toBe(false);
    await expect(c.connect()).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
  });

  test('close() while connected with reconnect on does not reconnect', async () => {
    const { server, port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 10 } });
    let connections = 0;
    server.on('connect', () => connections++);
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    await c.connect();
    const closed = nextEvent<[CloseReason]>(c, 'close');
    await c.close();
    expect((await closed)[0]).toEqual({ kind: 'closed' });
    await delay(200);
    expect(retries).toEqual([]);
    expect(connections).toBe(1);
  });

  test('a connection replaced by a new connect() while it was closing does not trigger a reconnect', async () => {
    const { server, port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 10 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    const closes: CloseReason[] = [];
    c.on('close', (reason) => closes.push(reason));
    await c.connect();
    const old = c.connection;
    void old?.close();
    await c.connect();
    const current = c.connection;
    expect(current).not.toBe(old);
    await waitUntil(() => closes.length === 1, 5000, 'the old connection to close');
    await delay(200);
    expect(retries).toEqual([]);
    expect(c.connection).toBe(current);
    expect(c.connected).toBe(true);
    expect(server.connections.size).toBe(1);
    expect(c.finishedReading).toBe(false);
  });

  test('after maxAttempts failed retries following a drop, the last failure is an error event', async () => {
    const first = await echoServer(resources);
    const c = client({
      port: first.port,
      host: '127.0.0.1',
      reconnect: { initialDelay: 5, maxDelay: 10, maxAttempts: 3 },
    });
    const retries: ReconnectingInfo[] = [];
    const errors: SockframeError[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    c.on('error', (err) => errors.push(err));
    await c.connect();
    await first.server.close();
    await waitUntil(() => errors.length === 1, 5000, 'giving up');
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(errors[0]).toBeInstanceOf(SocketError);
    expect((errors[0] as SocketError).syscallCode).toBe('ECONNREFUSED');
    expect(c.finishedReading).toBe(true);
    await delay(100);
    expect(retries).toHaveLength(3);

    // The client is idle, not closed: connect() may be called again.
    await echoServer(resources, {}, first.port);
    await c.connect();
    expect(c.connected).toBe(true);
  });
});

describe('connect() with reconnect on', () => {
  test('keeps trying and resolves once the server appears', async () => {
    const port = await releasedPort();
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 10, maxDelay: 40 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    let settled = false;
    const connecting = c.connect().finally(() => (settled = true));
    await waitUntil(() => retries.length >= 2, 5000, 'retries');
    expect(settled).toBe(false);
    await echoServer(resources, {}, port);
    await connecting;
    expect(c.connected).toBe(true);
  });

  test('rejects with the last failure after maxAttempts retries', async () => {
    const port = await releasedPort();
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 5, maxAttempts: 3 } });
    const retries: ReconnectingInfo[] = [];
    const errors: SockframeError[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    c.on('error', (err) => errors.push(err));
    const err = (await c.connect().catch((e: unknown) => e)) as SocketError;
    expect(err).toBeInstanceOf(SocketError);
    expect(err.syscallCode).toBe('ECONNREFUSED');
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(errors).toEqual([]);
  });

  test('connect timeouts are retried like any other failure', async () => {
    const port = await unansweredPort(resources);
    const c = client({
      port,
      host: '127.0.0.1',
      connectTimeout: 100,
      reconnect: { initialDelay: 5, maxAttempts: 2 },
    });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    await expect(c.connect()).rejects.toBeInstanceOf(ConnectTimeoutError);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
  });

  test('rejects with ERR_CONNECT_ABORTED when close() is called between attempts', async () => {
    const port = await releasedPort();
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 50, jitter: 0 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    const connecting = c.connect();
    await waitUntil(() => retries.length === 1, 5000, 'the first retry');
    await c.close();
    await expect(connecting).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
    await delay(200);
    expect(retries).toHaveLength(1);
  });

  test('a connect() made while reconnecting waits for that attempt, and its own signal ends only its wait', async () => {
    const { server, port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 50, jitter: 0 } });
    await c.connect();
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    await server.close({ timeout: 100 });
    await waitUntil(() => retries.length >= 2, 5000, 'the client to be reconnecting');

    const controller = new AbortController();
    const impatient = c.connect({ signal: controller.signal });
    const patient = c.connect();
    controller.abort('given up');
    await expect(impatient).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });

    // The reconnecting goes on, and the patient caller is connected once a server is back.
    const back = await echoServer(resources, {}, port);
    await patient;
    expect(c.connected).toBe(true);
    expect(back.server.connections.size).toBe(1);
  });

  test('an AbortSignal stops the retries', async () => {
    const port = await releasedPort();
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 30, jitter: 0 } });
    const retries: ReconnectingInfo[] = [];
    c.on('reconnecting', (info) => retries.push(info));
    const controller = new AbortController();
    const connecting = c.connect({ signal: controller.signal });
    await waitUntil(() => retries.length === 2, 5000, 'two retries');
    controller.abort();
    await expect(connecting).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
    const { server } = await echoServer(resources, {}, port);
    let connections = 0;
    server.on('connect', () => connections++);
    await delay(200);
    expect(retries).toHaveLength(2);
    expect(connections).toBe(0);
  });
});
