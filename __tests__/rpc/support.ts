import { connect, type Socket } from 'node:net';
import { delimited, TcpClient, type JsonRpc, type SockframeError } from 'sockframe';
import type { Resources } from '../helpers/net';

/** A connected newline-delimited JSON-RPC client on 127.0.0.1, closed after the test; its errors collected. */
export async function rpcClient<Local, Remote>(
  resources: Resources,
  port: number,
  rpc: JsonRpc<Local, Remote>,
  errors: SockframeError[] = [],
): Promise<TcpClient<Local, Remote>> {
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', framing: delimited(), rpc }), (c) =>
    c.close({ timeout: 500 }),
  );
  client.on('error', (err) => errors.push(err));
  await client.connect();
  return client;
}

/** A JSON-RPC peer written against the wire directly: newline-delimited JSON over a plain socket. */
export class LinePeer {
  readonly socket: Socket;
  readonly received: unknown[] = [];
  private backlog = '';
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.backlog += text;
      let at: number;
      while ((at = this.backlog.indexOf('\n')) >= 0) {
        this.received.push(JSON.parse(this.backlog.slice(0, at)));
        this.backlog = this.backlog.slice(at + 1);
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.check()) return true;
        w.resolve();
        return false;
      });
    });
    socket.on('error', () => {});
  }

  static open(resources: Resources, port: number): Promise<LinePeer> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      resources.add(socket, (s) => s.destroy());
      socket.once('connect', () => resolve(new LinePeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes one line as it is (text) or as JSON. */
  send(message: unknown): void {
    this.socket.write((typeof message === 'string' ? message : JSON.stringify(message)) + '\n');
  }

  /** Resolves with the first received message matching `match`, waiting for it. */
  async next(match: (message: Record<string, unknown>) => boolean, timeoutMs = 3000): Promise<unknown> {
    const find = (): unknown => this.received.find((m) => match(m as Record<string, unknown>));
    const found = find();
    if (found !== undefined) return found;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching message; got ${JSON.stringify(this.received)}`)),
        timeoutMs,
      );
      this.waiters.push({
        check: () => find() !== undefined,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
    return find();
  }

  /** The response with this id. */
  response(id: unknown, timeoutMs?: number): Promise<unknown> {
    return this.next((m) => !Array.isArray(m) && m.id === id && m.method === undefined, timeoutMs);
  }
}
