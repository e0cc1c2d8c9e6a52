// client.close() with the server's calls to the client still running: like server.close(), it
// keeps writing until their responses are sent (up to its close timeout), and answers calls
// arriving meanwhile with -32000 without running them.
import {
  delimited,
  IpcClient,
  IpcServer,
  jsonRpc,
  TcpClient,
  TcpServer,
  type Connection,
  type SockframeError,
} from 'sockframe';
import { Resources, tmpSocketPath, waitUntil } from '../helpers/net';

interface ClientApi {
  work(p: { ms: number; tag: string }): string;
}

const resources = new Resources();
afterEach(() => resources.closeAll());

interface Setup {
  client: TcpClient<ClientApi> | IpcClient<ClientApi>;
  conn: Connection<unknown, ClientApi>;
  log: string[];
  aborted: string[];
  errors: SockframeError[];
}

async function setup(
  transport: 'tcp' | 'ipc',
  rpcOptions: Parameters<typeof jsonRpc>[0] = {},
): Promise<Setup> {
  const serverRpc = jsonRpc<unknown, ClientApi>();
  const server =
    transport === 'tcp'
      ? new TcpServer({ framing: delimited(), rpc: serverRpc })
      : new IpcServer({ framing: delimited(), rpc: serverRpc });
  resources.add(server, (s) => s.close({ timeout: 500 }));
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const connected = new Promise<Connection<unknown, ClientApi>>((resolve) => server.once('connect', resolve));
  const clientRpc = jsonRpc<ClientApi>(rpcOptions);
  let client: TcpClient<ClientApi> | IpcClient<ClientApi>;
  if (transport === 'tcp') {
    const { port } = await (server as TcpServer).listen({ port: 0, host: '127.0.0.1' });
    client = new TcpClient({ port, host: '127.0.0.1', framing: delimited(), rpc: clientRpc });
  } else {
    const path = resources.removeFile(tmpSocketPath());
    await (server as IpcServer).listen({ path });
    client = new IpcClient({ path, framing: delimited(), rpc: clientRpc });
  }
  resources.add(client, (c) => c.close({ timeout: 500 }));
  client.on('error', (err) => errors.push(err));
  const log: string[] = [];
  const aborted: string[] = [];
  client.handle('work', ({ ms, tag }, { signal }) => {
    log.push(`start ${tag}`);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        log.push(`end ${tag}`);
        resolve(`done ${tag}`);
      }, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        aborted.push(tag);
        reject(new Error('aborted'));
      });
    });
  });
  await client.connect();
  return { client, conn: await connected, log, aborted, errors };
}

describe.each(['tcp', 'ipc'] as const)('client.close() over %s', (transport) => {
  test('waits for the handlers of server -> client calls, and their responses reach the server', async () => {
    const { client, conn, log, errors } = await setup(transport);
    const calls = [
      conn.call('work', { ms: 150, tag: 'a' }),
      conn.call('work', { ms: 80, tag: 'b' }),
      conn.call('work', { ms: 0, tag: 'c' }),
    ];
    await waitUntil(() => log.includes('start b'), 3000, 'the handlers to start');
    const closed = client.close({ timeout: 3000 }).then(() => log.push('closed'));
    // A call arriving while the client closes is refused, not run: it could not be answered for sure.
    const late = await conn.call('work', { ms: 0, tag: 'late' }).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32000, data: { retryable: true } });
    expect(await Promise.all(calls)).toEqual(['done a', 'done b', 'done c']);
    await closed;
    expect(log.indexOf('end a')).toBeLessThan(log.indexOf('closed'));
    expect(log).not.toContain('start late');
    expect(errors).toEqual([]);
  });

  test('calls waiting for a slot are run and answered before the close completes', async () => {
    const { client, conn, log } = await setup(transport, { maxConcurrentCalls: 2 });
    const calls = Array.from({ length: 6 }, (_, i) => conn.call('work', { ms: 30, tag: `w${i}` }));
    await waitUntil(() => log.includes('start w1'), 3000, 'two handlers to start');
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start w0', 'start w1']);
    await client.close({ timeout: 3000 });
    expect(await Promise.all(calls)).toEqual([
      'done w0',
      'done w1',
      'done w2',
      'done w3',
      'done w4',
      'done w5',
    ]);
  });

  test('at the close timeout the connection is cut: the server call is lost and the handler aborted', async () => {
    const { client, conn, aborted } = await setup(transport);
    const call = conn.call('work', { ms: 10_000, tag: 'stuck' }).catch((e: unknown) => e);
    await waitUntil(() => client.connection !== undefined, 3000, 'the client connection');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    await client.close({ timeout: 100 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await call).toMatchObject({ code: 'ERR_CONNECTION_LOST' });
    expect(aborted).toEqual(['stuck']);
  });
});
