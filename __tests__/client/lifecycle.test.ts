import {
  ConnectAbortedError,
  TcpClient,
  TcpServer,
  TlsClient,
  TlsServer,
  TlsVerificationError,
  type SockframeError,
} from 'sockframe';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { delay, Resources, waitUntil } from '../helpers/net';
import { echoServer, releasedPort, tlsCert, tlsKey } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof TcpClient>[0]): TcpClient {
  return resources.add(new TcpClient(options), (c) => c.close());
}

/** An echo server that counts the connections it accepted. */
async function countingServer(): Promise<{ server: TcpServer; port: number; accepted: () => number }> {
  const { server, port } = await echoServer(resources);
  let accepted = 0;
  server.on('connect', () => accepted++);
  return { server, port, accepted: () => accepted };
}

describe('close() ends reconnecting for good, from anywhere', () => {
  const reconnect = { initialDelay: 20, maxDelay: 20, jitter: 0 };

  test('closed from its own close listener, a dropped client never connects again', async () => {
    const { server, port, accepted } = await countingServer();
    const c = client({ port, host: '127.0.0.1', reconnect });
    await c.connect();
    await waitUntil(() => accepted() === 1);
    const reconnecting: number[] = [];
    c.on('reconnecting', ({ attempt }) => reconnecting.push(attempt));
    let closed: Promise<void> | undefined;
    c.on('close', () => {
      closed ??= c.close();
    });
    for (const conn of server.connections.values()) conn.destroy();
    await waitUntil(() => closed !== undefined);
    await closed;
    await delay(200); // ten backoff delays
    expect(reconnecting).toEqual([]);
    expect(accepted()).toBe(1);
    expect(c.connected).toBe(false);
    await expect(c.connect()).rejects.toBeInstanceOf(ConnectAbortedError);
  });

  test('closed from a reconnecting listener, no attempt is made and the iterator ends', async () => {
    const { server, port, accepted } = await countingServer();
    const c = client({ port, host: '127.0.0.1', reconnect });
    await c.connect();
    await waitUntil(() => accepted() === 1);
    const iterator = c.messages();
    const pending = iterator.next();
    let closed: Promise<void> | undefined;
    c.on('reconnecting', () => {
      closed ??= c.close();
    });
    for (const conn of server.connections.values()) conn.destroy();
    await waitUntil(() => closed !== undefined);
    await closed;
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    await delay(200);
    expect(accepted()).toBe(1);
  });

  test('a connect() retrying a refused port rejects at once when closed from a reconnecting listener', async () => {
    const port = await releasedPort();
    // A backoff far longer than the test: only an immediate cancel lets connect() settle in time.
    const c = client({ port, host: '127.0.0.1', reconnect: { initialDelay: 60_000, jitter: 0 } });
    c.on('reconnecting', () => void c.close());
    const started = Date.now();
    await expect(c.connect()).rejects.toBeInstanceOf(ConnectAbortedError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('many clients closed from their close listeners during a fan-out drop: none comes back', async () => {
    const { server, port, accepted } = await countingServer();
    const clients = Array.from({ length: 20 }, () => client({ port, host: '127.0.0.1', reconnect }));
    await Promise.all(clients.map((c) => c.connect()));
    await waitUntil(() => accepted() === clients.length);
    const closing: Promise<void>[] = [];
    for (const c of clients) c.on('close', () => closing.push(c.close()));
    for (const conn of server.connections.values()) conn.destroy();
    await waitUntil(() => closing.length === clients.length);
    await Promise.all(closing);
    await delay(200);
    expect(accepted()).toBe(clients.length);
    expect(server.connections.size).toBe(0);
  });
});

describe('messages() with several next() calls in flight', () => {
  test('each waiting next() gets the next message, in order', async () => {
    const { port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    await c.connect();
    const iterator = c.messages();
    const waiting = [iterator.next(), iterator.next(), iterator.next()];
    c.send('a');
    c.send('b');
    c.send('c');
    const results = await Promise.all(waiting);
    expect(results.map((r) => (r.done === true ? 'done' : r.value.toString()))).toEqual(['a', 'b', 'c']);
  });

  test('next() calls still waiting when close() is called resolve done', async () => {
    const { port } = await echoServer(resources);
    const c = client({ port, host: '127.0.0.1' });
    await c.connect();
    const iterator = c.messages();
    const first = iterator.next();
    const second = iterator.next();
    await c.close();
    await expect(Promise.all([first, second])).resolves.toEqual([
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  });
});

const fixtures = join(__dirname, '..', 'fixtures');
const expiredKey = readFileSync(join(fixtures, 'test-only-expired.key.pem'));
const expiredCert = readFileSync(join(fixtures, 'test-only-expired.cert.pem'));

describe('a TLS certificate the client refuses is not retried', () => {
  async function tlsServer(key: Buffer, cert: Buffer): Promise<{ port: number; handshakes: () => number }> {
    const server = resources.add(new TlsServer({ key, cert }), (s) => s.close({ timeout: 500 }));
    let handshakes = 0;
    server.on('error', () => handshakes++);
    server.on('connect', () => handshakes++);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    return { port, handshakes: () => handshakes };
  }

  test.each([
    ['self-signed, no ca', {}, 'DEPTH_ZERO_SELF_SIGNED_CERT', false],
    ['another name', { ca: tlsCert, servername: 'wrong.example' }, 'ERR_TLS_CERT_ALTNAME_INVALID', false],
    ['expired', { ca: expiredCert, servername: 'localhost' }, 'CERT_HAS_EXPIRED', true],
  ])('%s: connect() rejects at once, error names the code', async (_name, tls, verifyCode, expired) => {
    const { port, handshakes } = expired
      ? await tlsServer(expiredKey, expiredCert)
      : await tlsServer(tlsKey, tlsCert);
    const c = resources.add(
      new TlsClient({ port, host: '127.0.0.1', reconnect: { initialDelay: 10, jitter: 0 }, ...tls }),
      (x) => x.close(),
    );
    const errors: SockframeError[] = [];
    c.on('error', (err) => errors.push(err));
    let retries = 0;
    c.on('reconnecting', () => retries++);
    const rejected = await c.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(rejected).toBeInstanceOf(TlsVerificationError);
    expect(rejected).toMatchObject({ code: 'ERR_TLS_VERIFICATION', verifyCode });
    expect(errors).toEqual([rejected]);
    await delay(100);
    expect(retries).toBe(0);
    expect(handshakes()).toBe(1);
  });
});
