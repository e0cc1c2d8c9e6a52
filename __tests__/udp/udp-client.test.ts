import {
  ConnectAbortedError,
  NotConnectedError,
  SocketError,
  UdpClient,
  UdpServer,
  type CloseReason,
  type SockframeError,
} from 'sockframe';
import { recordingLogger, Resources, waitUntil } from '../helpers/net';
import { RawUdp } from './udp-helpers';

const resources = new Resources();
afterEach(() => resources.closeAll());

function client(options: ConstructorParameters<typeof UdpClient>[0]): UdpClient {
  return resources.add(new UdpClient(options), (c) => c.close({ timeout: 500 }));
}

async function raw(): Promise<RawUdp> {
  return resources.add(await RawUdp.bind('udp4'), (r) => r.close());
}

/** A port nobody listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const probe = await RawUdp.bind('udp4');
  const port = probe.port;
  await probe.close();
  return port;
}

test('send() throws ERR_NOT_CONNECTED before connect() and after close(); connect() after close() rejects', async () => {
  const s = await raw();
  const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  expect(c.connected).toBe(false);
  expect(() => c.send('early')).toThrow(NotConnectedError);
  expect(() => c.send('early')).toThrow(`Not connected to 127.0.0.1:${s.port}; call connect() first`);
  await c.connect();
  expect(c.connected).toBe(true);
  await c.connect(); // already connected: resolves at once
  c.send('hello');
  expect((await s.waitForMessages(1))[0]?.toString()).toBe('hello');
  await c.close();
  expect(c.connected).toBe(false);
  const err = (() => {
    try {
      c.send('late');
    } catch (e) {
      return e as SockframeError;
    }
    return undefined;
  })();
  expect(err).toBeInstanceOf(NotConnectedError);
  expect(err?.code).toBe('ERR_NOT_CONNECTED');
  await expect(c.connect()).rejects.toBeInstanceOf(ConnectAbortedError);
});

test("'connect' and 'close' events; close() is idempotent; closing an unconnected client emits no 'close'", async () => {
  const s = await raw();
  const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  const events: string[] = [];
  const reasons: CloseReason[] = [];
  c.on('connect', () => events.push('connect'));
  c.on('close', (reason) => {
    events.push('close');
    reasons.push(reason);
  });
  await c.connect();
  const first = c.close();
  expect(c.close()).toBe(first);
  await first;
  expect(events).toEqual(['connect', 'close']);
  expect(reasons).toEqual([{ kind: 'closed' }]);

  const never = new UdpClient({ type: 'udp4', host: '127.0.0.1', port: s.port });
  let closed = false;
  never.on('close', () => (closed = true));
  await never.close();
  expect(closed).toBe(false);
});

test('connect() is aborted by its signal and by close()', async () => {
  const s = await raw();
  const aborted = new AbortController();
  aborted.abort(new Error('not now'));
  const a = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  await expect(a.connect({ signal: aborted.signal })).rejects.toBeInstanceOf(ConnectAbortedError);
  expect(a.connected).toBe(false);

  const b = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  const pending = b.connect();
  const closing = b.close();
  await expect(pending).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
  await closing;
  expect(b.connected).toBe(false);
});

test("connect()'s misused arguments reject with a TypeError before any socket is made", async () => {
  const s = await raw();
  const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  await expect(c.connect(null as never)).rejects.toEqual(
    new TypeError('connect() takes an options object; got null.'),
  );
  await expect(c.connect({ signal: {} as AbortSignal })).rejects.toEqual(
    new TypeError('The "signal" option must be an AbortSignal; got an object.'),
  );
  expect(c.address()).toBeUndefined();
  // The client is still usable.
  await c.connect();
  expect(c.connected).toBe(true);
});

test('a connect() joining an attempt under way is ended by its own signal; the attempt goes on', async () => {
  const s = await raw();
  const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  const first = c.connect();
  const controller = new AbortController();
  const second = c.connect({ signal: controller.signal });
  controller.abort();
  await expect(second).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
  await first;
  expect(c.connected).toBe(true);
});

test('messages() iterates what arrives and ends when the client closes', async () => {
  const udp = resources.add(new UdpServer({ type: 'udp4' }), (s) => s.close({ timeout: 500 }));
  udp.on('message', (peer, message) => {
    peer.send(`${message.toString()}!`);
  });
  const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
  const c = client({ type: 'udp4', host: '127.0.0.1', port });
  await c.connect();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const message of c.messages()) {
      seen.push(message.toString());
      if (seen.length === 3) void c.close();
    }
  })();
  c.send('a');
  await waitUntil(() => seen.length === 1, 5000, 'first reply');
  c.send('b');
  await waitUntil(() => seen.length === 2, 5000, 'second reply');
  c.send('c');
  await reading;
  expect(seen).toEqual(['a!', 'b!', 'c!']);
  expect(c.connected).toBe(false);
});

test('ICMP port unreachable is an ERR_SOCKET error event (ECONNREFUSED), not a crash; the client stays usable', async () => {
  const port = await freePort();
  const c = client({ type: 'udp4', host: '127.0.0.1', port });
  const errors: SockframeError[] = [];
  c.on('error', (err) => errors.push(err));
  await c.connect();
  c.send('anyone?');
  await waitUntil(() => errors.length >= 1, 5000, 'the refusal');
  expect(errors[0]).toBeInstanceOf(SocketError);
  expect(errors[0]).toMatchObject({ code: 'ERR_SOCKET', syscallCode: 'ECONNREFUSED' });
  expect(c.connected).toBe(true);

  // Once someone listens on the port, the same client reaches it.
  const later = resources.add(new UdpServer({ type: 'udp4' }), (s) => s.close({ timeout: 500 }));
  const messages: string[] = [];
  later.on('message', (_peer, m) => messages.push(m.toString()));
  await later.listen({ port, host: '127.0.0.1' });
  c.send('now?');
  await waitUntil(() => messages.length === 1, 5000, 'the server to hear the client');
  expect(messages).toEqual(['now?']);
});

test('an error without listeners is logged, not thrown', async () => {
  const { logger, records } = recordingLogger();
  const port = await freePort();
  const c = client({ type: 'udp4', host: '127.0.0.1', port, logger });
  await c.connect();
  c.send('x');
  await waitUntil(() => records.some((r) => r.msg === 'error'), 5000, 'the error record');
  expect(records.find((r) => r.msg === 'error')).toMatchObject({
    level: 40,
    component: 'udp-client',
    code: 'ERR_SOCKET',
  });
});

test('a throwing message listener is reported as ERR_LISTENER_THREW; the client keeps receiving', async () => {
  const s = await raw();
  const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port });
  const errors: SockframeError[] = [];
  const messages: string[] = [];
  c.on('error', (err) => errors.push(err));
  c.on('message', (m) => {
    if (m.toString() === 'bad') throw new Error('listener bug');
    messages.push(m.toString());
  });
  await c.connect();
  const local = c.address() as { port: number };
  await s.send('bad', local.port);
  await s.send('good', local.port);
  await waitUntil(() => messages.length === 1 && errors.length === 1, 5000, 'both');
  expect(errors[0]?.code).toBe('ERR_LISTENER_THREW');
  expect(c.connected).toBe(true);
});

test('localAddress and localPort choose the source the server sees', async () => {
  const udp = resources.add(new UdpServer({ type: 'udp4' }), (s) => s.close({ timeout: 500 }));
  const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
  const localPort = await freePort();
  const c = client({ type: 'udp4', host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort });
  await c.connect();
  expect(c.address()).toEqual({ address: '127.0.0.1', port: localPort, family: 'IPv4' });
  c.send('from a chosen port');
  await waitUntil(() => udp.peers.size === 1, 5000, 'the peer');
  expect(udp.peers.has(`127.0.0.1:${localPort}`)).toBe(true);
});

test('logs connecting, connected and client closed on the udp-client child', async () => {
  const { logger, records } = recordingLogger();
  const s = await raw();
  const c = new UdpClient({ type: 'udp4', host: '127.0.0.1', port: s.port, logger });
  await c.connect();
  c.send('x');
  await s.waitForMessages(1);
  await c.close();
  expect(records.map((r) => r.msg)).toEqual(['connecting', 'connected', 'client closed']);
  expect(records.every((r) => r.component === 'udp-client')).toBe(true);
  expect(records[1]).toMatchObject({ level: 30, target: `127.0.0.1:${s.port}` });
  expect(records[2]).toMatchObject({ datagramsOut: 1, bytesOut: 1 });
});

test('misused options throw a TypeError with an exact sentence', () => {
  const make = (options: unknown) => () => new UdpClient(options as { type: 'udp4'; port: number });
  expect(make(null)).toThrow('UdpClient options must be an object with a type and a port.');
  expect(make({ port: 1 })).toThrow("The \"type\" option must be 'udp4' or 'udp6'; got undefined.");
  expect(make({ type: 'udp4' })).toThrow(
    'The "port" option must be an integer from 1 to 65535; got undefined.',
  );
  expect(make({ type: 'udp4', port: 0 })).toThrow(
    'The "port" option must be an integer from 1 to 65535; got 0.',
  );
  expect(make({ type: 'udp4', port: 9, host: '' })).toThrow('The "host" option must be a non-empty string');
  expect(make({ type: 'udp4', port: 9, host: '::1' })).toThrow(
    "The host ::1 is an IPv6 address; use type 'udp6'.",
  );
  expect(make({ type: 'udp4', port: 9, localPort: 65536 })).toThrow('"localPort"');
  expect(make({ type: 'udp4', port: 9, maxMessageSize: 0 })).toThrow('"maxMessageSize"');
});
