/** The JSON-RPC tracing channels: subscribe, drive real sockets, check what was published and when. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { tracingChannel, type TracingChannelSubscribers } from 'node:diagnostics_channel';
import {
  delimited,
  jsonRpc,
  RpcError,
  TcpClient,
  TcpServer,
  type Connection,
  type RpcTraceContext,
} from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

type Side = 'call' | 'handle';
type Phase = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
interface Seen {
  side: Side;
  phase: Phase;
  context: RpcTraceContext;
  /** Whether `error` / `result` were set when this event was published. */
  hadError: boolean;
  hadResult: boolean;
}

const PHASES: readonly Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

/** Subscribes to both tracing channels; every event lands in `seen`, in publishing order. */
function record(): Seen[] {
  const seen: Seen[] = [];
  for (const side of ['call', 'handle'] as const) {
    const tracing = tracingChannel<unknown, RpcTraceContext>(`sockframe:rpc:${side}`);
    const handlers = {} as Record<Phase, (context: RpcTraceContext) => void>;
    for (const phase of PHASES) {
      handlers[phase] = (context) =>
        void seen.push({
          side,
          phase,
          context,
          hadError: 'error' in context,
          hadResult: 'result' in context,
        });
    }
    const subscribers = handlers as unknown as TracingChannelSubscribers<RpcTraceContext>;
    tracing.subscribe(subscribers);
    resources.add(subscribers, (s) => tracing.unsubscribe(s));
  }
  return seen;
}

async function start() {
  const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc() }), (s) =>
    s.close({ timeout: 500 }),
  );
  server.on('error', () => {});
  const serverConns: Connection[] = [];
  server.on('connect', (conn) => serverConns.push(conn));
  server.handle('add', (p) => (p as { a: number; b: number }).a + (p as { a: number; b: number }).b);
  server.handle('later', async (p) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return `later ${(p as { n: number }).n}`;
  });
  server.handle('plain', () => {
    throw new Error('internal detail');
  });
  server.handle('refuse', () => {
    throw new RpcError(-32042, 'refused', { why: 'test' });
  });
  server.handle('hang', (_p, { signal }) => {
    return new Promise((_resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('never aborted')), 10_000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      });
    });
  });
  const notes: unknown[] = [];
  server.handle('note', (p) => void notes.push(p));
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(
    new TcpClient({ port: address.port, host: '127.0.0.1', framing: delimited(), rpc: jsonRpc() }),
    (c) => c.close({ timeout: 500 }),
  );
  client.on('error', () => {});
  await client.connect();
  await waitUntil(() => serverConns.length === 1, 5000, 'accepted');
  return { server, client, serverConn: serverConns[0] as Connection, notes };
}

/** The phases of one side's events for the call with this id. */
function phases(seen: Seen[], side: Side, id: unknown): Phase[] {
  return seen.filter((s) => s.side === side && s.context.id === id).map((s) => s.phase);
}

const SYNC: Phase[] = ['start', 'end'];
const ASYNC: Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd'];
const ASYNC_FAILED: Phase[] = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

test('a call and its handler publish start, end, asyncStart, asyncEnd, error in order', async () => {
  const seen = record();
  const { client, serverConn } = await start();

  // A synchronous handler: the call is asynchronous, the handler is not.
  await expect(client.call('add', { a: 2, b: 3 })).resolves.toBe(5);
  expect(seen.map((s) => `${s.side}:${s.phase}`)).toEqual([
    'call:start',
    'call:end',
    'handle:start',
    'handle:end',
    'call:asyncStart',
    'call:asyncEnd',
  ]);
  const call = seen[0]?.context as RpcTraceContext;
  const handled = seen[2]?.context as RpcTraceContext;
  expect(call).toMatchObject({ method: 'add', params: { a: 2, b: 3 }, id: 1, result: 5 });
  expect(call.conn).toBe(client.connection);
  expect(handled).toMatchObject({ method: 'add', params: { a: 2, b: 3 }, id: 1, result: 5 });
  expect(handled.conn).toBe(serverConn);
  expect(handled.conn.remotePort).toBe(client.connection?.localPort);
  // The same object on every event of one call; the result only once it is known.
  expect(seen.filter((s) => s.side === 'call').every((s) => s.context === call)).toBe(true);
  expect(seen.filter((s) => s.side === 'call').map((s) => s.hadResult)).toEqual([false, false, true, true]);
  expect(seen.find((s) => s.side === 'handle' && s.phase === 'end')?.hadResult).toBe(true);
  expect(seen.some((s) => s.hadError)).toBe(false);

  seen.length = 0;
  await expect(client.call('later', { n: 7 })).resolves.toBe('later 7');
  expect(seen.map((s) => `${s.side}:${s.phase}`)).toEqual([
    'call:start',
    'call:end',
    'handle:start',
    'handle:end',
    'handle:asyncStart',
    'handle:asyncEnd',
    'call:asyncStart',
    'call:asyncEnd',
  ]);
  expect(phases(seen, 'handle', 2)).toEqual(ASYNC);
  expect(seen[3]?.hadResult).toBe(false); // the handler's end comes before its promise settles
  expect(seen[4]?.context.result).toBe('later 7');
});

test('failures: a handler that throws, an RpcError, a timeout, a cancelled call', async () => {
  const seen = record();
  const { client } = await start();

  await expect(client.call('plain')).rejects.toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32603 });
  expect(phases(seen, 'handle', 1)).toEqual(['start', 'error', 'end']);
  expect(phases(seen, 'call', 1)).toEqual(ASYNC_FAILED);
  const thrown = seen.find((s) => s.side === 'handle' && s.phase === 'error')?.context.error;
  expect((thrown as Error).message).toBe('internal detail');

  await expect(client.call('refuse')).rejects.toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32042 });
  expect(phases(seen, 'handle', 2)).toEqual(['start', 'error', 'end']);
  const refusal = seen.find((s) => s.side === 'handle' && s.context.id === 2)?.context.error;
  expect(refusal).toBeInstanceOf(RpcError);
  const remote = seen.find((s) => s.side === 'call' && s.context.id === 2)?.context.error;
  expect(remote).toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32042, data: { why: 'test' } });

  // A timeout: the call fails here, then $/cancelRequest aborts the handler there.
  await expect(client.call('hang', undefined, { timeout: 300 })).rejects.toMatchObject({
    code: 'ERR_REQUEST_TIMEOUT',
  });
  expect(phases(seen, 'call', 3)).toEqual(ASYNC_FAILED);
  await waitUntil(() => phases(seen, 'handle', 3).length === 5, 5000, 'the handler aborted');
  expect(phases(seen, 'handle', 3)).toEqual(ASYNC_FAILED);
  const aborted = seen.find((s) => s.side === 'handle' && s.context.id === 3 && s.phase === 'error');
  expect((aborted?.context.error as Error).message).toBe('aborted');

  // A call cancelled by its signal once the handler runs.
  const controller = new AbortController();
  const cancelled = client.call('hang', undefined, { signal: controller.signal });
  await waitUntil(() => phases(seen, 'handle', 4).length === 2, 5000, 'the handler started');
  controller.abort();
  await expect(cancelled).rejects.toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
  expect(phases(seen, 'call', 4)).toEqual(ASYNC_FAILED);
  expect(seen.find((s) => s.side === 'call' && s.context.id === 4)?.context.error).toMatchObject({
    code: 'ERR_REQUEST_ABORTED',
  });
  await waitUntil(() => phases(seen, 'handle', 4).length === 5, 5000, 'the handler aborted');
  expect(phases(seen, 'handle', 4)).toEqual(ASYNC_FAILED);
});

test('calls refused on this side: connection lost, aborted before sending', async () => {
  const seen = record();
  const { client } = await start();
  const peerCall = client.call('hang'); // id 1, lost when the connection closes
  await waitUntil(() => phases(seen, 'handle', 1).length === 2, 5000, 'the handler started');
  const controller = new AbortController();
  controller.abort();
  await expect(client.call('add', { a: 1, b: 2 }, { signal: controller.signal })).rejects.toMatchObject({
    code: 'ERR_REQUEST_ABORTED',
  });
  expect(phases(seen, 'call', 2)).toEqual(ASYNC_FAILED);
  expect(phases(seen, 'handle', 2)).toEqual([]); // never sent
  client.connection?.destroy();
  await expect(peerCall).rejects.toMatchObject({ code: 'ERR_CONNECTION_LOST' });
  expect(phases(seen, 'call', 1)).toEqual(ASYNC_FAILED);
});

test('incoming notifications that run a handler are traced with id undefined; notify() is not', async () => {
  const seen = record();
  const { client, notes } = await start();
  client.notify('note', { n: 1 });
  client.notify('unknown', { n: 2 }); // no handler: nothing to trace
  await waitUntil(() => notes.length === 1, 5000, 'the notification');
  await expect(client.call('add', { a: 1, b: 1 })).resolves.toBe(2); // after both notifications
  const handled = seen.filter((s) => s.side === 'handle' && s.context.id === undefined);
  expect(handled.map((s) => s.phase)).toEqual(SYNC);
  expect(handled[0]?.context).toMatchObject({ method: 'note', params: { n: 1 } });
  expect(seen.filter((s) => s.side === 'call').map((s) => s.context.method)).toEqual([
    'add',
    'add',
    'add',
    'add',
  ]);
});

test('heartbeat pings are not traced', async () => {
  const seen = record();
  const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc() }), (s) =>
    s.close({ timeout: 500 }),
  );
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(
    new TcpClient({
      port: address.port,
      host: '127.0.0.1',
      framing: delimited(),
      rpc: jsonRpc({ heartbeat: { interval: 20, timeout: 1000 } }),
    }),
    (c) => c.close({ timeout: 500 }),
  );
  await client.connect();
  const conn = client.connection as Connection;
  await waitUntil(() => conn.stats.messagesOut >= 3, 5000, 'three pings');
  expect(conn.stats.messagesIn).toBeGreaterThanOrEqual(2); // their responses
  expect(seen).toEqual([]);
});

test('a store bound at start is the one the handler and the call continuation see', async () => {
  const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc() }), (s) =>
    s.close({ timeout: 500 }),
  );
  const inHandler = new AsyncLocalStorage<string>();
  const inCall = new AsyncLocalStorage<string>();
  const handle = tracingChannel<string, RpcTraceContext>('sockframe:rpc:handle');
  const call = tracingChannel<string, RpcTraceContext>('sockframe:rpc:call');
  handle.start.bindStore(inHandler, (context) => `handling ${context.method} ${String(context.id)}`);
  resources.add(inHandler, (store) => handle.start.unbindStore(store));
  call.start.bindStore(inCall, (context) => `calling ${context.method} ${String(context.id)}`);
  resources.add(inCall, (store) => call.start.unbindStore(store));
  const seenInCall: (string | undefined)[] = [];
  const onAsyncStart = (): void => void seenInCall.push(inCall.getStore());
  call.asyncStart.subscribe(onAsyncStart);
  resources.add(onAsyncStart, (f) => call.asyncStart.unsubscribe(f));

  const seenInHandler: (string | undefined)[] = [];
  server.handle('look', async () => {
    seenInHandler.push(inHandler.getStore());
    await new Promise((resolve) => setTimeout(resolve, 2));
    seenInHandler.push(inHandler.getStore()); // still there after an await
    return inHandler.getStore();
  });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  const other = resources.add(
    new TcpClient({ port: address.port, host: '127.0.0.1', framing: delimited(), rpc: jsonRpc() }),
    (c) => c.close({ timeout: 500 }),
  );
  await other.connect();
  const answers = await inCall.run('the caller', async () => {
    const first = await other.call('look');
    const after = inCall.getStore(); // the caller's own store, not the call's
    const second = await other.call('look');
    return { first, second, after };
  });
  expect(answers).toEqual({ first: 'handling look 1', second: 'handling look 2', after: 'the caller' });
  expect(seenInHandler).toEqual(['handling look 1', 'handling look 1', 'handling look 2', 'handling look 2']);
  expect(seenInCall).toEqual(['calling look 1', 'calling look 2']);
  expect(inHandler.getStore()).toBeUndefined();
});
