/**
 * RedisAdapter against a Redis that hangs with its connections open (redis-server stopped by
 * SIGSTOP): every wait of the adapter ends at its own timeout.
 */
import Redis, { type RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { TcpServer, type SockframeError } from 'sockframe';
import { RedisAdapter, type RedisAdapterOptions } from '../../src/adapters/redis';
import { RawClient, Resources, delay, waitUntil } from '../helpers/net';
import { NO_REDIS_REASON, REDIS_SERVER, RedisProcess } from './support';

const resources = new Resources();
let redis: RedisProcess;

function client(options: RedisOptions = {}): Redis {
  const created = new Redis({ port: redis.port, host: '127.0.0.1', retryStrategy: () => 50, ...options });
  created.on('error', () => {});
  // disconnect(), not quit(): a quit would wait for the hung Redis.
  return resources.add(created, (c) => c.disconnect());
}

async function readyPair(): Promise<Pick<RedisAdapterOptions, 'publisher' | 'subscriber'>> {
  const publisher = client({ enableOfflineQueue: false });
  const subscriber = client();
  await waitUntil(() => publisher.status === 'ready' && subscriber.status === 'ready', 5000, 'ready clients');
  return { publisher, subscriber };
}

function server(adapter: RedisAdapter): { server: TcpServer; errors: SockframeError[] } {
  const s = resources.add(new TcpServer({ adapter }), (x) => x.close({ timeout: 300 }));
  const errors: SockframeError[] = [];
  s.on('error', (err) => errors.push(err));
  return { server: s, errors };
}

/** Resolves with how long `promise` took, or rejects when it takes longer than `ms`. */
async function within(ms: number, promise: Promise<unknown>, what: string): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

const channel = (): string => `hung-${process.pid}-${randomBytes(4).toString('hex')}`;

if (REDIS_SERVER === undefined) {
  test.skip(`RedisAdapter with a hung Redis (${NO_REDIS_REASON})`, () => {});
  console.warn(`${__filename}: ${NO_REDIS_REASON}`);
} else {
  beforeEach(async () => {
    redis = await RedisProcess.start();
    resources.add(redis, (r) => r.stop());
  });

  afterEach(async () => {
    redis.resume();
    await resources.closeAll();
  });

  test('listen() with clients already ready waits attachTimeout at most, and reports it', async () => {
    const pair = await readyPair();
    redis.pause();
    const { server: s, errors } = server(
      new RedisAdapter({ ...pair, channel: channel(), attachTimeout: 300 }),
    );
    await within(3000, s.listen({ port: 0, host: '127.0.0.1' }), 'listen()');
    expect(errors.map((e) => e.code)).toEqual(['ERR_ADAPTER_UNAVAILABLE']);
  });

  test('close({ timeout }) during a listen() waiting for a hung Redis resolves at once', async () => {
    const pair = await readyPair();
    redis.pause();
    const { server: s } = server(new RedisAdapter({ ...pair, channel: channel(), attachTimeout: 60_000 }));
    const listening = s.listen({ port: 0, host: '127.0.0.1' }).catch((err: unknown) => err);
    await delay(50);
    await within(3000, s.close({ timeout: 300 }), 'close()');
    await listening;
  });

  test('broadcasts while Redis hangs: reported within publishTimeout, then kept here, none queued', async () => {
    const shared = channel();
    const a = server(new RedisAdapter({ ...(await readyPair()), channel: shared, publishTimeout: 200 }));
    const b = server(new RedisAdapter({ ...(await readyPair()), channel: shared, publishTimeout: 200 }));
    const { port: portA } = await a.server.listen({ port: 0, host: '127.0.0.1' });
    const { port: portB } = await b.server.listen({ port: 0, host: '127.0.0.1' });
    resources.socket((await RawClient.connect({ port: portA, host: '127.0.0.1' })).socket);
    const readerB = await RawClient.connect({ port: portB, host: '127.0.0.1' });
    resources.socket(readerB.socket);
    await waitUntil(() => a.server.connections.size === 1 && b.server.connections.size === 1);
    a.server.broadcast('before');
    await readerB.waitForMessages(1);

    redis.pause();
    // A fan-out in one tick, then more after the stall is noticed.
    for (let i = 0; i < 5; i++) a.server.broadcast(`in flight ${i}`);
    await within(
      2000,
      waitUntil(() => a.errors.length >= 1, 2000, 'the stall report'),
      'the stall report',
    );
    expect(a.errors[0]).toMatchObject({ code: 'ERR_ADAPTER_UNAVAILABLE' });
    expect(a.errors[0]?.message).toMatch(/not answered 5 PUBLISH/);
    for (let i = 0; i < 3; i++) a.server.broadcast(`while hung ${i}`);
    expect(a.errors.map((e) => e.code)).toEqual(Array(4).fill('ERR_ADAPTER_UNAVAILABLE'));

    redis.resume();
    // Only what was already written to the hung connection can still arrive; nothing sent later.
    await readerB.waitForMessages(6);
    await delay(300);
    expect(readerB.messages.map(String)).toEqual(['before', ...[0, 1, 2, 3, 4].map((i) => `in flight ${i}`)]);
    // Answered again: broadcasts reach the others once more.
    a.server.broadcast('after');
    await readerB.waitForMessages(7);
    expect(readerB.messages.map(String).at(-1)).toBe('after');
  });
}

test('RedisAdapter refuses unknown option keys', () => {
  const fake = { on() {}, off() {}, status: 'wait', publish: () => Promise.resolve(0) };
  const sub = {
    on() {},
    off() {},
    status: 'wait',
    subscribe: () => Promise.resolve(0),
    unsubscribe: () => Promise.resolve(0),
  };
  expect(() => new RedisAdapter({ publisher: fake, subscriber: sub, publishTimout: 5 } as never)).toThrow(
    /"publishTimout".*did you mean "publishTimeout"/,
  );
});
