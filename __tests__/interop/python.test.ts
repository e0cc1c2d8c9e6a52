// Wire-level interop with independent peers written in Python (standard library only).
import { randomBytes as cryptoRandom } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DatagramTooLargeError,
  IpcClient,
  IpcServer,
  lengthField,
  lines,
  MAX_UDP4_DATAGRAM,
  MAX_UDP6_DATAGRAM,
  TcpClient,
  TcpServer,
  TlsClient,
  TlsServer,
  UdpClient,
  UdpServer,
  varint,
  type Framing,
  type StreamClient,
} from 'sockframe';
import { Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import {
  frameOf,
  LAYOUTS,
  layoutSpec,
  NO_PYTHON_REASON,
  randomBytes,
  seeded,
  startPeer,
  type Layout,
} from './support';

const fixtures = join(__dirname, '..', 'fixtures');
const CERT = join(fixtures, 'test-only-localhost.cert.pem');
const KEY = join(fixtures, 'test-only-localhost.key.pem');
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);

const describePython = NO_PYTHON_REASON === undefined ? describe : describe.skip;
if (NO_PYTHON_REASON !== undefined) {
  test.skip(`Python interop (${NO_PYTHON_REASON})`, () => {});
}

const hex = (messages: readonly Buffer[]): string[] => messages.map((m) => m.toString('hex'));

/** Bodies that fit the layout: the bytes its adjustment counts exist, the field holds the length. */
function bodiesFor(layout: Layout, next: () => number): Buffer[] {
  const fieldMax = layout.size >= 4 ? 1 << 20 : 2 ** (8 * layout.size) - 1;
  const room = fieldMax - layout.magic.length - Math.abs(layout.adjust) - 8;
  const sizes = [0, 1, 2, 3, 255, 256, 4000, 70_000];
  for (let i = 0; i < 16; i++) sizes.push(Math.floor(next() * 600));
  return sizes
    .map((size) => Math.max(Math.min(size, room), Math.max(0, layout.adjust)))
    .map((size) => randomBytes(next, size));
}

function framingFor(layout: Layout): Framing {
  return lengthField({
    lengthOffset: layout.offset,
    lengthSize: layout.size,
    lengthAdjustment: layout.adjust,
    strip: layout.strip,
    endian: layout.endian,
    ...(layout.strip > 0 ? { header: layout.magic.subarray(0, layout.strip) } : {}),
  });
}

/**
 * Both directions on one connection: the peer sends its encoding of `bodies` (cut at random points)
 * and sockframe must deliver `expected`; sockframe sends `expected` back, in one tick, and the
 * peer's own decoder must find the same messages (and its magic bytes) in the frames.
 */
async function exchange(
  resources: Resources,
  spec: Record<string, unknown>,
  expected: readonly Buffer[],
  client: (ready: { port?: number }) => StreamClient,
): Promise<string | undefined> {
  const peer = await startPeer(resources, { ...spec, seed: SEED, expect: expected.length });
  const c = resources.add(client(peer.ready), (x) => x.close({ timeout: 500 }));
  const received: Buffer[] = [];
  c.on('message', (message) => received.push(Buffer.from(message)));
  c.on('error', () => {});
  await c.connect();
  for (const message of expected) c.send(message);
  await waitUntil(() => received.length >= expected.length, 10_000, `${expected.length} messages`);
  const result = await peer.result;
  expect(result.error).toBeUndefined();
  expect(hex(received)).toEqual(hex(expected));
  expect(result.received).toEqual(hex(expected));
  return result.tlsVersion;
}

describePython(`Python peers (SEED=${SEED})`, () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  describe("lengthField: every layout of Netty's Javadoc, both directions", () => {
    test.each(LAYOUTS.map((layout) => ({ ...layout, label: layout.name })))('$label', async (layout) => {
      const next = seeded(SEED);
      const bodies = bodiesFor(layout, next);
      const expected = bodies.map((body) => frameOf(layout, body).subarray(layout.strip));
      const spec = {
        mode: 'serve-stream',
        framing: 'lengthField',
        layout: layoutSpec(layout),
        bodies: bodies.map((b) => b.toString('hex')),
      };
      await exchange(
        resources,
        spec,
        expected,
        ({ port }) => new TcpClient({ host: '127.0.0.1', port: port as number, framing: framingFor(layout) }),
      );
    });
  });

  test('varint: 1- to 3-byte prefixes, both directions', async () => {
    const next = seeded(SEED);
    const bodies = [
      0,
      1,
      127,
      128,
      300,
      16_383,
      16_384,
      100_000,
      ...Array.from({ length: 16 }, () => Math.floor(next() * 400)),
    ].map((size) => randomBytes(next, size));
    const spec = { mode: 'serve-stream', framing: 'varint', bodies: bodies.map((b) => b.toString('hex')) };
    await exchange(
      resources,
      spec,
      bodies,
      ({ port }) => new TcpClient({ host: '127.0.0.1', port: port as number, framing: varint() }),
    );
  });

  test('lines: the peer mixes \\n and \\r\\n at random and cuts anywhere; sockframe writes \\n', async () => {
    const next = seeded(SEED);
    const alphabet = 'ab \r\t\u00e9xyz';
    const bodies = Array.from({ length: 60 }, () => {
      let line = '';
      const size = Math.floor(next() * 40);
      for (let j = 0; j < size; j++) line += alphabet[Math.floor(next() * alphabet.length)] as string;
      return Buffer.from(line.replace(/\r+$/, ''), 'utf8');
    });
    const spec = { mode: 'serve-stream', framing: 'lines', bodies: bodies.map((b) => b.toString('hex')) };
    await exchange(
      resources,
      spec,
      bodies,
      ({ port }) => new TcpClient({ host: '127.0.0.1', port: port as number, framing: lines() }),
    );
  });

  test('IPC: a Unix socket path, default framing, both directions', async () => {
    const path = resources.removeFile(tmpSocketPath());
    const layout = LAYOUTS.find((l) => l.name.startsWith('default')) as Layout;
    const bodies = bodiesFor(layout, seeded(SEED));
    const spec = {
      mode: 'serve-stream',
      transport: 'unix',
      path,
      framing: 'lengthField',
      layout: layoutSpec(layout),
      bodies: bodies.map((b) => b.toString('hex')),
    };
    await exchange(resources, spec, bodies, () => new IpcClient({ path }));
  });

  test('TLS: Python ssl server with the test certificate, both directions', async () => {
    const layout = LAYOUTS.find((l) => l.name.startsWith('default')) as Layout;
    const bodies = bodiesFor(layout, seeded(SEED));
    const spec = {
      mode: 'serve-stream',
      framing: 'lengthField',
      layout: layoutSpec(layout),
      tls: { cert: CERT, key: KEY },
      bodies: bodies.map((b) => b.toString('hex')),
    };
    const version = await exchange(
      resources,
      spec,
      bodies,
      ({ port }) =>
        new TlsClient({
          host: '127.0.0.1',
          port: port as number,
          servername: 'localhost',
          ca: readFileSync(CERT),
        }),
    );
    expect(version).toMatch(/^TLSv1\.[23]$/);
  });

  test('TLS: Python ssl client against TlsServer', async () => {
    const server = resources.add(new TlsServer({ key: readFileSync(KEY), cert: readFileSync(CERT) }), (s) =>
      s.close({ timeout: 500 }),
    );
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const bodies = bodiesFor(LAYOUTS.find((l) => l.name.startsWith('default')) as Layout, seeded(SEED));
    const peer = await startPeer(resources, {
      mode: 'half-close',
      port,
      tlsClient: { ca: CERT },
      framing: 'lengthField',
      layout: layoutSpec(LAYOUTS.find((l) => l.name.startsWith('default')) as Layout),
      bodies: bodies.map((b) => b.toString('hex')),
      expect: bodies.length,
      seed: SEED,
    });
    const result = await peer.result;
    expect(result.error).toBeUndefined();
    expect(result.received).toEqual(hex(bodies));
  });

  test('half-close: the peer sends its frames then FIN; every one is answered before the server ends', async () => {
    const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const layout = LAYOUTS.find((l) => l.name.startsWith('default')) as Layout;
    const bodies = bodiesFor(layout, seeded(SEED));
    const peer = await startPeer(resources, {
      mode: 'half-close',
      port,
      framing: 'lengthField',
      layout: layoutSpec(layout),
      bodies: bodies.map((b) => b.toString('hex')),
      expect: bodies.length,
      seed: SEED,
    });
    const result = await peer.result;
    expect(result.error).toBeUndefined();
    expect(result.received).toEqual(hex(bodies));
    expect(result.eof).toBe(true);
  });

  test('lengthField with strip 0: a sockframe echo server sends back the very frames a Python client sent', async () => {
    for (const layout of LAYOUTS.filter((l) => l.strip < l.offset + l.size)) {
      const server = resources.add(new TcpServer({ framing: framingFor(layout) }), (s) =>
        s.close({ timeout: 500 }),
      );
      server.on('message', (conn, message) => conn.send(message));
      const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
      const bodies = bodiesFor(layout, seeded(SEED)).slice(0, 10);
      const peer = await startPeer(resources, {
        mode: 'half-close',
        port,
        framing: 'lengthField',
        layout: layoutSpec(layout),
        bodies: bodies.map((b) => b.toString('hex')),
        expect: bodies.length,
        seed: SEED,
      });
      const result = await peer.result;
      expect(result.error).toBeUndefined();
      expect({ layout: layout.name, received: result.received }).toEqual({
        layout: layout.name,
        received: hex(bodies.map((body) => frameOf(layout, body).subarray(layout.strip))),
      });
    }
  });

  describe('Linux abstract socket names', () => {
    // libuv before 1.48 (Node 20) binds and connects an abstract name with the whole 108-byte
    // sun_path, NUL-padded; from 1.48 (Node 22) with the name's own length, as Python and socat do.
    const [major = 0, minor = 0] = process.versions.uv.split('.').map(Number);
    const padded = major === 1 && minor < 48;
    const linux = process.platform === 'linux';
    const testLinux = linux ? test : test.skip;
    const name = (): string => `\0sockframe-test-${process.pid}-${cryptoRandom(6).toString('hex')}`;
    const layout = (): Layout => LAYOUTS.find((l) => l.name.startsWith('default')) as Layout;

    async function pythonClient(path: string, padAbstract: boolean): Promise<string | undefined> {
      const server = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
      server.on('message', (conn, message) => conn.send(message));
      await server.listen({ path });
      const bodies = [Buffer.from('abstract')];
      const result = await startPeer(resources, {
        mode: 'half-close',
        path,
        padAbstract,
        framing: 'lengthField',
        layout: layoutSpec(layout()),
        bodies: bodies.map((b) => b.toString('hex')),
        expect: 1,
      }).then(
        (peer) => peer.result,
        (err: Error) => ({ error: err.message, received: undefined }),
      );
      if (result.error !== undefined) return result.error;
      expect(result.received).toEqual(hex(bodies));
      return undefined;
    }

    testLinux(
      `a Python client with the exact name ${padded ? 'is refused (padded names)' : 'connects'} (libuv ${process.versions.uv})`,
      async () => {
        const error = await pythonClient(name(), false);
        if (padded) expect(error).toMatch(/ConnectionRefusedError/);
        else expect(error).toBeUndefined();
      },
    );

    testLinux(
      `a Python client with the 108-byte NUL-padded name ${padded ? 'connects' : 'is refused'} (libuv ${process.versions.uv})`,
      async () => {
        const error = await pythonClient(name(), true);
        if (padded) expect(error).toBeUndefined();
        else expect(error).toMatch(/ConnectionRefusedError/);
      },
    );

    testLinux(
      `IpcClient and a Python server: exact name ${padded ? 'refused' : 'found'}, padded name ${padded ? 'found' : 'refused'}`,
      async () => {
        for (const padAbstract of [false, true]) {
          const path = name();
          const peer = await startPeer(resources, {
            mode: 'serve-stream',
            transport: 'unix',
            path,
            padAbstract,
            framing: 'lengthField',
            layout: layoutSpec(layout()),
            bodies: [],
            expect: 0,
            timeout: 2,
          });
          const client = resources.add(new IpcClient({ path, connectTimeout: 2000 }), (c) =>
            c.close({ timeout: 200 }),
          );
          client.on('error', () => {});
          const outcome = await client.connect().then(
            () => 'connected',
            (err: { code?: string; syscallCode?: string }) => `${err.code}/${err.syscallCode}`,
          );
          expect({ padAbstract, outcome }).toEqual({
            padAbstract,
            outcome: padAbstract === padded ? 'connected' : 'ERR_SOCKET/ECONNREFUSED',
          });
          await peer.result.catch(() => undefined);
        }
      },
    );
  });

  describe.each([
    ['udp4', MAX_UDP4_DATAGRAM],
    ['udp6', MAX_UDP6_DATAGRAM],
  ] as const)('UDP %s, up to the largest datagram (%d bytes)', (type, largest) => {
    const sizes = [0, 1, 512, 1472, 9000, 32_768, largest - 1, largest];

    test('UdpClient against a Python echo server', async () => {
      const peer = await startPeer(resources, { mode: 'udp-echo', type, expect: sizes.length, seed: SEED });
      const client = resources.add(
        new UdpClient({
          type,
          host: type === 'udp6' ? '::1' : '127.0.0.1',
          port: peer.ready.port as number,
          recvBufferSize: 1 << 20,
        }),
        (c) => c.close(),
      );
      const received: Buffer[] = [];
      client.on('message', (message) => received.push(Buffer.from(message)));
      await client.connect();
      const sent: Buffer[] = [];
      for (const size of sizes) {
        // One at a time: loopback does not lose datagrams, but a full receive buffer would.
        const payload = cryptoRandom(size);
        sent.push(payload);
        client.send(payload);
        await waitUntil(() => received.length === sent.length, 5000, `echo of ${size} bytes`);
      }
      expect(() => client.send(Buffer.alloc(largest + 1))).toThrow(DatagramTooLargeError);
      expect(received.map((m) => m.length)).toEqual(sizes);
      expect(hex(received)).toEqual(hex(sent));
      expect((await peer.result).sizes).toEqual(sizes);
    });

    test('a Python client against UdpServer', async () => {
      const server = resources.add(new UdpServer({ type, recvBufferSize: 1 << 20 }), (s) =>
        s.close({ timeout: 500 }),
      );
      server.on('message', (peer, message) => peer.send(message));
      const { port } = await server.listen({ port: 0, host: type === 'udp6' ? '::1' : '127.0.0.1' });
      const peer = await startPeer(resources, { mode: 'udp-send', type, port, sizes, seed: SEED });
      const result = await peer.result;
      expect(result.error).toBeUndefined();
      expect(result.echoed).toEqual(sizes.map((size) => ({ size, same: true })));
    });
  });
});
