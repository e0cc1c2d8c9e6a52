import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  TcpServer,
  type CloseReason,
  type SocketServer,
  type Connection,
  type SockframeError,
  type TcpServerOptions,
} from 'sockframe';
import { frame, RawClient, tlsCert, tlsKey, type Resources } from '../helpers/net';

export { tlsCert, tlsKey };

/** What a server reported, recorded in order. */
export interface Recorded<D = unknown> {
  connects: Connection<D>[];
  errors: { err: SockframeError; conn: Connection<D> | undefined }[];
  closes: { conn: Connection<D>; reason: CloseReason }[];
}

/** Subscribes to a server's connect, error and close events and records them. */
export function record<D, L, A>(server: SocketServer<Connection<D>, L, A>): Recorded<D> {
  const recorded: Recorded<D> = { connects: [], errors: [], closes: [] };
  server.on('connect', (conn) => recorded.connects.push(conn));
  server.on('error', (err, conn) => recorded.errors.push({ err, conn }));
  server.on('close', (conn, reason) => recorded.closes.push({ conn, reason }));
  return recorded;
}

/** A TcpServer on 127.0.0.1, port 0, closed after the test. */
export async function startTcp(
  resources: Resources,
  options: TcpServerOptions = {},
  { echo = true }: { echo?: boolean } = {},
): Promise<{ server: TcpServer; port: number; recorded: Recorded }> {
  const server = resources.add(new TcpServer(options), (s) => s.close({ timeout: 500 }));
  const recorded = record(server);
  if (echo) {
    server.on('message', (conn, message) => {
      if (conn.isOpen) conn.send(message);
    });
  }
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, recorded };
}

/** A raw client of the default framing, destroyed after the test. */
export async function rawClient(
  resources: Resources,
  target: { port: number; host?: string } | { path: string },
): Promise<RawClient> {
  const options = 'path' in target ? target : { host: '127.0.0.1', ...target };
  const client = await RawClient.connect(options);
  resources.add(client, (c) => c.socket.destroy());
  return client;
}

/** A raw TLS client of the default framing that trusts the test certificate. */
export function rawTlsClient(resources: Resources, port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: tlsCert });
    resources.add(socket, (s) => s.destroy());
    socket.once('secureConnect', () => resolve(new RawClient(socket)));
    socket.once('error', reject);
  });
}

/** A plain socket whose every received byte is kept, for tests that read the wire themselves. */
export function plainSocket(resources: Resources, port: number, allowHalfOpen = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen });
    resources.socket(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `text` through a fresh client and expects it echoed: the server still serves. */
export async function expectEchoFromNewClient(
  resources: Resources,
  port: number,
  text: string,
): Promise<void> {
  const client = await rawClient(resources, { port });
  await expectEcho(client, text);
}

/** Sends `text` on an existing client and expects it echoed as its next message. */
export async function expectEcho(client: RawClient, text: string): Promise<void> {
  const before = client.messages.length;
  client.write(frame(text));
  const messages = await client.waitForMessages(before + 1);
  expect(messages[before]?.toString()).toBe(text);
}

/** Resolves with the first error the server reports. */
export function nextError<D, L, A>(
  server: SocketServer<Connection<D>, L, A>,
): Promise<{ err: SockframeError; conn: Connection<D> | undefined }> {
  return new Promise((resolve) => server.once('error', (err, conn) => resolve({ err, conn })));
}
