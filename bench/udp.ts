/**
 * The UDP workload: one sender blasts datagrams of one size at one receiver over loopback, with at
 * most 256 KiB sent and not yet passed on to the kernel (sockframe's send window; the same bound
 * for the hand-written sender), for `warmup` ms and then `ms` timed. Each datagram says whether it
 * was sent in the timed window (its second byte), so the receiver counts exactly the timed ones
 * that arrived; the rest were lost. Run by bench/worker.ts:
 *
 *   udp-recv {contender, size}                  binds, "PORT n"; counts; "RESULT {json}" on the
 *                                               "RESULT" command
 *   udp-send {contender, size, port, ms,        sends, then "RESULT {json}"
 *             warmup}
 *
 * Contenders: baseline (node:dgram, one send() per datagram) and sockframe (UdpServer, UdpClient).
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { UdpClient, UdpServer, WRITE_HIGH_WATER_MARK } from 'sockframe';
import { bytePayload, HOST, isIntact } from './contenders';

const WARM = 0x01;
const TIMED = 0x02;

interface Receiver {
  port: number;
}
interface Sender {
  /** Sends one datagram: false means wait for drained() first. */
  send(datagram: Buffer): boolean;
  drained(): Promise<void>;
  close(): Promise<void>;
}

interface UdpContender {
  receive(onDatagram: (datagram: Buffer) => void): Promise<Receiver>;
  send(port: number): Promise<Sender>;
}

const baseline: UdpContender = {
  receive: (onDatagram) =>
    new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.on('message', onDatagram);
      socket.once('error', reject);
      socket.bind(0, HOST, () => resolve({ port: socket.address().port }));
    }),
  send: (port) =>
    new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      let inFlight = 0;
      let waiting: (() => void) | undefined;
      const sent = (size: number) => (): void => {
        inFlight -= size;
        if (waiting !== undefined && inFlight < WRITE_HIGH_WATER_MARK) {
          const resume = waiting;
          waiting = undefined;
          resume();
        }
      };
      socket.once('error', reject);
      socket.connect(port, HOST, () =>
        resolve({
          send(datagram) {
            inFlight += datagram.length;
            socket.send(datagram, sent(datagram.length));
            return inFlight < WRITE_HIGH_WATER_MARK;
          },
          drained: () => new Promise<void>((resume) => (waiting = resume)),
          close: () => new Promise<void>((done) => socket.close(() => done())),
        }),
      );
    }),
};

const sockframe: UdpContender = {
  async receive(onDatagram) {
    const server = new UdpServer({ type: 'udp4', maxMessageSize: 65507 });
    server.on('message', (_peer, datagram) => onDatagram(datagram));
    server.on('error', () => {});
    const { port } = await server.listen({ port: 0, host: HOST });
    return { port };
  },
  async send(port) {
    const client = new UdpClient({ type: 'udp4', host: HOST, port });
    client.on('error', () => {});
    await client.connect();
    return {
      send: (datagram) => client.send(datagram),
      drained: () => new Promise<void>((resolve) => client.once('drain', resolve)),
      close: () => client.close(),
    };
  },
};

const UDP_CONTENDERS: Record<string, UdpContender> = { baseline, sockframe };

/** Why a contender has no UDP row, or undefined when it has one. */
export function udpMissing(name: string): string | undefined {
  return name in UDP_CONTENDERS ? undefined : 'no UDP variant measured';
}

function contender(name: string): UdpContender {
  const found = UDP_CONTENDERS[name];
  if (found === undefined) throw new Error(`${name} has no UDP variant`);
  return found;
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

export async function udpReceive(name: string, size: number): Promise<void> {
  let warm = 0;
  let received = 0;
  let bad = 0;
  let cpuAtFirst = 0;
  let cpuAtLast = 0;
  const { port } = await contender(name).receive((datagram) => {
    if (!isIntact(datagram, size)) bad++;
    if (datagram[1] !== TIMED) {
      warm++;
      return;
    }
    if (received++ === 0) cpuAtFirst = cpuMicros();
    cpuAtLast = cpuMicros();
  });
  process.stdout.write(`PORT ${port}\n`);
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line !== 'RESULT') return;
    const result = { warm, received, bad, cpu: cpuAtLast - cpuAtFirst };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  });
  input.on('close', () => process.exit(0));
}

export async function udpSend(
  name: string,
  size: number,
  port: number,
  ms: number,
  warmupMs: number,
): Promise<void> {
  const sender = await contender(name).send(port);
  const warmPayload = bytePayload(size);
  const timedPayload = Buffer.from(warmPayload);
  if (size > 2) {
    warmPayload[1] = WARM;
    timedPayload[1] = TIMED;
  }
  const pump = async (payload: Buffer, until: number): Promise<number> => {
    let count = 0;
    do {
      for (let i = 0; i < 64; i++) {
        count++;
        if (!sender.send(payload)) await sender.drained();
      }
    } while (performance.now() < until);
    return count;
  };
  await pump(warmPayload, performance.now() + warmupMs);
  const cpuAtStart = cpuMicros();
  const start = performance.now();
  const sent = await pump(timedPayload, start + ms);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuMicros() - cpuAtStart;
  await sender.close();
  process.stdout.write(`RESULT ${JSON.stringify({ sent, seconds, cpu })}\n`);
  process.exit(0);
}
