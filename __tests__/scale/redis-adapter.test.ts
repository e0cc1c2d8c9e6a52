/**
 * RedisAdapter in one process, against a redis-server of the test's own: the envelope, messages
 * that are not broadcasts, shared subscriber connections, a Redis that is not there at start, and
 * the checks of its options.
 */
import Redis, { type RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { AdapterMessageError, AdapterUnavailableError, TcpServer, type SockframeError } from 'sockframe';
import { RedisAdapter, type RedisAdapterOptions } from '../../src/adapters/redis';
import { RawClient, Resources, delay, recordingLogger, waitUntil } from '../helpers/net';
import { NO_REDIS_REASON, REDIS_SERVER, RedisProcess, freePort } from './support';

const resources = new Resources();
let redis: RedisProcess;

/** An ioredis client on the test's Redis, quit (or disconnected) afterwards. */
function client(port = redis.port, options: RedisOptions = {}): Redis {
  const created = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50, ...options });
  created.on('error', () => {}); // connection refusals while Redis is away
  return resources.add(created, (c) => (c.status === 'ready' ? c.quit() : c.disconnect()));
}

function pair(port = redis.port): Pick<RedisAdapterOptions, 'publisher' | 'subscriber'> {
  return { publisher: client(port, { enableOfflineQueue: false }), subscriber: client(port) };
}

async function serve(adapter: RedisAdapter, logger = recordingLogger('info').logger) {
  const server = resources.add(new TcpServer({ adapter, logger }), (s) => s.close({ timeout: 300 }));
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const connected = new Promise((resolve) => server.once('connect', resolve));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const raw = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(raw.socket);
  await connected;
  return { server, raw, errors };
}

const channel = (): string => `adapter-${process.pid}-${randomBytes(4).toString('hex')}`;

if (REDIS_SERVER === undefined) {
  test.skip(`RedisAdapter in one process (${NO_REDIS_REASON})`, () => {});
  console.warn(`${__filename}: ${NO_REDIS_REASON}`);
} else {
  beforeEach(async () => {
    redis = await RedisProcess.start();
    resources.add(redis, (r) => r.stop());
  });

  afterEach(async () => {
    await resources.closeAll();
  });

  test('a 1 MiB random payload crosses intact; the sender does not get its own back', async () => {
    const shared = channel();
    const a = await serve(new RedisAdapter({ ...pair(), channel: shared }));
    const b = await serve(new RedisAdapter({ ...pair(), channel: shared }));
    const payload = randomBytes(1 << 20);
    expect(a.server.broadcast(payload)).toBe(1);
    await Promise.all([a.raw.waitForMessages(1), b.raw.waitForMessages(1)]);
    await delay(100);
    expect(a.raw.messages).toHaveLength(1);
    expect(b.raw.messages).toHaveLength(1);
    expect(Buffer.compare(b.raw.messages[0] as Buffer, payload)).toBe(0);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  test('a message on the channel that is not a broadcast is ERR_ADAPTER_MESSAGE, and nothing is sent', async () => {
    const shared = channel();
    const { raw, errors } = await serve(new RedisAdapter({ ...pair(), channel: shared }));
    const outsider = client();
    await outsider.publish(shared, 'hello from someone else');
    await outsider.publish(shared, Buffer.from([0x73, 0x66, 2, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9])); // another version
    await waitUntil(() => errors.length === 2, 3000, 'two errors');
    expect(errors[0]).toBeInstanceOf(AdapterMessageError);
    expect(errors[0]?.message).toBe(
      `A message of 23 bytes on the Redis channel "${shared}" is not a sockframe broadcast; it was ignored.`,
    );
    expect(raw.messages).toEqual([]);
  });

  test('two servers on one subscriber connection: both receive, and closing one keeps the other subscribed', async () => {
    const shared = channel();
    const subscriber = client();
    const first = await serve(new RedisAdapter({ publisher: client(), subscriber, channel: shared }));
    const second = await serve(new RedisAdapter({ publisher: client(), subscriber, channel: shared }));
    const third = await serve(new RedisAdapter({ ...pair(), channel: shared }));

    third.server.broadcast('to both');
    await Promise.all([first.raw.waitForMessages(1), second.raw.waitForMessages(1)]);
    await first.server.close({ timeout: 300 });
    third.server.broadcast('to the one left');
    await second.raw.waitForMessages(2);
    expect(second.raw.messages.map(String)).toEqual(['to both', 'to the one left']);
    expect(await client().pubsub('NUMSUB', shared)).toEqual([shared, 2]);
  });

  test('Redis absent at start: listen() resolves after attachTimeout with ERR_ADAPTER_UNAVAILABLE, and the adapter joins when it appears', async () => {
    const port = await freePort();
    const { logger, records } = recordingLogger('info');
    const shared = channel();
    const late = await serve(
      new RedisAdapter({ ...pair(port), channel: shared, attachTimeout: 200 }),
      logger,
    );
    expect(late.errors.map((e) => e.code)).toEqual(['ERR_ADAPTER_UNAVAILABLE']);
    expect(late.errors[0]?.message).toMatch(
      /not reachable within 200 ms \(publisher and subscriber not ready\)/,
    );
    expect(late.server.broadcast('alone')).toBe(1); // served here, reported for the others
    await late.raw.waitForMessages(1);
    await waitUntil(() => late.errors.length === 2, 2000, 'the failed publish');
    expect(late.errors[1]).toBeInstanceOf(AdapterUnavailableError);

    const second = new RedisProcess(port);
    resources.add(second, (r) => r.stop());
    await second.launch();
    await waitUntil(
      () => records.filter((r) => r['msg'] === 'adapter connected').length === 2,
      5000,
      'both connections',
    );
    const other = await serve(new RedisAdapter({ ...pair(port), channel: shared }));
    other.server.broadcast('now everyone');
    await late.raw.waitForMessages(2);
    expect(late.raw.messages.map(String)).toEqual(['alone', 'now everyone']);
    expect(records.map((r) => r['msg'])).toEqual(
      expect.arrayContaining([
        'adapter waiting for Redis',
        'adapter not connected; serving this instance only',
      ]),
    );
  });

  test('options are checked', () => {
    const publisher = client();
    expect(() => new RedisAdapter({ publisher, subscriber: publisher })).toThrow(
      'The publisher and the subscriber must be two ioredis clients: a subscribed connection cannot publish.',
    );
    expect(() => new RedisAdapter({ publisher, subscriber: {} as Redis })).toThrow(
      'The "subscriber" option must be an ioredis client; got an object.',
    );
    expect(() => new RedisAdapter(undefined as unknown as RedisAdapterOptions)).toThrow(TypeError);
    expect(() => new RedisAdapter({ ...pair(), channel: '' })).toThrow(
      'The "channel" option must be a non-empty string; got "".',
    );
    const adapter = new RedisAdapter({ ...pair() });
    expect(adapter.channel).toBe('sockframe');
    expect(adapter.instanceId).toMatch(/^[0-9a-f]{16}$/);
  });
}
