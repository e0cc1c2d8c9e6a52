/**
 * sockframe:adapter:up and sockframe:adapter:down: a NodeClusterAdapter in a real cluster worker,
 * and a RedisAdapter against a redis-server of the test's own that is stopped and started again.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { TcpServer, type AdapterChannelMessage } from 'sockframe';
import { RedisAdapter } from '../../src/adapters/redis';
import { Resources, waitUntil } from '../helpers/net';
import {
  FIXTURES,
  LineProcess,
  NO_REDIS_REASON,
  REDIS_SERVER,
  RedisProcess,
  buildLibrary,
  event,
} from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('cluster: up once attached, down on close and when the primary goes away', async () => {
  const library = await buildLibrary();
  resources.add(library, (l) => l.remove());
  const primary = resources.add(
    new LineProcess(join(FIXTURES, 'cluster-channels.js'), [], { SOCKFRAME_DIST: library.dist }),
    (p) => p.stop(),
  );
  await primary.next(event('exited'), 15_000, 'the worker to finish');
  expect(await primary.stop()).toBe(0);
  expect(primary.all(event('done'))).toHaveLength(1);
  expect(primary.all(event('error'))).toEqual([{ event: 'error', code: 'ERR_ADAPTER_UNAVAILABLE' }]);
  const seen = primary.all(event('adapter')).map(({ kind, which, name, channel, reason }) => ({
    kind,
    which,
    name,
    channel,
    reason,
  }));
  const base = { name: 'cluster', channel: 'channels-test' };
  expect(seen).toEqual([
    { ...base, kind: 'up', which: 0 },
    { ...base, kind: 'down', which: 0, reason: 'closed' },
    { ...base, kind: 'up', which: 1 },
    { ...base, kind: 'down', which: 1, reason: 'lost' },
  ]);
  expect(primary.all(event('adapter')).map((line) => line['keys'])).toEqual([
    ['adapter', 'channel', 'name'],
    ['adapter', 'channel', 'name', 'reason'],
    ['adapter', 'channel', 'name'],
    ['adapter', 'channel', 'name', 'reason'],
  ]);
}, 60_000);

if (REDIS_SERVER === undefined) {
  test.skip(`RedisAdapter up and down (${NO_REDIS_REASON})`, () => {});
} else {
  test('redis: up when both connections are ready, down when one is lost, up again, down on close', async () => {
    const redis = resources.add(await RedisProcess.start(), (r) => r.stop());
    const client = (): Redis => {
      const created = new Redis({ port: redis.port, host: '127.0.0.1', retryStrategy: () => 50 });
      created.on('error', () => {});
      return resources.add(created, (c) => (c.status === 'ready' ? c.quit() : c.disconnect()));
    };
    const seen: { kind: string; message: AdapterChannelMessage }[] = [];
    for (const kind of ['up', 'down']) {
      const listener = (message: unknown): void =>
        void seen.push({ kind, message: message as AdapterChannelMessage });
      subscribe(`sockframe:adapter:${kind}`, listener);
      resources.add(listener, (l) => unsubscribe(`sockframe:adapter:${kind}`, l));
    }
    const channel = `channels-${randomBytes(4).toString('hex')}`;
    const adapter = new RedisAdapter({ publisher: client(), subscriber: client(), channel });
    const server = new TcpServer({ adapter });
    server.on('error', () => {});
    await server.listen({ port: 0, host: '127.0.0.1' });
    expect(seen.map((s) => s.kind)).toEqual(['up']);
    expect(seen[0]?.message).toMatchObject({ adapter, name: 'redis', channel });
    expect(['publisher', 'subscriber']).toContain(seen[0]?.message.role);

    await redis.stop();
    await waitUntil(() => seen.length === 2, 5000, 'down');
    expect(seen[1]).toMatchObject({
      kind: 'down',
      message: { adapter, name: 'redis', channel, reason: 'lost' },
    });
    expect(['publisher', 'subscriber']).toContain(seen[1]?.message.role);

    await redis.launch();
    await waitUntil(() => seen.length === 3, 10_000, 'up again');
    expect(seen[2]).toMatchObject({ kind: 'up', message: { adapter, name: 'redis', channel } });

    await server.close();
    expect(seen.map((s) => s.kind)).toEqual(['up', 'down', 'up', 'down']);
    expect(seen[3]?.message).toEqual({ adapter, name: 'redis', channel, reason: 'closed' });
  }, 30_000);
}
