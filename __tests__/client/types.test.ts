// Compile-time checks: `npm run typecheck` fails if any line marked @ts-expect-error compiles,
// so each of them proves that a misuse is rejected by the types. The runtime part checks that
// the typed listeners get what their types promise.
import {
  IpcClient,
  TcpClient,
  TlsClient,
  type ClientEvents,
  type CloseReason,
  type ReconnectingInfo,
  type SockframeError,
  type SockframeErrorCode,
} from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { echoServer } from './support';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

const resources = new Resources();
afterEach(() => resources.closeAll());

test('the event map is exactly the documented one', () => {
  const names: Equal<
    keyof ClientEvents,
    'connect' | 'message' | 'close' | 'reconnecting' | 'drain' | 'error' | 'notification' | 'end'
  > = true;
  const message: Equal<Parameters<ClientEvents['message']>, [message: Buffer]> = true;
  const close: Equal<Parameters<ClientEvents['close']>, [reason: CloseReason]> = true;
  const reconnecting: Equal<Parameters<ClientEvents['reconnecting']>, [info: ReconnectingInfo]> = true;
  const info: Equal<ReconnectingInfo, { readonly attempt: number; readonly delayMs: number }> = true;
  const error: Equal<Parameters<ClientEvents['error']>, [err: SockframeError]> = true;
  const noArguments: Equal<Parameters<ClientEvents['connect'] | ClientEvents['drain']>, []> = true;
  expect([names, message, close, reconnecting, info, error, noArguments]).toEqual(Array(7).fill(true));
});

test('wrong event names and listener signatures do not compile', async () => {
  const { port } = await echoServer(resources);
  const c = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (x) => x.close());
  const seen: string[] = [];

  // @ts-expect-error 'connect' has no payload (emitted before any listener is added)
  c.emit('connect', 'extra');
  // @ts-expect-error a message is a Buffer
  c.emit('message', 'text');

  c.on('connect', () => seen.push('connect'));
  c.on('message', (message) => seen.push(`message ${Buffer.isBuffer(message)} ${message.toString()}`));
  c.on('close', (reason) => seen.push(`close ${reason.kind}`));
  c.on('reconnecting', ({ attempt, delayMs }) => seen.push(`reconnecting ${attempt + delayMs}`));
  c.on('drain', () => seen.push('drain'));
  c.on('error', (err) => {
    const code: SockframeErrorCode = err.code;
    seen.push(code);
  });

  // @ts-expect-error there is no 'data' event: messages come whole, as 'message'
  c.on('data', () => {});
  // @ts-expect-error 'end' takes no arguments
  c.once('end', (_x: string) => {});
  // @ts-expect-error a message is a Buffer, not a string
  c.on('message', (message: string) => message);
  // @ts-expect-error 'close' carries a CloseReason, not a hadError flag
  c.on('close', (hadError: boolean) => hadError);
  // @ts-expect-error 'reconnecting' carries one object, not positional arguments
  c.on('reconnecting', (attempt: number, delayMs: number) => attempt + delayMs);
  // @ts-expect-error 'error' listeners get a SockframeError, whose code is a known string
  c.on('error', (err: { code: number }) => err);
  // @ts-expect-error the hooks are protected: for subclasses, not for callers
  c.onMessage(Buffer.alloc(0));

  await c.connect();
  c.send('typed');
  await waitUntil(() => seen.includes('message true typed'), 5000, 'the echo');
  await c.close();
  expect(seen).toEqual(['connect', 'message true typed', 'close closed']);
});

test('wrong payloads and options do not compile, and throw when forced', () => {
  const c = new TcpClient({ port: 9, host: '127.0.0.1', queueWhileDisconnected: true });
  expect(() =>
    // @ts-expect-error a number is not a payload
    c.send(42),
  ).toThrow(TypeError);
  expect(
    () =>
      // @ts-expect-error a TCP client needs a port
      new TcpClient({ host: '127.0.0.1' }),
  ).toThrow(TypeError);
  expect(
    () =>
      // @ts-expect-error an IPC client takes a path, not a port
      new IpcClient({ port: 9 }),
  ).toThrow(TypeError);
  expect(
    () =>
      // @ts-expect-error connectTimeout is milliseconds
      new TcpClient({ port: 9, connectTimeout: '10s' }),
  ).toThrow(TypeError);
  expect(
    () =>
      // @ts-expect-error reconnect is a boolean or ReconnectOptions
      new TcpClient({ port: 9, reconnect: 'always' }),
  ).toThrow(TypeError);
  // @ts-expect-error an unknown ReconnectOptions field
  expect(() => new TcpClient({ port: 9, reconnect: { retries: 3 } })).toThrow(/"retries"/);
  // @ts-expect-error a TLS client connects to a host and port, never a path
  expect(() => new TlsClient({ port: 9, path: '/tmp/x.sock' })).toThrow(/"path"/);
  // node:tls options pass through, typed.
  expect(
    new TlsClient({ port: 9, ca: 'pem', servername: 'localhost', rejectUnauthorized: true }),
  ).toBeInstanceOf(TlsClient);
  // @ts-expect-error rejectUnauthorized is a boolean
  expect(new TlsClient({ port: 9, rejectUnauthorized: 'no' })).toBeInstanceOf(TlsClient);
  // @ts-expect-error connect() takes { signal }, an AbortSignal
  const connecting = c.connect({ signal: 'stop' }).catch((err: unknown) => err);
  return connecting.then(async (err) => {
    expect(err).toEqual(new TypeError('The "signal" option must be an AbortSignal; got "stop".'));
    expect(c.connected).toBe(false);
    await c.close();
  });
});

test('a subclass overriding a hook must keep its signature', () => {
  class Good extends TcpClient {
    last: string | undefined;
    protected override onMessage(message: Buffer): void {
      this.last = message.toString();
    }
    protected override onClose(reason: CloseReason): void {
      this.last = reason.kind;
    }
  }
  class Bad extends TcpClient {
    // @ts-expect-error a message is a Buffer
    protected override onMessage(message: number): void {
      void message;
    }
    // @ts-expect-error there is no onData hook to override
    protected override onData(): void {}
  }
  expect(new Good({ port: 9 })).toBeInstanceOf(TcpClient);
  expect(new Bad({ port: 9 })).toBeInstanceOf(TcpClient);
});
