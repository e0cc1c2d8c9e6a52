import {
  ListenerError,
  TcpClient,
  type CloseReason,
  type SockframeError,
  type TcpClientOptions,
} from 'sockframe';
import { Resources, recordingLogger, waitUntil } from '../helpers/net';
import { echoServer, nextEvent, rawServer } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A client written by overriding the hooks instead of subscribing. */
class RecordingClient extends TcpClient {
  readonly calls: string[] = [];

  constructor(options: TcpClientOptions) {
    super(options);
  }

  protected override onConnect(): void {
    this.calls.push('hook connect');
  }

  protected override onMessage(message: Buffer): void {
    this.calls.push(`hook message ${message.toString()}`);
  }

  protected override onClose(reason: CloseReason): void {
    this.calls.push(`hook close ${reason.kind}`);
  }

  protected override onError(err: SockframeError): void {
    this.calls.push(`hook error ${err.code}`);
  }
}

/** A client that answers every message itself, from its hook. */
class CountingClient extends TcpClient {
  count = 0;

  protected override onMessage(message: Buffer): void {
    this.count = Number(message.toString());
    if (this.count < 5) this.send(String(this.count + 1));
  }
}

test('hooks run before the listeners of the same event, and both see every event', async () => {
  const { port } = await echoServer(resources, { maxMessageSize: 64 });
  const c = resources.add(new RecordingClient({ port, host: '127.0.0.1', maxMessageSize: 64 }), (x) =>
    x.close(),
  );
  c.on('connect', () => c.calls.push('listener connect'));
  c.on('message', (message) => c.calls.push(`listener message ${message.toString()}`));
  c.on('close', (reason) => c.calls.push(`listener close ${reason.kind}`));
  c.on('error', (err) => c.calls.push(`listener error ${err.code}`));
  await c.connect();
  c.send('hi');
  await waitUntil(() => c.calls.length === 4, 5000, 'the echo');
  await c.close();
  expect(c.calls).toEqual([
    'hook connect',
    'listener connect',
    'hook message hi',
    'listener message hi',
    'hook close closed',
    'listener close closed',
  ]);
});

test('onError sees faults even with no error listener', async () => {
  const { port } = await rawServer(resources, (socket) => socket.write(Buffer.from([0, 0, 1, 0])));
  const c = resources.add(new RecordingClient({ port, host: '127.0.0.1', maxMessageSize: 64 }), (x) =>
    x.close(),
  );
  await c.connect();
  await waitUntil(() => c.calls.includes('hook close error'), 5000, 'the close');
  expect(c.calls).toEqual(['hook connect', 'hook error ERR_FRAME_TOO_LARGE', 'hook close error']);
});

test('a subclass can drive a conversation from its hooks alone', async () => {
  const { port } = await echoServer(resources);
  const c = resources.add(new CountingClient({ port, host: '127.0.0.1' }), (x) => x.close());
  await c.connect();
  c.send('1');
  await waitUntil(() => c.count === 5, 5000, 'the count to reach 5');
  expect(c.connection?.stats.messagesIn).toBe(5);
});

test('a throwing message listener closes the connection with ERR_LISTENER_THREW; the process carries on', async () => {
  const { port } = await echoServer(resources);
  const c = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (x) => x.close());
  const errors: SockframeError[] = [];
  c.on('error', (err) => errors.push(err));
  c.on('message', () => {
    throw new Error('listener bug');
  });
  await c.connect();
  const closed = nextEvent<[CloseReason]>(c, 'close');
  c.send('boom');
  const [reason] = await closed;
  expect(errors).toHaveLength(1);
  const err = errors[0] as ListenerError;
  expect(err).toBeInstanceOf(ListenerError);
  expect(err).toMatchObject({ code: 'ERR_LISTENER_THREW', event: 'message' });
  expect((err.cause as Error).message).toBe('listener bug');
  expect(reason).toEqual({ kind: 'error', error: err });
});

test('a throwing error listener is logged, never thrown', async () => {
  const { logger, records } = recordingLogger();
  const { port } = await rawServer(resources, (socket) =>
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff])),
  );
  const c = resources.add(new TcpClient({ port, host: '127.0.0.1', logger }), (x) => x.close());
  c.on('error', () => {
    throw new Error('error listener bug');
  });
  const closed = nextEvent(c, 'close');
  await c.connect();
  await closed;
  expect(records.some((r) => r.msg === "an 'error' listener threw")).toBe(true);
});
