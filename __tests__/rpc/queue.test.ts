// Incoming calls beyond maxConcurrentCalls wait in a bounded queue (maxQueuedCalls); past it they
// are refused with a retryable -32001. Reading never stops for a full set of slots, so responses
// (and $/cancelRequest) always get through: a handler that awaits a call to its peer finishes.
// A call back into a side whose slots are all held by handlers awaiting that very peer does wait
// for a slot; it is freed when the inner call times out (or is cancelled).
import { delimited, jsonRpc, TcpServer, type JsonRpcOptions, type SockframeError } from 'sockframe';
import { connect } from 'node:net';
import { Resources, waitUntil } from '../helpers/net';
import { rpcClient } from './support';

interface ServerApi {
  outer(p: { i: number }): string;
  inner(p: { i: number }): string;
}
interface ClientApi {
  ask(p: { i: number; reenter: boolean }): string;
}

const resources = new Resources();
afterEach(() => resources.closeAll());

async function setup(serverRpc: JsonRpcOptions, clientRpc: JsonRpcOptions = {}) {
  const server = resources.add(
    new TcpServer({ framing: delimited(), rpc: jsonRpc<ServerApi, ClientApi>(serverRpc) }),
    (s) => s.close({ timeout: 500 }),
  );
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const started: number[] = [];
  server.handle('outer', async ({ i }, { conn }) => {
    started.push(i);
    // A handler holding its slot while it waits for a call to its own peer.
    const answer = await conn.call('ask', { i, reenter: reenter.on });
    return `outer ${i}: ${answer}`;
  });
  server.handle('inner', ({ i }) => `inner ${i}`);
  const reenter = { on: false };
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = await rpcClient(resources, port, jsonRpc<ClientApi, ServerApi>(clientRpc), errors);
  const asked: number[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  client.handle('ask', async ({ i, reenter: again }) => {
    asked.push(i);
    if (again) return client.call('inner', { i });
    await gate;
    return `asked ${i}`;
  });
  return { server, client, errors, started, asked, release, reenter };
}

test('past the running and queued bounds, calls are refused at once with a retryable -32001', async () => {
  const { client, errors, started, asked, release } = await setup({
    maxConcurrentCalls: 2,
    maxQueuedCalls: 3,
  });
  const settled: number[] = [];
  const calls = Array.from({ length: 9 }, (_, i) =>
    client
      .call('outer', { i })
      .catch((e: unknown) => e)
      .finally(() => settled.push(i)),
  );
  // Two run (each waiting on the client), three wait; the other four are refused before any
  // handler has finished.
  await waitUntil(() => settled.length === 4 && asked.length === 2, 3000, 'the refusals');
  expect(started).toEqual([0, 1]);
  expect(settled.sort()).toEqual([5, 6, 7, 8]);
  // The running handlers' own calls to the client are answered: nothing waits for a slot there.
  release();
  const results = await Promise.all(calls);
  expect(results.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((i) => `outer ${i}: asked ${i}`));
  for (const refused of results.slice(5)) {
    expect(refused).toMatchObject({
      code: 'ERR_REMOTE',
      rpcCode: -32001,
      message: 'Too many calls waiting: the call was not run',
      data: { retryable: true },
    });
  }
  // Queued calls start in arrival order.
  expect(started).toEqual([0, 1, 2, 3, 4]);
  expect(errors).toEqual([]);
});

test('a call back into a side whose slots all wait on that peer waits until the inner call times out', async () => {
  const { client, errors, started, reenter } = await setup({ maxConcurrentCalls: 1 }, { callTimeout: 300 });
  reenter.on = true;
  const began = Date.now();
  // outer takes the server's one slot and calls the client's ask, which calls the server's inner:
  // inner queues behind the outer that is waiting for it.
  const result = await client.call('outer', { i: 0 }, { timeout: 5000 }).catch((e: unknown) => e);
  expect(Date.now() - began).toBeGreaterThanOrEqual(250);
  expect(started).toEqual([0]);
  // Broken by the client's callTimeout on inner: ask throws, is answered -32603, so outer throws
  // too, and its caller gets -32603 in turn.
  expect(result).toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32603 });
  // The timed-out inner call was cancelled ($/cancelRequest) while it waited: answered -32800 at
  // once, and that late answer dropped quietly by the client (no ERR_RPC_PROTOCOL). Each side
  // reports its handler's failure.
  expect(errors.map((e) => e.code)).toEqual(['ERR_RPC_HANDLER_THREW', 'ERR_RPC_HANDLER_THREW']);
});

test('with more slots than chains that can be waiting at once, every chain completes', async () => {
  const { client, errors, reenter } = await setup({ maxConcurrentCalls: 4 }, { callTimeout: 2000 });
  reenter.on = true;
  // Three outers hold three of the four slots; the fourth serves the inners.
  const results = await Promise.all([0, 1, 2].map((i) => client.call('outer', { i })));
  expect(results).toEqual([0, 1, 2].map((i) => `outer ${i}: inner ${i}`));
  expect(errors).toEqual([]);
});

describe('requests waiting for a slot count against the memory budget', () => {
  interface BlockApi {
    block(p: { pad: string }): string;
    hello(p: Record<string, never>): string;
  }

  async function blockingServer(memoryBudget: number) {
    const server = resources.add(
      new TcpServer({
        framing: delimited({ maxMessageSize: 1024 * 1024 }),
        rpc: jsonRpc<BlockApi>({ maxConcurrentCalls: 1, maxQueuedCalls: 1024 }),
        maxMessageSize: 1024 * 1024,
        memoryBudget,
      }),
      (s) => s.close({ timeout: 200 }),
    );
    const errors: SockframeError[] = [];
    server.on('error', (err) => errors.push(err));
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    server.handle('block', async () => {
      await gate;
      return 'done';
    });
    server.handle('hello', () => 'hi');
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    return { server, port, errors, open: () => open() };
  }

  function request(id: number, size: number): string {
    return `${JSON.stringify({ jsonrpc: '2.0', id, method: 'block', params: { pad: 'x'.repeat(size) } })}\n`;
  }

  test('within the budget, the waiting requests are what the budget shows, and nothing once answered', async () => {
    const { server, port, open } = await blockingServer(64 * 1024 * 1024);
    const socket = resources.socket(connect(port, '127.0.0.1'));
    const lines: string[] = [];
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
      let at: number;
      while ((at = text.indexOf('\n')) >= 0) {
        lines.push(text.slice(0, at));
        text = text.slice(at + 1);
      }
    });
    const size = 200_000;
    // One runs; four wait, each one message of a little over 200 kB.
    socket.write(Array.from({ length: 5 }, (_, i) => request(i, size)).join(''));
    await waitUntil(() => server.stats.memoryBudget.used >= 4 * size, 3000, 'the waiting requests charged');
    expect(server.stats.memoryBudget.used).toBeLessThan(4 * (size + 200));
    open();
    await waitUntil(() => lines.length === 5, 3000, 'five answers');
    expect(lines.map((l) => (JSON.parse(l) as { id: number; result: string }).result)).toEqual(
      Array(5).fill('done'),
    );
    expect(server.stats.memoryBudget.used).toBe(0);
  });

  test('the requests of a batch waiting for a slot each hold their share of its bytes', async () => {
    const { server, port, open } = await blockingServer(64 * 1024 * 1024);
    const socket = resources.socket(connect(port, '127.0.0.1'));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    const batch = `[${Array.from({ length: 5 }, (_, i) => request(i, 100_000).trim()).join(',')}]\n`;
    const size = Buffer.byteLength(batch) - 1;
    socket.write(batch);
    // One runs; four wait, each holding a fifth of the batch.
    const share = Math.ceil(size / 5);
    await waitUntil(() => server.stats.memoryBudget.used === 4 * share, 3000, 'four shares charged');
    open();
    await waitUntil(() => text.endsWith('\n'), 3000, 'the batch answered');
    const answers = JSON.parse(text) as { id: number; result: string }[];
    expect(answers.map((a) => a.id).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(answers.every((a) => a.result === 'done')).toBe(true);
    expect(server.stats.memoryBudget.used).toBe(0);
  });

  test('a peer queueing past the budget is cut off with ERR_MEMORY_BUDGET; another connection is served', async () => {
    const { server, port, errors, open } = await blockingServer(4 * 1024 * 1024);
    const hostile = resources.socket(connect(port, '127.0.0.1'));
    hostile.on('error', () => {});
    const closed = new Promise<void>((resolve) => hostile.once('close', () => resolve()));
    // 100 requests of 256 kB: 25 MB waiting, were they all kept.
    for (let i = 0; i < 100; i++) hostile.write(request(i, 256 * 1024));
    await closed;
    await waitUntil(() => errors.some((e) => e.code === 'ERR_MEMORY_BUDGET'), 3000, 'the budget error');
    expect(errors.filter((e) => e.code !== 'ERR_MEMORY_BUDGET')).toEqual([]);
    const budgetError = errors.find((e) => e.code === 'ERR_MEMORY_BUDGET') as SockframeError & {
      limit: number;
    };
    expect(budgetError.limit).toBe(4 * 1024 * 1024);
    // Another client on the same server is still served, and nothing is left charged.
    const client = await rpcClient(resources, port, jsonRpc<unknown, BlockApi>(), []);
    await expect(client.call('hello', {})).resolves.toBe('hi');
    open();
    await waitUntil(() => server.stats.memoryBudget.used === 0, 3000, 'the budget given back');
  });
});
