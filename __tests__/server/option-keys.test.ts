import {
  IpcClient,
  IpcServer,
  MessageAssembler,
  TcpClient,
  TcpServer,
  TlsClient,
  TlsServer,
  UdpClient,
  UdpServer,
} from 'sockframe';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resources, tlsCert, tlsKey, tmpSocketPath } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** Options a JavaScript caller may pass; TypeScript would refuse the typos at compile time. */
type Loose = Record<string, unknown>;

const constructors: [string, (extra: Loose) => unknown][] = [
  ['TcpServer', (o) => new TcpServer(o)],
  ['IpcServer', (o) => new IpcServer(o)],
  ['TlsServer', (o) => new TlsServer({ key: tlsKey, cert: tlsCert, ...o })],
  ['UdpServer', (o) => new UdpServer({ type: 'udp4', ...o } as never)],
  ['TcpClient', (o) => new TcpClient({ port: 7000, ...o })],
  ['IpcClient', (o) => new IpcClient({ path: '/tmp/x.sock', ...o })],
  ['TlsClient', (o) => new TlsClient({ port: 7000, ...o })],
  ['UdpClient', (o) => new UdpClient({ type: 'udp4', port: 7000, ...o } as never)],
  ['MessageAssembler', (o) => new MessageAssembler({ onMessage() {}, onError() {}, ...o })],
];

describe('unknown option keys throw a TypeError naming the key', () => {
  test.each(constructors)('%s: a misspelt maxMessageSize', (name, make) => {
    expect(() => make({ maxMesageSize: 1024 })).toThrow(TypeError);
    expect(() => make({ maxMesageSize: 1024 })).toThrow(/"maxMesageSize".*did you mean "maxMessageSize"/);
    expect(() => make({ maxMesageSize: 1024 })).toThrow(new RegExp(name));
  });

  test.each(constructors)('%s: a key with nothing near it', (_name, make) => {
    expect(() => make({ flibbertigibbet: true })).toThrow(/Unknown option "flibbertigibbet"/);
  });

  test.each(constructors)('%s: the documented options are accepted', (_name, make) => {
    expect(() => make({ maxMessageSize: 1024 })).not.toThrow();
  });

  test('new TcpServer({ port }) throws instead of listening on a random port', () => {
    expect(() => new TcpServer({ port: 7000 } as never)).toThrow(/Unknown option "port" for TcpServer/);
  });

  test('reconnect options are checked too', () => {
    expect(() => new TcpClient({ port: 7000, reconnect: { maxAttempt: 3 } as never })).toThrow(
      /"maxAttempt".*did you mean "maxAttempts"/,
    );
  });

  test('a subclass is named by its own name', () => {
    class EchoServer extends TcpServer {}
    expect(() => new EchoServer({ maxConection: 1 } as never)).toThrow(/for EchoServer/);
  });

  test('TLS classes accept the node:tls options they pass through, and nothing else', () => {
    expect(() => new TlsServer({ key: tlsKey, cert: tlsCert, requestCert: true, ca: tlsCert })).not.toThrow();
    expect(() => new TlsServer({ key: tlsKey, cert: tlsCert, requestCrt: true } as never)).toThrow(
      /"requestCrt".*"requestCert"/,
    );
    // secureContext is not read by tls.createServer(): it would be ignored.
    expect(() => new TlsServer({ key: tlsKey, cert: tlsCert, secureContext: {} } as never)).toThrow(
      /"secureContext"/,
    );
    expect(
      () => new TlsClient({ port: 7000, ca: tlsCert, servername: 'localhost', minVersion: 'TLSv1.2' }),
    ).not.toThrow();
    expect(() => new TlsClient({ port: 7000, servrname: 'localhost' } as never)).toThrow(
      /"servrname".*"servername"/,
    );
  });
});

describe('TlsServer needs something to serve a handshake with', () => {
  test('new TlsServer({}) throws like new TlsServer()', () => {
    expect(() => new TlsServer(undefined as never)).toThrow(TypeError);
    expect(() => new TlsServer({})).toThrow(/needs a key and a cert/);
    expect(() => new TlsServer({ maxConnections: 5 })).toThrow(/needs a key and a cert/);
  });

  test('a key without a cert, or a cert without a key, throws', () => {
    expect(() => new TlsServer({ key: tlsKey })).toThrow(/only a key/);
    expect(() => new TlsServer({ cert: tlsCert })).toThrow(/only a cert/);
  });

  test('an empty key, cert or pfx counts as none', () => {
    expect(() => new TlsServer({ key: tlsKey, cert: '' })).toThrow(/only a key/);
    expect(() => new TlsServer({ key: Buffer.alloc(0), cert: tlsCert })).toThrow(/only a cert/);
    expect(() => new TlsServer({ key: [], cert: [] })).toThrow(/needs a key and a cert/);
    expect(() => new TlsServer({ pfx: '' })).toThrow(/needs a key and a cert/);
  });

  test('a key or cert that does not parse, or that do not match, is a TypeError at construction', () => {
    const junk = Buffer.from('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    // The examples' key belongs to another certificate than the test fixtures'.
    const otherKey = readFileSync(join(__dirname, '..', '..', 'examples', 'certs', 'localhost-key.pem'));
    const cases = [
      { key: tlsKey, cert: junk },
      { key: junk, cert: tlsCert },
      { pfx: Buffer.from('x') },
      { key: otherKey, cert: tlsCert },
    ];
    for (const options of cases) {
      let thrown: unknown;
      try {
        new TlsServer(options);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as TypeError).message).toMatch(
        /^TlsServer: the TLS options do not make a secure context: /,
      );
    }
  });

  test('an SNICallback or a pskCallback is enough', () => {
    expect(() => new TlsServer({ SNICallback: (_name, cb) => cb(null, undefined) })).not.toThrow();
    expect(() => new TlsServer({ pskCallback: () => null })).not.toThrow();
  });

  test('an IpcServer listens with its known options only', async () => {
    const path = resources.removeFile(tmpSocketPath());
    const server = resources.add(new IpcServer({ maxConnections: 2 }), (s) => s.close());
    await expect(server.listen({ path })).resolves.toEqual({ path });
  });
});
