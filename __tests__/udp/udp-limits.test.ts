import {
  DatagramTooLargeError,
  delimited,
  FrameTooLargeError,
  InvalidFrameLengthError,
  lengthField,
  MAX_UDP4_DATAGRAM,
  MAX_UDP6_DATAGRAM,
  UdpClient,
  UdpServer,
  type SockframeError,
  type UdpPeer,
} from 'sockframe';
import { delay, frame, Resources, waitUntil } from '../helpers/net';
import { probeIpv6Loopback, RawUdp } from './udp-helpers';

const resources = new Resources();
afterEach(() => resources.closeAll());

const ipv6 = probeIpv6Loopback();

function server(options: ConstructorParameters<typeof UdpServer>[0]): UdpServer {
  return resources.add(new UdpServer(options), (s) => s.close({ timeout: 500 }));
}

function client(options: ConstructorParameters<typeof UdpClient>[0]): UdpClient {
  return resources.add(new UdpClient(options), (c) => c.close({ timeout: 500 }));
}

async function raw(type: 'udp4' | 'udp6' = 'udp4'): Promise<RawUdp> {
  return resources.add(await RawUdp.bind(type), (r) => r.close());
}

function collectErrors(udp: UdpServer): [SockframeError, UdpPeer | undefined][] {
  const errors: [SockframeError, UdpPeer | undefined][] = [];
  udp.on('error', (err, peer) => errors.push([err, peer]));
  return errors;
}

describe('datagram size', () => {
  test('udp4: the largest legal datagram goes both ways; one byte more throws before the socket', async () => {
    expect(MAX_UDP4_DATAGRAM).toBe(65_507);
    const udp = server({ type: 'udp4' });
    const peers: UdpPeer[] = [];
    udp.on('message', (peer, message) => {
      peers.push(peer);
      peer.send(message);
    });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const c = client({ type: 'udp4', host: '127.0.0.1', port });
    await c.connect();
    const reply = new Promise<Buffer>((resolve) => c.once('message', resolve));
    const largest = Buffer.alloc(MAX_UDP4_DATAGRAM, 7);
    c.send(largest);
    const echoed = await reply;
    expect(echoed.length).toBe(MAX_UDP4_DATAGRAM);
    expect(echoed.equals(largest)).toBe(true);

    const outBefore = c.stats.datagramsOut;
    const err = captureThrow(() => c.send(Buffer.alloc(MAX_UDP4_DATAGRAM + 1)));
    expect(err).toBeInstanceOf(DatagramTooLargeError);
    expect(err).toMatchObject({ code: 'ERR_DATAGRAM_TOO_LARGE', size: 65_508, limit: 65_507 });
    expect(c.stats.datagramsOut).toBe(outBefore);

    const peer = peers[0] as UdpPeer;
    const sentBefore = peer.stats.messagesOut;
    expect(captureThrow(() => peer.send(Buffer.alloc(65_508)))).toMatchObject({
      code: 'ERR_DATAGRAM_TOO_LARGE',
      size: 65_508,
    });
    expect(() => udp.broadcast(Buffer.alloc(70_000))).toThrow(DatagramTooLargeError);
    expect(peer.stats.messagesOut).toBe(sentBefore);
    expect(udp.stats.datagramsOut).toBe(1);
  });

  const ipv6Test = ipv6.ok ? test : test.skip;
  ipv6Test(
    `udp6: 65,527 bytes go over ::1; 65,528 throw${ipv6.ok ? '' : ` (skipped: ${ipv6.reason})`}`,
    async () => {
      expect(MAX_UDP6_DATAGRAM).toBe(65_527);
      const udp = server({ type: 'udp6' });
      udp.on('message', (peer, message) => peer.send(message));
      const { port } = await udp.listen({ port: 0, host: '::1' });
      const c = client({ type: 'udp6', host: '::1', port });
      await c.connect();
      const reply = new Promise<Buffer>((resolve) => c.once('message', resolve));
      c.send(Buffer.alloc(MAX_UDP6_DATAGRAM, 1));
      expect((await reply).length).toBe(MAX_UDP6_DATAGRAM);
      expect(captureThrow(() => c.send(Buffer.alloc(MAX_UDP6_DATAGRAM + 1)))).toMatchObject({
        code: 'ERR_DATAGRAM_TOO_LARGE',
        size: 65_528,
        limit: 65_527,
      });
    },
  );

  test('the limit counts the framing header: payload + header must fit', async () => {
    const udp = server({ type: 'udp4', framing: lengthField() });
    udp.on('message', (peer, message) => peer.send(message));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const c = client({ type: 'udp4', host: '127.0.0.1', port, framing: lengthField() });
    await c.connect();
    const reply = new Promise<Buffer>((resolve) => c.once('message', resolve));
    c.send(Buffer.alloc(MAX_UDP4_DATAGRAM - 4, 3));
    expect((await reply).length).toBe(MAX_UDP4_DATAGRAM - 4);
    expect(captureThrow(() => c.send(Buffer.alloc(MAX_UDP4_DATAGRAM - 3)))).toMatchObject({
      code: 'ERR_DATAGRAM_TOO_LARGE',
      size: 65_508,
    });
  });

  test('maxMessageSize bounds what the server accepts: larger datagrams are dropped with an error naming the peer', async () => {
    const udp = server({ type: 'udp4', maxMessageSize: 100 });
    const errors = collectErrors(udp);
    const delivered: number[] = [];
    udp.on('message', (peer, message) => {
      delivered.push(message.length);
      peer.send(message);
    });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const s = await raw();
    await s.send(Buffer.alloc(101), port);
    await waitUntil(() => errors.length === 1, 5000, 'the error');
    const [err, peer] = errors[0] as [SockframeError, UdpPeer];
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE', length: 101, limit: 100 });
    expect(peer.port).toBe(s.port);
    // The datagram is dropped; the peer and the server keep going.
    await s.send(Buffer.alloc(100), port);
    expect((await s.waitForMessages(1))[0]?.length).toBe(100);
    expect(delivered).toEqual([100]);
    expect(udp.peers.get(peer.id)).toBe(peer);
    expect(peer.stats).toMatchObject({ rejected: 1, messagesIn: 1, bytesIn: 201 });
    expect(udp.stats).toMatchObject({ rejected: 1, messagesIn: 1, datagramsIn: 2 });
  });

  test('maxMessageSize bounds what the client accepts; the client stays connected', async () => {
    const s = await raw();
    const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port, maxMessageSize: 10 });
    const errors: SockframeError[] = [];
    const messages: string[] = [];
    c.on('error', (err) => errors.push(err));
    c.on('message', (m) => messages.push(m.toString()));
    await c.connect();
    const local = c.address() as { port: number };
    await s.send('this is too long', local.port);
    await s.send('short', local.port);
    await waitUntil(() => messages.length === 1 && errors.length === 1, 5000, 'one message and one error');
    expect(messages).toEqual(['short']);
    expect(errors[0]).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE', length: 16, limit: 10 });
    expect(c.connected).toBe(true);
    expect(c.stats).toMatchObject({ datagramsIn: 2, messagesIn: 1, rejected: 1 });
  });
});

describe('framing check', () => {
  test('each datagram must be exactly one message; others are dropped with ERR_INVALID_FRAME_LENGTH and the peer', async () => {
    const udp = server({ type: 'udp4', framing: lengthField() });
    const errors = collectErrors(udp);
    const messages: string[] = [];
    udp.on('message', (peer, message) => {
      messages.push(message.toString());
      peer.send(`got ${message.toString()}`);
    });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const s = await raw();

    await s.send(frame('one'), port);
    const [reply] = await s.waitForMessages(1);
    // The reply is framed by the server's framing.
    expect(reply?.equals(frame('got one'))).toBe(true);

    await s.send(Buffer.concat([frame('two'), frame('three')]), port); // two messages
    await s.send(frame('four').subarray(0, 6), port); // incomplete
    await s.send(Buffer.alloc(0), port); // empty
    await s.send(Buffer.from([0, 0]), port); // shorter than the header
    await s.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]), port); // declares 4 GiB
    await waitUntil(() => errors.length === 5, 5000, 'five errors');
    expect(errors.map(([err]) => err.code)).toEqual([
      'ERR_INVALID_FRAME_LENGTH',
      'ERR_INVALID_FRAME_LENGTH',
      'ERR_INVALID_FRAME_LENGTH',
      'ERR_INVALID_FRAME_LENGTH',
      'ERR_FRAME_TOO_LARGE',
    ]);
    expect(errors[0]?.[0]).toBeInstanceOf(InvalidFrameLengthError);
    expect(errors[0]?.[0].message).toContain('more than one message');
    expect(errors[1]?.[0].message).toContain('incomplete');
    expect(errors.every(([, peer]) => peer?.port === s.port)).toBe(true);

    // Still serving, the same peer.
    await s.send(frame('five'), port);
    await s.waitForMessages(2);
    expect(messages).toEqual(['one', 'five']);
    expect(udp.peers.size).toBe(1);
    expect([...udp.peers.values()][0]?.stats.rejected).toBe(5);
  });

  test('a delimiter framing and a throwing hook', async () => {
    const udp = server({ type: 'udp4', framing: delimited() });
    const errors = collectErrors(udp);
    const messages: string[] = [];
    udp.on('message', (_peer, message) => messages.push(message.toString()));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const s = await raw();
    await s.send('line\n', port);
    await s.send('a\nb\n', port);
    await s.send('no end', port);
    await waitUntil(() => messages.length + errors.length === 3, 5000, 'three outcomes');
    expect(messages).toEqual(['line']);
    expect(errors.map(([err]) => err.code)).toEqual(['ERR_INVALID_FRAME_LENGTH', 'ERR_INVALID_FRAME_LENGTH']);

    const hooked = server({
      type: 'udp4',
      framing: {
        headerSize: 1,
        messageLength: (head) => {
          if (head[0] === 0) throw new Error('zero is not a type');
          return head.length;
        },
      },
    });
    const hookErrors = collectErrors(hooked);
    const hookMessages: number[] = [];
    hooked.on('message', (_peer, message) => hookMessages.push(message.length));
    const hookedPort = (await hooked.listen({ port: 0, host: '127.0.0.1' })).port;
    await s.send(Buffer.from([0, 1, 2]), hookedPort);
    await s.send(Buffer.from([1, 1, 2]), hookedPort);
    await waitUntil(() => hookErrors.length === 1 && hookMessages.length === 1, 5000, 'error then message');
    expect(hookErrors[0]?.[0]).toMatchObject({ code: 'ERR_FRAMING_HOOK_FAILED' });
    expect(hookMessages).toEqual([3]);
  });

  test('a client under a framing checks and strips what it receives', async () => {
    const s = await raw();
    const c = client({ type: 'udp4', host: '127.0.0.1', port: s.port, framing: lengthField() });
    const errors: SockframeError[] = [];
    const messages: string[] = [];
    c.on('error', (err) => errors.push(err));
    c.on('message', (m) => messages.push(m.toString()));
    await c.connect();
    c.send('ping');
    const [sent] = await s.waitForMessages(1);
    expect(sent?.equals(frame('ping'))).toBe(true);
    const local = c.address() as { port: number };
    await s.send(Buffer.concat([frame('a'), frame('b')]), local.port);
    await s.send(frame('pong'), local.port);
    await waitUntil(() => messages.length === 1 && errors.length === 1, 5000, 'one of each');
    expect(messages).toEqual(['pong']);
    expect(errors[0]?.code).toBe('ERR_INVALID_FRAME_LENGTH');
  });
});

describe('loss accounting', () => {
  test('1000 small datagrams at a modest rate on loopback: every counter agrees on what arrived', async () => {
    const udp = server({ type: 'udp4', recvBufferSize: 1 << 20 });
    let received = 0;
    let bytes = 0;
    const sequence = new Set<number>();
    udp.on('message', (_peer, message) => {
      received++;
      bytes += message.length;
      sequence.add(message.readUInt32BE(0));
    });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const c = client({ type: 'udp4', host: '127.0.0.1', port });
    await c.connect();
    const total = 1000;
    const payload = Buffer.alloc(32);
    for (let i = 0; i < total; i++) {
      payload.writeUInt32BE(i, 0);
      c.send(Buffer.from(payload));
      if (i % 20 === 19) await delay(2); // 20 datagrams every couple of milliseconds
    }
    // Wait for all of them, or until arrivals stop (UDP may lose some; loopback rarely does).
    let last = -1;
    for (let quiet = 0; received < total && quiet < 6;) {
      await delay(50);
      quiet = received === last ? quiet + 1 : 0;
      last = received;
    }
    const lost = total - received;
    expect(c.stats).toMatchObject({ datagramsOut: total, bytesOut: total * 32 });
    expect(sequence.size).toBe(received); // no duplicates
    expect(bytes).toBe(received * 32);
    const [peer] = [...udp.peers.values()];
    expect(peer?.stats).toMatchObject({ messagesIn: received, bytesIn: received * 32, rejected: 0 });
    expect(udp.stats).toMatchObject({ datagramsIn: received, messagesIn: received, dropped: 0, rejected: 0 });
    // A modest rate on loopback with a 1 MiB receive buffer loses next to nothing; a loss
    // beyond 10% would mean the server stopped reading.
    expect(lost).toBeLessThanOrEqual(total / 10);
  });
});

function captureThrow(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
