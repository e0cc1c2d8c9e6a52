import {
  AddressInUseError,
  ListenerError,
  NotConnectedError,
  NotListeningError,
  ServerClosedError,
  UdpClient,
  UdpServer,
  type CloseReason,
  type DropInfo,
  type SockframeError,
  type UdpPeer,
} from 'sockframe';
import { createSocket } from 'node:dgram';
import { recordingLogger, Resources, waitUntil } from '../helpers/net';
import { probeIpv6Loopback, RawUdp } from './udp-helpers';
import { prng } from '../helpers/random';

const resources = new Resources();
afterEach(() => resources.closeAll());

const ipv6 = probeIpv6Loopback();

function server<Data = unknown>(options: ConstructorParameters<typeof UdpServer<Data>>[0]): UdpServer<Data> {
  return resources.add(new UdpServer<Data>(options), (s) => s.close({ timeout: 500 }));
}

async function raw(type: 'udp4' | 'udp6' = 'udp4'): Promise<RawUdp> {
  return resources.add(await RawUdp.bind(type), (r) => r.close());
}

async function echoServer(type: 'udp4' | 'udp6' = 'udp4'): Promise<{ udp: UdpServer; port: number }> {
  const udp = server({ type });
  udp.on('message', (peer, message) => peer.send(message));
  const { port } = await udp.listen({ port: 0, host: type === 'udp6' ? '::1' : '127.0.0.1' });
  return { udp, port };
}

describe('echo', () => {
  test('udp4: each datagram comes back whole, with peer address, port and family', async () => {
    const { udp, port } = await echoServer('udp4');
    const seen: UdpPeer[] = [];
    udp.on('message', (peer) => seen.push(peer));
    const client = resources.add(new UdpClient({ type: 'udp4', host: '127.0.0.1', port }), (c) => c.close());
    await client.connect();
    const replies: string[] = [];
    client.on('message', (m) => replies.push(m.toString()));
    client.send('hello');
    client.send('');
    client.send(Buffer.from('world'));
    await waitUntil(() => replies.length === 3, 5000, 'three echoes');
    expect(replies.sort()).toEqual(['', 'hello', 'world']);
    const local = client.address();
    expect(local).toBeDefined();
    expect(seen[0]).toMatchObject({ address: '127.0.0.1', port: local?.port, family: 'IPv4' });
    expect(seen[0]?.id).toBe(`127.0.0.1:${local?.port}`);
    // One peer for the three datagrams of one source.
    expect(new Set(seen)).toEqual(new Set([seen[0]]));
    expect(udp.peers.size).toBe(1);
    expect(seen[0]?.stats).toMatchObject({ messagesIn: 3, messagesOut: 3, bytesIn: 10, bytesOut: 10 });
  });

  const ipv6Test = ipv6.ok ? test : test.skip;
  ipv6Test(`udp6 over ::1${ipv6.ok ? '' : ` (skipped: ${ipv6.reason})`}`, async () => {
    const { udp, port } = await echoServer('udp6');
    expect(udp.address()).toMatchObject({ address: '::1', port, family: 'IPv6' });
    const client = resources.add(new UdpClient({ type: 'udp6', host: '::1', port }), (c) => c.close());
    await client.connect();
    const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
    client.send('over six');
    expect((await reply).toString()).toBe('over six');
    const [peer] = [...udp.peers.values()];
    expect(peer).toMatchObject({ address: '::1', family: 'IPv6', port: client.address()?.port });
    expect(peer?.id).toBe(`[::1]:${client.address()?.port}`);
  });
});

describe('peer lifecycle', () => {
  test('connect on the first datagram of a new address:port only; data slot and close', async () => {
    const udp = server<{ name: string }>({ type: 'udp4' });
    const connects: UdpPeer<{ name: string }>[] = [];
    const closes: [UdpPeer<{ name: string }>, CloseReason][] = [];
    const messages: string[] = [];
    udp.on('connect', (peer) => {
      peer.data = { name: `peer-${connects.length}` };
      connects.push(peer);
    });
    udp.on('message', (peer, message) => messages.push(`${peer.data?.name}:${message.toString()}`));
    udp.on('close', (peer, reason) => closes.push([peer, reason]));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const a = await raw();
    const b = await raw();
    await a.send('1', port);
    await a.send('2', port);
    await b.send('3', port);
    await waitUntil(() => messages.length === 3, 5000, 'three messages');
    expect(connects.map((p) => p.port).sort()).toEqual([a.port, b.port].sort());
    expect(messages).toContain('peer-0:1');
    expect(udp.connections.size).toBe(2);

    const peerA = udp.peers.get(`127.0.0.1:${a.port}`) as UdpPeer<{ name: string }>;
    peerA.close();
    peerA.close(); // idempotent
    expect(closes).toEqual([[peerA, { kind: 'closed' }]]);
    expect(peerA.isOpen).toBe(false);
    expect(() => peerA.send('late')).toThrow(NotConnectedError);
    expect(udp.peers.has(peerA.id)).toBe(false);

    // The same address:port after close is a new peer.
    await a.send('4', port);
    await waitUntil(() => connects.length === 3, 5000, 'a new peer');
    expect(connects[2]).not.toBe(peerA);
    expect(connects[2]?.port).toBe(a.port);
  });

  test('idle peers expire after peerIdleTimeout; active ones stay', async () => {
    const udp = server({ type: 'udp4', peerIdleTimeout: 400 });
    const closes: [string, CloseReason][] = [];
    udp.on('close', (peer, reason) => closes.push([peer.id, reason]));
    udp.on('message', (peer, message) => peer.send(message));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const idle = await raw();
    const busy = await raw();
    await idle.send('once', port);
    await busy.send('tick', port);
    await waitUntil(() => udp.peers.size === 2, 5000, 'two peers');
    const ticker = setInterval(() => void busy.send('tick', port), 25);
    try {
      await waitUntil(() => closes.length >= 1, 5000, 'the idle peer to expire');
      expect(closes[0]).toEqual([`127.0.0.1:${idle.port}`, { kind: 'expired' }]);
      expect(udp.peers.has(`127.0.0.1:${busy.port}`)).toBe(true);
    } finally {
      clearInterval(ticker);
    }
    await waitUntil(() => udp.peers.size === 0, 5000, 'the busy peer to expire once quiet');
    expect(closes.map(([id, reason]) => [id, reason.kind])).toEqual([
      [`127.0.0.1:${idle.port}`, 'expired'],
      [`127.0.0.1:${busy.port}`, 'expired'],
    ]);
    expect(udp.stats.expired).toBe(2);
  });

  test('close with peers known: each gets close(server-closing); idempotent; asyncDispose', async () => {
    const { logger, records } = recordingLogger();
    const udp = new UdpServer({ type: 'udp4', logger });
    const closes: [string, CloseReason][] = [];
    udp.on('close', (peer, reason) => closes.push([peer.id, reason]));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const sockets = [await raw(), await raw(), await raw()];
    for (const s of sockets) await s.send('hi', port);
    await waitUntil(() => udp.peers.size === 3, 5000, 'three peers');
    const peers = [...udp.peers.values()];
    const first = udp.close();
    expect(udp.close()).toBe(first);
    expect(udp.listening).toBe(false);
    await first;
    expect(closes.map(([, reason]) => reason)).toEqual([
      { kind: 'server-closing' },
      { kind: 'server-closing' },
      { kind: 'server-closing' },
    ]);
    expect(new Set(closes.map(([id]) => id))).toEqual(new Set(sockets.map((s) => `127.0.0.1:${s.port}`)));
    expect(udp.peers.size).toBe(0);
    expect(() => peers[0]?.send('x')).toThrow(NotConnectedError);
    await expect(udp.listen({ port: 0 })).rejects.toBeInstanceOf(ServerClosedError);
    await udp[Symbol.asyncDispose]();
    expect(records.filter((r) => r.msg === 'closing')).toHaveLength(1);
    expect(records.find((r) => r.msg === 'closed')).toMatchObject({ component: 'udp-server', peers: 0 });

    // await using closes it too.
    let disposed: UdpServer | undefined;
    {
      await using scoped = new UdpServer({ type: 'udp4' });
      await scoped.listen({ port: 0, host: '127.0.0.1' });
      disposed = scoped;
      expect(disposed.listening).toBe(true);
    }
    expect(disposed.listening).toBe(false);
  });

  test('a throwing listener becomes ERR_LISTENER_THREW naming the peer, which is closed; the server serves on', async () => {
    const udp = server({ type: 'udp4' });
    const errors: [SockframeError, UdpPeer | undefined][] = [];
    const closes: CloseReason[] = [];
    udp.on('error', (err, peer) => errors.push([err, peer]));
    udp.on('close', (_peer, reason) => closes.push(reason));
    udp.on('message', (peer, message) => {
      if (message.toString() === 'boom') throw new Error('listener bug');
      peer.send(message);
    });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const bad = await raw();
    await bad.send('boom', port);
    await waitUntil(() => closes.length === 1, 5000, 'the peer to be closed');
    expect(errors[0]?.[0]).toBeInstanceOf(ListenerError);
    expect(errors[0]?.[0].code).toBe('ERR_LISTENER_THREW');
    expect(errors[0]?.[1]?.port).toBe(bad.port);
    expect(closes[0]).toMatchObject({ kind: 'error', error: errors[0]?.[0] });
    const good = await raw();
    await good.send('fine', port);
    expect((await good.waitForMessages(1))[0]?.toString()).toBe('fine');
  });
});

describe('peers of interleaved sources', () => {
  // Seeded programs: four sources send in a random interleaving, runs of one source included;
  // some messages ask the server to close the sender's peer from the 'message' listener. Every
  // message must reach the peer of its own source, and the first datagram after a close a new
  // peer, wherever the previous datagram came from.
  test.each([1, 2, 3, 4, 5])(
    'every message reaches its own source’s current peer (seed %i)',
    async (seed) => {
      const random = prng(seed * 104729);
      const udp = server<{ source: number; generation: number }>({ type: 'udp4' });
      const sources = await Promise.all([raw(), raw(), raw(), raw()]);
      const sourceOf = new Map(sources.map((source, index) => [source.port, index]));
      const generations = sources.map(() => 0);
      const heard: string[] = [];
      udp.on('connect', (peer) => {
        const source = sourceOf.get(peer.port) as number;
        peer.data = { source, generation: generations[source] as number };
      });
      udp.on('message', (peer, message) => {
        const [source, seq, close] = message.toString().split(':');
        heard.push(`${peer.data?.source}/${peer.data?.generation} got ${source}:${seq}`);
        if (close === 'close') {
          peer.close();
          generations[Number(source)] = (generations[Number(source)] as number) + 1;
        }
      });
      const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
      const expected: string[] = [];
      const expectedGenerations = sources.map(() => 0);
      let source = 0;
      for (let seq = 0; seq < 200; seq++) {
        // Runs: the same source again, half the time.
        if (random() < 0.5) source = Math.floor(random() * sources.length);
        const close = random() < 0.1;
        expected.push(`${source}/${expectedGenerations[source]} got ${source}:${seq}`);
        if (close) expectedGenerations[source] = (expectedGenerations[source] as number) + 1;
        await (sources[source] as RawUdp).send(`${source}:${seq}${close ? ':close' : ''}`, port);
        // One at a time: datagrams of different sources reach the server in this order.
        await waitUntil(() => heard.length === seq + 1, 5000, `message ${seq}`);
      }
      expect(heard).toEqual(expected);
      expect(expectedGenerations.reduce((a, b) => a + b)).toBeGreaterThan(5);
      expect(udp.stats.messagesIn).toBe(200);
    },
  );
});

describe('peer table bound', () => {
  test('50 sources, maxPeers 10: new ones dropped and counted, known ones served, then expiry frees room', async () => {
    const { logger, records } = recordingLogger();
    const udp = server({ type: 'udp4', maxPeers: 10, peerIdleTimeout: 1000, logger });
    const drops: DropInfo[] = [];
    udp.on('drop', (info) => drops.push(info));
    udp.on('message', (peer, message) => peer.send(message));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const sockets: RawUdp[] = [];
    for (let i = 0; i < 50; i++) sockets.push(await raw());
    const known = sockets.slice(0, 10);
    const strangers = sockets.slice(10);

    for (const s of known) await s.send('first', port);
    await Promise.all(known.map((s) => s.waitForMessages(1)));
    expect(udp.peers.size).toBe(10);

    for (const s of strangers) await s.send('let me in', port);
    await waitUntil(() => drops.length === 40, 5000, '40 drops');
    expect(udp.peers.size).toBe(10);
    expect(udp.stats.dropped).toBe(40);
    expect(new Set(drops.map((d) => d.remotePort))).toEqual(new Set(strangers.map((s) => s.port)));
    expect(drops.every((d) => d.reason === 'max-peers' && d.remoteAddress === '127.0.0.1')).toBe(true);
    expect(strangers.every((s) => s.messages.length === 0)).toBe(true);

    // Known peers keep working while the table is full.
    for (const s of known) await s.send('again', port);
    await Promise.all(known.map((s) => s.waitForMessages(2)));

    // The warning is rate-limited: far fewer records than drops.
    const warnings = records.filter((r) => r.msg === 'datagrams dropped: peer table full');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThan(40);
    expect(warnings[0]).toMatchObject({ level: 40, component: 'udp-server', maxPeers: 10 });

    // Once the known peers go quiet they expire, and newcomers get in.
    await waitUntil(() => udp.peers.size === 0, 5000, 'the table to empty by expiry');
    const newcomer = strangers[0] as RawUdp;
    await newcomer.send('now?', port);
    expect((await newcomer.waitForMessages(1))[0]?.toString()).toBe('now?');

    // Every drop is accounted for in the log once the server has closed.
    await udp.close();
    const logged = records
      .filter((r) => r.msg === 'datagrams dropped: peer table full')
      .reduce((n, r) => n + (r.dropped as number), 0);
    expect(logged).toBe(40);
    expect(udp.stats.datagramsIn).toBe(udp.stats.messagesIn + udp.stats.dropped);
  });
});

describe('broadcast', () => {
  test('sends to every known peer that the filter accepts, and returns the count', async () => {
    const udp = server({ type: 'udp4' });
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const sockets = [await raw(), await raw(), await raw()];
    for (const s of sockets) await s.send('subscribe', port);
    await waitUntil(() => udp.peers.size === 3, 5000, 'three peers');
    expect(udp.broadcast('news')).toBe(3);
    await Promise.all(sockets.map((s) => s.waitForMessages(1)));
    const excluded = sockets[1] as RawUdp;
    expect(udp.broadcast(Buffer.from('more'), (peer) => peer.port !== excluded.port)).toBe(2);
    await (sockets[0] as RawUdp).waitForMessages(2);
    await (sockets[2] as RawUdp).waitForMessages(2);
    expect(sockets.map((s) => s.messages.map(String))).toEqual([
      ['news', 'more'],
      ['news'],
      ['news', 'more'],
    ]);
    expect(udp.stats.datagramsOut).toBe(5);
  });
});

describe('listen and options', () => {
  test('a port in use gives ERR_ADDRESS_IN_USE, and the server can try again', async () => {
    const taken = await raw();
    const udp = server({ type: 'udp4' });
    const err = await udp.listen({ port: taken.port, host: '127.0.0.1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressInUseError);
    expect((err as AddressInUseError).code).toBe('ERR_ADDRESS_IN_USE');
    expect(udp.listening).toBe(false);
    const address = await udp.listen({ port: 0, host: '127.0.0.1' });
    expect(address.port).toBeGreaterThan(0);
    await expect(udp.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_ALREADY_LISTENING' });
  });

  test('misused options throw a TypeError with an exact sentence', () => {
    const make = (options: unknown) => () => new UdpServer(options as { type: 'udp4' });
    expect(make(undefined)).toThrow(TypeError);
    expect(make({})).toThrow("The \"type\" option must be 'udp4' or 'udp6'; got undefined.");
    expect(make({ type: 'tcp' })).toThrow('The "type" option must be \'udp4\' or \'udp6\'; got "tcp".');
    expect(make({ type: 'udp4', maxPeers: 0 })).toThrow(
      'The "maxPeers" option must be a positive integer; got 0.',
    );
    expect(make({ type: 'udp4', peerIdleTimeout: -1 })).toThrow(
      'The "peerIdleTimeout" option must be a number of milliseconds from 0 to 2147483647; got -1.',
    );
    expect(make({ type: 'udp4', maxMessageSize: 1.5 })).toThrow('"maxMessageSize"');
    expect(make({ type: 'udp4', reuseAddr: 'yes' })).toThrow(
      'The "reuseAddr" option must be a boolean; got "yes".',
    );
    expect(make({ type: 'udp4', ipv6Only: true })).toThrow(
      'The "ipv6Only" option applies to udp6 servers only.',
    );
    expect(make({ type: 'udp4', recvBufferSize: -5 })).toThrow('"recvBufferSize"');
    expect(make({ type: 'udp4', framing: { headerSize: 4 } })).toThrow(TypeError);
    expect(make({ type: 'udp4', logger: {} })).toThrow('The "logger" option must be a pino logger.');
  });

  test('listen() arguments are checked; socket options need a listening server', async () => {
    const udp = server({ type: 'udp4', reuseAddr: true, recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    await expect(udp.listen({ port: 70000 })).rejects.toThrow(
      'The "port" option must be an integer from 0 to 65535; got 70000.',
    );
    expect(() => udp.setBroadcast(true)).toThrow(NotListeningError);
    await udp.listen({ port: 0, host: '127.0.0.1' });
    expect(() => udp.setBroadcast(true)).not.toThrow();
    expect(() => udp.setMulticastTTL(4)).not.toThrow();
    expect(() => udp.setMulticastTTL(-1)).toThrow();
    expect(udp.maxDatagramSize).toBe(65_507);
  });
});

describe('logging', () => {
  test('listening, new peer, peer expired and errors are structured records on the udp-server child', async () => {
    const { logger, records } = recordingLogger();
    const udp = server({ type: 'udp4', peerIdleTimeout: 200, maxMessageSize: 8, logger });
    udp.on('error', () => {});
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const s = await raw();
    await s.send('ok', port);
    await s.send('much too long', port);
    await waitUntil(() => udp.stats.rejected === 1 && udp.peers.size === 0, 5000, 'a rejection and expiry');
    const id = `127.0.0.1:${s.port}`;
    expect(records.find((r) => r.msg === 'listening')).toMatchObject({
      component: 'udp-server',
      level: 30,
      address: { address: '127.0.0.1', port, family: 'IPv4' },
    });
    expect(records.find((r) => r.msg === 'new peer')).toMatchObject({ level: 20, connId: id });
    expect(records.find((r) => r.msg === 'datagram rejected')).toMatchObject({
      level: 40,
      code: 'ERR_FRAME_TOO_LARGE',
      connId: id,
    });
    expect(records.find((r) => r.msg === 'peer expired')).toMatchObject({
      level: 20,
      connId: id,
      reason: 'expired',
      bytesIn: 15,
      messagesIn: 1,
      rejected: 1,
    });
    // Payload bytes never appear in the records.
    expect(JSON.stringify(records)).not.toContain('much too long');
  });

  test('rejections held back by the rate limit are logged when its second is over, with no sweep running', async () => {
    const { logger, records } = recordingLogger();
    // peerIdleTimeout 0: no sweep timer, so only the rate limit's own timer can report them.
    const udp = server({ type: 'udp4', peerIdleTimeout: 0, maxMessageSize: 8, logger });
    let errors = 0;
    udp.on('error', () => errors++);
    udp.on('message', (peer, message) => peer.send(message));
    const { port } = await udp.listen({ port: 0, host: '127.0.0.1' });
    const s = await raw();
    for (let i = 0; i < 20; i++) await s.send('much too long', port);
    await waitUntil(() => udp.stats.rejected === 20, 5000, '20 rejections');
    expect(errors).toBe(20);
    const logged = (): number =>
      records
        .filter((r) => r.msg === 'datagram rejected' || r.msg === 'datagrams rejected')
        .reduce((n, r) => n + (r.rejected as number), 0);
    await waitUntil(() => logged() === 20, 3000, 'every rejection in the log before close()');
    expect(records.filter((r) => r.msg === 'datagram rejected')).toHaveLength(1);
    expect(records.find((r) => r.msg === 'datagrams rejected')).toMatchObject({
      level: 40,
      rejectedTotal: 20,
    });
    // The server still serves.
    await s.send('ok', port);
    expect((await s.waitForMessages(1))[0]?.toString()).toBe('ok');
  });
});

describe('listen and close, as every server', () => {
  test('close() while listen() binds rejects it with ERR_SERVER_CLOSED and leaves the port free', async () => {
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const { port } = probe.address();
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const udp = server({ type: 'udp4' });
    const listening = udp.listen({ port, host: '127.0.0.1' });
    const rejected = expect(listening).rejects.toMatchObject({ code: 'ERR_SERVER_CLOSED' });
    await udp.close();
    await rejected;
    expect(udp.listening).toBe(false);
    expect(udp.address()).toBeUndefined();
    // Nothing was left bound: the same port binds again without SO_REUSEADDR.
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });

  test('a second listen() rejects with ERR_ALREADY_LISTENING; bad listen options throw before anything binds', async () => {
    const udp = server({ type: 'udp4' });
    await expect(udp.listen({ port: -1 })).rejects.toThrow(TypeError);
    expect(udp.listening).toBe(false);
    await udp.listen({ port: 0, host: '127.0.0.1' });
    await expect(udp.listen({ port: 0 })).rejects.toMatchObject({ code: 'ERR_ALREADY_LISTENING' });
    expect(udp.address()?.port).toBeGreaterThan(0);
  });
});
