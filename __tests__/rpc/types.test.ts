// The `@ts-expect-error` lines are checked by `npm run typecheck`: each must be a compile error.
import { delimited, jsonRpc, TcpClient, TcpServer, type Connection } from 'sockframe';

interface ServerApi {
  add(p: { a: number; b: number }): number;
  slow(p: { ms: number }): string;
  ping(): null;
}
interface ClientApi {
  progress(p: { pct: number }): void;
}

/** Never called: it exists to be compiled. */
export async function typedRpc(port: number): Promise<void> {
  const server = new TcpServer({ framing: delimited(), rpc: jsonRpc<ServerApi, ClientApi>() });
  server.handle('add', ({ a, b }) => a + b);
  server.handle('slow', async ({ ms }, { signal, conn }) => {
    await conn.call('progress', { pct: ms });
    return signal.aborted ? 'aborted' : 'done';
  });
  server.handle('ping', () => null);
  server.on('notification', (conn: Connection<unknown, ClientApi>, method: string, params: unknown) => {
    conn.notify('progress', { pct: 60 });
    void method;
    void params;
  });
  // @ts-expect-error: 'sub' is not a method of ServerApi
  server.handle('sub', () => 0);
  // @ts-expect-error: add returns a number
  server.handle('add', () => 'three');
  // @ts-expect-error: add's params have no 'c'
  server.handle('add', ({ c }) => Number(c));
  server.on('connect', (conn) => {
    // @ts-expect-error: pct is a number
    void conn.call('progress', { pct: '50' });
    // @ts-expect-error: the client serves no 'add'
    void conn.call('add', { a: 1, b: 2 });
  });

  const client = new TcpClient({ port, framing: delimited(), rpc: jsonRpc<ClientApi, ServerApi>() });
  const sum: number = await client.call('add', { a: 1, b: 2 }, { timeout: 5000 });
  const pong: null = await client.call('ping');
  client.notify('log', { line: 'free-form notifications are events' });
  client.notify('add', { a: 1, b: 2 });
  client.handle('progress', ({ pct }) => void pct.toFixed());
  client.on('notification', (method: string, params: unknown) => void [method, params]);
  // @ts-expect-error: the result of add is a number, not a string
  const wrong: string = await client.call('add', { a: 1, b: 2 });
  // @ts-expect-error: 'mul' is not a method of ServerApi
  await client.call('mul', { a: 1, b: 2 });
  // @ts-expect-error: b is missing
  await client.call('add', { a: 1 });
  // @ts-expect-error: add needs params
  await client.call('add');
  // @ts-expect-error: a declared method's notification is checked too
  client.notify('add', { a: 'x' });
  // @ts-expect-error: the server sends no 'add' to the client
  client.handle('add', () => 1);
  void [sum, pong, wrong];

  // Without types: any name, unknown params and results.
  const loose = new TcpClient({ port, rpc: jsonRpc() });
  const anything: unknown = await loose.call('whatever', { x: 1 });
  void anything;
}

test('the typed API compiles as documented (checked by npm run typecheck)', () => {
  expect(typeof typedRpc).toBe('function');
});
