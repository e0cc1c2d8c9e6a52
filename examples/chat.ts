/**
 * A chat room: named clients join, talk to everyone, and leave; the server broadcasts.
 * Messages are JSON with a typed `kind`, framed by newlines (delimited()).
 *
 *   npm run example:chat
 */
import { TcpClient, TcpServer, delimited } from 'sockframe';

/** What clients send. */
type ClientMessage = { kind: 'join'; name: string } | { kind: 'say'; text: string };

/** What the server sends. */
type ServerMessage =
  | { kind: 'joined'; name: string; members: number }
  | { kind: 'left'; name: string; members: number }
  | { kind: 'said'; name: string; text: string }
  | { kind: 'refused'; reason: string };

function toLine(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message); // JSON.stringify never emits a raw newline
}

interface Member {
  name?: string;
}

function startServer(): TcpServer<Member> {
  const server = new TcpServer<Member>({ framing: delimited(), maxMessageSize: 4096 });
  const named = (conn: { data: Member | undefined }): boolean => conn.data?.name !== undefined;
  const members = (): number => [...server.connections.values()].filter(named).length;

  server.on('connect', (conn) => (conn.data = {}));
  server.on('message', (conn, line) => {
    let message: ClientMessage;
    try {
      message = JSON.parse(line.toString()) as ClientMessage;
    } catch {
      conn.send(toLine({ kind: 'refused', reason: 'not JSON' }));
      return;
    }
    const member = conn.data ?? {};
    if (message.kind === 'join' && member.name === undefined) {
      member.name = message.name;
      server.broadcast(toLine({ kind: 'joined', name: message.name, members: members() }), named);
    } else if (message.kind === 'say' && member.name !== undefined) {
      server.broadcast(toLine({ kind: 'said', name: member.name, text: message.text }), named);
    } else {
      conn.send(toLine({ kind: 'refused', reason: `unexpected ${message.kind}` }));
    }
  });
  server.on('close', (conn) => {
    const name = conn.data?.name;
    if (name !== undefined) server.broadcast(toLine({ kind: 'left', name, members: members() }), named);
  });
  return server;
}

class ChatClient {
  readonly heard: ServerMessage[] = [];
  private readonly client: TcpClient;
  private waiters: { test: (m: ServerMessage) => boolean; resolve: () => void }[] = [];

  constructor(
    readonly name: string,
    port: number,
  ) {
    this.client = new TcpClient({ host: '127.0.0.1', port, framing: delimited() });
    this.client.on('message', (line) => {
      const message = JSON.parse(line.toString()) as ServerMessage;
      this.heard.push(message);
      console.log(`  ${this.name.padEnd(6)} ← ${line.toString()}`);
      this.waiters = this.waiters.filter((w) => (w.test(message) ? (w.resolve(), false) : true));
    });
  }

  /** Resolves when a message passing `test` arrives. */
  until(test: (m: ServerMessage) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  async join(): Promise<void> {
    await this.client.connect();
    const welcomed = this.until((m) => m.kind === 'joined' && m.name === this.name);
    this.client.send(toLine({ kind: 'join', name: this.name }));
    await welcomed;
  }

  say(text: string): void {
    this.client.send(toLine({ kind: 'say', text }));
  }

  leave(): Promise<void> {
    return this.client.close();
  }
}

async function main(): Promise<void> {
  const server = startServer();
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  console.log(`chat server on 127.0.0.1:${port}`);

  const alice = new ChatClient('alice', port);
  const bob = new ChatClient('bob', port);
  const carol = new ChatClient('carol', port);
  await alice.join();
  await bob.join();
  await carol.join();

  const everyoneHeard = (text: string) =>
    Promise.all([alice, bob, carol].map((c) => c.until((m) => m.kind === 'said' && m.text === text)));
  let heard = everyoneHeard('hi all');
  alice.say('hi all');
  await heard;
  heard = everyoneHeard('hello alice');
  bob.say('hello alice');
  await heard;

  const carolLeft = Promise.all(
    [alice, bob].map((c) => c.until((m) => m.kind === 'left' && m.name === 'carol')),
  );
  await carol.leave();
  await carolLeft;

  await alice.leave();
  await bob.leave();
  await server.close();

  const saidToAlice = alice.heard.filter((m) => m.kind === 'said').length;
  console.log(
    `alice heard ${alice.heard.length} messages (${saidToAlice} said), carol heard ${carol.heard.length}`,
  );
  if (saidToAlice !== 2) throw new Error('alice missed a message');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
