import { Socket } from 'node:net';
import {
  AlreadyListeningError,
  IpcServer,
  STREAM_SERVER_DEFAULTS,
  TcpServer,
  TlsServer,
  type TcpServerOptions,
} from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { rawClient, startTcp } from './support';

const resources = new Resources();
afterEach(() => {
  jest.restoreAllMocks();
  return resources.closeAll();
});

test('the defaults are those documented', () => {
  expect(STREAM_SERVER_DEFAULTS).toEqual({
    maxMessageSize: 16 * 1024 * 1024,
    maxHeaderBytes: 64 * 1024,
    maxPendingBytes: 16 * 1024 * 1024,
    allowHalfOpen: false,
    memoryBudget: 512 * 1024 * 1024,
    maxConnections: 10_000,
    idleTimeout: 120_000,
    messageTimeout: 30_000,
    noDelay: true,
    keepAlive: false,
    closeTimeout: 5_000,
  });
  expect(Object.isFrozen(STREAM_SERVER_DEFAULTS)).toBe(true);
});

test.each<[string, unknown, string]>([
  ['maxMessageSize', 0, 'The "maxMessageSize" option must be a positive integer; got 0.'],
  ['maxMessageSize', 1.5, 'The "maxMessageSize" option must be a positive integer; got 1.5.'],
  ['maxPendingBytes', '1mb', 'The "maxPendingBytes" option must be a positive integer; got "1mb".'],
  ['maxConnections', -1, 'The "maxConnections" option must be a positive integer; got -1.'],
  [
    'idleTimeout',
    -5,
    'The "idleTimeout" option must be a number of milliseconds from 0 to 2147483647; got -5.',
  ],
  [
    'messageTimeout',
    Infinity,
    'The "messageTimeout" option must be a number of milliseconds from 0 to 2147483647; got Infinity.',
  ],
  ['noDelay', 'yes', 'The "noDelay" option must be a boolean; got "yes".'],
  [
    'keepAlive',
    'on',
    'The "keepAlive" option must be a number of milliseconds from 0 to 2147483647; got "on".',
  ],
  ['logger', console, 'The "logger" option must be a pino logger.'],
  [
    'framing',
    { headerSize: 0, messageLength: () => 1 },
    'A framing\'s "headerSize" must be an integer of at least 1.',
  ],
])('a misused %s option throws a TypeError at construction', (name, value, sentence) => {
  const options = { [name]: value } as TcpServerOptions;
  expect(() => new TcpServer(options)).toThrow(new TypeError(sentence));
  expect(() => new IpcServer(options)).toThrow(TypeError);
});

test('a TLS server without options is a TypeError', () => {
  expect(() => new TlsServer(undefined as never)).toThrow(
    'TlsServer needs options with at least a key and a cert (or pfx).',
  );
});

test('close() with a bad timeout is a TypeError', async () => {
  const server = new TcpServer();
  expect(() => server.close({ timeout: -1 })).toThrow(TypeError);
  await server.close();
});

test('listening twice is refused with ERR_ALREADY_LISTENING, also while the first is binding', async () => {
  const { server } = await startTcp(resources);
  await expect(server.listen({ port: 0 })).rejects.toMatchObject({
    code: 'ERR_ALREADY_LISTENING',
    message: 'The server is already listening.',
  });
  const binding = resources.add(new TcpServer(), (s) => s.close());
  const first = binding.listen({ port: 0, host: '127.0.0.1' });
  await expect(binding.listen({ port: 0 })).rejects.toBeInstanceOf(AlreadyListeningError);
  expect((await first).port).toBeGreaterThan(0);
  expect(binding.address()).toBeDefined();
});

test('a busy port gives ERR_ADDRESS_IN_USE and the server can listen elsewhere', async () => {
  const { port } = await startTcp(resources);
  const second = resources.add(new TcpServer(), (s) => s.close());
  await expect(second.listen({ port, host: '127.0.0.1' })).rejects.toMatchObject({
    code: 'ERR_ADDRESS_IN_USE',
    address: `127.0.0.1:${port}`,
  });
  const elsewhere = await second.listen({ port: 0, host: '127.0.0.1' });
  expect(elsewhere.port).not.toBe(port);
});

test('noDelay and keepAlive are applied to each accepted socket', async () => {
  const noDelay = jest.spyOn(Socket.prototype, 'setNoDelay');
  const keepAlive = jest.spyOn(Socket.prototype, 'setKeepAlive');
  const { server, port } = await startTcp(resources, { noDelay: false, keepAlive: 15_000 });
  const client = await rawClient(resources, { port });
  await waitUntil(() => server.connections.size === 1, 5000, 'the connection');
  const callsOn = (spy: jest.SpyInstance): unknown[][] =>
    spy.mock.contexts.flatMap((context, i) =>
      acceptedFor(client.socket, context) ? [spy.mock.calls[i] as unknown[]] : [],
    );
  expect(callsOn(noDelay)).toEqual([[false]]);
  expect(callsOn(keepAlive)).toEqual([[true, 15_000]]);
});

test('by default Nagle is off and keep-alive is left alone', async () => {
  const noDelay = jest.spyOn(Socket.prototype, 'setNoDelay');
  const keepAlive = jest.spyOn(Socket.prototype, 'setKeepAlive');
  const { server, port } = await startTcp(resources);
  const client = await rawClient(resources, { port });
  await waitUntil(() => server.connections.size === 1, 5000, 'the connection');
  const onAccepted = noDelay.mock.contexts.flatMap((context, i) =>
    acceptedFor(client.socket, context) ? [noDelay.mock.calls[i]] : [],
  );
  expect(onAccepted).toEqual([[true]]);
  expect(keepAlive.mock.contexts.filter((context) => acceptedFor(client.socket, context))).toEqual([]);
});

/** Whether `context` is the server's end of `client`'s connection (over loopback TCP). */
function acceptedFor(client: Socket, context: unknown): boolean {
  return context instanceof Socket && context !== client && context.remotePort === client.localPort;
}
