/**
 * Replies sent from inside 'message' listeners, the request/response shape: a connection flushes
 * what the listeners of one read's messages sent as soon as they have all run. Seeded programs of
 * pipelined requests, written in random splits by many raw clients at once, ask for replies from
 * the listener, several or none, relays to another connection, replies after a pause, replies
 * from a promise, and a close; every client decodes its stream itself
 * and checks each message, its order, and that nothing is missing or extra.
 */
import { Socket } from 'node:net';
import { TcpServer, type Connection } from 'sockframe';
import { frame, RawClient, Resources, waitUntil } from '../helpers/net';
import { prng } from '../helpers/random';

const resources = new Resources();
afterEach(() => resources.closeAll());

type Action =
  | { kind: 'reply'; copies: number }
  | { kind: 'relay'; to: number }
  | { kind: 'pause' }
  | { kind: 'later' }
  | { kind: 'close' };

/** A request: `client:seq:action[:argument]:padding`. */
function request(client: number, seq: number, action: Action, padding: number): Buffer {
  const argument =
    action.kind === 'reply' ? `:${action.copies}` : action.kind === 'relay' ? `:${action.to}` : ':-';
  return Buffer.from(`${client}:${seq}:${action.kind}${argument}:${'p'.repeat(padding)}`);
}

function program(rand: () => number, clients: number, client: number, length: number): Action[] {
  const actions: Action[] = [];
  for (let seq = 0; seq < length; seq++) {
    const r = rand();
    if (r < 0.5) actions.push({ kind: 'reply', copies: 1 + Math.floor(rand() * 3) });
    else if (r < 0.6) actions.push({ kind: 'reply', copies: 0 });
    else if (r < 0.75) actions.push({ kind: 'relay', to: Math.floor(rand() * clients) });
    else if (r < 0.85) actions.push({ kind: 'pause' });
    else actions.push({ kind: 'later' });
  }
  if (client % 3 === 0) actions.push({ kind: 'close' });
  return actions;
}

/** The replies the server makes to one request (relays go elsewhere). */
function repliesTo(client: number, seq: number, action: Action): string[] {
  switch (action.kind) {
    case 'reply':
      return Array.from({ length: action.copies }, (_, copy) => `r:${client}:${seq}:${copy}`);
    case 'relay':
      return [];
    case 'pause':
      return [`paused:${client}:${seq}`];
    case 'later':
      return [`later:${client}:${seq}`];
    case 'close':
      return [`bye:${client}:${seq}`];
  }
}

/** Writes `bytes` in seeded random pieces, some turns apart, so reads split and join frames. */
async function writeInPieces(socket: Socket, bytes: Buffer, rand: () => number): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const size = 1 + Math.floor(rand() * (rand() < 0.3 ? 7 : 900));
    socket.write(bytes.subarray(offset, offset + size));
    offset += size;
    if (rand() < 0.2) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('replies sent from message listeners', () => {
  for (const seed of [1, 7, 42, 1234, 90210]) {
    test(`seed ${seed}: 12 pipelining clients, every reply in order, relays per sender in order`, async () => {
      const clients = 12;
      const rand = prng(seed);
      const server = resources.add(new TcpServer<number>(), (s) => s.close({ timeout: 200 }));
      const byIndex = new Map<number, Connection<number>>();
      server.on('message', (conn, message) => {
        const [client, seq, kind, argument] = message.toString().split(':') as [
          string,
          string,
          string,
          string,
        ];
        if (conn.data === undefined) {
          conn.data = Number(client);
          byIndex.set(conn.data, conn);
        }
        switch (kind as Action['kind']) {
          case 'reply':
            for (let copy = 0; copy < Number(argument); copy++) conn.send(`r:${client}:${seq}:${copy}`);
            break;
          case 'relay': {
            // To a connection that has announced itself; a relay to one not yet known goes to the sender.
            const target = byIndex.get(Number(argument)) ?? conn;
            if (target.isOpen) target.send(`relay:${client}:${seq}`);
            break;
          }
          case 'pause':
            conn.send(`paused:${client}:${seq}`);
            // Later messages of this read are held and delivered by resume(), outside the read.
            conn.pause();
            setImmediate(() => conn.resume());
            break;
          case 'later':
            void Promise.resolve().then(() => conn.send(`later:${client}:${seq}`));
            break;
          case 'close':
            conn.send(`bye:${client}:${seq}`);
            // After the replies still to come from promises of earlier requests.
            setImmediate(() => void conn.close());
            break;
        }
      });
      server.on('error', (err) => {
        throw err;
      });
      const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

      const programs = Array.from({ length: clients }, (_, i) =>
        program(rand, clients, i, 60 + Math.floor(rand() * 120)),
      );
      const raws = await Promise.all(
        programs.map(() =>
          RawClient.connect({ port, host: '127.0.0.1' }).then((raw) => {
            resources.socket(raw.socket);
            return raw;
          }),
        ),
      );
      // Each client announces itself first, so that relays find their target.
      await Promise.all(
        raws.map(async (raw, i) => {
          raw.write(frame(request(i, -1, { kind: 'reply', copies: 1 }, 0)));
          await raw.waitForMessages(1);
        }),
      );
      await waitUntil(() => byIndex.size === clients, 5000, 'every client announced');

      await Promise.all(
        raws.map((raw, i) => {
          const bytes = Buffer.concat(
            (programs[i] as Action[]).map((action, seq) =>
              frame(request(i, seq, action, Math.floor(rand() * 200))),
            ),
          );
          return writeInPieces(raw.socket, bytes, rand);
        }),
      );

      // What each client must get: its own replies in request order, and every relay addressed
      // to it, each sender's in that sender's order.
      const ownExpected = programs.map((actions, i) => [
        `r:${i}:-1:0`,
        ...actions.flatMap((action, seq) => repliesTo(i, seq, action)),
      ]);
      const relaysExpected = programs.map(() => new Map<number, string[]>());
      programs.forEach((actions, from) =>
        actions.forEach((action, seq) => {
          if (action.kind !== 'relay') return;
          const inbox = relaysExpected[action.to] as Map<number, string[]>;
          inbox.set(from, [...(inbox.get(from) ?? []), `relay:${from}:${seq}`]);
        }),
      );
      const closing = programs.map((actions) => actions.at(-1)?.kind === 'close');
      // A relay to a client that closed may arrive before or after its close: those are checked
      // only when they arrived.
      const total = (i: number): number =>
        (ownExpected[i] as string[]).length +
        (closing[i]
          ? 0
          : [...(relaysExpected[i] as Map<number, string[]>).values()].reduce((n, l) => n + l.length, 0));
      await Promise.all(raws.map((raw, i) => raw.waitForMessages(total(i))));
      await Promise.all(raws.filter((_, i) => closing[i]).map((raw) => raw.closed));

      raws.forEach((raw, i) => {
        const got = raw.messages.map((m) => m.toString());
        // Replies from a promise come after the listener's own replies to the same read, so
        // each kind is in request order among itself.
        const own = got.filter((m) => !m.startsWith('relay:') && !m.startsWith('later:'));
        expect(own).toEqual((ownExpected[i] as string[]).filter((m) => !m.startsWith('later:')));
        const later = got.filter((m) => m.startsWith('later:'));
        expect(later).toEqual((ownExpected[i] as string[]).filter((m) => m.startsWith('later:')));
        const relays = got.filter((m) => m.startsWith('relay:'));
        for (const [from, list] of relaysExpected[i] as Map<number, string[]>) {
          const arrived = relays.filter((m) => m.startsWith(`relay:${from}:`));
          if (closing[i]) expect(list.slice(0, arrived.length)).toEqual(arrived);
          else expect(arrived).toEqual(list);
        }
        // Nothing arrives from a sender that sent this client nothing.
        const senders = new Set(relays.map((m) => Number(m.split(':')[1])));
        for (const from of senders) expect((relaysExpected[i] as Map<number, string[]>).has(from)).toBe(true);
      });
    });
  }

  test('the replies to one read of pipelined requests leave in one write', async () => {
    const server = resources.add(new TcpServer(), (s) => s.close({ timeout: 200 }));
    const writes: number[] = [];
    server.on('connect', (conn) => {
      // Counted where every write of the connection's socket passes.
      const socket = (conn as unknown as { socket: Socket }).socket;
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = (...args: unknown[]) => {
        writes.push((args[0] as Buffer).length);
        return write(...args);
      };
    });
    server.on('message', (conn, message) => conn.send(Buffer.concat([Buffer.from('re:'), message])));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const raw = await RawClient.connect({ port, host: '127.0.0.1' });
    resources.socket(raw.socket);
    const requests = Array.from({ length: 32 }, (_, i) => frame(`q${i}`));
    raw.write(Buffer.concat(requests));
    const replies = await raw.waitForMessages(32);
    expect(replies.map((m) => m.toString())).toEqual(requests.map((_, i) => `re:q${i}`));
    // One read of all 32 (a loopback write this small is read whole), so one write of 32 replies.
    const replyBytes = replies.reduce((n, m) => n + 4 + m.length, 0);
    expect(writes.reduce((n, w) => n + w, 0)).toBe(replyBytes);
    expect(writes.length).toBe(1);
  });
});
