/**
 * Leaks: thousands of connect / round trip / close cycles leave no connection in the registry,
 * no open handle, no socket file, and no heap growth beyond a small bound after a forced GC.
 */
import { existsSync, mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpcClient, IpcServer, TcpClient, TcpServer, type StreamClient } from 'sockframe';
import { delay, Resources, waitUntil } from '../helpers/net';
import { report, RssSampler } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const CYCLES = 5000;
const WARMUP = 200;
const IN_FLIGHT = 8;
/** Heap growth allowed over 5,000 cycles, after a forced GC: about 1.6 KiB a cycle. */
const HEAP_BOUND_MIB = 8;
const MiB = 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
const withGc = gc === undefined ? test.skip : test;
const skipNote = gc === undefined ? ' (skipped: needs node --expose-gc, as npm run test:stress runs it)' : '';

/** heapUsed once garbage collection has nothing more to free. */
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    (gc as () => void)();
    await delay(20);
  }
  return process.memoryUsage().heapUsed;
}

/** Sockets, pipes and servers the process holds open. */
function netHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => /TCP|Pipe/.test(name)).length;
}

/** Runs `count` cycles, `IN_FLIGHT` at a time; each connects, makes one round trip and closes. */
async function cycles(count: number, open: () => StreamClient): Promise<number> {
  let next = 0;
  let mismatches = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const text = `cycle ${next++}`;
      const client = open();
      await client.connect();
      const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
      client.send(text);
      if ((await reply).toString() !== text) mismatches++;
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return mismatches;
}

function echoServer<S extends TcpServer | IpcServer>(server: S): S {
  resources.add(server, (s) => s.close({ timeout: 500 }));
  server.on('message', (conn, message) => conn.send(message));
  return server;
}

withGc(
  `TCP: ${CYCLES} connect / round trip / close cycles leak nothing${skipNote}`,
  async () => {
    const handlesBefore = netHandles();
    const server = echoServer(new TcpServer());
    const errors: string[] = [];
    server.on('error', (err) => errors.push(err.code));
    let accepted = 0;
    server.on('connect', () => accepted++);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const open = (): StreamClient => new TcpClient({ host: '127.0.0.1', port });

    expect(await cycles(WARMUP, open)).toBe(0);
    await waitUntil(() => server.connections.size === 0, 5000, 'the warm-up connections to close');
    const heapBefore = await settledHeap();
    const rss = resources.add(new RssSampler(), (r) => r.stop());
    const started = Date.now();
    const mismatches = await cycles(CYCLES, open);
    const seconds = (Date.now() - started) / 1000;
    await waitUntil(() => server.connections.size === 0, 5000, 'every connection to close');
    const heapAfter = await settledHeap();
    const memory = rss.stop();
    await server.close();
    await waitUntil(() => netHandles() <= handlesBefore, 5000, 'the sockets to be released');

    const growthMiB = (heapAfter - heapBefore) / MiB;
    report('leaks-tcp', {
      cycles: CYCLES,
      inFlight: IN_FLIGHT,
      seconds,
      heapBeforeMiB: +(heapBefore / MiB).toFixed(2),
      heapAfterMiB: +(heapAfter / MiB).toFixed(2),
      heapGrowthMiB: +growthMiB.toFixed(2),
      heapBoundMiB: HEAP_BOUND_MIB,
      openNetHandlesAfter: netHandles() - handlesBefore,
      ...memory,
    });
    expect(mismatches).toBe(0);
    expect(errors).toEqual([]);
    expect(accepted).toBe(WARMUP + CYCLES);
    expect(server.connections.size).toBe(0);
    expect(growthMiB).toBeLessThan(HEAP_BOUND_MIB);
  },
  120_000,
);

withGc(
  `IPC: ${CYCLES} cycles over 10 successive servers leak nothing, socket files included${skipNote}`,
  async () => {
    const GENERATIONS = 10;
    const folder = resources.add(mkdtempSync(join(tmpdir(), 'sockframe-leaks-')), (f) => {
      if (existsSync(f)) rmdirSync(f);
    });
    const handlesBefore = netHandles();
    const errors: string[] = [];
    let accepted = 0;
    let leftInRegistry = 0;
    let filesLeft = 0;
    /** One server at a fresh path: `count` cycles, then closed; its socket file must be gone. */
    const generation = async (name: string, count: number): Promise<number> => {
      const path = join(folder, `${name}.sock`);
      const server = echoServer(new IpcServer());
      server.on('error', (err) => errors.push(err.code));
      server.on('connect', () => accepted++);
      await server.listen({ path });
      const mismatches = await cycles(count, () => new IpcClient({ path }));
      await waitUntil(() => server.connections.size === 0, 5000, 'every connection to close').catch(() => {});
      leftInRegistry += server.connections.size;
      await server.close();
      if (existsSync(path)) filesLeft++;
      return mismatches;
    };

    expect(await generation('warm-up', WARMUP)).toBe(0);
    const heapBefore = await settledHeap();
    const rss = resources.add(new RssSampler(), (r) => r.stop());
    const started = Date.now();
    let mismatches = 0;
    for (let g = 0; g < GENERATIONS; g++) mismatches += await generation(`g${g}`, CYCLES / GENERATIONS);
    const seconds = (Date.now() - started) / 1000;
    const heapAfter = await settledHeap();
    const memory = rss.stop();
    await waitUntil(() => netHandles() <= handlesBefore, 5000, 'the sockets to be released');
    const left = readdirSync(folder);

    const growthMiB = (heapAfter - heapBefore) / MiB;
    report('leaks-ipc', {
      cycles: CYCLES,
      servers: GENERATIONS,
      inFlight: IN_FLIGHT,
      seconds,
      heapBeforeMiB: +(heapBefore / MiB).toFixed(2),
      heapAfterMiB: +(heapAfter / MiB).toFixed(2),
      heapGrowthMiB: +growthMiB.toFixed(2),
      heapBoundMiB: HEAP_BOUND_MIB,
      socketFilesLeft: left.length,
      openNetHandlesAfter: netHandles() - handlesBefore,
      ...memory,
    });
    expect(mismatches).toBe(0);
    expect(errors).toEqual([]);
    expect(accepted).toBe(WARMUP + CYCLES);
    expect(leftInRegistry).toBe(0);
    expect(filesLeft).toBe(0);
    expect(left).toEqual([]);
    expect(growthMiB).toBeLessThan(HEAP_BOUND_MIB);
  },
  120_000,
);
