/**
 * The server-wide memory budget under attack: 1,000 connections from another process each
 * announce a 16 MiB message and send 2 MiB of it (2 GB offered in all), against a default
 * server. The budget (512 MiB) cuts the ones holding the most; the server's memory stays well
 * inside 2 GiB and a healthy client is answered throughout.
 */
import { spawn } from 'node:child_process';
import { TcpClient, TcpServer } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { report, RssSampler } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const PEERS = 1000;
const SENT_EACH = 2 * 1024 * 1024;

/** A child process that opens PEERS connections and sends each one's partial message. */
const ATTACKER = `
const net = require('node:net');
const [port, peers, each] = process.argv.slice(1).map(Number);
const head = Buffer.alloc(4); head.writeUInt32BE(16 * 1024 * 1024 - 4);
const body = Buffer.alloc(64 * 1024, 0x61);
let done = 0, open = 0;
const sockets = [];
for (let i = 0; i < peers; i++) {
  const s = net.connect(port, '127.0.0.1');
  sockets.push(s);
  s.on('error', () => {});
  s.on('close', () => { if (++done === peers) process.exit(0); });
  s.on('connect', () => {
    open++;
    s.write(head);
    let sent = 0;
    const pump = () => { while (sent < each) { sent += body.length; if (!s.write(body)) return void s.once('drain', pump); } };
    pump();
  });
}
process.on('message', () => process.exit(0));
setTimeout(() => process.exit(0), 60000).unref();
`;

test('1,000 connections each sending 2 MiB of an announced 16 MiB are cut by the budget; memory stays bounded and others are served', async () => {
  const server = resources.add(new TcpServer({ maxConnections: 2000, messageTimeout: 0 }), (s) =>
    s.close({ timeout: 1000 }),
  );
  const codes = new Map<string, number>();
  server.on('error', (err) => codes.set(err.code, (codes.get(err.code) ?? 0) + 1));
  server.on('message', (conn, message) => conn.send(message));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
  const healthy = resources.add(new TcpClient({ port, host: '127.0.0.1' }), (c) => c.close({ timeout: 500 }));
  await healthy.connect();
  const sampler = new RssSampler();
  const attacker = spawn(process.execPath, ['-e', ATTACKER, String(port), String(PEERS), String(SENT_EACH)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  resources.add(attacker, (c) => {
    if (c.exitCode === null) c.kill('SIGKILL');
  });
  const exited = new Promise((resolve) => attacker.once('exit', resolve));
  // Round trips all along; each must be answered within a second.
  let answered = 0;
  let slowest = 0;
  let running = true;
  const pinger = (async () => {
    while (running) {
      const started = Date.now();
      const reply = new Promise<Buffer>((resolve) => healthy.once('message', resolve));
      healthy.send(`ping ${answered}`);
      const got = await Promise.race([
        reply,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000)),
      ]);
      if (got === undefined) throw new Error(`ping ${answered} not answered within 1 s`);
      slowest = Math.max(slowest, Date.now() - started);
      answered++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await waitUntil(
    () => (codes.get('ERR_MEMORY_BUDGET') ?? 0) + 0 >= PEERS - 300,
    60_000,
    'peers cut by the budget',
  );
  running = false;
  await pinger;
  const memory = sampler.stop();
  attacker.send('stop');
  await exited;
  report('memory budget, 1,000 connections announcing 16 MiB', {
    cut: codes.get('ERR_MEMORY_BUDGET') ?? 0,
    otherErrors: [...codes].filter(([code]) => code !== 'ERR_MEMORY_BUDGET'),
    answered,
    slowestPingMs: slowest,
    ...memory,
  });
  expect(answered).toBeGreaterThan(0);
  // 512 MiB of budget, plus what the server costs without it.
  expect(memory.growthMiB).toBeLessThan(1024);
}, 120_000);
