import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  Connection,
  IpcServer,
  TcpServer,
  TLS_SERVER_DEFAULTS,
  TlsServer,
  type SockframeError,
} from 'sockframe';
import { frame, RawClient, Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import { expectEcho, rawClient, rawTlsClient, record, tlsCert, tlsKey } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

type Echoing = { close(options?: { timeout?: number }): Promise<void> };

/** One transport: how to start an echo server on it and how to connect a raw client. */
interface Transport {
  name: string;
  start: () => Promise<{ server: TcpServer | TlsServer | IpcServer; connect: () => Promise<RawClient> }>;
}

function echo(server: TcpServer | TlsServer | IpcServer): void {
  // Each server type has its own event map; the message listener is the same for all.
  (server as TcpServer).on('message', (conn, message) => conn.send(message));
}

function closeLater<T extends Echoing>(server: T): T {
  return resources.add(server, (s) => s.close({ timeout: 500 }));
}

const transports: Transport[] = [
  {
    name: 'TCP',
    async start() {
      const server = closeLater(new TcpServer());
      echo(server);
      const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
      return { server, connect: () => rawClient(resources, { port }) };
    },
  },
  {
    name: 'TLS',
    async start() {
      const server = closeLater(new TlsServer({ key: tlsKey, cert: tlsCert }));
      echo(server);
      const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
      return { server, connect: () => rawTlsClient(resources, port) };
    },
  },
  {
    name: 'IPC',
    async start() {
      const server = closeLater(new IpcServer());
      echo(server);
      const { path } = await server.listen({ path: tmpSocketPath() });
      return { server, connect: () => rawClient(resources, { path }) };
    },
  },
];

describe.each(transports)('echo over $name', ({ start }) => {
  test('echoes messages in order, including an empty one and a large one', async () => {
    const { server, connect } = await start();
    const client = await connect();
    const large = Buffer.alloc(300_000, 7);
    client.write(Buffer.concat([frame('first'), frame(''), frame(large), frame('last')]));
    const messages = await client.waitForMessages(4);
    expect(messages.map((m) => m.length)).toEqual([5, 0, large.length, 4]);
    expect(messages[0]?.toString()).toBe('first');
    expect(messages[2]?.equals(large)).toBe(true);
    expect(messages[3]?.toString()).toBe('last');
    expect(server.connections.size).toBe(1);
  });

  test('reports connect, then close with peer-ended when the peer ends, and forgets the connection', async () => {
    const { server, connect } = await start();
    const recorded = record(server as TcpServer);
    const client = await connect();
    await expectEcho(client, 'hello');
    expect(recorded.connects).toHaveLength(1);
    expect(recorded.connects[0]).toBeInstanceOf(Connection);
    client.socket.end();
    await waitUntil(() => recorded.closes.length === 1, 5000, 'close event');
    expect(recorded.closes[0]?.conn).toBe(recorded.connects[0]);
    expect(recorded.closes[0]?.reason).toEqual({ kind: 'peer-ended' });
    expect(server.connections.size).toBe(0);
    expect(recorded.errors).toEqual([]);
  });

  test('answers a peer that has already ended its side (half-open)', async () => {
    const { connect } = await start();
    const client = await connect();
    client.write(Buffer.concat([frame('a'), frame('b')]));
    client.socket.end();
    const messages = await client.waitForMessages(2);
    expect(messages.map(String)).toEqual(['a', 'b']);
    await client.closed;
  });
});

describe('TLS specifics', () => {
  test('a failed handshake is reported without a connection and the server keeps serving', async () => {
    const server = closeLater(new TlsServer({ key: tlsKey, cert: tlsCert }));
    echo(server);
    const recorded = record(server);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

    // No CA given: the client refuses the self-signed certificate and aborts the handshake.
    const untrusting = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost' });
    resources.add(untrusting, (s) => s.destroy());
    const clientError = await new Promise<Error>((resolve) => untrusting.once('error', resolve));
    expect((clientError as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    untrusting.destroy();

    // A plain-text client is no better.
    const plain = netConnect({ port, host: '127.0.0.1' });
    resources.socket(plain);
    plain.on('error', () => {});
    plain.write(frame('not tls'));

    await waitUntil(() => recorded.errors.length >= 2, 5000, 'handshake errors');
    for (const { err, conn } of recorded.errors) {
      expect(err.code).toBe('ERR_SOCKET');
      expect(conn).toBeUndefined();
    }
    expect(recorded.connects).toHaveLength(0);
    expect(server.connections.size).toBe(0);

    await expectEcho(await rawTlsClient(resources, port), 'still serving');
  });

  test('a peer that never starts a handshake is cut off at handshakeTimeout', async () => {
    const server = closeLater(new TlsServer({ key: tlsKey, cert: tlsCert, handshakeTimeout: 300 }));
    echo(server);
    const recorded = record(server);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const silent = netConnect({ port, host: '127.0.0.1' });
    resources.socket(silent);
    silent.on('error', () => {});
    const startedAt = Date.now();
    await new Promise((resolve) => silent.once('close', resolve));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the handshake error');
    expect(recorded.errors[0]?.err).toMatchObject({
      code: 'ERR_SOCKET',
      syscallCode: 'ERR_TLS_HANDSHAKE_TIMEOUT',
    });
    expect(recorded.connects).toHaveLength(0);
    await expectEcho(await rawTlsClient(resources, port), 'still serving');

    expect(TLS_SERVER_DEFAULTS).toEqual({ handshakeTimeout: 10_000 });
    expect(Object.isFrozen(TLS_SERVER_DEFAULTS)).toBe(true);
    expect(() => new TlsServer({ key: tlsKey, cert: tlsCert, handshakeTimeout: -1 })).toThrow(
      'The "handshakeTimeout" option must be a number of milliseconds',
    );
  });

  test('connection addresses are those of the TCP socket underneath', async () => {
    const server = closeLater(new TlsServer({ key: tlsKey, cert: tlsCert }));
    const recorded = record(server);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = await rawTlsClient(resources, port);
    await waitUntil(() => recorded.connects.length === 1, 5000, 'connect');
    const conn = recorded.connects[0] as Connection;
    expect(conn.remoteAddress).toBe('127.0.0.1');
    expect(conn.remotePort).toBe(client.socket.localPort);
    expect(conn.localPort).toBe(port);
  });
});

describe('IPC specifics', () => {
  const linuxOnly = process.platform === 'linux' ? test : test.skip;

  linuxOnly('listens on a Linux abstract socket name without creating a file', async () => {
    const server = closeLater(new IpcServer());
    echo(server);
    const name = `\0${tmpSocketPath()}`;
    const address = await server.listen({ path: name });
    expect(address).toEqual({ path: name });
    expect(existsSync(name.slice(1))).toBe(false);
    const client = await rawClient(resources, { path: name });
    await expectEcho(client, 'abstract');
  });

  test('IPC connections have no remote address or port', async () => {
    const server = closeLater(new IpcServer());
    const recorded = record(server);
    const { path } = await server.listen({ path: tmpSocketPath() });
    await rawClient(resources, { path });
    await waitUntil(() => recorded.connects.length === 1, 5000, 'connect');
    expect(recorded.connects[0]?.remotePort).toBeUndefined();
    expect(recorded.connects[0]?.remoteAddress).toBeUndefined();
  });

  test('errors reported by IPC connections are SockframeErrors with the connection', async () => {
    const server = closeLater(new IpcServer({ maxMessageSize: 16 }));
    const errors: { err: SockframeError; id: number | undefined }[] = [];
    server.on('error', (err, conn) => errors.push({ err, id: conn?.id }));
    const { path } = await server.listen({ path: tmpSocketPath() });
    const client = await rawClient(resources, { path });
    client.write(frame(Buffer.alloc(100)));
    await client.closed;
    await waitUntil(() => errors.length === 1, 5000, 'error');
    expect(errors[0]?.err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(errors[0]?.id).toBe(1);
  });
});
