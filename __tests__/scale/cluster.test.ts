/**
 * NodeClusterAdapter across real processes: a node:cluster primary with two workers on one port,
 * a raw client on each worker, broadcasts from one worker reaching the clients of both.
 */
import { join } from 'node:path';
import { RawClient, Resources, delay, frame } from '../helpers/net';
import { FIXTURES, LineProcess, buildLibrary, event, freePort } from './support';

const resources = new Resources();
let library: { dist: string; remove(): Promise<void> };

beforeAll(async () => {
  library = await buildLibrary();
}, 60_000);

afterAll(async () => {
  await library?.remove();
});

afterEach(async () => {
  await resources.closeAll();
});

/** Connects raw clients until each worker holds one; returns them by worker. */
async function clientOnEachWorker(port: number, workers: number): Promise<Map<string, RawClient>> {
  const byWorker = new Map<string, RawClient>();
  for (let attempt = 0; byWorker.size < workers && attempt < 20; attempt++) {
    const client = await RawClient.connect({ port, host: '127.0.0.1' });
    resources.socket(client.socket);
    client.write(frame('whoami'));
    const [who] = await client.waitForMessages(1);
    const name = String(who);
    if (byWorker.has(name)) client.socket.destroy();
    else byWorker.set(name, client);
  }
  return byWorker;
}

test('a broadcast from either worker reaches the clients of both, and a second server of each worker, exactly once', async () => {
  const quietPort = await freePort();
  const primary = resources.add(
    new LineProcess(join(FIXTURES, 'cluster-primary.js'), [], {
      SOCKFRAME_DIST: library.dist,
      WORKERS: '2',
      QUIET_PORT: String(quietPort),
    }),
    (p) => p.stop(),
  );
  const listening = await primary.next(event('listening'), 10_000, 'the workers to listen');
  expect(listening['ports']).toEqual([listening['port'], listening['port']]);
  expect(listening['quietPorts']).toEqual([quietPort, quietPort]);
  // On whichever worker it lands, one of the two broadcasts comes from the other server of that
  // worker (shared in the process), the other one through the primary.
  const quiet = await RawClient.connect({ port: quietPort, host: '127.0.0.1' });
  resources.socket(quiet.socket);
  quiet.write(frame('whoami'));
  await quiet.waitForMessages(1);
  const clients = await clientOnEachWorker(listening['port'] as number, 2);
  expect([...clients.keys()].sort()).toEqual(['worker 1', 'worker 2']);
  const one = clients.get('worker 1') as RawClient;
  const two = clients.get('worker 2') as RawClient;

  // Binary-safe through the primary: every byte value.
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  one.write(frame(Buffer.concat([Buffer.from('broadcast '), bytes])));
  await Promise.all([one.waitForMessages(2), two.waitForMessages(2), quiet.waitForMessages(2)]);
  two.write(frame('broadcast from worker 2'));
  await Promise.all([one.waitForMessages(3), two.waitForMessages(3), quiet.waitForMessages(3)]);
  await delay(150); // a duplicate would arrive in this time

  for (const client of [one, two, quiet]) {
    expect(client.messages.slice(1).map((m) => Buffer.from(m))).toEqual([
      bytes,
      Buffer.from('from worker 2'),
    ]);
  }
  expect(primary.all(event('error'))).toEqual([]);

  expect(await primary.stop()).toBe(0);
  const stopped = await primary.next(event('stopped'));
  expect(stopped['relayed']).toBe(2);
}, 20_000);
