/**
 * The adapter seam of every server, with adapters joined by an in-process hub: what is published,
 * what is delivered, when the adapter is attached and released, and how its faults are reported.
 */
import {
  AdapterMessageError,
  AdapterUnavailableError,
  NodeClusterAdapter,
  ServerClosedError,
  TcpServer,
  UdpServer,
  lengthField,
  type AdapterHooks,
  type ServerAdapter,
  type SockframeError,
} from 'sockframe';
import { connect } from 'node:net';
import { RawClient, Resources, delay, recordingLogger, waitUntil } from '../helpers/net';
import { RawUdp } from '../udp/udp-helpers';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** Joins adapters in one process: what one publishes, every other one delivers. */
class Hub {
  readonly adapters: HubAdapter[] = [];
  readonly published: Buffer[] = [];

  adapter(): HubAdapter {
    const adapter = new HubAdapter(this);
    this.adapters.push(adapter);
    return adapter;
  }
}

class HubAdapter implements ServerAdapter {
  readonly name = 'hub';
  hooks: AdapterHooks | undefined;
  readonly calls: string[] = [];
  /** Replaces publish when set. */
  failWith: (() => void | Promise<unknown>) | undefined;
  attachGate: Promise<void> | undefined;

  constructor(private readonly hub: Hub) {}

  async attach(hooks: AdapterHooks): Promise<void> {
    this.calls.push('attach');
    await this.attachGate;
    this.hooks = hooks;
    hooks.log.info('adapter connected');
  }

  publish(payload: Buffer): void | Promise<unknown> {
    this.calls.push('publish');
    if (this.failWith !== undefined) return this.failWith();
    const copy = Buffer.from(payload);
    this.hub.published.push(copy);
    for (const other of this.hub.adapters) if (other !== this) other.hooks?.deliver(copy);
  }

  close(): void {
    this.calls.push('close');
    this.hooks = undefined;
  }
}

function tcpServer(options: ConstructorParameters<typeof TcpServer>[0] = {}): TcpServer {
  return resources.add(new TcpServer(options), (s) => s.close({ timeout: 300 }));
}

async function withClient(server: TcpServer): Promise<RawClient> {
  const connected = new Promise((resolve) => server.once('connect', resolve));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = await RawClient.connect({ port, host: '127.0.0.1' });
  resources.socket(client.socket);
  await connected;
  return client;
}

function errorsOf(server: {
  on(event: 'error', listener: (err: SockframeError) => void): unknown;
}): SockframeError[] {
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  return errors;
}

describe('stream servers', () => {
  test('a broadcast reaches the clients of both servers exactly once and returns the local count', async () => {
    const hub = new Hub();
    const a = tcpServer({ adapter: hub.adapter() });
    const b = tcpServer({ adapter: hub.adapter() });
    const [clientA, clientB] = [await withClient(a), await withClient(b)];
    const extra = await RawClient.connect({
      port: (a.address() as { port: number }).port,
      host: '127.0.0.1',
    });
    resources.socket(extra.socket);
    await waitUntil(() => a.connections.size === 2, 2000, 'the second connection');

    expect(a.broadcast('from a')).toBe(2);
    expect(b.broadcast(new Uint8Array([0, 255, 10]))).toBe(1);
    await Promise.all([clientA.waitForMessages(2), clientB.waitForMessages(2), extra.waitForMessages(2)]);
    await delay(50);
    for (const client of [clientA, clientB, extra]) {
      expect(client.messages.map((m) => [...m])).toEqual([[...Buffer.from('from a')], [0, 255, 10]]);
    }
    expect(hub.published.map((p) => [...p])).toEqual([[...Buffer.from('from a')], [0, 255, 10]]);
  });

  test('a broadcast with a filter stays on its own server', async () => {
    const hub = new Hub();
    const a = tcpServer({ adapter: hub.adapter() });
    const b = tcpServer({ adapter: hub.adapter() });
    const [clientA, clientB] = [await withClient(a), await withClient(b)];
    expect(a.broadcast('only here', () => true)).toBe(1);
    expect(a.broadcast('nobody', () => false)).toBe(0);
    await clientA.waitForMessages(1);
    await delay(50);
    expect(clientA.messages.map(String)).toEqual(['only here']);
    expect(clientB.messages).toEqual([]);
    expect(hub.published).toEqual([]);
  });

  test('listen() waits for attach; broadcasts publish only between listen() and close(); close() releases the adapter last', async () => {
    const hub = new Hub();
    const adapter = hub.adapter();
    let open!: () => void;
    adapter.attachGate = new Promise((resolve) => (open = resolve));
    const { logger, records } = recordingLogger('info');
    const server = tcpServer({ adapter, logger });
    expect(server.broadcast('before listen')).toBe(0);
    let listened = false;
    const listening = server.listen({ port: 0, host: '127.0.0.1' }).then((address) => {
      listened = true;
      return address;
    });
    await delay(30);
    expect(listened).toBe(false);
    open();
    const { port } = await listening;
    const client = await RawClient.connect({ port, host: '127.0.0.1' });
    resources.socket(client.socket);
    await waitUntil(() => server.connections.size === 1, 2000, 'the connection');
    server.broadcast('while listening');
    server.on('close', () => adapter.calls.push('connection closed'));
    await server.close({ timeout: 300 });
    expect(server.broadcast('after close')).toBe(0);
    expect(adapter.calls).toEqual(['attach', 'publish', 'connection closed', 'close']);
    expect(records.find((r) => r['msg'] === 'adapter connected')).toMatchObject({
      component: 'tcp-server',
      adapter: 'hub',
    });
  });

  test('a publish that throws or rejects is ERR_ADAPTER_UNAVAILABLE; the local clients still get it', async () => {
    const hub = new Hub();
    const adapter = hub.adapter();
    const server = tcpServer({ adapter });
    const errors = errorsOf(server);
    const client = await withClient(server);

    const cause = new Error('broker gone');
    adapter.failWith = () => {
      throw cause;
    };
    expect(server.broadcast('one')).toBe(1);
    adapter.failWith = () => Promise.reject(new Error('publish refused'));
    expect(server.broadcast('two')).toBe(1);
    await waitUntil(() => errors.length === 2, 2000, 'the rejection');
    const typed = new AdapterUnavailableError('hub', 'typed by the adapter');
    adapter.failWith = () => {
      throw typed;
    };
    server.broadcast('three');
    await client.waitForMessages(3);
    await waitUntil(() => errors.length === 3, 2000, 'three errors');

    expect(client.messages.map(String)).toEqual(['one', 'two', 'three']);
    expect(errors.map((e) => e.code)).toEqual(Array(3).fill('ERR_ADAPTER_UNAVAILABLE'));
    expect(errors[0]).toBeInstanceOf(AdapterUnavailableError);
    expect(errors[0]?.cause).toBe(cause);
    expect(errors[0]?.message).toBe('The hub adapter could not publish a broadcast: broker gone');
    expect((errors[0] as AdapterUnavailableError).adapter).toBe('hub');
    expect(errors[1]?.message).toMatch(/publish refused/);
    expect(errors[2]).toBe(typed);
  });

  test('a broadcast from another instance that cannot be framed here is ERR_ADAPTER_MESSAGE', async () => {
    const hub = new Hub();
    const sender = tcpServer({ adapter: hub.adapter() });
    // A 1-byte length field: nothing over 255 bytes can be sent on this server.
    const small = tcpServer({ adapter: hub.adapter(), framing: lengthField({ lengthSize: 1 }) });
    await sender.listen({ port: 0, host: '127.0.0.1' });
    const errors = errorsOf(small);
    const connected = new Promise((resolve) => small.once('connect', resolve));
    const { port } = await small.listen({ port: 0, host: '127.0.0.1' });
    const socket = resources.socket(connect(port, '127.0.0.1'));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await connected;

    sender.broadcast(Buffer.alloc(300, 1));
    sender.broadcast('fits');
    await waitUntil(() => Buffer.concat(received).length === 5, 2000, 'the small broadcast');
    expect([...Buffer.concat(received)]).toEqual([4, ...Buffer.from('fits')]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AdapterMessageError);
    expect(errors[0]?.code).toBe('ERR_ADAPTER_MESSAGE');
    expect(errors[0]?.message).toMatch(
      /^A broadcast from another instance could not be sent here: A payload of 300 bytes/,
    );
    expect(errors[0]?.cause).toBeInstanceOf(RangeError);
  });

  test('a failed attach rejects listen() and the server can listen again', async () => {
    const hub = new Hub();
    const adapter = hub.adapter();
    adapter.attachGate = Promise.reject(new AdapterUnavailableError('hub', 'no broker'));
    const server = tcpServer({ adapter });
    await expect(server.listen({ port: 0, host: '127.0.0.1' })).rejects.toThrow('no broker');
    expect(server.listening).toBe(false);
    adapter.attachGate = undefined;
    const client = await withClient(server);
    server.broadcast('second try');
    await client.waitForMessages(1);
    expect(hub.published.map(String)).toEqual(['second try']);
  });

  test('close() while the adapter attaches: listen() rejects, nothing is bound, the adapter is released', async () => {
    const hub = new Hub();
    const adapter = hub.adapter();
    let open!: () => void;
    adapter.attachGate = new Promise((resolve) => (open = resolve));
    const server = tcpServer({ adapter });
    const listening = server.listen({ port: 0, host: '127.0.0.1' });
    const closing = server.close();
    open();
    await expect(listening).rejects.toThrow(ServerClosedError);
    await closing;
    expect(server.address()).toBeUndefined();
    expect(adapter.calls).toEqual(['attach', 'close']);
  });

  test('the adapter option is checked at construction', () => {
    expect(() => new TcpServer({ adapter: {} as ServerAdapter })).toThrow(
      'The "adapter" option must be a ServerAdapter (a name and attach, publish and close methods), such as a NodeClusterAdapter or a RedisAdapter.',
    );
    expect(() => new UdpServer({ type: 'udp4', adapter: 'redis' as unknown as ServerAdapter })).toThrow(
      TypeError,
    );
  });
});

describe('UDP servers', () => {
  test('a broadcast reaches the peers of both servers; one too large for a datagram is ERR_ADAPTER_MESSAGE there', async () => {
    const hub = new Hub();
    const servers = [0, 1].map(() =>
      resources.add(new UdpServer({ type: 'udp4', adapter: hub.adapter() }), (s) =>
        s.close({ timeout: 300 }),
      ),
    );
    const peers: RawUdp[] = [];
    for (const server of servers) {
      const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
      const peer = resources.add(await RawUdp.bind(), (p) => p.close());
      await peer.send('hello', port);
      await waitUntil(() => server.connections.size === 1, 2000, 'the peer');
      peers.push(peer);
    }
    const [a, b] = servers as [UdpServer, UdpServer];
    const errors = errorsOf(b);
    expect(a.broadcast('news')).toBe(1);
    await Promise.all(peers.map((p) => p.waitForMessages(1)));
    expect(peers.map((p) => String(p.messages[0]))).toEqual(['news', 'news']);

    // Within a's own limit (a udp6 server would take it), over udp4's for b.
    hub.adapters[1]?.hooks?.deliver(Buffer.alloc(65_508));
    expect(errors.map((e) => e.code)).toEqual(['ERR_ADAPTER_MESSAGE']);
    expect((errors[0]?.cause as SockframeError).code).toBe('ERR_DATAGRAM_TOO_LARGE');
  });
});

describe('NodeClusterAdapter outside a cluster worker', () => {
  test('listen() rejects with a TypeError that says what to do', async () => {
    const server = tcpServer({ adapter: new NodeClusterAdapter() });
    await expect(server.listen({ port: 0, host: '127.0.0.1' })).rejects.toThrow(
      'NodeClusterAdapter runs in a node:cluster worker: call NodeClusterAdapter.setupPrimary() in the primary and listen in the workers it forks.',
    );
    expect(server.listening).toBe(false);
  });

  test('options are checked', () => {
    expect(() => new NodeClusterAdapter({ channel: '' })).toThrow(
      'The "channel" option must be a non-empty string; got "".',
    );
    expect(() => new NodeClusterAdapter({ attachTimeout: -1 })).toThrow(TypeError);
    expect(new NodeClusterAdapter().channel).toBe('sockframe');
  });

  test('setupPrimary() in the primary starts one relay, however often it is called', () => {
    const relay = NodeClusterAdapter.setupPrimary();
    try {
      expect(NodeClusterAdapter.setupPrimary()).toBe(relay);
      expect(relay.relayed).toBe(0);
    } finally {
      relay.close();
    }
    const again = NodeClusterAdapter.setupPrimary();
    expect(again).not.toBe(relay);
    again.close();
  });
});
