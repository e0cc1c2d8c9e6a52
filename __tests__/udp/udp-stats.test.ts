/** UdpServer and UdpClient stats: every field after seeded traffic, drops, rejections and expiry. */
import { UdpClient, UdpServer, type UdpClientStats, type UdpServerStats } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { prng } from '../stress/support';

const resources = new Resources();
afterEach(() => resources.closeAll());

test('server and client counters, in the shape of the stream ones where it applies', async () => {
  const seed = Date.now() % 100_000;
  const next = prng(seed);
  const udp = resources.add(
    new UdpServer({ type: 'udp4', maxPeers: 2, peerIdleTimeout: 300, maxMessageSize: 1000 }),
    (s) => s.close({ timeout: 500 }),
  );
  udp.on('message', (peer, message) => peer.send(message));
  udp.on('error', () => {});
  udp.on('drop', () => {});
  const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
  const emptyServer: UdpServerStats = {
    connections: 0,
    connectionsTotal: 0,
    refused: { maxConnections: 0, handshake: 0 },
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    pendingBytes: 0,
    errors: {},
    peers: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    dropped: 0,
    rejected: 0,
    expired: 0,
  };
  expect(udp.stats).toEqual(emptyServer);

  const client = (): UdpClient => {
    const c = resources.add(new UdpClient({ type: 'udp4', host: '127.0.0.1', port }), (x) => x.close());
    c.on('error', () => {});
    return c;
  };
  const a = client();
  const b = client();
  const emptyClient: UdpClientStats = {
    connected: false,
    connects: 0,
    reconnectAttempts: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    pendingBytes: 0,
    errors: {},
    datagramsIn: 0,
    datagramsOut: 0,
    rejected: 0,
  };
  expect(a.stats).toEqual(emptyClient);
  await a.connect();
  await b.connect();
  const echoed = new Map<UdpClient, number>([
    [a, 0],
    [b, 0],
  ]);
  for (const c of [a, b]) c.on('message', () => echoed.set(c, (echoed.get(c) ?? 0) + 1));
  const sent = new Map<UdpClient, { count: number; bytes: number }>([
    [a, { count: 0, bytes: 0 }],
    [b, { count: 0, bytes: 0 }],
  ]);
  // One at a time, each answered before the next: no datagram can be lost to a full buffer.
  for (let i = 0; i < 60; i++) {
    const c = next() < 0.5 ? a : b;
    const size = 1 + Math.floor(next() * 999);
    const tally = sent.get(c) as { count: number; bytes: number };
    const before = echoed.get(c) as number;
    c.send(Buffer.alloc(size, i));
    tally.count++;
    tally.bytes += size;
    await waitUntil(() => echoed.get(c) === before + 1, 5000, `echo ${i} (seed ${seed})`);
  }
  for (const c of [a, b]) {
    const { count, bytes } = sent.get(c) as { count: number; bytes: number };
    expect(c.stats).toEqual({
      ...emptyClient,
      connected: true,
      connects: 1,
      bytesIn: bytes,
      bytesOut: bytes,
      messagesIn: count,
      messagesOut: count,
      datagramsIn: count,
      datagramsOut: count,
    });
  }
  // A datagram over maxMessageSize is rejected (an error, the peer stays); a third peer is dropped.
  a.send(Buffer.alloc(1500));
  await waitUntil(() => udp.stats.rejected === 1, 5000, 'a rejection');
  const c = client();
  await c.connect();
  c.send('no room');
  await waitUntil(() => udp.stats.dropped === 1, 5000, 'a drop');
  const total = (key: 'count' | 'bytes'): number =>
    (sent.get(a)?.[key] as number) + (sent.get(b)?.[key] as number);
  const traffic = {
    bytesIn: total('bytes') + 1500 + 7,
    bytesOut: total('bytes'),
    messagesIn: total('count'),
    messagesOut: total('count'),
    datagramsIn: total('count') + 2,
    datagramsOut: total('count'),
  };
  expect(udp.stats).toEqual({
    ...emptyServer,
    ...traffic,
    connections: 2,
    peers: 2,
    connectionsTotal: 2,
    refused: { maxConnections: 1, handshake: 0 },
    dropped: 1,
    rejected: 1,
    errors: { ERR_FRAME_TOO_LARGE: 1 },
  });
  expect(a.stats.bytesOut).toBe((sent.get(a)?.bytes as number) + 1500);

  // Idle peers expire; the next datagram makes a new one.
  await waitUntil(() => udp.stats.connections === 0, 5000, 'both expired');
  const back = new Promise((resolve) => b.once('message', resolve));
  b.send('again');
  await back;
  expect(udp.stats).toEqual({
    ...emptyServer,
    ...traffic,
    bytesIn: traffic.bytesIn + 5,
    bytesOut: traffic.bytesOut + 5,
    messagesIn: traffic.messagesIn + 1,
    messagesOut: traffic.messagesOut + 1,
    datagramsIn: traffic.datagramsIn + 1,
    datagramsOut: traffic.datagramsOut + 1,
    connections: 1,
    peers: 1,
    connectionsTotal: 3,
    refused: { maxConnections: 1, handshake: 0 },
    dropped: 1,
    rejected: 1,
    expired: 2,
    errors: { ERR_FRAME_TOO_LARGE: 1 },
  });
  await a.close();
  expect(a.stats.connected).toBe(false);
});
