// The `@ts-expect-error` lines below are checked by `npm run typecheck`: each must be a compile
// error, or the check fails with "Unused '@ts-expect-error' directive". The lines without one
// must compile. The runtime test at the end checks the same shapes on a live server.
import {
  Connection,
  IpcServer,
  SockframeError,
  TcpServer,
  TlsServer,
  type CloseReason,
  type DropInfo,
  type IpcAddress,
  type TcpAddress,
} from 'sockframe';
import { frame, Resources, waitUntil } from '../helpers/net';
import { rawClient } from './support';

interface Session {
  user: string;
}

/** Never called: it exists to be compiled. */
export function eventSignatures(server: TcpServer<Session>, ipc: IpcServer, tls: TlsServer): void {
  // Correct listeners compile, with every argument typed.
  server.on('listening', (address: TcpAddress) => address.port.toFixed());
  server.on('connect', (conn: Connection<Session>) => conn.data?.user.toUpperCase());
  server.on('message', (conn, message) => {
    const bytes: Buffer = message;
    const user: string | undefined = conn.data?.user;
    conn.send(bytes);
    void user;
  });
  server.on('close', (conn, reason: CloseReason) => {
    if (reason.kind === 'error') reason.error.code.toLowerCase();
    void conn.stats.bytesIn;
  });
  server.on('error', (_err: SockframeError, conn: Connection<Session> | undefined) => void conn?.id);
  server.on('error', (err: Error) => err.message);
  server.on('drop', (info: DropInfo) => info.reason);
  server.on('message', () => {});
  ipc.on('listening', (address: IpcAddress) => address.path.length);
  tls.once('message', (conn, message) => conn.send(message));

  // @ts-expect-error: 'mesage' is not an event of a server
  server.on('mesage', () => {});
  // @ts-expect-error: 'data' is an event of sockets, not of servers
  server.on('data', () => {});
  // @ts-expect-error: a message is a Buffer, not a string
  server.on('message', (_conn, _message: string) => {});
  // @ts-expect-error: 'connect' gives a Connection, not a socket address
  server.on('connect', (_conn: { port: number }) => {});
  // @ts-expect-error: the close reason is a CloseReason, not a string
  server.on('close', (_conn, _reason: string) => {});
  // @ts-expect-error: errors are SockframeErrors, not strings
  server.on('error', (_err: string) => {});
  // @ts-expect-error: the connection's data slot holds a Session
  server.on('connect', (_conn: Connection<number>) => {});
  // @ts-expect-error: an IPC server listens on a path, and reports a path
  ipc.on('listening', (_address: TcpAddress) => {});
  // @ts-expect-error: emit() is checked as strictly as on()
  server.emit('message', 'not a connection', Buffer.alloc(0));
  // @ts-expect-error: 'drop' gives a DropInfo
  server.off('drop', (_info: number) => {});
}

function mutate(map: Map<number, Connection<Session>>): void {
  map.clear();
}

/** Never called: it exists to be compiled. */
export function connectionAndServerShapes(
  server: TcpServer<Session>,
  ipc: IpcServer,
  conn: Connection<Session>,
): void {
  conn.send(Buffer.alloc(1));
  conn.send(new Uint8Array(1));
  conn.send('text');
  conn.data = { user: 'ada' };
  void server.listen({ port: 0, host: '127.0.0.1' });
  void ipc.listen({ path: '/tmp/x.sock', mode: 0o600 });

  // @ts-expect-error: send() takes a Buffer, a Uint8Array or a string
  conn.send(42);
  // @ts-expect-error: send() takes one payload, not a list
  conn.send(['a', 'b']);
  // @ts-expect-error: the data slot holds a Session
  conn.data = { user: 1 };
  // @ts-expect-error: ids are read-only
  conn.id = 3;
  // @ts-expect-error: an IPC server needs a path
  void ipc.listen({ port: 0 });
  // @ts-expect-error: the registry is read-only; it is not a Map to change
  mutate(server.connections);
  // @ts-expect-error: a connection has only 'drain' and 'close' events; errors go to the server
  conn.on('error', () => {});
  // @ts-expect-error: the hooks are for subclasses, not callers
  server.onMessage(conn, Buffer.alloc(0));
  // @ts-expect-error: a TLS server needs its key and certificate
  void new TlsServer();
}

export class TypedEchoServer extends TcpServer<Session> {
  protected override onMessage(conn: Connection<Session>, message: Buffer): void {
    conn.send(message);
  }
  // @ts-expect-error: a hook keeps the signature of the event it stands for
  protected override onClose(_conn: Connection<Session>, _reason: string): void {}
}

const resources = new Resources();
afterEach(() => resources.closeAll());

test('listeners receive what their types promise', async () => {
  const server = resources.add(new TcpServer<Session>(), (s) => s.close());
  const seen: string[] = [];
  server.on('connect', (conn) => {
    seen.push(`connect ${conn instanceof Connection} ${typeof conn.id}`);
    conn.data = { user: 'ada' };
  });
  server.on('message', (conn, message) => {
    seen.push(`message ${Buffer.isBuffer(message)} ${conn.data?.user}`);
    conn.send(message);
  });
  server.on('close', (conn, reason) => seen.push(`close ${conn.data?.user} ${reason.kind}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = await rawClient(resources, { port });
  client.write(frame('hi'));
  await client.waitForMessages(1);
  client.socket.end();
  await waitUntil(() => seen.length === 3, 5000, 'three events');
  expect(seen).toEqual(['connect true number', 'message true ada', 'close ada peer-ended']);
});
