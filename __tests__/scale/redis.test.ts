/**
 * RedisAdapter across real processes: two server instances, each in a process of its own with its
 * own ioredis connections, a raw client on each, and a redis-server of the test's own that is
 * stopped and started again in the middle.
 */
import { join } from 'node:path';
import { RawClient, Resources, delay, frame } from '../helpers/net';
import {
  FIXTURES,
  LineProcess,
  NO_REDIS_REASON,
  REDIS_SERVER,
  RedisProcess,
  buildLibrary,
  event,
  record,
} from './support';

const resources = new Resources();
let library: { dist: string; remove(): Promise<void> } | undefined;
let redis: RedisProcess;

interface Instance {
  process: LineProcess;
  client: RawClient;
  broadcast(payload: Buffer): Promise<number>;
}

async function startInstance(channel: string): Promise<Instance> {
  const child = resources.add(
    new LineProcess(join(FIXTURES, 'redis-instance.js'), [], {
      SOCKFRAME_DIST: (library as { dist: string }).dist,
      REDIS_PORT: String(redis.port),
      CHANNEL: channel,
    }),
    (p) => p.stop(),
  );
  const listening = await child.next(event('listening'), 10_000, 'the instance to listen');
  const client = await RawClient.connect({ port: listening['port'] as number, host: '127.0.0.1' });
  resources.socket(client.socket);
  await child.next(event('connect'), 5000, 'the connection to be accepted');
  let broadcasts = 0;
  return {
    process: child,
    client,
    async broadcast(payload) {
      const before = child.all(event('sent')).length;
      broadcasts++;
      child.send({ cmd: 'broadcast', data: payload.toString('base64') });
      await waitForCount(child, event('sent'), before + 1);
      return child.all(event('sent'))[broadcasts - 1]?.['count'] as number;
    },
  };
}

async function waitForCount(
  child: LineProcess,
  match: (line: Record<string, unknown>) => boolean,
  count: number,
  timeoutMs = 8000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (child.all(match).length < count) {
    if (Date.now() > deadline) throw new Error(`timed out; stderr: ${child.errorOutput.slice(-1000)}`);
    await delay(10);
  }
}

const channel = (): string => `scale-${process.pid}-${Math.random().toString(36).slice(2)}`;
const bytes = (label: string): Buffer =>
  Buffer.concat([Buffer.from(label), Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i))]);

if (REDIS_SERVER === undefined) {
  test.skip(`RedisAdapter across processes (${NO_REDIS_REASON})`, () => {});
  console.warn(`${__filename}: ${NO_REDIS_REASON}`);
} else {
  beforeAll(async () => {
    library = await buildLibrary();
  }, 60_000);

  afterAll(async () => {
    await library?.remove();
  });

  beforeEach(async () => {
    redis = await RedisProcess.start();
    resources.add(redis, (r) => r.stop());
  });

  afterEach(async () => {
    await resources.closeAll();
  });

  test('a broadcast from either instance reaches a client on each, exactly once, bytes intact', async () => {
    const shared = channel();
    const [a, b] = await Promise.all([startInstance(shared), startInstance(shared)]);

    expect(await a.broadcast(bytes('from a'))).toBe(1); // the local count
    await Promise.all([a.client.waitForMessages(1), b.client.waitForMessages(1)]);
    expect(await b.broadcast(bytes('from b'))).toBe(1);
    await Promise.all([a.client.waitForMessages(2), b.client.waitForMessages(2)]);
    await delay(150); // a duplicate would arrive in this time

    for (const instance of [a, b]) {
      expect(instance.client.messages.map((m) => Buffer.from(m))).toEqual([bytes('from a'), bytes('from b')]);
      expect(instance.process.all(event('error'))).toEqual([]);
      expect(
        instance.process
          .all(record('adapter connected'))
          .map((r) => r['role'])
          .sort(),
      ).toEqual(['publisher', 'subscriber']);
    }
    // Another channel on the same Redis hears nothing of it.
    const other = await startInstance(channel());
    await a.broadcast(Buffer.from('not for other channels'));
    await a.client.waitForMessages(3);
    await delay(100);
    expect(other.client.messages).toEqual([]);

    for (const instance of [a, b, other]) {
      expect(await instance.process.stop()).toBe(0);
      expect(instance.process.all(event('closed'))).toHaveLength(1);
    }
  }, 25_000);

  test('Redis restarts: local connections served throughout, ERR_ADAPTER_UNAVAILABLE while down, everyone after', async () => {
    const shared = channel();
    const [a, b] = await Promise.all([startInstance(shared), startInstance(shared)]);
    await a.broadcast(Buffer.from('before'));
    await Promise.all([a.client.waitForMessages(1), b.client.waitForMessages(1)]);

    await redis.stop();
    for (const instance of [a, b]) {
      await instance.process.next(record('adapter connection lost', 'publisher'), 8000, 'the loss');
      await instance.process.next(record('adapter connection lost', 'subscriber'), 8000, 'the loss');
    }

    // Down: a's broadcast reaches a's client and is reported, b keeps echoing its own client.
    expect(await a.broadcast(Buffer.from('while down'))).toBe(1);
    await a.client.waitForMessages(2);
    const unavailable = await a.process.next(
      event(
        'error',
        (line) => line['code'] === 'ERR_ADAPTER_UNAVAILABLE' && /publisher/.test(String(line['message'])),
      ),
      5000,
      'ERR_ADAPTER_UNAVAILABLE',
    );
    expect(unavailable['message']).toMatch(/reached this instance's connections only/);
    b.client.write(frame('echo while down'));
    await b.client.waitForMessages(2);
    expect(String(b.client.messages[1])).toBe('echo while down');
    // The lost subscription was reported once by each.
    for (const instance of [a, b]) {
      expect(
        instance.process.all(
          event(
            'error',
            (line) =>
              line['code'] === 'ERR_ADAPTER_UNAVAILABLE' && /subscription/.test(String(line['message'])),
          ),
        ),
      ).toHaveLength(1);
    }

    await redis.launch();
    for (const instance of [a, b]) {
      await instance.process.next(record('adapter recovered', 'publisher'), 10_000, 'the publisher back');
      await instance.process.next(record('adapter recovered', 'subscriber'), 10_000, 'the subscription back');
    }
    await a.broadcast(Buffer.from('after, from a'));
    await b.broadcast(Buffer.from('after, from b'));
    await Promise.all([a.client.waitForMessages(4), b.client.waitForMessages(4)]);
    await delay(150);

    expect(a.client.messages.map(String)).toEqual(['before', 'while down', 'after, from a', 'after, from b']);
    expect(b.client.messages.map(String)).toEqual([
      'before',
      'echo while down',
      'after, from a',
      'after, from b',
    ]);
    const recovered = a.process.all(record('adapter recovered'));
    expect(recovered.every((r) => typeof r['downMs'] === 'number' && r['level'] === 30)).toBe(true);
    expect(a.process.all(record('adapter connection lost')).every((r) => r['level'] === 40)).toBe(true);

    for (const instance of [a, b]) expect(await instance.process.stop()).toBe(0);
  }, 30_000);
}
