import { delimited, jsonRpc, RpcError, TcpClient, TcpServer } from 'sockframe';
import { delay, recordingLogger, Resources, waitUntil } from '../helpers/net';
import { LinePeer } from './support';

interface Session {
  user: string;
}
interface Api {
  auth(p: { token: string }): boolean;
  whoami(): string;
}

const resources = new Resources();
afterEach(() => resources.closeAll());

test('without rpc: the handshake sets data before connect; messages meanwhile wait; refusals are counted', async () => {
  const { logger, records } = recordingLogger('warn');
  let admit = true;
  const server = resources.add(
    new TcpServer<Session>({
      framing: delimited(),
      logger,
      handshake: async (conn) => {
        await delay(30);
        if (!admit) throw new Error(`no entry for ${conn.remoteAddress}`);
        return { user: `user-${conn.id}` };
      },
    }),
    (s) => s.close({ timeout: 500 }),
  );
  const events: string[] = [];
  server.on('connect', (conn) => events.push(`connect ${conn.data?.user}`));
  server.on('message', (conn, m) => events.push(`message ${conn.data?.user} ${m.toString()}`));
  server.on('close', (conn) => events.push(`close ${conn.data?.user}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const first = await LinePeer.open(resources, port);
  first.socket.write('early\n');
  await waitUntil(() => events.length === 2);
  expect(events).toEqual(['connect user-1', 'message user-1 early']);
  admit = false;
  const refused = await LinePeer.open(resources, port);
  refused.socket.write('let me in\n');
  await new Promise((resolve) => refused.socket.once('close', resolve));
  expect(server.handshakesRefused).toBe(1);
  expect(events).toHaveLength(2);
  expect(records.some((r) => r.msg === 'handshake refused')).toBe(true);
});

test('the handshake is bounded by acceptTimeout', async () => {
  const server = resources.add(
    new TcpServer({ framing: delimited(), acceptTimeout: 50, handshake: () => new Promise(() => {}) }),
    (s) => s.close({ timeout: 500 }),
  );
  const connects: unknown[] = [];
  server.on('connect', (c) => connects.push(c));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const peer = await LinePeer.open(resources, port);
  await new Promise((resolve) => peer.socket.once('close', resolve));
  expect(server.handshakesRefused).toBe(1);
  expect(connects).toEqual([]);
});

test('with rpc: the first call authenticates; refused calls get the RpcError and the connection closes', async () => {
  const server = resources.add(
    new TcpServer<Session, Api>({
      framing: delimited(),
      rpc: jsonRpc<Api>(),
      handshake: (_conn, call) => {
        const token = (call?.params as { token?: string } | undefined)?.token;
        if (call?.method !== 'auth' || token === undefined || token === 'bad') {
          throw new RpcError(-32010, 'Unauthorized');
        }
        return { user: token };
      },
    }),
    (s) => s.close({ timeout: 500 }),
  );
  server.handle('whoami', (_p, { conn }) => conn.data?.user ?? 'nobody');
  const connected: string[] = [];
  server.on('connect', (conn) => connected.push(conn.data?.user ?? '?'));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const c = resources.add(
    new TcpClient({ port, host: '127.0.0.1', framing: delimited(), rpc: jsonRpc<unknown, Api>() }),
    (x) => x.close({ timeout: 500 }),
  );
  await c.connect();
  // whoami is sent first, so it is the handshake call: refused, and nothing after it is served.
  const pipelined = c.call('whoami');
  const after = c.call('auth', { token: 'alice' }).catch((e: unknown) => e);
  await expect(pipelined).rejects.toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32010 });
  const late = (await after) as { code: string; rpcCode?: number };
  expect(late).toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32002 });
  await waitUntil(() => !c.connected);
  expect(server.handshakesRefused).toBe(1);
  const good = await LinePeer.open(resources, port);
  good.send({ jsonrpc: '2.0', id: 1, method: 'auth', params: { token: 'bob' } });
  good.send({ jsonrpc: '2.0', id: 2, method: 'whoami' });
  expect(await good.response(1)).toEqual({ jsonrpc: '2.0', id: 1, result: true });
  expect(await good.response(2)).toEqual({ jsonrpc: '2.0', id: 2, result: 'bob' });
  expect(connected).toEqual(['bob']);
});
