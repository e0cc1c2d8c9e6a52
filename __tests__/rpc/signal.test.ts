// A handler's `signal` is made when the handler first reads it: a cancellation or a lost
// connection before that still shows on it. Handlers that answer at once are answered without a
// promise, also when they come out of the queue one after another.
import { delimited, jsonRpc, TcpServer, type SockframeError } from 'sockframe';
import { delay, Resources, waitUntil } from '../helpers/net';
import { LinePeer } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

interface Api {
  late(p: { ms: number }): string;
  now(p: { n: number }): number;
  block(): string;
}

async function start(options: Parameters<typeof jsonRpc>[0] = {}) {
  const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc<Api>(options) }), (s) =>
    s.close({ timeout: 500 }),
  );
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const seen: { aborted: boolean; reason: unknown }[] = [];
  let unblock: () => void = () => {};
  server.handle('late', async ({ ms }, context) => {
    await delay(ms);
    // The first look at the signal, after the cancellation (or the loss) arrived.
    const { signal } = context;
    seen.push({ aborted: signal.aborted, reason: signal.reason });
    if (signal.aborted) throw new Error('stopped');
    return 'finished';
  });
  server.handle('now', ({ n }) => n + 1);
  server.handle('block', () => new Promise<string>((resolve) => (unblock = () => resolve('unblocked'))));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const peer = await LinePeer.open(resources, port);
  return { server, peer, errors, seen, unblock: () => unblock() };
}

test('a cancellation before the handler reads its signal shows on it, and is answered -32800', async () => {
  const { peer, seen, errors } = await start();
  peer.send({ jsonrpc: '2.0', id: 1, method: 'late', params: { ms: 50 } });
  await delay(10);
  peer.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
  expect(await peer.response(1)).toEqual({
    jsonrpc: '2.0',
    id: 1,
    error: { code: -32800, message: 'Request cancelled' },
  });
  expect(seen).toHaveLength(1);
  expect(seen[0]?.aborted).toBe(true);
  expect(seen[0]?.reason).toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
  expect(errors).toEqual([]);
});

test('a handler that never reads its signal and is not cancelled answers as usual', async () => {
  const { peer, seen } = await start();
  peer.send({ jsonrpc: '2.0', id: 'a', method: 'late', params: { ms: 5 } });
  expect(await peer.response('a')).toEqual({ jsonrpc: '2.0', id: 'a', result: 'finished' });
  expect(seen).toEqual([{ aborted: false, reason: undefined }]);
});

test('a lost connection before the handler reads its signal shows on it', async () => {
  const { peer, seen } = await start();
  peer.send({ jsonrpc: '2.0', id: 2, method: 'late', params: { ms: 60 } });
  await delay(15);
  // A reset, not an end: after a peer's end the calls in flight still finish and are answered.
  peer.socket.resetAndDestroy();
  await waitUntil(() => seen.length === 1, 3000, 'the handler to look');
  expect(seen[0]?.aborted).toBe(true);
  expect(seen[0]?.reason).toMatchObject({ code: 'ERR_CONNECTION_LOST' });
});

test('a thousand calls answered at once, queued behind a slow one, are answered in order', async () => {
  const { peer, unblock, errors } = await start({ maxConcurrentCalls: 1, maxQueuedCalls: 1024 });
  peer.send({ jsonrpc: '2.0', id: 0, method: 'block' });
  const count = 1000;
  let batch = '';
  for (let i = 1; i <= count; i++)
    batch += `${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'now', params: { n: i } })}\n`;
  peer.socket.write(batch);
  await delay(50);
  // Nothing of the queue ran while the slot was held.
  expect(peer.received).toEqual([]);
  unblock();
  await peer.response(count);
  const ids = peer.received.map((m) => (m as { id: number }).id);
  expect(ids).toEqual(Array.from({ length: count + 1 }, (_, i) => i));
  peer.received.slice(1).forEach((m, i) => expect(m).toEqual({ jsonrpc: '2.0', id: i + 1, result: i + 2 }));
  expect(errors).toEqual([]);
});
