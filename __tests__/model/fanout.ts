/**
 * Server to clients: one server, up to a few hundred connections, each read by a raw socket.
 * A seeded program interleaves, within one turn of the event loop and across several, sends to
 * single connections, send loops over all of them, broadcasts (to all and filtered), pipelined
 * requests answered from the 'message' handler (to the asker and a neighbour), pauses of slow
 * readers, waits for 'drain', and close() or destroy() mid-burst. At the end every connection's
 * bytes are decoded by the test and compared with what the model says was sent to it.
 */
import { Buffer } from 'node:buffer';
import {
  IpcServer,
  TcpServer,
  TlsServer,
  type Connection,
  type FramingOption,
  type SockframeError,
} from 'sockframe';
import { tlsCert, tlsKey, tmpSocketPath, type Resources } from '../helpers/net';
import {
  checkAll,
  connectRaw,
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
import { BROADCAST, payloadOf, type Message, type WireFormat } from './wire';

export interface FanoutCase {
  readonly name: string;
  readonly transport: Transport;
  readonly format: WireFormat;
  /** Connection counts to draw from. */
  readonly counts: readonly number[];
  /** Payload bytes the whole program may send (bounds memory and time). */
  readonly budget: number;
}

/** Far above any budget: the program honours 'drain' only some of the time, and must not be cut off. */
const MAX_PENDING = 256 << 20;

type AnyServer = TcpServer | IpcServer | TlsServer;

function makeServer(transport: Transport, framing: FramingOption): AnyServer {
  const options = { framing, maxPendingBytes: MAX_PENDING, maxMessageSize: 16 << 20 };
  if (transport === 'tcp') return new TcpServer(options);
  if (transport === 'ipc') return new IpcServer(options);
  return new TlsServer({ ...options, key: tlsKey, cert: tlsCert });
}

async function listen(server: AnyServer, resources: Resources): Promise<Target> {
  if (server instanceof IpcServer) {
    const path = resources.removeFile(tmpSocketPath());
    await server.listen({ path });
    return { path };
  }
  const { port } = await (server as TcpServer).listen({ port: 0, host: '127.0.0.1' });
  return { port };
}

/** A request: `Q`, how many replies, their size (hex), and whether a neighbour gets one too. */
function request(format: WireFormat, count: number, size: number, relay: boolean): Buffer {
  const text = `${relay ? 'R' : 'Q'}${count.toString(16).padStart(2, '0')}${size.toString(16).padStart(8, '0')}`;
  const bytes = Buffer.from(format.fixed === undefined ? text : text.padEnd(format.fixed, 'q'), 'latin1');
  return format.encode(bytes);
}

interface Side {
  sent: Sent;
  receiver: Receiver;
  conn: Connection;
  /** Requests written by the raw client, and answered by the server. */
  asked: number;
  answered: number;
}

export async function runFanout(c: FanoutCase, seed: number, resources: Resources): Promise<void> {
  const random = prng(seed);
  const format = c.format;
  const timers = new Set<NodeJS.Timeout>();
  resources.add(timers, (all) => all.forEach(clearTimeout));
  const findings: Finding[] = [];
  const errors: SockframeError[] = [];

  const server = resources.add(makeServer(c.transport, format.framing()), (s) => s.close({ timeout: 500 }));
  const sides: Side[] = [];
  const sideOf = new Map<Connection, Side>();
  let budget = c.budget;
  const sendTo = (side: Side, size: number): void => {
    const message = side.sent.next(size);
    send(side, message, payloadOf(seed, message, format.avoid));
  };
  const send = (side: Side, message: Message, payload: Buffer): void => {
    if (!side.conn.isOpen) {
      findings.push({
        conn: side.sent.index,
        text: `conn ${side.sent.index} is no longer open in the library, but was never closed`,
      });
      side.sent.state = 'destroyed';
      return;
    }
    side.sent.messages.push(message);
    budget -= message.size;
    if (!side.conn.send(payload)) side.sent.needsDrain = true;
  };

  server.on('error', (err) => errors.push(err));
  server.on('message', (conn, message) => {
    const side = sideOf.get(conn) as Side;
    side.answered++;
    if (side.sent.state !== 'open') return;
    const text = message.toString('latin1');
    const count = parseInt(text.slice(1, 3), 16);
    const size = parseInt(text.slice(3, 11), 16);
    for (let i = 0; i < count; i++) sendTo(side, size);
    const neighbour = sides[(side.sent.index + 1) % sides.length] as Side;
    if (text[0] === 'R' && neighbour.sent.state === 'open') sendTo(neighbour, size);
  });
  const target = await listen(server, resources);

  const count = pick(random, c.counts);
  for (let i = 0; i < count; i++) {
    const accepted = new Promise<Connection>((resolve) => server.once('connect', resolve));
    const socket = resources.socket(await connectRaw(c.transport, target));
    const conn = await within(accepted, 10_000, `connection ${i} accepted`);
    const side: Side = { sent: new Sent(i), receiver: new Receiver(socket), conn, asked: 0, answered: 0 };
    conn.on('drain', () => side.sent.drained());
    sides.push(side);
    sideOf.set(conn, side);
  }

  const open = (): Side[] => sides.filter((s) => s.sent.state === 'open');
  const counts = { ticks: 0, ops: 0, broadcasts: 0, drainWaits: 0, closes: 0, destroys: 0, requests: 0 };
  let broadcasts = 0;
  const ticks = int(random, 8, 40);
  for (let tick = 0; tick < ticks && budget > 0; tick++) {
    counts.ticks++;
    const ops = random() < 0.3 ? int(random, 1, 3) : int(random, 4, 40);
    for (let op = 0; op < ops && budget > 0; op++) {
      const live = open();
      if (live.length === 0) break;
      counts.ops++;
      const r = random();
      if (r < 0.35) {
        // One connection; one that owes a 'drain' is mostly left alone, as a careful caller does.
        const side = pick(random, live);
        if (side.sent.needsDrain && random() < 0.8) continue;
        sendTo(side, drawSize(random, format, budget));
      } else if (r < 0.52) {
        // A send loop over every connection, one message each (a server answering everyone).
        const each = drawSize(random, format, Math.floor(budget / live.length));
        const same = random() < 0.5;
        const order = random() < 0.5 ? live : shuffled(random, live);
        for (const side of order) {
          sendTo(side, same ? each : drawSize(random, format, Math.max(each, format.minPayload)));
        }
      } else if (r < 0.7) {
        const filtered = random() < 0.3;
        const chosen = filtered ? live.filter(() => random() < 0.5) : live;
        if (chosen.length === 0) continue;
        const size = drawSize(random, format, Math.floor(budget / chosen.length));
        const message: Message = { tag: BROADCAST, seq: broadcasts++, size };
        const payload = payloadOf(seed, message, format.avoid);
        const wanted = new Set(chosen.map((s) => s.conn));
        const reached = filtered
          ? server.broadcast(payload, (conn) => wanted.has(conn))
          : server.broadcast(payload);
        counts.broadcasts++;
        if (reached !== chosen.length) {
          findings.push({
            conn: undefined,
            text: `broadcast #${message.seq} reached ${reached} connections, not ${chosen.length}`,
          });
        }
        for (const side of chosen) {
          side.sent.messages.push(message);
          budget -= size;
        }
      } else if (r < 0.82) {
        // Pipelined requests: the raw client writes several at once and does not wait.
        const side = pick(random, live);
        const n = int(random, 1, 6);
        for (let i = 0; i < n; i++) {
          const replies = int(random, 1, 4);
          const relay = random() < 0.3;
          const size = drawSize(random, format, Math.min(20_000, Math.floor(budget / (replies + 1))));
          budget -= size * (replies + (relay ? 1 : 0));
          side.receiver.socket.write(request(format, replies, size, relay));
          side.asked++;
          counts.requests++;
        }
      } else if (r < 0.92) {
        // A slow reader: stops reading for a while, so the server's writes back up.
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
      } else if (live.length > 1 && r < 0.96) {
        const side = pick(random, live);
        side.sent.state = 'closed';
        counts.closes++;
        void side.conn.close();
      } else if (live.length > 1) {
        const side = pick(random, live);
        side.sent.state = 'destroyed';
        counts.destroys++;
        side.conn.destroy();
      }
    }
    if (
      await drainOrGap(
        random,
        open().filter((s) => s.sent.needsDrain),
        timers,
        'connections',
      )
    )
      counts.drainWaits++;
  }

  // Let every pipelined request of a connection still open be answered, then end everything.
  for (const side of sides) side.receiver.socket.resume();
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  const answered = (): boolean => open().every((s) => s.answered === s.asked);
  const deadline = Date.now() + 15_000;
  while (!answered() && Date.now() < deadline) await sleep(5, timers);
  for (const side of open().filter((s) => s.answered !== s.asked)) {
    findings.push({
      conn: side.sent.index,
      text: `conn ${side.sent.index}: ${side.asked - side.answered} of ${side.asked} requests never reached the server`,
    });
  }
  if (random() < 0.5) {
    for (const side of shuffled(random, open())) void side.conn.close();
  }
  await within(server.close({ timeout: 20_000 }), 25_000, 'server.close()');
  const ends = await Promise.race([
    Promise.all(sides.map((s) => s.receiver.closed)).then(() => true),
    sleep(10_000, timers).then(() => false),
  ]);
  if (!ends) {
    for (const side of sides.filter((s) => !s.receiver.ended)) {
      findings.push({
        conn: side.sent.index,
        text: `conn ${side.sent.index}: the reader never saw the stream end (${side.receiver.bytes} B received)`,
      });
    }
  }

  findings.push(...checkAll(format, seed, sides));
  for (const err of errors.slice(0, 4))
    findings.push({ conn: undefined, text: `server 'error': ${err.code}: ${err.message}` });
  const total = sides.reduce((n, s) => n + s.sent.messages.length, 0);
  report(
    c.name,
    seed,
    `${c.transport}, ${format.name}, ${count} connections, ${total} messages, ${JSON.stringify(counts)}`,
    findings,
  );
}
