/**
 * UDP under pressure: a flood from thousands of source ports against a bounded peer table, and
 * loss accounted for a steady stream on loopback.
 */
import { createSocket, type Socket } from 'node:dgram';
import { UdpClient, UdpServer, type UdpPeer } from 'sockframe';
import { delay, Resources, waitUntil } from '../helpers/net';
import { RawUdp } from '../udp/udp-helpers';
import { report, RssSampler } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

function bindLoopback(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function sendFrom(socket: Socket, bytes: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
  );
}

/** Sends `text` from `raw` until it comes back echoed (UDP may lose it); false after `tries`. */
async function exchange(raw: RawUdp, port: number, text: string, tries = 5): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const before = raw.messages.length;
    await raw.send(text, port);
    try {
      await waitUntil(() => raw.messages.slice(before).some((m) => m.toString() === text), 1000);
      return true;
    } catch {
      // Lost on the way; UDP makes no promise, so ask again.
    }
  }
  return false;
}

test('a flood from 2,000 source ports above maxPeers: the table stays bounded, drops are counted, known peers are served', async () => {
  const MAX_PEERS = 500;
  const SOURCES = 2000;
  const BATCH = 100;
  const server = resources.add(
    new UdpServer({ type: 'udp4', maxPeers: MAX_PEERS, peerIdleTimeout: 120_000 }),
    (s) => s.close({ timeout: 500 }),
  );
  const knownIds = new Set<string>();
  let knownDatagrams = 0;
  server.on('message', (peer: UdpPeer, message) => {
    if (knownIds.has(peer.id)) knownDatagrams++;
    peer.send(message);
  });
  let largest = 0;
  let connects = 0;
  server.on('connect', () => {
    connects++;
    largest = Math.max(largest, server.connections.size);
  });
  const drops: string[] = [];
  server.on('drop', (info) => drops.push(info.reason));
  const errors: string[] = [];
  server.on('error', (err) => errors.push(err.code));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

  const known = await Promise.all(
    Array.from({ length: 5 }, async () => resources.add(await RawUdp.bind('udp4'), (r) => r.close())),
  );
  for (const [i, peer] of known.entries()) {
    knownIds.add(`127.0.0.1:${peer.port}`);
    expect(await exchange(peer, port, `hello ${i}`)).toBe(true);
  }
  expect(server.connections.size).toBe(known.length);

  // The known peers keep talking while the flood runs.
  let knownSent = 0;
  const chatter = resources.add(
    setInterval(() => {
      for (const peer of known) {
        knownSent++;
        peer.send(`chatter ${knownSent}`, port).catch(() => {});
      }
    }, 10),
    clearInterval,
  );

  const rss = resources.add(new RssSampler(), (r) => r.stop());
  const usedPorts = new Set(known.map((k) => k.port));
  let floodSent = 0;
  const started = Date.now();
  while (floodSent < SOURCES) {
    const batch: Socket[] = [];
    while (batch.length < Math.min(BATCH, SOURCES - floodSent)) {
      const socket = await bindLoopback();
      const local = socket.address().port;
      // A port freed by an earlier batch may be handed out again: every source must be new.
      if (usedPorts.has(local)) {
        await closeSocket(socket);
        continue;
      }
      usedPorts.add(local);
      batch.push(socket);
    }
    const inBefore = server.stats.datagramsIn - knownDatagrams;
    await Promise.all(batch.map((socket) => sendFrom(socket, Buffer.from('flood'), port)));
    floodSent += batch.length;
    await waitUntil(() => server.stats.datagramsIn - knownDatagrams >= inBefore + batch.length, 2000).catch(
      () => {},
    ); // a lost datagram is counted below, not waited for
    await Promise.all(batch.map(closeSocket));
  }
  const seconds = (Date.now() - started) / 1000;
  clearInterval(chatter);
  const memory = rss.stop();
  await delay(50);

  const floodReceived = server.stats.datagramsIn - knownDatagrams;
  const admitted = MAX_PEERS - known.length;
  report('udp-flood', {
    sources: usedPorts.size - known.length,
    floodSent,
    floodReceived,
    maxPeers: MAX_PEERS,
    peers: server.connections.size,
    dropped: server.stats.dropped,
    knownChatterSent: knownSent,
    knownDatagramsReceived: knownDatagrams,
    seconds,
    ...memory,
  });
  expect(usedPorts.size).toBe(SOURCES + known.length);
  expect(floodReceived).toBeGreaterThanOrEqual(SOURCES * 0.99);
  expect(largest).toBeLessThanOrEqual(MAX_PEERS);
  expect(server.connections.size).toBe(MAX_PEERS);
  expect(connects).toBe(known.length + admitted);
  expect(server.stats.dropped).toBe(floodReceived - admitted);
  expect(drops.length).toBe(server.stats.dropped);
  expect(new Set(drops)).toEqual(new Set(['max-peers']));
  expect(errors).toEqual([]);
  for (const id of knownIds) expect(server.peers.has(id)).toBe(true);
  // Known peers were heard during the flood, and are still answered after it.
  expect(knownDatagrams).toBeGreaterThan(0);
  for (const [i, peer] of known.entries()) {
    expect(await exchange(peer, port, `after the flood ${i}`)).toBe(true);
  }
  // Still bounded, and a new address is still refused while the table is full.
  const late = resources.add(await RawUdp.bind('udp4'), (r) => r.close());
  const droppedBefore = server.stats.dropped;
  await late.send('late', port);
  await waitUntil(() => server.stats.dropped === droppedBefore + 1, 2000, 'the late datagram to be dropped');
  expect(server.connections.size).toBe(MAX_PEERS);
}, 60_000);

test('loss accounting: 10,000 datagrams at a modest rate on loopback', async () => {
  const COUNT = 10_000;
  const PER_TICK = 20;
  const server = resources.add(new UdpServer({ type: 'udp4' }), (s) => s.close({ timeout: 500 }));
  const atServer = new Set<number>();
  let serverDuplicates = 0;
  server.on('message', (peer, message) => {
    const seq = message.readUInt32BE(0);
    if (atServer.has(seq)) serverDuplicates++;
    atServer.add(seq);
    peer.send(message);
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(new UdpClient({ type: 'udp4', host: '127.0.0.1', port }), (c) =>
    c.close({ timeout: 500 }),
  );
  const atClient = new Set<number>();
  let clientDuplicates = 0;
  let corrupted = 0;
  client.on('message', (message) => {
    const seq = message.readUInt32BE(0);
    if (atClient.has(seq)) clientDuplicates++;
    atClient.add(seq);
    // Every datagram carries its own sequence number in its filler bytes.
    for (let i = 4; i < message.length; i++) if (message[i] !== (seq + i) % 256) corrupted++;
  });
  await client.connect();

  let sent = 0;
  const started = Date.now();
  await new Promise<void>((resolve) => {
    const timer = resources.add(
      setInterval(() => {
        for (let i = 0; i < PER_TICK && sent < COUNT; i++, sent++) {
          const size = 4 + ((sent * 37) % 508);
          const datagram = Buffer.allocUnsafe(size);
          datagram.writeUInt32BE(sent, 0);
          for (let j = 4; j < size; j++) datagram[j] = (sent + j) % 256;
          client.send(datagram);
        }
        if (sent === COUNT) {
          clearInterval(timer);
          resolve();
        }
      }, 2),
      clearInterval,
    );
  });
  const sendSeconds = (Date.now() - started) / 1000;
  // Wait for the stragglers, then stop counting once nothing more arrives.
  await waitUntil(() => atClient.size === COUNT, 5000).catch(() => {});
  let last = -1;
  while (atClient.size !== last) {
    last = atClient.size;
    await delay(200);
  }

  const lostOnTheWayIn = COUNT - atServer.size;
  const lostOnTheWayBack = atServer.size - atClient.size;
  report('udp-loss', {
    sent: COUNT,
    receivedByServer: atServer.size,
    echoedBack: atClient.size,
    lossInPercent: (lostOnTheWayIn / COUNT) * 100,
    lossBackPercent: (lostOnTheWayBack / Math.max(1, atServer.size)) * 100,
    sendSeconds,
    serverStats: server.stats,
  });
  expect(serverDuplicates).toBe(0);
  expect(clientDuplicates).toBe(0);
  expect(corrupted).toBe(0);
  expect(lostOnTheWayIn).toBeLessThanOrEqual(COUNT * 0.01);
  expect(lostOnTheWayBack).toBeLessThanOrEqual(COUNT * 0.01);
  expect(server.stats.datagramsIn).toBe(atServer.size);
}, 60_000);
