import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Connection } from 'sockframe';
import { delay, frame, Resources, waitUntil } from '../helpers/net';
import { rawClient, startTcp } from './support';

const resources = new Resources();
afterEach(() => {
  jest.restoreAllMocks();
  return resources.closeAll();
});

/** Whether `context` is the server's end of `client`'s connection (over loopback TCP). */
function acceptedFor(client: Socket, context: unknown): boolean {
  return context instanceof Socket && context !== client && context.remotePort === client.localPort;
}

/** Lets the event loop run, so that separate writes reach the server as separate reads. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('many messages in one write are delivered one by one, in order', async () => {
  const { server, port } = await startTcp(resources, {}, { echo: false });
  const received: string[] = [];
  server.on('message', (_conn, message) => received.push(message.toString()));
  const client = await rawClient(resources, { port });
  const count = 5000;
  const sent = Array.from({ length: count }, (_, i) => `message ${i}`);
  client.write(Buffer.concat(sent.map((m) => frame(m))));
  await waitUntil(() => received.length === count, 10_000, `${count} messages`);
  expect(received).toEqual(sent);
});

test('one message written in many small writes arrives once, whole', async () => {
  const { server, port } = await startTcp(resources, {}, { echo: false });
  const received: Buffer[] = [];
  const readSizes: number[] = [];
  const emits = jest.spyOn(Socket.prototype, 'emit');
  server.on('message', (_conn, message) => received.push(Buffer.from(message)));
  const client = await rawClient(resources, { port });
  const serverReadCount = (): number =>
    emits.mock.calls.filter(
      (call, i) => (call[0] as string) === 'data' && acceptedFor(client.socket, emits.mock.contexts[i]),
    ).length;
  const payload = randomBytes(20_000);
  const bytes = frame(payload);

  // The header one byte at a time, each given time to arrive on its own.
  for (let i = 0; i < 4; i++) {
    client.write(bytes.subarray(i, i + 1));
    await delay(10);
  }
  // The body in uneven pieces.
  let offset = 4;
  let piece = 1;
  while (offset < bytes.length) {
    const end = Math.min(bytes.length, offset + piece);
    client.write(bytes.subarray(offset, end));
    readSizes.push(end - offset);
    offset = end;
    piece = ((piece * 7 + 3) % 1500) + 1;
    await nextTurn();
  }
  await waitUntil(() => received.length === 1, 10_000, 'the message');
  await delay(20);
  expect(received).toHaveLength(1);
  expect(received[0]?.equals(payload)).toBe(true);
  expect(readSizes.length).toBeGreaterThan(20);
  // The header bytes were written 10 ms apart: the server read the message in several pieces.
  expect(serverReadCount()).toBeGreaterThanOrEqual(4);
});

test('frames cut at arbitrary points across writes are reassembled in order', async () => {
  const { port } = await startTcp(resources);
  const client = await rawClient(resources, { port });
  const payloads = Array.from({ length: 300 }, (_, i) => randomBytes((i * 37) % 700));
  const stream = Buffer.concat(payloads.map((p) => frame(p)));
  let offset = 0;
  let step = 3;
  while (offset < stream.length) {
    client.write(stream.subarray(offset, offset + step));
    offset += step;
    step = (step * 13 + 5) % 997;
    if (step % 3 === 0) await nextTurn();
  }
  const echoed = await client.waitForMessages(payloads.length);
  expect(echoed).toHaveLength(payloads.length);
  echoed.forEach((message, i) => expect(message.equals(payloads[i] as Buffer)).toBe(true));
});

test('concurrent clients each get their own messages back, in order', async () => {
  const { server, port, recorded } = await startTcp(resources);
  const clientCount = 20;
  const perClient = 100;
  const clients = await Promise.all(
    Array.from({ length: clientCount }, () => rawClient(resources, { port })),
  );
  await waitUntil(() => server.connections.size === clientCount, 5000, 'all connections');

  // Every client writes in several bursts, interleaved with the others.
  for (let burst = 0; burst < 4; burst++) {
    clients.forEach((client, c) => {
      const frames: Buffer[] = [];
      for (let i = burst * 25; i < (burst + 1) * 25; i++) frames.push(frame(`client ${c} message ${i}`));
      client.write(Buffer.concat(frames));
    });
    await nextTurn();
  }
  await Promise.all(clients.map((client) => client.waitForMessages(perClient)));
  clients.forEach((client, c) => {
    expect(client.messages.map(String)).toEqual(
      Array.from({ length: perClient }, (_, i) => `client ${c} message ${i}`),
    );
  });
  const ids = new Set(recorded.connects.map((conn: Connection) => conn.id));
  expect(ids.size).toBe(clientCount);
  expect(recorded.errors).toEqual([]);
});

test('replies sent in one tick are handed to the socket in a few writes, not one per message', async () => {
  const { server, port } = await startTcp(resources, {}, { echo: false });
  const count = 2000;
  const socketWrites = jest.spyOn(Socket.prototype, 'write');
  server.on('message', (conn) => {
    for (let i = 0; i < count; i++) conn.send(`reply ${i}`);
  });
  const client = await rawClient(resources, { port });
  client.write(frame('go'));
  const messages = await client.waitForMessages(count);
  expect(messages.map(String)).toEqual(Array.from({ length: count }, (_, i) => `reply ${i}`));
  // About 30 KB of frames: one write, or a few when the shared write buffer fills up.
  const writes = socketWrites.mock.contexts.filter((context) => acceptedFor(client.socket, context)).length;
  expect(writes).toBeGreaterThan(0);
  expect(writes).toBeLessThanOrEqual(3);
});
