import {
  delimited,
  jsonRpc,
  RpcError,
  TcpClient,
  TcpServer,
  type Connection,
  type SockframeError,
} from 'sockframe';
import { delay, Resources, waitUntil } from '../helpers/net';
import { LinePeer } from './support';

interface ServerApi {
  add(p: { a: number; b: number }): number;
  slow(p: { ms: number }): string;
  fail(p: { how: 'rpc' | 'plain' | 'params' }): never;
  strict(p: { n: number }): number;
}
interface ClientApi {
  progress(p: { pct: number }): void;
}

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A newline-delimited JSON-RPC server serving ServerApi; records errors and running handlers. */
async function startServer(rpcOptions: Parameters<typeof jsonRpc>[0] = {}) {
  const server = resources.add(
    new TcpServer({ framing: delimited(), rpc: jsonRpc<ServerApi, ClientApi>(rpcOptions) }),
    (s) => s.close({ timeout: 500 }),
  );
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const state = { running: 0, maxRunning: 0, aborted: [] as string[] };
  server.handle('add', ({ a, b }) => a + b);
  server.handle('slow', async ({ ms }, { signal }) => {
    state.running++;
    state.maxRunning = Math.max(state.maxRunning, state.running);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          state.aborted.push(String(ms));
          reject(new Error('aborted'));
        });
      });
      return `slept ${ms}`;
    } finally {
      state.running--;
    }
  });
  server.handle('fail', ({ how }) => {
    if (how === 'rpc') throw new RpcError(-32042, 'custom failure', { detail: 7 });
    if (how === 'params') throw RpcError.invalidParams('how is wrong', { field: 'how' });
    throw new Error('secret internal detail');
  });
  server.handle('strict', ({ n }) => n * 2, {
    validate: (p) => typeof (p as { n?: unknown } | undefined)?.n === 'number' || 'n must be a number',
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, errors, state };
}

function client(port: number, rpcOptions: Parameters<typeof jsonRpc>[0] = {}) {
  return resources.add(
    new TcpClient({
      port,
      host: '127.0.0.1',
      framing: delimited(),
      rpc: jsonRpc<ClientApi, ServerApi>(rpcOptions),
    }),
    (c) => c.close({ timeout: 500 }),
  );
}

describe('calls over real sockets', () => {
  test('client to server and server to client, calls and notifications, pipelined', async () => {
    const { server, port } = await startServer();
    const notes: unknown[] = [];
    server.on('notification', (conn, method, params) => notes.push([conn.id, method, params]));
    const serverConn = new Promise<Connection<unknown, ClientApi>>((resolve) =>
      server.once('connect', resolve),
    );
    const c = client(port);
    const progress: number[] = [];
    c.handle('progress', ({ pct }) => void progress.push(pct));
    const clientNotes: unknown[] = [];
    c.on('notification', (method, params) => clientNotes.push([method, params]));
    await c.connect();
    const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => c.call('add', { a: i, b: 1 })));
    expect(sums).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    c.notify('log', { line: 'hello' });
    const conn = await serverConn;
    await expect(conn.call('progress', { pct: 50 })).resolves.toBeNull();
    conn.notify('progress', { pct: 60 });
    await waitUntil(() => progress.length === 2 && notes.length === 1);
    expect(progress).toEqual([50, 60]);
    expect(notes).toEqual([[conn.id, 'log', { line: 'hello' }]]);
    expect(clientNotes).toEqual([['progress', { pct: 60 }]]);
  });

  test('many clients in one process, fan-out of server calls within one tick', async () => {
    const { server, port } = await startServer();
    const clients = Array.from({ length: 20 }, () => client(port));
    const seen: number[] = [];
    clients.forEach((c, i) => c.handle('progress', ({ pct }) => void seen.push(pct * 100 + i)));
    await Promise.all(clients.map((c) => c.connect()));
    await waitUntil(() => server.connections.size === 20);
    const answers = await Promise.all(
      [...server.connections.values()].map((conn) => conn.call('progress', { pct: 1 })),
    );
    expect(answers).toHaveLength(20);
    expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
  });
});

describe('the receiving side follows JSON-RPC 2.0', () => {
  test('parse errors, invalid requests, unknown methods, string ids', async () => {
    const { port, errors } = await startServer();
    const peer = await LinePeer.open(resources, port);
    peer.send('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
    expect(await peer.next((m) => m.error !== undefined)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'Parse error' },
    });
    peer.send({ jsonrpc: '2.0', method: 1, params: 'bar', id: 5 });
    expect(await peer.response(5)).toEqual({
      jsonrpc: '2.0',
      id: 5,
      error: { code: -32600, message: 'Invalid Request' },
    });
    peer.send({ jsonrpc: '1.0', method: 'add', id: 6 });
    expect(await peer.response(6)).toMatchObject({ error: { code: -32600 } });
    peer.send({ jsonrpc: '2.0', method: 'nope', id: 'abc' });
    expect(await peer.response('abc')).toEqual({
      jsonrpc: '2.0',
      id: 'abc',
      error: { code: -32601, message: 'Method not found', data: { method: 'nope' } },
    });
    peer.send({ jsonrpc: '2.0', method: 'add', params: { a: 2, b: 3 }, id: 'x-1' });
    expect(await peer.response('x-1')).toEqual({ jsonrpc: '2.0', id: 'x-1', result: 5 });
    peer.send({ jsonrpc: '2.0', method: 'add', params: 42, id: 7 });
    expect(await peer.response(7)).toMatchObject({ error: { code: -32600 } });
    expect(errors.every((e) => e.code === 'ERR_RPC_PROTOCOL')).toBe(true);
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  test('batches: one array back, notifications omitted, empty and invalid batches per spec', async () => {
    const { port } = await startServer();
    const peer = await LinePeer.open(resources, port);
    peer.send([
      { jsonrpc: '2.0', method: 'add', params: { a: 1, b: 2 }, id: '1' },
      { jsonrpc: '2.0', method: 'log', params: [7] },
      { jsonrpc: '2.0', method: 'slow', params: { ms: 20 }, id: '2' },
      { foo: 'boo' },
      { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
    ]);
    const batch = (await peer.next((m) => Array.isArray(m))) as Record<string, unknown>[];
    expect(batch).toHaveLength(4);
    expect(batch).toContainEqual({ jsonrpc: '2.0', id: '1', result: 3 });
    expect(batch).toContainEqual({ jsonrpc: '2.0', id: '2', result: 'slept 20' });
    expect(batch).toContainEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request' },
    });
    expect(batch.find((r) => r.id === '5')).toMatchObject({ error: { code: -32601 } });
    peer.received.length = 0;
    peer.send('[]');
    expect(await peer.next(() => true)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request' },
    });
    peer.received.length = 0;
    peer.send('[1,2]');
    expect(await peer.next((m) => Array.isArray(m))).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
    ]);
    peer.received.length = 0;
    // A batch of notifications only is answered with nothing.
    peer.send([
      { jsonrpc: '2.0', method: 'log' },
      { jsonrpc: '2.0', method: 'log' },
    ]);
    peer.send({ jsonrpc: '2.0', method: 'add', params: { a: 0, b: 0 }, id: 99 });
    await peer.response(99);
    expect(peer.received).toHaveLength(1);
  });

  test('handler errors: RpcError as given, -32602 for params, -32603 without details (reported locally)', async () => {
    const { port, errors } = await startServer();
    const peer = await LinePeer.open(resources, port);
    peer.send({ jsonrpc: '2.0', method: 'fail', params: { how: 'rpc' }, id: 1 });
    peer.send({ jsonrpc: '2.0', method: 'fail', params: { how: 'params' }, id: 2 });
    peer.send({ jsonrpc: '2.0', method: 'fail', params: { how: 'plain' }, id: 3 });
    peer.send({ jsonrpc: '2.0', method: 'strict', params: { n: 'x' }, id: 4 });
    peer.send({ jsonrpc: '2.0', method: 'strict', params: { n: 4 }, id: 5 });
    expect(await peer.response(1)).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32042, message: 'custom failure', data: { detail: 7 } },
    });
    expect(await peer.response(2)).toEqual({
      jsonrpc: '2.0',
      id: 2,
      error: { code: -32602, message: 'how is wrong', data: { field: 'how' } },
    });
    expect(await peer.response(3)).toEqual({
      jsonrpc: '2.0',
      id: 3,
      error: { code: -32603, message: 'Internal error' },
    });
    expect(await peer.response(4)).toEqual({
      jsonrpc: '2.0',
      id: 4,
      error: { code: -32602, message: 'Invalid params', data: { reason: 'n must be a number' } },
    });
    expect(await peer.response(5)).toEqual({ jsonrpc: '2.0', id: 5, result: 8 });
    expect(JSON.stringify(peer.received)).not.toContain('secret');
    const fault = errors.find((e) => e.code === 'ERR_RPC_HANDLER_THREW');
    expect(fault?.message).toContain('secret internal detail');
  });

  test('a response with an unknown id is reported, and the connection keeps serving', async () => {
    const { port, errors } = await startServer();
    const peer = await LinePeer.open(resources, port);
    peer.send({ jsonrpc: '2.0', id: 12345, result: 'who asked?' });
    peer.send({ jsonrpc: '2.0', id: 1, method: 'add', params: { a: 1, b: 1 } });
    expect(await peer.response(1)).toMatchObject({ result: 2 });
    expect(errors.map((e) => e.code)).toEqual(['ERR_RPC_PROTOCOL']);
    expect(errors[0]?.message).toContain('12345');
  });
});

describe('call() failures are typed', () => {
  test('ERR_REMOTE carries the error object', async () => {
    const { port } = await startServer();
    const c = client(port);
    await c.connect();
    const err = await c.call('fail', { how: 'rpc' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_REMOTE',
      rpcCode: -32042,
      data: { detail: 7 },
      message: 'custom failure',
    });
  });

  test('ERR_REQUEST_TIMEOUT, then the late response is dropped quietly', async () => {
    const { port, state } = await startServer();
    const c = client(port);
    const errors: SockframeError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const err = await c.call('slow', { ms: 5000 }, { timeout: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT', method: 'slow', timeout: 50 });
    // The timeout cancelled the handler too.
    await waitUntil(() => state.aborted.length === 1);
    await delay(50);
    expect(errors).toEqual([]);
    await expect(c.call('add', { a: 1, b: 1 })).resolves.toBe(2);
  });

  test('aborting a call rejects it with ERR_REQUEST_ABORTED and cancels the handler ($/cancelRequest)', async () => {
    const { port, state } = await startServer();
    const c = client(port);
    await c.connect();
    const controller = new AbortController();
    const pending = c.call('slow', { ms: 5000 }, { signal: controller.signal });
    await waitUntil(() => state.running === 1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
    await waitUntil(() => state.aborted.length === 1 && state.running === 0);
    const already = AbortSignal.abort();
    await expect(c.call('add', { a: 1, b: 1 }, { signal: already })).rejects.toMatchObject({
      code: 'ERR_REQUEST_ABORTED',
    });
  });

  test('ERR_CONNECTION_LOST: pending calls when the connection drops; calls without a connection', async () => {
    const { server, port, state } = await startServer();
    const c = client(port);
    c.on('error', () => {});
    await expect(c.call('add', { a: 1, b: 1 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_LOST',
      sent: false,
    });
    await c.connect();
    const pending = c.call('slow', { ms: 5000 });
    await waitUntil(() => state.running === 1);
    for (const conn of server.connections.values()) conn.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CONNECTION_LOST', sent: true });
    // The lost connection aborted the handler's signal.
    await waitUntil(() => state.aborted.length === 1);
  });
});

describe('bounds', () => {
  test('incoming calls beyond maxConcurrentCalls wait their turn; all are answered', async () => {
    const { port, state } = await startServer({ maxConcurrentCalls: 2 });
    const c = client(port);
    await c.connect();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => c.call('slow', { ms: 10 + i })));
    expect(results).toEqual(Array.from({ length: 8 }, (_, i) => `slept ${10 + i}`));
    expect(state.maxRunning).toBe(2);
  });

  test('calls waiting past maxQueuedCalls are refused at once, retryable', async () => {
    const { port } = await startServer({ maxConcurrentCalls: 1, maxQueuedCalls: 1 });
    const peer = await LinePeer.open(resources, port);
    for (let id = 1; id <= 3; id++) peer.send({ jsonrpc: '2.0', method: 'slow', params: { ms: 30 }, id });
    expect(await peer.response(3)).toMatchObject({ error: { code: -32001, data: { retryable: true } } });
    expect(await peer.response(1)).toMatchObject({ result: 'slept 30' });
    expect(await peer.response(2)).toMatchObject({ result: 'slept 30' });
  });

  test('outgoing calls beyond maxPendingCalls reject with ERR_TOO_MANY_PENDING without being sent', async () => {
    const { port, state } = await startServer();
    const c = client(port, { maxPendingCalls: 2 });
    await c.connect();
    const a = c.call('slow', { ms: 30 });
    const b = c.call('slow', { ms: 30 });
    await expect(c.call('add', { a: 1, b: 2 })).rejects.toMatchObject({
      code: 'ERR_TOO_MANY_PENDING',
      limit: 2,
    });
    await expect(Promise.all([a, b])).resolves.toHaveLength(2);
    expect(state.maxRunning).toBe(2);
  });

  test('a message larger than maxMessageSize is refused before it is sent', async () => {
    const { port } = await startServer();
    const c = resources.add(
      new TcpClient({
        port,
        host: '127.0.0.1',
        framing: delimited(),
        maxMessageSize: 1000,
        rpc: jsonRpc<ClientApi, ServerApi>(),
      }),
      (x) => x.close({ timeout: 500 }),
    );
    await c.connect();
    const big = await c
      .call('add', { a: 1, b: 2, pad: 'x'.repeat(2000) } as { a: number; b: number })
      .catch((e: unknown) => e);
    expect(big).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    await expect(c.call('add', { a: 1, b: 2 })).resolves.toBe(3);
  });
});

describe('heartbeats', () => {
  test('a peer that answers anything (even -32601) stays connected', async () => {
    const server = resources.add(new TcpServer({ framing: delimited() }), (s) => s.close({ timeout: 500 }));
    const pings: unknown[] = [];
    server.on('message', (conn, message) => {
      const request = JSON.parse(message.toString()) as { id: number; method: string };
      pings.push(request.method);
      conn.send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: request.id,
          error: { code: -32601, message: 'Method not found' },
        }),
      );
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const c = client(port, { heartbeat: { interval: 30, timeout: 100 } });
    const errors: SockframeError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await delay(250);
    expect(pings.length).toBeGreaterThanOrEqual(4);
    expect(new Set(pings)).toEqual(new Set(['$/ping']));
    expect(c.connected).toBe(true);
    expect(errors).toEqual([]);
  });

  test('no response within the timeout closes the connection with ERR_HEARTBEAT_TIMEOUT', async () => {
    const server = resources.add(new TcpServer({ framing: delimited() }), (s) => s.close({ timeout: 500 }));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const c = client(port, { heartbeat: { interval: 30, timeout: 60 } });
    const errors: SockframeError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await waitUntil(() => !c.connected, 2000, 'the heartbeat closing the connection');
    expect(errors.map((e) => e.code)).toEqual(['ERR_HEARTBEAT_TIMEOUT']);
  });
});

describe('graceful close', () => {
  test('in-flight calls are answered, calls arriving meanwhile get a retryable error, outgoing calls are lost', async () => {
    const { server, port, state } = await startServer();
    const peer = await LinePeer.open(resources, port);
    peer.send({ jsonrpc: '2.0', method: 'slow', params: { ms: 150 }, id: 1 });
    await waitUntil(() => state.running === 1);
    const [conn] = [...server.connections.values()] as [Connection<unknown, ClientApi>];
    const outgoing = conn.call('progress', { pct: 1 });
    const closed = server.close({ timeout: 2000 });
    peer.send({ jsonrpc: '2.0', method: 'add', params: { a: 1, b: 1 }, id: 2 });
    expect(await peer.response(2)).toEqual({
      jsonrpc: '2.0',
      id: 2,
      error: { code: -32000, message: 'Closing: the call was not run', data: { retryable: true } },
    });
    expect(await peer.response(1)).toEqual({ jsonrpc: '2.0', id: 1, result: 'slept 150' });
    await closed;
    await expect(outgoing).rejects.toMatchObject({ code: 'ERR_CONNECTION_LOST' });
  });
});
