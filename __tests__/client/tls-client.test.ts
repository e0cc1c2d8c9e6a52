import {
  ConnectTimeoutError,
  TlsClient,
  TlsServer,
  TlsVerificationError,
  type CloseReason,
  type SockframeError,
} from 'sockframe';
import { createSecureContext } from 'node:tls';
import { Resources, waitUntil } from '../helpers/net';
import { nextEvent, rawServer, tlsCert, tlsKey } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

async function tlsEchoServer(): Promise<{ server: TlsServer; port: number; errors: SockframeError[] }> {
  const server = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert }), (s) =>
    s.close({ timeout: 500 }),
  );
  const errors: SockframeError[] = [];
  server.on('message', (conn, message) => conn.send(message));
  server.on('error', (err) => errors.push(err));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, errors };
}

function client(options: ConstructorParameters<typeof TlsClient>[0]): TlsClient {
  return resources.add(new TlsClient(options), (c) => c.close());
}

async function echo(c: TlsClient, text: string): Promise<string> {
  const echoed = nextEvent<[Buffer]>(c, 'message');
  c.send(text);
  return (await echoed)[0].toString();
}

test('echo over TLS with a trusted ca and servername', async () => {
  const { port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', ca: tlsCert, servername: 'localhost' });
  await c.connect();
  expect(c.connected).toBe(true);
  expect(await echo(c, 'over tls')).toBe('over tls');
  const big = Buffer.alloc(300_000, 7);
  const echoed = nextEvent<[Buffer]>(c, 'message');
  c.send(big);
  expect((await echoed)[0].equals(big)).toBe(true);
});

test('the certificate is checked against the host when no servername is given', async () => {
  const { port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', ca: tlsCert });
  await c.connect();
  expect(await echo(c, 'ip in the certificate')).toBe('ip in the certificate');
});

test('an untrusted certificate is rejected; the server keeps serving', async () => {
  const { port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', servername: 'localhost' });
  const err = (await c.connect().catch((e: unknown) => e)) as TlsVerificationError;
  expect(err).toBeInstanceOf(TlsVerificationError);
  expect(err.verifyCode).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(c.connected).toBe(false);
  const trusting = client({ port, host: '127.0.0.1', ca: tlsCert, servername: 'localhost' });
  await trusting.connect();
  expect(await echo(trusting, 'after a rejected peer')).toBe('after a rejected peer');
});

test('a servername the certificate does not cover is rejected', async () => {
  const { port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', ca: tlsCert, servername: 'example.com' });
  const err = (await c.connect().catch((e: unknown) => e)) as TlsVerificationError;
  expect(err).toBeInstanceOf(TlsVerificationError);
  expect(err.verifyCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
});

test('rejectUnauthorized: false passes through and accepts the untrusted certificate', async () => {
  const { port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await c.connect();
  expect(await echo(c, 'unchecked')).toBe('unchecked');
});

test('connectTimeout covers the handshake: a peer that never answers it times out', async () => {
  // A plain TCP listener accepts the connection but never speaks TLS.
  const { port, sockets } = await rawServer(resources);
  const c = client({ port, host: '127.0.0.1', ca: tlsCert, servername: 'localhost', connectTimeout: 200 });
  const err = (await c.connect().catch((e: unknown) => e)) as ConnectTimeoutError;
  expect(err).toBeInstanceOf(ConnectTimeoutError);
  expect(err.code).toBe('ERR_CONNECT_TIMEOUT');
  expect(c.connected).toBe(false);
  // The TCP connection itself was made: only the handshake was missing.
  await waitUntil(() => sockets.length === 1, 5000, 'the TCP connection');
});

test('close() ends a TLS connection gracefully', async () => {
  const { server, port } = await tlsEchoServer();
  const c = client({ port, host: '127.0.0.1', ca: tlsCert, servername: 'localhost' });
  await c.connect();
  const atServer: string[] = [];
  server.on('message', (_conn, message) => atServer.push(message.toString()));
  const serverSawClose = nextEvent(server, 'close');
  c.send('last words');
  const closed = nextEvent<[CloseReason]>(c, 'close');
  await c.close();
  expect((await closed)[0]).toEqual({ kind: 'closed' });
  await serverSawClose;
  expect(atServer).toEqual(['last words']);
});

test('invalid node:tls options are refused at construction with a TypeError', () => {
  const make = (tls: object) => () => new TlsClient({ port: 9, host: '127.0.0.1', ...tls });
  // Thrown by node:tls itself, from outside the test's realm: compared by name and code.
  const wrongType = (() => {
    try {
      make({ ca: 123 })();
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
    return undefined;
  })();
  expect(wrongType?.name).toBe('TypeError');
  expect(wrongType?.code).toBe('ERR_INVALID_ARG_TYPE');
  const badPem = make({ key: 'not a key', cert: 'not a certificate' });
  expect(badPem).toThrow(TypeError);
  expect(badPem).toThrow('Invalid TLS options: error:0480006C:PEM routines::no start line');
  expect(make({ minVersion: 'TLSv9' })).toThrow('"TLSv9" is not a valid minimum TLS protocol version');
});

test('a secureContext of its own is used as given', async () => {
  const { port } = await tlsEchoServer();
  const secureContext = createSecureContext({ ca: tlsCert });
  const c = client({ port, host: '127.0.0.1', secureContext, servername: 'localhost' });
  await c.connect();
  expect(await echo(c, 'own context')).toBe('own context');
  // Without it, the default trust store does not know the test certificate.
  const plain = client({ port, host: '127.0.0.1', servername: 'localhost' });
  await expect(plain.connect()).rejects.toMatchObject({ code: 'ERR_TLS_VERIFICATION' });
});
