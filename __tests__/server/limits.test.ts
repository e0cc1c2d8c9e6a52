import {
  FrameTooLargeError,
  IdleTimeoutError,
  MessageTimeoutError,
  NotConnectedError,
  SlowConsumerError,
  TcpServer,
  type Connection,
  type DropInfo,
  type TcpServerOptions,
} from 'sockframe';
import { delay, frame, type RawClient, Resources, waitUntil } from '../helpers/net';
import { expectEcho, expectEchoFromNewClient, nextError, rawClient, startTcp } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** A server with `options`, a bystander client already talking to it, and an offender. */
async function setUp(options: TcpServerOptions): Promise<{
  server: TcpServer;
  port: number;
  bystander: RawClient;
  offender: RawClient;
  offenderConn: Connection;
}> {
  const { server, port, recorded } = await startTcp(resources, options);
  const bystander = await rawClient(resources, { port });
  await expectEcho(bystander, 'before');
  const offender = await rawClient(resources, { port });
  await waitUntil(() => recorded.connects.length === 2, 5000, 'the offender connection');
  return { server, port, bystander, offender, offenderConn: recorded.connects[1] as Connection };
}

/** The offender's connection is gone; the bystander and a new client are served. */
async function expectOnlyOffenderClosed(
  server: TcpServer,
  port: number,
  bystander: RawClient,
  offender: RawClient,
  offenderConn: Connection,
): Promise<void> {
  await offender.closed;
  await waitUntil(() => !server.connections.has(offenderConn.id), 5000, 'the offender to be forgotten');
  expect(offenderConn.isOpen).toBe(false);
  expect(server.connections.size).toBe(1);
  await expectEcho(bystander, 'after');
  await expectEchoFromNewClient(resources, port, 'newcomer');
}

describe('maxMessageSize', () => {
  test('a frame declared larger than the limit closes that connection as soon as its header arrives', async () => {
    const { server, port, bystander, offender, offenderConn } = await setUp({ maxMessageSize: 1024 });
    const received: string[] = [];
    server.on('message', (conn, message) => {
      if (conn === offenderConn) received.push(message.toString());
    });
    const fault = nextError(server);
    const closed = new Promise((resolve) =>
      server.once('close', (conn, reason) => resolve({ conn, reason })),
    );
    // A valid frame, then only the header of one whole frame of 1025 bytes (1021 + 4): no body needed.
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1021, 0);
    offender.write(Buffer.concat([frame('fine'), header]));
    const { err, conn } = await fault;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect((err as FrameTooLargeError).length).toBe(1025);
    expect((err as FrameTooLargeError).limit).toBe(1024);
    expect(conn).toBe(offenderConn);
    // The echo of 'fine', queued in the same read, was never written: the close reason counts it.
    expect(await closed).toEqual({
      conn: offenderConn,
      reason: { kind: 'error', error: err, unsentMessages: 1, unsentBytes: frame('fine').length },
    });
    expect(received).toEqual(['fine']);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('a frame of exactly the limit, header included, is accepted', async () => {
    const { port, recorded } = await startTcp(resources, { maxMessageSize: 1024 });
    const client = await rawClient(resources, { port });
    client.write(frame(Buffer.alloc(1020, 1)));
    const [echoed] = await client.waitForMessages(1);
    expect(echoed?.length).toBe(1020);
    expect(recorded.errors).toEqual([]);
  });

  test('by default the limit is 16 MiB, header included', async () => {
    const { port, recorded } = await startTcp(resources);
    const atLimit = await rawClient(resources, { port });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(16 * 1024 * 1024 - 4, 0);
    atLimit.write(header);
    const overLimit = await rawClient(resources, { port });
    const overHeader = Buffer.alloc(4);
    overHeader.writeUInt32BE(16 * 1024 * 1024 - 3, 0);
    overLimit.write(overHeader);
    await overLimit.closed;
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the error');
    const err = recorded.errors[0]?.err as FrameTooLargeError;
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.limit).toBe(16 * 1024 * 1024);
    // The frame at the limit is merely incomplete: its connection stays open.
    expect(recorded.connects[0]?.isOpen).toBe(true);
    expect(atLimit.socket.destroyed).toBe(false);
  });
});

describe('maxConnections', () => {
  test('a connection past the limit is refused with a drop event; room is made when one leaves', async () => {
    const { server, port, recorded } = await startTcp(resources, { maxConnections: 2 });
    const drops: DropInfo[] = [];
    server.on('drop', (info) => drops.push(info));
    const first = await rawClient(resources, { port });
    const second = await rawClient(resources, { port });
    await expectEcho(first, 'one');
    await expectEcho(second, 'two');

    const third = await rawClient(resources, { port });
    const thirdPort = third.socket.localPort;
    third.write(frame('ignored'));
    await third.closed;
    await waitUntil(() => drops.length === 1, 5000, 'the drop event');
    expect(drops[0]).toEqual({
      remoteAddress: '127.0.0.1',
      remotePort: thirdPort,
      reason: 'max-connections',
    });
    expect(recorded.connects).toHaveLength(2);
    expect(third.messages).toEqual([]);

    // The two served connections were not disturbed.
    await expectEcho(first, 'one again');
    first.socket.end();
    await waitUntil(() => server.connections.size === 1, 5000, 'a free place');
    await expectEcho(await rawClient(resources, { port }), 'third time lucky');
    await expectEcho(second, 'two again');
  });
});

describe('idleTimeout', () => {
  test('a silent connection is closed with ERR_IDLE_TIMEOUT while others are served', async () => {
    const { server, port, bystander, offender, offenderConn } = await setUp({ idleTimeout: 300 });
    // The bystander keeps talking; the offender says nothing at all.
    const chatter = setInterval(() => bystander.write(frame('tick')), 50);
    resources.add(chatter, clearInterval);
    const { err, conn } = await nextError(server);
    clearInterval(chatter);
    expect(err).toBeInstanceOf(IdleTimeoutError);
    expect(err.code).toBe('ERR_IDLE_TIMEOUT');
    expect((err as IdleTimeoutError).timeout).toBe(300);
    expect(conn).toBe(offenderConn);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('a connection is closed no sooner than idleTimeout after its last byte, and about one sweep after', async () => {
    const { server, port, recorded } = await startTcp(resources, { idleTimeout: 400 });
    const silentFromStart = await rawClient(resources, { port });
    const openedAt = Date.now();
    const talker = await rawClient(resources, { port });
    await waitUntil(() => recorded.connects.length === 2, 5000, 'both connections');
    for (let i = 0; i < 6; i++) {
      await expectEcho(talker, `tick ${i}`);
      await delay(90);
    }
    await expectEcho(talker, 'last');
    const lastByteAt = Date.now();
    await silentFromStart.closed;
    const silentFor = Date.now() - openedAt;
    await talker.closed;
    const quietFor = Date.now() - lastByteAt;
    expect(recorded.errors.map(({ err }) => err.code)).toEqual(['ERR_IDLE_TIMEOUT', 'ERR_IDLE_TIMEOUT']);
    // Sweeps run every idleTimeout / 4 = 100 ms; timers never fire early, so never before 400 ms.
    expect(silentFor).toBeGreaterThanOrEqual(400);
    expect(quietFor).toBeGreaterThanOrEqual(400);
    // Late by at most one sweep, plus what a loaded machine adds.
    expect(silentFor).toBeLessThan(400 + 100 + 400);
    expect(quietFor).toBeLessThan(400 + 100 + 400);
    await waitUntil(() => server.connections.size === 0, 5000, 'both connections gone');
  });

  test('a connection with traffic in either direction is never closed by it', async () => {
    const { server, port, recorded } = await startTcp(resources, { idleTimeout: 200 });
    const talker = await rawClient(resources, { port });
    const listener = await rawClient(resources, { port });
    await waitUntil(() => recorded.connects.length === 2, 5000, 'both connections');
    const listenerConn = recorded.connects[1] as Connection;
    // One peer only writes, the other only reads what the server pushes.
    let written = 0;
    const traffic = setInterval(() => {
      talker.write(frame('in'));
      written++;
      if (listenerConn.isOpen) listenerConn.send('out');
    }, 40);
    resources.add(traffic, clearInterval);
    await delay(1200);
    clearInterval(traffic);
    expect(recorded.errors).toEqual([]);
    expect(server.connections.size).toBe(2);
    expect(written).toBeGreaterThan(5);
    expect(listener.messages.length).toBeGreaterThan(5);
    await talker.waitForMessages(written);
    await expectEcho(talker, 'still here');
  });
});

describe('messageTimeout', () => {
  test('a message trickling in byte by byte (slowloris) is cut off with ERR_MESSAGE_TIMEOUT', async () => {
    const { server, port, bystander, offender, offenderConn } = await setUp({
      messageTimeout: 300,
      idleTimeout: 0,
    });
    const bytes = frame(Buffer.alloc(100, 1));
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < bytes.length && !offender.socket.destroyed) offender.write(bytes.subarray(sent, ++sent));
    }, 30);
    resources.add(trickle, clearInterval);
    const { err, conn } = await nextError(server);
    clearInterval(trickle);
    expect(err).toBeInstanceOf(MessageTimeoutError);
    expect(err.code).toBe('ERR_MESSAGE_TIMEOUT');
    expect((err as MessageTimeoutError).timeout).toBe(300);
    expect(conn).toBe(offenderConn);
    expect(sent).toBeLessThan(bytes.length);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('a busy stream whose reads always end mid-message is never cut off', async () => {
    const { server, port, recorded } = await startTcp(resources, { messageTimeout: 200, idleTimeout: 0 });
    const client = await rawClient(resources, { port });
    // Each write finishes the previous message and starts the next, so the server never holds
    // nothing, yet every message completes well within the timeout.
    const stream = Buffer.concat(Array.from({ length: 60 }, (_, i) => frame(`message ${i}`)));
    const step = Math.ceil(stream.length / 30);
    let offset = 0;
    const writer = setInterval(() => {
      if (offset < stream.length) client.write(stream.subarray(offset, (offset += step)));
    }, 40);
    resources.add(writer, clearInterval);
    await waitUntil(() => offset >= stream.length, 10_000, 'the whole stream to be written');
    clearInterval(writer);
    const echoed = await client.waitForMessages(60);
    expect(echoed.map(String)).toEqual(Array.from({ length: 60 }, (_, i) => `message ${i}`));
    expect(recorded.errors).toEqual([]);
    expect(server.connections.size).toBe(1);
  });

  test('a connection resting between whole messages is not timed', async () => {
    const { port, recorded } = await startTcp(resources, { messageTimeout: 150, idleTimeout: 0 });
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'one');
    await delay(500);
    await expectEcho(client, 'two');
    expect(recorded.errors).toEqual([]);
  });
});

describe('maxPendingBytes', () => {
  test('a reader that never reads is destroyed with ERR_SLOW_CONSUMER; nothing else is affected', async () => {
    const limit = 1024 * 1024;
    const { server, port, bystander, offender, offenderConn } = await setUp({ maxPendingBytes: limit });
    offender.socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 0xab);
    let accepted = 0;
    server.on('message', (conn, message) => {
      if (conn !== offenderConn || message.toString() !== 'flood') return;
      // Far more than the kernel's socket buffers can hold; stops once the connection is failed.
      for (let i = 0; i < 4000 && conn.isOpen; i++) {
        conn.send(chunk);
        accepted++;
      }
    });
    const fault = nextError(server);
    offender.write(frame('flood'));
    const { err, conn } = await fault;
    expect(err).toBeInstanceOf(SlowConsumerError);
    expect(err.code).toBe('ERR_SLOW_CONSUMER');
    expect((err as SlowConsumerError).limit).toBe(limit);
    expect((err as SlowConsumerError).pendingBytes).toBeGreaterThan(limit);
    expect(conn).toBe(offenderConn);
    expect(accepted).toBeLessThan(4000);
    expect(() => offenderConn.send('more')).toThrow(NotConnectedError);
    // A paused socket does not notice that it was dropped until it reads again.
    offender.socket.resume();
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });
});

describe('framing errors', () => {
  test('an impossible frame length closes only that connection with ERR_INVALID_FRAME_LENGTH', async () => {
    // A hook that reads its length as a signed number: a hostile header makes it negative.
    const { server, port, bystander, offender, offenderConn } = await setUp({
      framing: {
        headerSize: 4,
        strip: 4,
        messageLength: (head) => head.readInt32BE(0) + 4,
        encode: (payload) => frame(payload),
      },
    });
    const fault = nextError(server);
    offender.write(Buffer.from([0xff, 0xff, 0xff, 0xf0]));
    const { err, conn } = await fault;
    expect(err.code).toBe('ERR_INVALID_FRAME_LENGTH');
    expect(conn).toBe(offenderConn);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('a framing hook that throws closes only that connection with ERR_FRAMING_HOOK_FAILED', async () => {
    const hookFailure = new Error('cannot parse');
    const { server, port, bystander, offender, offenderConn } = await setUp({
      framing: {
        headerSize: 4,
        strip: 4,
        messageLength(head) {
          const length = head.readUInt32BE(0);
          if (length === 0xdeadbeef) throw hookFailure;
          return length + 4;
        },
        encode(payload) {
          return frame(payload);
        },
      },
    });
    const fault = nextError(server);
    offender.write(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const { err, conn } = await fault;
    expect(err.code).toBe('ERR_FRAMING_HOOK_FAILED');
    expect(err.cause).toBe(hookFailure);
    expect(conn).toBe(offenderConn);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('a peer ending in the middle of a message gets ERR_INCOMPLETE_MESSAGE', async () => {
    const { server, port, bystander, offender, offenderConn } = await setUp({});
    const fault = nextError(server);
    offender.write(frame('whole').subarray(0, 6));
    offender.socket.end();
    const { err, conn } = await fault;
    expect(err.code).toBe('ERR_INCOMPLETE_MESSAGE');
    expect(conn).toBe(offenderConn);
    await expectOnlyOffenderClosed(server, port, bystander, offender, offenderConn);
  });

  test('without an error listener a fault throws nothing and the server keeps serving', async () => {
    const server = resources.add(new TcpServer({ maxMessageSize: 64 }), (s) => s.close({ timeout: 500 }));
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const offender = await rawClient(resources, { port });
    offender.write(frame(Buffer.alloc(100)));
    await offender.closed;
    await expectEchoFromNewClient(resources, port, 'unbothered');
  });
});
