// Interop with jayson (a widely used JSON-RPC library for Node) over TCP. jayson's TCP transport
// writes one JSON text per line ("\n" delimiter, see its utils.parseStream), so sockframe speaks
// to it with delimited(). Its server keeps a connection open and answers each line; its client
// opens one connection per request (or batch), writes one line and ends once answered.
import { Client as JaysonClient, Server as JaysonServer, type JSONRPCIDLike } from 'jayson/promise';
import type { AddressInfo, Socket } from 'node:net';
import { delimited, jsonRpc, RpcError, TcpClient, TcpServer, type SockframeError } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { prng } from '../stress/support';

/** jayson's marker for a notification (an id of null), which its type declarations leave out. */
const NOTIFICATION = null as unknown as JSONRPCIDLike;

const resources = new Resources();
afterEach(() => resources.closeAll());

interface JaysonApi {
  add(p: [number, number]): number;
  echo(p: { value: unknown; delayMs: number }): unknown;
  fail(p: { code: number }): never;
  seen(): unknown[];
  slow(p: { ms: number }): string;
}

/** A jayson TCP server on an ephemeral port. */
async function jaysonServer(seen: unknown[]): Promise<number> {
  const server = new JaysonServer({
    add: ([a, b]: [number, number]) => Promise.resolve(a + b),
    echo: ({ value, delayMs }: { value: unknown; delayMs: number }) =>
      new Promise((resolve) => setTimeout(() => resolve(value), delayMs)),
    // jayson answers a rejection with its own error object as the JSON-RPC error.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- jayson's API
    fail: ({ code }: { code: number }) => Promise.reject(server.error(code, 'failed on purpose', { code })),
    log: (params: unknown) => {
      seen.push(params);
      return Promise.resolve(null);
    },
    seen: () => Promise.resolve(seen),
    slow: ({ ms }: { ms: number }) => new Promise((resolve) => setTimeout(() => resolve('late'), ms)),
  });
  const tcp = server.tcp();
  const sockets = new Set<Socket>();
  tcp.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  resources.add(
    tcp,
    (s) =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return (tcp.address() as AddressInfo).port;
}

describe('a sockframe client calling a jayson TCP server', () => {
  async function client(port: number): Promise<TcpClient<unknown, JaysonApi>> {
    const c = resources.add(
      new TcpClient({ port, host: '127.0.0.1', framing: delimited(), rpc: jsonRpc<unknown, JaysonApi>() }),
      (x) => x.close({ timeout: 500 }),
    );
    await c.connect();
    return c;
  }

  test('calls, named and positional params, notifications and errors on one connection', async () => {
    const seen: unknown[] = [];
    const c = await client(await jaysonServer(seen));
    const errors: SockframeError[] = [];
    c.on('error', (err) => errors.push(err));
    expect(await c.call('add', [2, 3])).toBe(5);
    expect(await c.call('echo', { value: { nested: ['é', 1, null] }, delayMs: 0 })).toEqual({
      nested: ['é', 1, null],
    });
    c.notify('log', { line: 'one' });
    c.notify('log', ['two']);
    await waitUntil(() => seen.length === 2, 3000, 'both notifications');
    expect(await c.call('seen')).toEqual([{ line: 'one' }, ['two']]);
    await expect(c.call('fail', { code: -32042 })).rejects.toMatchObject({
      code: 'ERR_REMOTE',
      rpcCode: -32042,
      message: 'failed on purpose',
      data: { code: -32042 },
    });
    await expect(c.call('missing' as 'seen')).rejects.toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32601 });
    expect(errors).toEqual([]);
  });

  test('a seeded random program of pipelined calls, answered out of order', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    const random = prng(seed);
    const c = await client(await jaysonServer([]));
    const expected: unknown[] = [];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const kind = random();
      if (kind < 0.45) {
        const a = Math.floor(random() * 1e6);
        const b = Math.floor(random() * 1e6);
        expected.push(a + b);
        calls.push(c.call('add', [a, b]));
      } else if (kind < 0.9) {
        const value = { i, text: 'x'.repeat(Math.floor(random() * 2000)), list: [i, i + 1] };
        expected.push(value);
        calls.push(c.call('echo', { value, delayMs: Math.floor(random() * 20) }));
      } else {
        const code = -32000 - Math.floor(random() * 99);
        expected.push({ code: 'ERR_REMOTE', rpcCode: code });
        calls.push(c.call('fail', { code }).catch((e: unknown) => e));
      }
    }
    const settled: number[] = [];
    calls.forEach((call, i) => void call.finally(() => settled.push(i)));
    const got = await Promise.all(calls);
    // The random delays do reorder the responses, so ids are what matches them to their calls.
    expect(settled.some((at, k) => k > 0 && at < (settled[k - 1] as number))).toBe(true);
    for (let i = 0; i < got.length; i++) {
      const want = expected[i] as { code?: unknown };
      if (typeof want === 'object' && want !== null && want.code === 'ERR_REMOTE') {
        expect({ seed, i, got: got[i] }).toMatchObject({ seed, i, got: want });
      } else {
        expect({ seed, i, got: got[i] }).toEqual({ seed, i, got: want });
      }
    }
  });

  test('a call given up on: jayson answers it late, and the late response is dropped quietly', async () => {
    const c = await client(await jaysonServer([]));
    const errors: SockframeError[] = [];
    c.on('error', (err) => errors.push(err));
    await expect(c.call('slow', { ms: 150 }, { timeout: 30 })).rejects.toMatchObject({
      code: 'ERR_REQUEST_TIMEOUT',
    });
    // jayson ignores $/cancelRequest (a notification of an unknown method: no answer) and
    // answers the call anyway; meanwhile the connection goes on serving calls.
    expect(await c.call('add', [1, 1])).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await c.call('add', [2, 2])).toBe(4);
    expect(errors).toEqual([]);
  });
});

describe('a jayson TCP client calling a sockframe server', () => {
  interface Api {
    add(p: [number, number] | { a: number; b: number }): number;
    fail(): never;
    crash(): never;
    wait(p: { ms: number }): string;
  }

  async function sockframeServer(): Promise<{
    server: TcpServer;
    port: number;
    notes: [string, unknown][];
    errors: SockframeError[];
  }> {
    const server = resources.add(new TcpServer({ framing: delimited(), rpc: jsonRpc<Api>() }), (s) =>
      s.close({ timeout: 500 }),
    );
    server.handle('add', (p) => (Array.isArray(p) ? p[0] + p[1] : p.a + p.b));
    server.handle('fail', () => {
      throw new RpcError(-32042, 'custom failure', { detail: 7 });
    });
    server.handle('crash', () => {
      throw new Error('a bug');
    });
    server.handle(
      'wait',
      ({ ms }) => new Promise<string>((resolve) => setTimeout(() => resolve(`waited ${ms}`), ms)),
    );
    const notes: [string, unknown][] = [];
    server.on('notification', (_conn, method, params) => notes.push([method, params]));
    const errors: SockframeError[] = [];
    server.on('error', (err) => errors.push(err));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    return { server, port, notes, errors };
  }

  test('calls, errors, notifications and string ids', async () => {
    const { port, notes, errors } = await sockframeServer();
    const client = JaysonClient.tcp({ port, host: '127.0.0.1' });
    expect(await client.request('add', [2, 3])).toMatchObject({ jsonrpc: '2.0', result: 5 });
    const named = (await client.request('add', { a: 4, b: 5 }, 'id-named')) as Record<string, unknown>;
    expect(named).toEqual({ jsonrpc: '2.0', id: 'id-named', result: 9 });
    expect(await client.request('add', [1, 1], 0)).toEqual({ jsonrpc: '2.0', id: 0, result: 2 });
    expect(await client.request('fail', [])).toMatchObject({
      error: { code: -32042, message: 'custom failure', data: { detail: 7 } },
    });
    expect(await client.request('crash', [])).toMatchObject({
      error: { code: -32603, message: 'Internal error' },
    });
    expect(await client.request('missing', [])).toMatchObject({
      error: { code: -32601, message: 'Method not found', data: { method: 'missing' } },
    });
    // A notification: jayson writes the line and ends its connection at once.
    await client.request('log', { line: 'from jayson' }, NOTIFICATION);
    await waitUntil(() => notes.length === 1, 3000, 'the notification');
    expect(notes).toEqual([['log', { line: 'from jayson' }]]);
    expect(errors.map((e) => e.code)).toEqual(['ERR_RPC_HANDLER_THREW']);
  });

  test('a batch with calls, an error and a notification', async () => {
    const { port, notes } = await sockframeServer();
    const client = JaysonClient.tcp({ port, host: '127.0.0.1' });
    const batch = [
      client.request('add', [1, 2], 'b1', false),
      client.request('wait', { ms: 20 }, 'b2', false),
      client.request('missing', [], 'b3', false),
      client.request('log', { in: 'batch' }, NOTIFICATION, false),
    ];
    const responses = (await client.request(batch)) as { id: string }[];
    expect([...responses].sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { jsonrpc: '2.0', id: 'b1', result: 3 },
      { jsonrpc: '2.0', id: 'b2', result: 'waited 20' },
      {
        jsonrpc: '2.0',
        id: 'b3',
        error: { code: -32601, message: 'Method not found', data: { method: 'missing' } },
      },
    ]);
    expect(notes).toEqual([['log', { in: 'batch' }]]);
  });

  test('many jayson requests at once, each on its own connection', async () => {
    const { server, port } = await sockframeServer();
    const client = JaysonClient.tcp({ port, host: '127.0.0.1' });
    const requests = Array.from({ length: 100 }, (_, i) =>
      client.request(i % 2 === 0 ? 'add' : 'wait', i % 2 === 0 ? [i, i] : { ms: i % 7 }, `r${i}`),
    );
    const responses = (await Promise.all(requests)) as { id: string; result: unknown }[];
    responses.forEach((response, i) => {
      expect(response).toEqual({
        jsonrpc: '2.0',
        id: `r${i}`,
        result: i % 2 === 0 ? 2 * i : `waited ${i % 7}`,
      });
    });
    await waitUntil(() => server.connections.size === 0, 3000, 'every jayson connection closed');
  });
});
