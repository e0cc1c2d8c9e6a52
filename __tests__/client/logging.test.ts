import { IpcClient, IpcServer, TcpClient, TlsClient, TlsServer } from 'sockframe';
import { recordingLogger, Resources, tmpSocketPath, waitUntil } from '../helpers/net';
import { echoServer, releasedPort, tlsCert, tlsKey } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

type LogRecord = Record<string, unknown>;

const DEBUG = 20;
const INFO = 30;
const WARN = 40;

function named(records: LogRecord[], msg: string): LogRecord[] {
  return records.filter((r) => r.msg === msg);
}

test('a connection’s life is logged: connecting, connected, closed with reason and counters, client closed', async () => {
  const { logger, records } = recordingLogger();
  const { port } = await echoServer(resources);
  const target = `127.0.0.1:${port}`;
  const c = resources.add(new TcpClient({ port, host: '127.0.0.1', logger }), (x) => x.close());
  let echoes = 0;
  c.on('message', () => echoes++);
  await c.connect();
  c.send('secret-payload-1');
  c.send('secret-payload-2');
  await waitUntil(() => echoes === 2, 5000, 'the echoes');
  await c.close();

  const mine = records.filter((r) => r.component === 'tcp-client');
  expect(mine).toHaveLength(records.length);
  expect(named(records, 'connecting')).toEqual([expect.objectContaining({ level: DEBUG, target })]);
  expect(named(records, 'connected')).toEqual([expect.objectContaining({ level: INFO, target, connId: 1 })]);
  const frameBytes = 2 * (4 + 'secret-payload-1'.length);
  expect(named(records, 'connection closed')).toEqual([
    expect.objectContaining({
      connId: 1,
      reason: 'closed',
      bytesIn: frameBytes,
      bytesOut: frameBytes,
      messagesIn: 2,
      messagesOut: 2,
      durationMs: expect.any(Number) as number,
    }),
  ]);
  expect(named(records, 'client closed')).toEqual([expect.objectContaining({ level: INFO })]);
  const order = records.map((r) => r.msg);
  expect(order.indexOf('connecting')).toBeLessThan(order.indexOf('connected'));
  expect(order.indexOf('connected')).toBeLessThan(order.indexOf('connection closed'));
  // Payload bytes are never logged at debug.
  expect(JSON.stringify(records)).not.toContain('secret-payload');
});

test('reconnect attempts, their failures, faults and giving up are logged', async () => {
  const { logger, records } = recordingLogger();
  const first = await echoServer(resources, { maxMessageSize: 1 << 20 });
  const c = resources.add(
    new TcpClient({
      port: first.port,
      host: '127.0.0.1',
      logger,
      maxMessageSize: 100,
      reconnect: { initialDelay: 5, maxDelay: 10, maxAttempts: 2 },
    }),
    (x) => x.close(),
  );
  c.on('error', () => {});
  await c.connect();
  c.send(Buffer.alloc(200)); // its echo is over the client's maxMessageSize
  await waitUntil(() => named(records, 'connection closed').length === 1, 5000, 'the fault');
  await first.server.close();
  await waitUntil(() => named(records, 'giving up reconnecting').length === 1, 5000, 'giving up');

  expect(named(records, 'error')[0]).toEqual(
    expect.objectContaining({ level: WARN, code: 'ERR_FRAME_TOO_LARGE' }),
  );
  expect(named(records, 'connection closed')[0]).toEqual(
    expect.objectContaining({ reason: 'error', error: 'ERR_FRAME_TOO_LARGE', connId: 1 }),
  );
  const reconnecting = named(records, 'reconnecting');
  expect(reconnecting.map((r) => r.attempt)).toEqual(expect.arrayContaining([1, 2]));
  for (const r of reconnecting) {
    expect(r.level).toBe(INFO);
    expect(typeof r.delayMs).toBe('number');
  }
  expect(named(records, 'connect attempt failed').length).toBeGreaterThanOrEqual(1);
  expect(named(records, 'giving up reconnecting')[0]).toEqual(expect.objectContaining({ level: WARN }));
  // The last failure is reported as an error too.
  expect(named(records, 'error').at(-1)).toEqual(expect.objectContaining({ code: 'ERR_SOCKET' }));
});

test('a refused connect() is logged at debug as a failed attempt, not as an error', async () => {
  const { logger, records } = recordingLogger();
  const port = await releasedPort();
  const c = resources.add(new TcpClient({ port, host: '127.0.0.1', logger }), (x) => x.close());
  await expect(c.connect()).rejects.toMatchObject({ code: 'ERR_SOCKET' });
  expect(named(records, 'connecting')).toHaveLength(1);
  expect(named(records, 'connect attempt failed')).toEqual([expect.objectContaining({ level: DEBUG })]);
  expect(named(records, 'error')).toEqual([]);
});

test('TLS and IPC clients log under their own component', async () => {
  const { logger, records } = recordingLogger();
  const tlsServer = resources.add(new TlsServer({ key: tlsKey, cert: tlsCert }), (s) => s.close());
  const { port } = await tlsServer.listen({ port: 0, host: '127.0.0.1' });
  const tls = resources.add(new TlsClient({ port, host: '127.0.0.1', ca: tlsCert, logger }), (x) =>
    x.close(),
  );
  await tls.connect();
  const path = tmpSocketPath();
  const ipcServer = resources.add(new IpcServer(), (s) => s.close());
  await ipcServer.listen({ path });
  const ipc = resources.add(new IpcClient({ path, logger }), (x) => x.close());
  await ipc.connect();
  expect(named(records, 'connected')).toEqual([
    expect.objectContaining({ component: 'tls-client', target: `127.0.0.1:${port}` }),
    expect.objectContaining({ component: 'ipc-client', target: path }),
  ]);
});
