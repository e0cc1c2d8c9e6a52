/**
 * The same echo written by subclassing instead of subscribing: override the protected hooks.
 * Hooks run before the listeners of the same event; the connection's `data` slot is typed.
 *
 *   npm run example:subclass
 */
import { TcpClient, TcpServer, type CloseReason, type Connection, type SockframeError } from 'sockframe';

interface Session {
  echoed: number;
}

class EchoServer extends TcpServer<Session> {
  protected override onConnect(conn: Connection<Session>): void {
    conn.data = { echoed: 0 };
  }

  protected override onMessage(conn: Connection<Session>, message: Buffer): void {
    if (conn.data) conn.data.echoed++;
    conn.send(message);
  }

  protected override onClose(conn: Connection<Session>, reason: CloseReason): void {
    console.log(`connection ${conn.id} closed (${reason.kind}) after ${conn.data?.echoed ?? 0} echoes`);
  }

  protected override onError(err: SockframeError, conn?: Connection<Session>): void {
    console.error(`connection ${conn?.id ?? '-'}: ${err.code} ${err.message}`);
  }
}

class CountingClient extends TcpClient {
  readonly received: string[] = [];
  private expected = 0;
  private done: () => void = () => {};

  /** Resolves once `count` replies have arrived. */
  repliesFor(count: number): Promise<void> {
    this.expected = count;
    return new Promise((resolve) => (this.done = resolve));
  }

  protected override onMessage(message: Buffer): void {
    this.received.push(message.toString());
    if (this.received.length === this.expected) this.done();
  }
}

async function main(): Promise<void> {
  const server = new EchoServer();
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = new CountingClient({ host: '127.0.0.1', port });
  await client.connect();
  const replies = client.repliesFor(10);
  for (let i = 0; i < 10; i++) client.send(`message ${i}`);
  await replies;
  await client.close();
  await server.close();
  console.log(`received ${client.received.length} replies, last: ${client.received.at(-1)}`);
  if (client.received.length !== 10) throw new Error('replies missing');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
