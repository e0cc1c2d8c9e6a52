import { Socket as DgramSocket } from 'node:dgram';
import { NotListeningError, UdpClient, UdpServer, type UdpPeer } from 'sockframe';
import { Resources } from '../helpers/net';
import { RawUdp } from './udp-helpers';

const resources = new Resources();
afterEach(() => resources.closeAll());

const DATAGRAM = Buffer.alloc(60_000, 7);

function server(): UdpServer {
  return resources.add(new UdpServer({ type: 'udp4', peerIdleTimeout: 0 }), (s) => s.close({ timeout: 500 }));
}

async function peerOf(udp: UdpServer): Promise<{ peer: UdpPeer; raw: RawUdp }> {
  const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
  const raw = resources.add(await RawUdp.bind(), (r) => r.socket.close());
  const connected = new Promise<UdpPeer>((resolve) => udp.once('connect', resolve));
  await raw.send('hello', port);
  return { peer: await connected, raw };
}

describe('UDP backpressure: drain follows a send() that returned false', () => {
  test('a peer gets drain once the datagrams sent in one tick have left the socket', async () => {
    const udp = server();
    const { peer } = await peerOf(udp);
    let sent = 0;
    while (sent < 100 && peer.send(DATAGRAM)) sent++;
    expect(sent).toBeLessThan(100); // 256 KiB of 60 kB datagrams: false on the fifth
    const drained = new Promise<void>((resolve) => peer.once('drain', resolve));
    await expect(drained).resolves.toBeUndefined();
    expect(peer.send(DATAGRAM)).toBe(true);
  });

  test('fan-out: every peer whose send() returned false gets its own drain, exactly once', async () => {
    const udp = server();
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const raws = await Promise.all(
      Array.from({ length: 8 }, async () => resources.add(await RawUdp.bind(), (r) => r.socket.close())),
    );
    const peers: UdpPeer[] = [];
    udp.on('connect', (peer) => peers.push(peer));
    for (const raw of raws) await raw.send('hi', port);
    while (peers.length < raws.length) await new Promise((resolve) => setTimeout(resolve, 5));
    const drains = new Map<string, number>();
    const refused: UdpPeer[] = [];
    for (let round = 0; round < 3; round++) {
      for (const peer of peers) {
        peer.on('drain', () => drains.set(peer.id, (drains.get(peer.id) ?? 0) + 1));
        if (!peer.send(DATAGRAM)) refused.push(peer);
      }
    }
    expect(refused.length).toBeGreaterThan(0);
    const distinct = new Set(refused.map((p) => p.id));
    const until = Date.now() + 5000;
    while ([...distinct].some((id) => drains.get(id) === undefined) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const id of distinct) expect({ id, drains: drains.get(id) }).toEqual({ id, drains: 3 });
  });

  test('without getSendQueueSize (Deno node:dgram), UdpClient sends, returns false and drains', async () => {
    const udp = server();
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const proto = DgramSocket.prototype as unknown as Record<string, unknown>;
    const original = proto['getSendQueueSize'];
    proto['getSendQueueSize'] = undefined;
    resources.add(original, (fn) => (proto['getSendQueueSize'] = fn));
    const client = resources.add(new UdpClient({ type: 'udp4', host: '127.0.0.1', port }), (c) => c.close());
    await client.connect();
    let sent = 0;
    while (sent < 100 && client.send(DATAGRAM)) sent++;
    expect(sent).toBeLessThan(100);
    await new Promise<void>((resolve) => client.once('drain', resolve));
    expect(client.send('after')).toBe(true);
  });
});

function thrown(call: () => void): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  return undefined;
}

test('multicast and broadcast settings before listen() or after close() throw ERR_NOT_LISTENING', async () => {
  const udp = server();
  expect(thrown(() => udp.addMembership('239.1.2.3'))).toMatchObject({ code: 'ERR_NOT_LISTENING' });
  expect(() => udp.setMulticastTTL(2)).toThrow(NotListeningError);
  await udp.listen({ port: 0, host: '127.0.0.1' });
  expect(() => udp.setMulticastTTL(2)).not.toThrow();
  await udp.close();
  expect(thrown(() => udp.setBroadcast(true))).toMatchObject({ code: 'ERR_NOT_LISTENING' });
});
