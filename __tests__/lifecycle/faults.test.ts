/**
 * Faults nobody observes are still seen (process warnings), a throwing framing factory is a typed
 * error that costs nothing, and a flood of failed TLS handshakes cannot flood the log.
 */
import { connect as netConnect } from 'node:net';
import {
  FramingHookError,
  lengthField,
  TcpClient,
  TcpServer,
  TlsServer,
  type SockframeError,
} from 'sockframe';
import { frame, recordingLogger, Resources, tlsCert, tlsKey, waitUntil } from '../helpers/net';
import { expectEcho, expectEchoFromNewClient, rawClient, startTcp } from '../server/support';

const resources = new Resources();
afterEach(async () => {
  await resources.closeAll();
  jest.restoreAllMocks();
});

type WarningCall = [message: string, options: { type: string; code: string; detail: string }];

function spyOnWarnings(): WarningCall[] {
  const calls: WarningCall[] = [];
  jest.spyOn(process, 'emitWarning').mockImplementation(((message: string, options: WarningCall[1]) => {
    calls.push([message, options]);
  }) as typeof process.emitWarning);
  return calls;
}

describe('with no error listener and no logger', () => {
  test('a throwing listener is a process warning with its code, rate-limited under a flood', async () => {
    const warnings = spyOnWarnings();
    const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 500 }));
    server.on('message', () => {
      throw new Error('listener bug');
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(resources, { port })));
    for (const client of clients) client.write(frame('boom'));
    await Promise.all(clients.map((c) => c.closed));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    // One at once, then at most one a second: 20 faults in a few milliseconds make 1 or 2.
    expect(warnings.length).toBeLessThanOrEqual(2);
    expect(warnings[0]?.[1]).toEqual(
      expect.objectContaining({ type: 'SockframeWarning', code: 'ERR_LISTENER_THREW' }),
    );
    expect(warnings[0]?.[0]).toContain('listener bug');
  });

  test("a peer's faults stay quiet, but the first one says how to observe them", async () => {
    const warnings = spyOnWarnings();
    const server = resources.add(new TcpServer({ maxMessageSize: 16 }), (s) => s.close({ timeout: 500 }));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    for (let i = 0; i < 3; i++) {
      const offender = await rawClient(resources, { port });
      offender.write(frame(Buffer.alloc(64)));
      await offender.closed;
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1].code).toBe('ERR_FRAME_TOO_LARGE');
    expect(warnings[0]?.[1].detail).toContain("'error'");
  });

  test('nothing is warned when an error listener or a logger observes the faults', async () => {
    const warnings = spyOnWarnings();
    const { server, port } = await startTcp(resources, {}, { echo: false });
    server.on('message', () => {
      throw new Error('observed bug');
    });
    const { logger } = recordingLogger('warn');
    const logged = resources.add(new TcpServer({ logger }), (s) => s.close({ timeout: 500 }));
    logged.on('message', () => {
      throw new Error('logged bug');
    });
    const other = await logged.listen({ port: 0, host: '127.0.0.1' });
    const a = await rawClient(resources, { port });
    const b = await rawClient(resources, { port: other.port });
    a.write(frame('x'));
    b.write(frame('y'));
    await Promise.all([a.closed, b.closed]);
    expect(warnings).toEqual([]);
  });

  test("a client's unobserved listener fault is a warning too", async () => {
    const warnings = spyOnWarnings();
    const { port } = await startTcp(resources);
    const client = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (c) => c.close());
    client.on('message', () => {
      throw new Error('client listener bug');
    });
    const closed = new Promise((resolve) => client.once('close', resolve));
    await client.connect();
    client.send('ping');
    await closed;
    expect(warnings.map((w) => w[1].code)).toEqual(['ERR_LISTENER_THREW']);
  });
});

describe('a framing factory that throws', () => {
  test('on a server: that socket is destroyed, ERR_FRAMING_HOOK_FAILED is reported, the slot is freed', async () => {
    const bug = new Error('factory bug');
    let calls = 0;
    const { server, port, recorded } = await startTcp(resources, {
      maxConnections: 2,
      framing: () => {
        if (++calls === 2) throw bug;
        return lengthField();
      },
    });
    const drops: unknown[] = [];
    server.on('drop', (info) => drops.push(info));
    const first = await rawClient(resources, { port });
    await expectEcho(first, 'first');
    const victim = await rawClient(resources, { port });
    await victim.closed;
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the error');
    const { err, conn } = recorded.errors[0] as { err: SockframeError; conn: unknown };
    expect(err).toBeInstanceOf(FramingHookError);
    expect(err.code).toBe('ERR_FRAMING_HOOK_FAILED');
    expect(err.cause).toBe(bug);
    expect(conn).toBeUndefined();
    // With the failed socket counted, maxConnections 2 would refuse this one.
    await expectEchoFromNewClient(resources, port, 'third');
    expect(drops).toEqual([]);
    expect(server.connections.size).toBe(2);
    await server.close({ timeout: 1000 });
  });

  test('on a client: connect() rejects with ERR_FRAMING_HOOK_FAILED, even with reconnect on', async () => {
    const { port } = await startTcp(resources);
    const bug = new Error('client factory bug');
    let calls = 0;
    const client = resources.add(
      new TcpClient({
        port,
        host: '127.0.0.1',
        reconnect: { initialDelay: 1, maxAttempts: 3 },
        framing: () => {
          if (++calls > 1) throw bug;
          return lengthField();
        },
      }),
      (c) => c.close(),
    );
    const failure = await client.connect().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(FramingHookError);
    expect((failure as FramingHookError).cause).toBe(bug);
    expect(calls).toBe(2);
  });
});

describe('failed TLS handshakes', () => {
  test('a flood is logged at a limited rate, each one counted, each one an error event', async () => {
    const { logger, records } = recordingLogger('warn');
    const server = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert, logger }), (s) =>
      s.close({ timeout: 500 }),
    );
    const errors: SockframeError[] = [];
    server.on('error', (err) => errors.push(err));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const flood = 30;
    await Promise.all(
      Array.from(
        { length: flood },
        () =>
          new Promise<void>((resolve) => {
            const socket = netConnect(port, '127.0.0.1', () =>
              socket.write('not a TLS client hello\r\n\r\n'),
            );
            resources.socket(socket);
            socket.on('error', () => {});
            socket.once('close', () => resolve());
          }),
      ),
    );
    await waitUntil(() => errors.length === flood, 5000, 'every failed handshake');
    await server.close({ timeout: 500 });
    const handshakeRecords = records.filter((r) => r.component === 'tls-server' && r.level === 40);
    expect(handshakeRecords.length).toBeGreaterThanOrEqual(1);
    expect(handshakeRecords.length).toBeLessThanOrEqual(3);
    const counted = handshakeRecords.reduce((n, r) => n + (typeof r.failed === 'number' ? r.failed : 1), 0);
    expect(counted).toBe(flood);
  });
});
