import {
  ListenerError,
  TcpServer,
  type CloseReason,
  type Connection,
  type SockframeError,
  type TcpAddress,
} from 'sockframe';
import { frame, Resources, waitUntil } from '../helpers/net';
import { expectEcho, expectEchoFromNewClient, nextError, rawClient, startTcp } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

describe('a throwing listener', () => {
  test("a throwing 'message' listener gives ERR_LISTENER_THREW and destroys only that connection", async () => {
    const { server, port, recorded } = await startTcp(resources, {}, { echo: false });
    const bug = new TypeError('listener bug');
    const delivered: string[] = [];
    server.on('message', (conn, message) => {
      const text = message.toString();
      delivered.push(text);
      if (text === 'boom') throw bug;
      conn.send(message);
    });
    const victim = await rawClient(resources, { port });
    const bystander = await rawClient(resources, { port });
    await expectEcho(victim, 'fine');
    await expectEcho(bystander, 'fine too');
    const victimConn = recorded.connects[0] as Connection;

    const fault = nextError(server);
    // Messages after the failing one, in the same read, are not delivered.
    victim.write(Buffer.concat([frame('boom'), frame('never delivered')]));
    const { err, conn } = await fault;
    expect(err).toBeInstanceOf(ListenerError);
    expect(err.code).toBe('ERR_LISTENER_THREW');
    expect((err as ListenerError).event).toBe('message');
    expect(err.cause).toBe(bug);
    expect(conn).toBe(victimConn);
    await victim.closed;
    await waitUntil(() => recorded.closes.length === 1, 5000, 'the close event');
    expect(recorded.closes[0]).toEqual({ conn: victimConn, reason: { kind: 'error', error: err } });
    expect(delivered).not.toContain('never delivered');

    await expectEcho(bystander, 'unaffected');
    await expectEchoFromNewClient(resources, port, 'newcomer');
    expect(recorded.errors).toHaveLength(1);
  });

  test("a throwing 'connect' listener destroys that connection", async () => {
    const { server, port, recorded } = await startTcp(resources);
    const bug = new Error('connect bug');
    let connects = 0;
    server.on('connect', () => {
      if (++connects === 1) throw bug;
    });
    const victim = await rawClient(resources, { port });
    await victim.closed;
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the error');
    const { err, conn } = recorded.errors[0] as { err: SockframeError; conn: Connection };
    expect(err.code).toBe('ERR_LISTENER_THREW');
    expect((err as ListenerError).event).toBe('connect');
    expect(err.cause).toBe(bug);
    expect(conn.id).toBe(1);
    await expectEchoFromNewClient(resources, port, 'second');
  });

  test("a throwing 'close' listener is reported without a connection", async () => {
    const { server, port, recorded } = await startTcp(resources);
    server.on('close', () => {
      throw new Error('close bug');
    });
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'hi');
    client.socket.end();
    await waitUntil(() => recorded.errors.length === 1, 5000, 'the error');
    expect(recorded.errors[0]?.err.code).toBe('ERR_LISTENER_THREW');
    expect((recorded.errors[0]?.err as ListenerError).event).toBe('close');
    expect(recorded.errors[0]?.conn).toBeUndefined();
    expect(server.connections.size).toBe(0);
    await expectEchoFromNewClient(resources, port, 'fine');
  });

  test("a throwing 'error' listener is contained", async () => {
    const { server, port } = await startTcp(resources, { maxMessageSize: 16 });
    let calls = 0;
    server.on('error', () => {
      calls++;
      throw new Error('error listener bug');
    });
    const offender = await rawClient(resources, { port });
    offender.write(frame(Buffer.alloc(64)));
    await offender.closed;
    await waitUntil(() => calls === 1, 5000, 'the error listener');
    await expectEchoFromNewClient(resources, port, 'fine');
  });
});

describe('subscribing', () => {
  test("once('message') hears one message; off() stops a listener", async () => {
    const { server, port } = await startTcp(resources);
    const heardOnce: string[] = [];
    const heardUntilOff: string[] = [];
    server.once('message', (_conn, message) => heardOnce.push(message.toString()));
    const listener = (_conn: Connection, message: Buffer): void => {
      heardUntilOff.push(message.toString());
    };
    server.on('message', listener);
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'one');
    server.off('message', listener);
    await expectEcho(client, 'two');
    server.on('message', listener);
    await expectEcho(client, 'three');
    expect(heardOnce).toEqual(['one']);
    expect(heardUntilOff).toEqual(['one', 'three']);
  });

  test('listeners added after removeAllListeners() hear the next messages', async () => {
    const { server, port } = await startTcp(resources);
    const client = await rawClient(resources, { port });
    await expectEcho(client, 'one');
    server.removeAllListeners();
    // Heard by nobody: there is no listener now.
    client.write(frame('unheard'));
    await waitUntil(() => [...server.connections.values()][0]?.stats.messagesIn === 2, 5000, 'the message');
    server.on('message', (conn, message) => conn.send(`again: ${message.toString()}`));
    client.write(frame('two'));
    const messages = await client.waitForMessages(2);
    expect(messages.map(String)).toEqual(['one', 'again: two']);
    server.removeAllListeners('message');
    server.on('message', (conn, message) => conn.send(`and: ${message.toString()}`));
    client.write(frame('three'));
    expect((await client.waitForMessages(3))[2]?.toString()).toBe('and: three');
  });

  test("the 'listening' event carries the bound address", async () => {
    const server = resources.add(new TcpServer(), (s) => s.close());
    const heard: TcpAddress[] = [];
    server.on('listening', (address) => heard.push(address));
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    expect(heard).toEqual([address]);
    expect(address).toEqual({ address: '127.0.0.1', port: expect.any(Number) as number, family: 'IPv4' });
    expect(address.port).toBeGreaterThan(0);
    expect(server.address()).toEqual(address);
    expect(server.listening).toBe(true);
  });
});

describe('subclassing', () => {
  class EchoServer extends TcpServer<{ greeting: string }> {
    readonly calls: string[] = [];

    protected override onConnect(conn: Connection<{ greeting: string }>): void {
      this.calls.push(`hook connect ${conn.id}`);
      conn.data = { greeting: 'hello ' };
    }

    protected override onMessage(conn: Connection<{ greeting: string }>, message: Buffer): void {
      this.calls.push(`hook message ${message.toString()}`);
      if (message.toString() === 'throw') throw new Error('hook bug');
      conn.send(`${conn.data?.greeting ?? ''}${message.toString()}`);
    }

    protected override onClose(conn: Connection<{ greeting: string }>, reason: CloseReason): void {
      this.calls.push(`hook close ${conn.id} ${reason.kind}`);
    }

    protected override onError(err: SockframeError, conn: Connection | undefined): void {
      this.calls.push(`hook error ${err.code} ${conn?.id}`);
    }
  }

  test('hooks answer without any listener, and run before the listeners of the same event', async () => {
    const server = resources.add(new EchoServer(), (s) => s.close());
    server.on('connect', (conn) => server.calls.push(`listener connect ${conn.id}`));
    server.on('message', (_conn, message) => server.calls.push(`listener message ${message.toString()}`));
    server.on('close', (conn, reason) => server.calls.push(`listener close ${conn.id} ${reason.kind}`));
    server.on('error', (err, conn) => server.calls.push(`listener error ${err.code} ${conn?.id}`));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

    const client = await rawClient(resources, { port });
    client.write(frame('world'));
    const [reply] = await client.waitForMessages(1);
    expect(reply?.toString()).toBe('hello world');
    client.socket.end();
    await waitUntil(() => server.calls.length === 6, 5000, 'the close hook and listener');
    expect(server.calls).toEqual([
      'hook connect 1',
      'listener connect 1',
      'hook message world',
      'listener message world',
      'hook close 1 peer-ended',
      'listener close 1 peer-ended',
    ]);
  });

  test('a throwing hook is isolated like a throwing listener', async () => {
    const server = resources.add(new EchoServer(), (s) => s.close());
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const victim = await rawClient(resources, { port });
    const bystander = await rawClient(resources, { port });
    bystander.write(frame('first'));
    await bystander.waitForMessages(1);
    victim.write(frame('throw'));
    await victim.closed;
    await waitUntil(() => server.calls.some((c) => c.startsWith('hook close 1')), 5000, 'the close hook');
    expect(server.calls).toContain('hook error ERR_LISTENER_THREW 1');
    expect(server.calls).toContain('hook close 1 error');
    bystander.write(frame('still'));
    const messages = await bystander.waitForMessages(2);
    expect(messages[1]?.toString()).toBe('hello still');
  });

  test("the hook's work is visible to the listeners of the same event", async () => {
    const server = resources.add(new EchoServer(), (s) => s.close());
    const seen: (string | undefined)[] = [];
    server.on('connect', (conn) => seen.push(conn.data?.greeting));
    server.on('message', (conn) => seen.push(conn.data?.greeting));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = await rawClient(resources, { port });
    client.write(frame('a'));
    await client.waitForMessages(1);
    expect(seen).toEqual(['hello ', 'hello ']);
  });
});
