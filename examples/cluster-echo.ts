/**
 * N workers of one node:cluster primary serve one TCP port; a broadcast made by any worker reaches
 * the clients of every worker through the NodeClusterAdapter. The primary then checks it with a
 * client on each worker and exits.
 *
 *   npm run example:cluster-echo [-- --workers 4 --port 7000]
 *
 * Each worker echoes what it receives, answers "whoami" with its id, and broadcasts the text after
 * "broadcast ". TLS servers work the same way under cluster. IPC servers cannot share a path: the
 * first worker's IpcServer takes it and the others get ERR_ADDRESS_IN_USE (give each worker a path
 * of its own instead).
 */
import cluster, { type Worker } from 'node:cluster';
import { NodeClusterAdapter, TcpClient, TcpServer } from 'sockframe';

const HOST = '127.0.0.1';
const BROADCAST = 'broadcast ';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} takes a whole number`);
  return value;
}

/** What a worker tells the primary, and the reverse. */
type ToPrimary = { kind: 'listening'; port: number };
type ToWorker = { kind: 'stop' };

function isKind<T extends { kind: string }>(message: unknown, kind: T['kind']): message is T {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === kind;
}

// ------------------------------------------------------------------ worker

async function worker(port: number): Promise<void> {
  const id = cluster.worker?.id ?? 0;
  const server = new TcpServer({ adapter: new NodeClusterAdapter() });
  server.on('message', (conn, message) => {
    const text = message.toString();
    if (text === 'whoami') conn.send(`worker ${id}`);
    else if (text.startsWith(BROADCAST))
      server.broadcast(`${text.slice(BROADCAST.length)} (from worker ${id})`);
    else conn.send(message);
  });
  server.on('error', (err) => console.error(`worker ${id}: ${err.code} ${err.message}`));
  const address = await server.listen({ port, host: HOST });
  process.on('message', (message: unknown) => {
    if (!isKind<ToWorker>(message, 'stop')) return;
    void server.close().then(() => cluster.worker?.disconnect());
  });
  const ready: ToPrimary = { kind: 'listening', port: address.port };
  process.send?.(ready);
}

// ------------------------------------------------------------------ primary

/** A client that keeps what it hears and can wait for the next messages. */
class Listener {
  readonly heard: string[] = [];
  private waiting: { count: number; resolve: () => void }[] = [];

  constructor(readonly client: TcpClient) {
    client.on('message', (message) => {
      this.heard.push(message.toString());
      this.waiting = this.waiting.filter((w) => {
        if (this.heard.length < w.count) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves when `count` messages in all have arrived. */
  until(count: number): Promise<void> {
    if (this.heard.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }

  async ask(text: string): Promise<string> {
    const next = this.heard.length + 1;
    this.client.send(text);
    await this.until(next);
    return this.heard[next - 1] as string;
  }
}

function fork(): Promise<{ worker: Worker; port: number }> {
  return new Promise((resolve, reject) => {
    const forked = cluster.fork();
    forked.once('exit', (code) =>
      reject(new Error(`worker ${forked.id} exited with ${code} before listening`)),
    );
    forked.on('message', (message: unknown) => {
      if (isKind<ToPrimary>(message, 'listening')) resolve({ worker: forked, port: message.port });
    });
  });
}

async function primary(workers: number, requestedPort: number): Promise<void> {
  const relay = NodeClusterAdapter.setupPrimary();
  // The first worker picks the port (0: any free one); the others share it.
  const first = await fork();
  const port = requestedPort === 0 ? first.port : requestedPort;
  const rest = await Promise.all(Array.from({ length: workers - 1 }, () => fork()));
  if (rest.some((r) => r.port !== port)) throw new Error('the workers listen on different ports');
  console.log(`${workers} workers listening on ${HOST}:${port}`);

  // The primary hands connections out in turn; connect until every worker holds one.
  const byWorker = new Map<string, Listener>();
  const everyone: Listener[] = [];
  for (let attempt = 0; byWorker.size < workers && attempt < workers * 10; attempt++) {
    const client = new TcpClient({ host: HOST, port });
    await client.connect();
    const listener = new Listener(client);
    everyone.push(listener);
    const who = await listener.ask('whoami');
    if (!byWorker.has(who)) byWorker.set(who, listener);
  }
  console.log(`${everyone.length} clients, on ${[...byWorker.keys()].sort().join(', ')}`);

  for (const [who, listener] of byWorker) {
    const reply = await listener.ask(`echo via ${who}`);
    if (reply !== `echo via ${who}`) throw new Error(`${who} echoed ${JSON.stringify(reply)}`);
  }
  console.log('echo: every worker answered');

  // One broadcast from one worker; every client, whichever worker holds it, hears it once.
  const [sender] = byWorker.values();
  const before = everyone.map((l) => l.heard.length);
  sender?.client.send(`${BROADCAST}hello everyone`);
  await Promise.all(everyone.map((l, i) => l.until((before[i] as number) + 1)));
  await new Promise((resolve) => setTimeout(resolve, 100)); // room for a duplicate to show up
  const received = everyone.map((l, i) => l.heard.slice(before[i]));
  for (const [who, listener] of byWorker) {
    console.log(`client on ${who} heard: ${listener.heard[listener.heard.length - 1]}`);
  }
  const once = received.every((r) => r.length === 1 && r[0]?.startsWith('hello everyone (from worker '));
  console.log(
    once
      ? `broadcast reached ${everyone.length} clients on ${byWorker.size} workers, each exactly once`
      : `broadcast check failed: ${JSON.stringify(received)}`,
  );

  await Promise.all(everyone.map((l) => l.client.close()));
  const exited = Object.values(cluster.workers ?? {}).map(
    (w) =>
      new Promise<void>((resolve) =>
        w === undefined || w.isDead() ? resolve() : w.once('exit', () => resolve()),
      ),
  );
  for (const w of Object.values(cluster.workers ?? {})) w?.send({ kind: 'stop' } satisfies ToWorker);
  await Promise.all(exited);
  relay.close();
  if (!once || byWorker.size !== workers) process.exitCode = 1;
}

if (cluster.isPrimary) {
  const workers = option('--workers', 2);
  if (workers < 1) throw new TypeError('--workers takes at least 1');
  // Never hang: a worker that does not start or stop ends the example with an error.
  const guard = setTimeout(() => {
    console.error('cluster-echo: timed out');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill();
    process.exit(1);
  }, 30_000);
  guard.unref();
  primary(workers, option('--port', 0)).catch((err: unknown) => {
    console.error(err);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill();
    process.exitCode = 1;
  });
} else {
  worker(option('--port', 0)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
