import { IpcServer, TcpServer, TlsServer, type TcpServerOptions } from 'sockframe';
import { connect as tlsConnect } from 'node:tls';
import { frame, recordingLogger, Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import { expectEcho, plainSocket, rawClient, rawTlsClient, tlsCert, tlsKey } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const TRACE = 10;
const DEBUG = 20;
const INFO = 30;
const WARN = 40;
const ERROR = 50;

type LogRecord = Record<string, unknown>;

/** A logged echo server on 127.0.0.1 and its records. */
async function loggedServer(
  options: TcpServerOptions = {},
  level = 'debug',
): Promise<{ server: TcpServer; port: number; records: LogRecord[] }> {
  const { logger, records } = recordingLogger(level);
  const server = resources.add(new TcpServer({ ...options, logger }), (s) => s.close({ timeout: 500 }));
  server.on('message', (conn, message) => {
    if (conn.isOpen) conn.send(message);
  });
  server.on('error', () => {});
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, records };
}

function withMsg(records: LogRecord[], msg: string): LogRecord[] {
  return records.filter((r) => r.msg === msg);
}

async function waitForRecord(records: LogRecord[], msg: string, count = 1): Promise<LogRecord[]> {
  await waitUntil(() => withMsg(records, msg).length >= count, 5000, `${count} '${msg}' record(s)`);
  return withMsg(records, msg);
}

test('listening, accepted and closed are logged at info with the connection and its counters', async () => {
  const { port, records } = await loggedServer();
  expect(withMsg(records, 'listening')).toEqual([
    expect.objectContaining({
      level: INFO,
      component: 'tcp-server',
      address: { address: '127.0.0.1', port, family: 'IPv4' },
    }),
  ]);

  const client = await rawClient(resources, { port });
  const remote = `127.0.0.1:${client.socket.localPort}`;
  await expectEcho(client, 'hello');
  await expectEcho(client, '');
  client.socket.end();
  const [closed] = await waitForRecord(records, 'connection closed');

  expect(withMsg(records, 'connection accepted')).toEqual([
    expect.objectContaining({ level: INFO, component: 'tcp-server', connId: 1, remote }),
  ]);
  expect(closed).toEqual(
    expect.objectContaining({
      level: INFO,
      component: 'tcp-server',
      connId: 1,
      remote,
      reason: 'peer-ended',
      bytesIn: 4 + 5 + 4,
      bytesOut: 4 + 5 + 4,
      messagesIn: 2,
      messagesOut: 2,
    }),
  );
  expect(typeof closed?.durationMs).toBe('number');
  expect(closed?.durationMs as number).toBeGreaterThanOrEqual(0);
  expect(closed?.error).toBeUndefined();
});

test('a refused connection is logged at warn', async () => {
  const { port, records } = await loggedServer({ maxConnections: 1 });
  await expectEcho(await rawClient(resources, { port }), 'in');
  const refused = await rawClient(resources, { port });
  const refusedPort = refused.socket.localPort;
  await refused.closed;
  const [record] = await waitForRecord(records, 'refused');
  expect(record).toEqual(
    expect.objectContaining({
      level: WARN,
      component: 'tcp-server',
      reason: 'max-connections',
      remote: '127.0.0.1',
      remotePort: refusedPort,
      dropped: 1,
      droppedTotal: 1,
      maxConnections: 1,
    }),
  );
});

test('a flood of refused connections is logged once per second, every refusal counted', async () => {
  const { server, port, records } = await loggedServer({ maxConnections: 1 });
  let drops = 0;
  server.on('drop', () => drops++);
  await expectEcho(await rawClient(resources, { port }), 'in');
  const startedAt = Date.now();
  const flood = 60;
  for (let i = 0; i < flood; i++) await (await rawClient(resources, { port })).closed;
  const floodMs = Date.now() - startedAt;
  await waitUntil(() => drops === flood, 5000, 'a drop event per refusal');

  // The first refusal is logged at once; the rest wait for the end of the interval.
  const refusals = (): number => withMsg(records, 'refused').reduce((n, r) => n + (r.dropped as number), 0);
  expect(withMsg(records, 'refused')[0]).toMatchObject({ level: WARN, dropped: 1, remote: '127.0.0.1' });
  await waitUntil(() => refusals() === flood, 3000, 'every refusal in the log');
  const logged = withMsg(records, 'refused');
  // At most one record per second of flood, plus the first and the last.
  expect(logged.length).toBeLessThanOrEqual(2 + Math.floor(floodMs / 1000));
  expect(logged.length).toBeLessThan(flood / 4);
  expect(logged.at(-1)).toMatchObject({ reason: 'max-connections', droppedTotal: flood });
  expect(logged.at(-1)).not.toHaveProperty('remote');
});

test('refusals held back by the rate limit are logged by close()', async () => {
  const { server, port, records } = await loggedServer({ maxConnections: 1 });
  await expectEcho(await rawClient(resources, { port }), 'in');
  for (let i = 0; i < 5; i++) await (await rawClient(resources, { port })).closed;
  await waitUntil(() => withMsg(records, 'refused').length === 1, 5000, 'the first record');
  await server.close({ timeout: 100 });
  expect(withMsg(records, 'refused').map((r) => r.dropped)).toEqual([1, 4]);
});

test.each([
  ['a frame too large', 'ERR_FRAME_TOO_LARGE', { maxMessageSize: 64 }, frame(Buffer.alloc(100))],
  ['an incomplete message at the end', 'ERR_INCOMPLETE_MESSAGE', {}, frame('cut short').subarray(0, 7)],
  ['an idle peer', 'ERR_IDLE_TIMEOUT', { idleTimeout: 150 }, undefined],
  ['a message too slow to finish', 'ERR_MESSAGE_TIMEOUT', { messageTimeout: 150 }, frame('x').subarray(0, 2)],
] as const)(
  'a peer fault (%s) is logged at warn with its code and no stack',
  async (_what, code, options: TcpServerOptions, bytes) => {
    const { port, records } = await loggedServer(options);
    const client = await rawClient(resources, { port });
    if (bytes !== undefined) client.write(bytes);
    if (code === 'ERR_INCOMPLETE_MESSAGE') client.socket.end();
    const [fault] = await waitForRecord(records, 'error');
    expect(fault).toEqual(expect.objectContaining({ level: WARN, code, connId: 1 }));
    expect(typeof fault?.detail).toBe('string');
    expect(fault?.err).toBeUndefined();
    expect(JSON.stringify(fault)).not.toContain('    at ');
    const [closed] = await waitForRecord(records, 'connection closed');
    expect(closed).toEqual(expect.objectContaining({ level: INFO, reason: 'error', error: code }));
  },
);

test('a slow consumer is logged at warn', async () => {
  const { server, port, records } = await loggedServer({ maxPendingBytes: 256 * 1024 });
  const client = await rawClient(resources, { port });
  client.socket.pause();
  await waitUntil(() => server.connections.size === 1, 5000, 'the connection');
  const conn = [...server.connections.values()][0];
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < 2000 && conn?.isOpen; i++) conn.send(chunk);
  const [fault] = await waitForRecord(records, 'error');
  expect(fault).toEqual(expect.objectContaining({ level: WARN, code: 'ERR_SLOW_CONSUMER', connId: 1 }));
  expect(fault?.err).toBeUndefined();
  client.socket.resume();
});

test('a throwing listener is an application bug: logged at error, with its stack', async () => {
  const { server, port, records } = await loggedServer();
  server.on('message', () => {
    throw new Error('listener bug');
  });
  const client = await rawClient(resources, { port });
  client.write(frame('boom'));
  await client.closed;
  const [fault] = await waitForRecord(records, 'error');
  expect(fault).toEqual(expect.objectContaining({ level: ERROR, code: 'ERR_LISTENER_THREW', connId: 1 }));
  const err = fault?.err as { message: string; stack: string };
  expect(err.message).toContain('listener bug');
  expect(err.stack).toContain('ListenerError');
});

test("a throwing 'error' listener is logged at error", async () => {
  const { server, port, records } = await loggedServer({ maxMessageSize: 16 });
  server.on('error', () => {
    throw new Error('error listener bug');
  });
  const client = await rawClient(resources, { port });
  client.write(frame(Buffer.alloc(32)));
  const [record] = await waitForRecord(records, "an 'error' listener threw");
  expect(record).toEqual(expect.objectContaining({ level: ERROR, connId: 1 }));
  expect((record?.err as { message: string }).message).toBe('error listener bug');
});

test('payload bytes are logged only at trace', async () => {
  const secret = 'payload-that-must-stay-private';
  const secretHex = Buffer.from(secret).toString('hex');
  const quiet = await loggedServer({}, 'debug');
  const quietClient = await rawClient(resources, { port: quiet.port });
  await expectEcho(quietClient, secret);
  quietClient.socket.end();
  await waitForRecord(quiet.records, 'connection closed');
  expect(quiet.records.length).toBeGreaterThan(2);
  for (const record of quiet.records) {
    const text = JSON.stringify(record);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secretHex);
  }

  const verbose = await loggedServer({}, 'trace');
  const verboseClient = await rawClient(resources, { port: verbose.port });
  await expectEcho(verboseClient, secret);
  const [traced] = await waitForRecord(verbose.records, 'message received');
  expect(traced).toEqual(
    expect.objectContaining({ level: TRACE, connId: 1, bytes: secret.length, payload: secretHex }),
  );
  const carrying = verbose.records.filter((r) => JSON.stringify(r).includes(secretHex));
  expect(carrying.every((r) => r.level === TRACE)).toBe(true);
});

test('closing is logged, and connections destroyed at the timeout at warn', async () => {
  const { server, port, records } = await loggedServer();
  const lingering = await plainSocket(resources, port, true);
  lingering.write(frame('stay'));
  await waitUntil(() => server.connections.size === 1, 5000, 'the connection');
  await server.close({ timeout: 200 });
  expect(withMsg(records, 'closing')).toEqual([
    expect.objectContaining({ level: INFO, connections: 1, timeoutMs: 200 }),
  ]);
  expect(withMsg(records, 'destroying connections left at the close timeout')).toEqual([
    expect.objectContaining({ level: WARN, connections: 1 }),
  ]);
  expect(withMsg(records, 'connection closed')).toEqual([
    expect.objectContaining({ level: INFO, reason: 'server-closing' }),
  ]);
  expect(withMsg(records, 'closed')).toEqual([expect.objectContaining({ level: INFO })]);
});

test('TLS and IPC servers log under their own component; a failed handshake is a warn', async () => {
  const { logger, records } = recordingLogger('debug');
  const tls = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert, logger }), (s) => s.close());
  const ipc = resources.add(new IpcServer({ logger }), (s) => s.close());
  tls.on('error', () => {});
  const { port } = await tls.listen({ port: 0, host: '127.0.0.1' });
  await ipc.listen({ path: tmpSocketPath() });
  await rawTlsClient(resources, port);
  await waitForRecord(records, 'connection accepted');
  expect(withMsg(records, 'listening').map((r) => r.component)).toEqual(['tls-server', 'ipc-server']);
  expect(withMsg(records, 'connection accepted')[0]).toEqual(
    expect.objectContaining({ level: INFO, component: 'tls-server' }),
  );

  const untrusting = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost' });
  resources.add(untrusting, (s) => s.destroy());
  untrusting.once('error', () => untrusting.destroy());
  const [fault] = await waitForRecord(records, 'error');
  expect(fault).toEqual(
    expect.objectContaining({ level: WARN, component: 'tls-server', code: 'ERR_SOCKET' }),
  );
  expect(fault?.err).toBeUndefined();
  expect(withMsg(records, 'TLS handshake failed')[0]?.level).toBe(DEBUG);
});

test('a logger that is not a pino logger is refused at construction', () => {
  expect(() => new TcpServer({ logger: {} as never })).toThrow('The "logger" option must be a pino logger.');
});
