// Call timeouts share one timer per connection, armed for the earliest deadline: each call still
// times out on its own deadline, whatever the order its timeouts were given in, and answered
// calls leave nothing behind.
import { delimited, jsonRpc, TcpServer, type SockframeError } from 'sockframe';
import { delay, Resources } from '../helpers/net';
import { rpcClient } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

interface Api {
  hang(p: { tag: string }): never;
  now(p: { n: number }): number;
}

async function start(callTimeout?: number) {
  const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc<Api>() }), (s) =>
    s.close({ timeout: 200 }),
  );
  const cancelled: string[] = [];
  // Never answers; records the cancellation ($/cancelRequest) the timeout sends.
  server.handle(
    'hang',
    ({ tag }, { signal }) =>
      new Promise<never>(() => signal.addEventListener('abort', () => cancelled.push(tag))),
  );
  server.handle('now', ({ n }) => n);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const errors: SockframeError[] = [];
  const rpc = jsonRpc<unknown, Api>(callTimeout === undefined ? {} : { callTimeout });
  const client = await rpcClient(resources, port, rpc, errors);
  return { client, cancelled, errors };
}

test('each call times out on its own deadline, in deadline order, whatever order they were made in', async () => {
  const { client, cancelled, errors } = await start();
  const began = performance.now();
  const order: string[] = [];
  const timings: Record<string, number> = {};
  const watch = (tag: string, timeout: number): Promise<unknown> =>
    client
      .call('hang', { tag }, { timeout })
      .catch((e: unknown) => e)
      .then((e) => {
        order.push(tag);
        timings[tag] = performance.now() - began;
        return e;
      });
  // A long one first, then shorter ones that must arm the timer earlier, then one in between.
  const calls = [watch('t300', 300), watch('t60', 60), watch('t20', 20), watch('t150', 150)];
  // Answered calls meanwhile change nothing.
  for (let i = 0; i < 20; i++) expect(await client.call('now', { n: i }, { timeout: 1000 })).toBe(i);
  const results = await Promise.all(calls);
  expect(order).toEqual(['t20', 't60', 't150', 't300']);
  for (const r of results) expect(r).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
  expect(results[0]).toMatchObject({ message: "No response to 'hang' within 300 ms" });
  for (const [tag, at] of Object.entries(timings)) {
    const timeout = Number(tag.slice(1));
    expect({ tag, early: at < timeout - 1 }).toEqual({ tag, early: false });
  }
  // Each was cancelled at the peer, once.
  await delay(20);
  expect(cancelled).toEqual(['t20', 't60', 't150', 't300']);
  expect(errors).toEqual([]);
});

test('the default callTimeout applies, and calls made after the timer fired still time out', async () => {
  const { client } = await start(40);
  await expect(client.call('hang', { tag: 'a' })).rejects.toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
  expect(await client.call('now', { n: 5 })).toBe(5);
  const started = performance.now();
  await expect(client.call('hang', { tag: 'b' })).rejects.toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
  expect(performance.now() - started).toBeGreaterThanOrEqual(39);
  // timeout 0 waits for ever: still pending well past the default.
  let settled = false;
  void client.call('hang', { tag: 'c' }, { timeout: 0 }).then(
    () => (settled = true),
    () => (settled = true),
  );
  await delay(120);
  expect(settled).toBe(false);
  expect(client.connection?.rpcPeer?.pendingCalls).toBe(1);
});
