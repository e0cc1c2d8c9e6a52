// A peer in another language, written from the README's wire description with Python's standard
// library only (asyncio + json): calls both ways, a batch, an error, a cancellation each way.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  contentLength,
  delimited,
  jsonRpc,
  RpcError,
  TcpServer,
  type Connection,
  type Framing,
} from 'sockframe';
import { Resources } from '../helpers/net';

interface ServerApi {
  add(p: { a: number; b: number }): number;
  fail(p: { how: string }): never;
  slow(p: { ms: number }): string;
  done(): string;
}
interface PeerApi {
  progress(p: { pct: number }): void;
  wait(p: { forever: boolean }): void;
}

const python = ((): string | undefined => {
  try {
    execFileSync('python3', ['--version']);
    return 'python3';
  } catch {
    return undefined;
  }
})();
const script = join(__dirname, 'fixtures', 'peer.py');
const resources = new Resources();
afterEach(() => resources.closeAll());

const maybe = python === undefined ? test.skip : test;
if (python === undefined)
  test.skip('python3 is not installed: the interoperability tests are skipped', () => {});

async function run(framing: Framing, mode: 'lines' | 'lsp'): Promise<void> {
  const server = resources.add(new TcpServer({ framing, rpc: jsonRpc<ServerApi, PeerApi>() }), (s) =>
    s.close({ timeout: 500 }),
  );
  const notes: unknown[] = [];
  server.on('notification', (_conn, method, params) => notes.push([method, params]));
  let serverSide: Promise<unknown> = Promise.resolve();
  server.on('connect', (conn: Connection<unknown, PeerApi>) => {
    serverSide = (async () => {
      const progressed = await conn.call('progress', { pct: 50 });
      conn.notify('progress', { pct: 60 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const waited = await conn
        .call('wait', { forever: true }, { signal: controller.signal })
        .catch((e: unknown) => e);
      return { progressed, waited };
    })();
  });
  server.handle('add', ({ a, b }) => a + b);
  server.handle('fail', () => {
    throw new RpcError(-32042, 'custom failure', { detail: 7 });
  });
  server.handle(
    'slow',
    ({ ms }, { signal }) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => resolve('late'), ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('cancelled'));
        });
      }),
  );
  server.handle('done', async () => {
    await serverSide;
    return 'bye';
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const child = spawn(python as string, [script, String(port), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  resources.add(child, (c) => c.kill());
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  expect({ code, err }).toEqual({ code: 0, err: '' });
  const summary = JSON.parse(out) as Record<string, unknown>;
  expect(summary).toEqual({
    add: 5,
    batch: [
      { jsonrpc: '2.0', id: 'b1', result: 30 },
      {
        jsonrpc: '2.0',
        id: 'b2',
        error: { code: -32601, message: 'Method not found', data: { method: 'missing' } },
      },
    ],
    error: { code: -32042, message: 'custom failure', data: { detail: 7 } },
    cancelled: { code: -32800, message: 'Request cancelled' },
    done: 'bye',
    log: [
      ['progress', { pct: 50 }],
      ['progress', { pct: 60 }],
    ],
  });
  const { progressed, waited } = (await serverSide) as { progressed: unknown; waited: unknown };
  expect(progressed).toBeNull();
  expect(waited).toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
  expect(notes).toContainEqual(['log', { line: 'from python' }]);
  expect(notes.find((n) => (n as unknown[])[0] === 'cancelled')).toEqual(['cancelled', { id: 2 }]);
}

maybe('a Python peer over newline-delimited JSON', () => run(delimited(), 'lines'));
maybe('a Python peer over the LSP base protocol (contentLength)', () => run(contentLength(), 'lsp'));
