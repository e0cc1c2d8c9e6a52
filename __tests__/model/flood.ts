/**
 * Clients to a server: many library clients in one process, each flooding its own connection
 * to a raw server (no library code on the receiving side). A seeded program interleaves, within
 * one turn and across several, sends from single clients and send loops over all of them, with
 * waits for 'drain', slow readers and close() mid-burst; every connection's bytes are then
 * decoded by the test and compared with what the model says that client sent.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { IpcClient, TcpClient, TlsClient, type FramingOption, type SockframeError } from 'sockframe';
import { tlsCert, tlsKey, tmpSocketPath, type Resources } from '../helpers/net';
import {
  checkAll,
  drainOrGap,
  drawSize,
  int,
  pick,
  prng,
  Receiver,
  report,
  Sent,
  shuffled,
  sleep,
  within,
  type Finding,
  type Target,
  type Transport,
} from './model';
import { payloadOf, type WireFormat } from './wire';

export interface FloodCase {
  readonly name: string;
  readonly transport: Transport;
  readonly format: WireFormat;
  readonly counts: readonly number[];
  readonly budget: number;
}

const MAX_PENDING = 256 << 20;

type AnyClient = TcpClient | IpcClient | TlsClient;

function makeClient(transport: Transport, target: Target, framing: FramingOption): AnyClient {
  const options = { framing, maxPendingBytes: MAX_PENDING };
  if ('path' in target) return new IpcClient({ ...options, path: target.path });
  if (transport === 'tls') {
    return new TlsClient({
      ...options,
      port: target.port,
      host: '127.0.0.1',
      ca: tlsCert,
      servername: 'localhost',
    });
  }
  return new TcpClient({ ...options, port: target.port, host: '127.0.0.1' });
}

/** A raw server that hands over each accepted socket, in order. */
async function rawServer(
  transport: Transport,
  resources: Resources,
): Promise<{ target: Target; accepted: () => Promise<Socket> }> {
  const queue: Socket[] = [];
  const waiting: ((socket: Socket) => void)[] = [];
  const take = (socket: Socket): void => {
    resources.socket(socket);
    const wake = waiting.shift();
    if (wake === undefined) queue.push(socket);
    else wake(socket);
  };
  let server: Server;
  if (transport === 'tls') {
    server = createTlsServer({ key: tlsKey, cert: tlsCert }, take);
  } else {
    server = createNetServer(take);
  }
  resources.add(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  const accepted = (): Promise<Socket> => {
    const ready = queue.shift();
    return ready === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(ready);
  };
  if (transport === 'ipc') {
    const path = resources.removeFile(tmpSocketPath());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { target: { path }, accepted };
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { target: { port }, accepted };
}

interface Side {
  sent: Sent;
  receiver: Receiver;
  client: AnyClient;
}

export async function runFlood(c: FloodCase, seed: number, resources: Resources): Promise<void> {
  const random = prng(seed);
  const format = c.format;
  const timers = new Set<NodeJS.Timeout>();
  resources.add(timers, (all) => all.forEach(clearTimeout));
  const findings: Finding[] = [];
  const errors: { index: number; err: SockframeError }[] = [];
  const { target, accepted } = await rawServer(c.transport, resources);

  const sides: Side[] = [];
  const count = pick(random, c.counts);
  for (let i = 0; i < count; i++) {
    const client = resources.add(makeClient(c.transport, target, format.framing()), (cl) =>
      cl.close({ timeout: 500 }),
    );
    const sent = new Sent(i);
    client.on('error', (err) => errors.push({ index: i, err }));
    client.on('drain', () => sent.drained());
    const socket = accepted();
    await within(client.connect(), 10_000, `client ${i} connected`);
    sides.push({
      sent,
      receiver: new Receiver(await within(socket, 10_000, `client ${i} accepted`)),
      client,
    });
  }

  let budget = c.budget;
  const sendFrom = (side: Side, size: number): void => {
    const message = side.sent.next(size);
    side.sent.messages.push(message);
    budget -= size;
    if (!side.client.send(payloadOf(seed, message, format.avoid))) side.sent.needsDrain = true;
  };
  const open = (): Side[] => sides.filter((s) => s.sent.state === 'open');
  const closing: Promise<void>[] = [];
  const counts = { ticks: 0, ops: 0, loops: 0, drainWaits: 0, closes: 0 };
  const ticks = int(random, 8, 40);
  for (let tick = 0; tick < ticks && budget > 0; tick++) {
    counts.ticks++;
    const ops = random() < 0.3 ? int(random, 1, 3) : int(random, 4, 30);
    for (let op = 0; op < ops && budget > 0; op++) {
      const live = open();
      if (live.length === 0) break;
      counts.ops++;
      const r = random();
      if (r < 0.45) {
        const side = pick(random, live);
        if (side.sent.needsDrain && random() < 0.8) continue;
        const burst = int(random, 1, 8);
        for (let i = 0; i < burst && budget > 0; i++) sendFrom(side, drawSize(random, format, budget));
      } else if (r < 0.8) {
        // Every client sends in the same turn: their batches share the process's write buffers.
        counts.loops++;
        const each = int(random, 1, 3);
        const cap = Math.floor(budget / (live.length * each));
        const order = random() < 0.5 ? live : shuffled(random, live);
        for (const side of order)
          for (let i = 0; i < each; i++) sendFrom(side, drawSize(random, format, cap));
      } else if (r < 0.94) {
        const side = pick(random, live);
        side.receiver.socket.pause();
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            side.receiver.socket.resume();
          },
          int(random, 1, 60),
        );
        timers.add(timer);
      } else if (live.length > 1) {
        const side = pick(random, live);
        side.sent.state = 'closed';
        counts.closes++;
        closing.push(side.client.close({ timeout: 20_000 }));
      }
    }
    if (
      await drainOrGap(
        random,
        open().filter((s) => s.sent.needsDrain),
        timers,
        'clients',
      )
    )
      counts.drainWaits++;
  }

  for (const side of sides) side.receiver.socket.resume();
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  for (const side of shuffled(random, open())) closing.push(side.client.close({ timeout: 20_000 }));
  await within(Promise.all(closing), 25_000, 'client.close()');
  const ends = await Promise.race([
    Promise.all(sides.map((s) => s.receiver.closed)).then(() => true),
    sleep(10_000, timers).then(() => false),
  ]);
  if (!ends) {
    for (const side of sides.filter((s) => !s.receiver.ended)) {
      findings.push({
        conn: side.sent.index,
        text: `conn ${side.sent.index}: the raw server never saw the stream end (${side.receiver.bytes} B received)`,
      });
    }
  }

  findings.push(...checkAll(format, seed, sides));
  for (const { index, err } of errors.slice(0, 4)) {
    findings.push({ conn: index, text: `client ${index} 'error': ${err.code}: ${err.message}` });
  }
  const total = sides.reduce((n, s) => n + s.sent.messages.length, 0);
  report(
    c.name,
    seed,
    `${c.transport}, ${format.name}, ${count} clients, ${total} messages, ${JSON.stringify(counts)}`,
    findings,
  );
}
