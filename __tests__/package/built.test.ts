/**
 * What users run: the examples as compiled, and the package as `npm pack` ships it, installed
 * into a folder of its own and used from CommonJS, ESM and strict TypeScript.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectSuccess(result: Run): void {
  if (result.code !== 0) throw new Error(`exit ${result.code}\n${result.stdout}\n${result.stderr}`);
}

beforeAll(async () => {
  expectSuccess(await run(npm, ['run', 'build:all'], root, 180_000));
}, 200_000);

describe('examples (compiled, each exits by itself)', () => {
  const cases: [name: string, output: RegExp][] = [
    ['tcp-echo', /replies: \[ 'hello', 'from', 'sockframe', '' \]/],
    ['custom-header', /1000 requests, 1000 correct replies, 0 wrong/],
    ['ipc-echo', /reply: \{"hello":"over a Unix socket"/],
    ['tls-echo', /reply: hello over TLS/],
    ['chat', /alice heard 6 messages \(2 said\)/],
    ['subclass', /received 10 replies, last: message 9/],
    ['udp-echo', /reply: hello over UDP/],
    ['cluster-echo', /broadcast reached 2 clients on 2 workers, each exactly once/],
  ];
  test.each(cases)('%s', async (name, output) => {
    const result = await run(process.execPath, [join('.build', 'examples', `${name}.js`)], root, 30_000);
    expectSuccess(result);
    expect(result.stdout).toMatch(output);
  });

  test('the demo', async () => {
    const result = await run(process.execPath, [join('.build', 'examples', 'demo.js')], root, 60_000);
    expectSuccess(result);
    expect(result.stdout).toMatch(/echo mismatches\s+0/);
    expect(result.stdout).toMatch(/hostile client cut off\s+yes/);
    expect(result.stdout).toMatch(/errors seen\s+ERR_FRAME_TOO_LARGE/);
  });
});

describe('the packed tarball', () => {
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sockframe-pack-'));
    const packed = await run(npm, ['pack', '--json', '--pack-destination', dir], root, 120_000);
    expectSuccess(packed);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    if (info === undefined) throw new Error('npm pack printed no result');
    files = info.files.map((f) => f.path);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    const installed = await run(
      npm,
      ['install', join(dir, info.filename), '--no-audit', '--no-fund', '--prefer-offline'],
      dir,
      180_000,
    );
    expectSuccess(installed);
  }, 400_000);

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('holds dist (JS, declarations, source maps with their sources), README, CHANGELOG, LICENSE only', async () => {
    const outside = files.filter((f) => !f.startsWith('dist/')).sort();
    expect(outside).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/index.js.map');
    expect(files.filter((f) => /\.(ts|map)$/.test(f) && !/\.(d\.ts|js\.map)$/.test(f))).toEqual([]);
    const maps = (await readdir(join(dir, 'node_modules', 'sockframe', 'dist'), { recursive: true })).filter(
      (f) => f.endsWith('.js.map'),
    );
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const text = await readFile(join(dir, 'node_modules', 'sockframe', 'dist', map), 'utf8');
      const parsed = JSON.parse(text) as { sourcesContent?: string[] };
      expect(parsed.sourcesContent?.length).toBeGreaterThan(0);
    }
  });

  const echo = (importLine: string): string => `${importLine}
const server = new TcpServer();
server.on('message', (conn, message) => conn.send(message));
server.listen({ port: 0, host: '127.0.0.1' }).then(async ({ port }) => {
  const client = new TcpClient({ host: '127.0.0.1', port });
  await client.connect();
  const reply = new Promise((resolve) => client.once('message', resolve));
  client.send('round trip');
  console.log('echo:' + String(await reply));
  await client.close();
  await server.close();
});
`;

  test('require() from CommonJS', async () => {
    await writeFile(join(dir, 'cjs.cjs'), echo("const { TcpServer, TcpClient } = require('sockframe');"));
    const result = await run(process.execPath, ['cjs.cjs'], dir);
    expectSuccess(result);
    expect(result.stdout).toBe('echo:round trip\n');
  });

  test('import from ESM', async () => {
    await writeFile(join(dir, 'esm.mjs'), echo("import { TcpServer, TcpClient } from 'sockframe';"));
    const result = await run(process.execPath, ['esm.mjs'], dir);
    expectSuccess(result);
    expect(result.stdout).toBe('echo:round trip\n');
  });

  test('TypeScript with strict against the shipped types', async () => {
    const source = `import { TcpServer, TcpClient, lengthField, type Connection } from 'sockframe';
const server = new TcpServer<{ name: string }>({ framing: lengthField() });
server.on('message', (conn: Connection<{ name: string }>, message: Buffer) => conn.send(message));
server.listen({ port: 0, host: '127.0.0.1' }).then(async ({ port }) => {
  const client = new TcpClient({ host: '127.0.0.1', port });
  await client.connect();
  const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
  client.send('typed');
  console.log('echo:' + (await reply).toString());
  await client.close();
  await server.close();
});
// @ts-expect-error: not an event of a server
server.on('mesage', () => {});
`;
    await writeFile(join(dir, 'app.ts'), source);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      tsc,
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
    ];
    args.push(
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules', '@types'),
      '--outDir',
      'out',
      'app.ts',
    );
    expectSuccess(await run(process.execPath, args, dir, 120_000));
    const result = await run(process.execPath, [join('out', 'app.js')], dir);
    expectSuccess(result);
    expect(result.stdout).toBe('echo:typed\n');
  }, 120_000);
  /**
   * What only sockframe's own modules may call: removed from the published declarations
   * (`stripInternal`), so that no user program can come to depend on it.
   */
  const INTERNAL_NAMES = [
    'rawSocket',
    'sendEncoded',
    'sendShared',
    'closeFor',
    'whenClosed',
    'listenerFault',
    'handlerStarted',
    'handlerSettled',
    'logsAt',
    'sweepIdle',
    'overBudget',
    'rpcPeer',
    'noteReceived',
    'noteDelivered',
    'noteRejected',
    'noteSent',
    'markClosed',
    'ResolvedRpcOptions',
    'UdpPeerOwner',
    'FaultSink',
    'IdleWatched',
  ];

  async function declarationFiles(): Promise<string[]> {
    const dist = join(dir, 'node_modules', 'sockframe', 'dist');
    const found = await readdir(dist, { recursive: true });
    return found.filter((f) => f.endsWith('.d.ts')).map((f) => join(dist, f));
  }

  test('no internal member or type is in the declarations', async () => {
    const files = await declarationFiles();
    expect(files.length).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const name of INTERNAL_NAMES) {
        if (new RegExp(`\\b${name}\\b`).test(text)) leaks.push(`${file.slice(dir.length + 1)}: ${name}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  test('every declaration file compiles in a strict consumer with skipLibCheck off', async () => {
    const files = await declarationFiles();
    // Generic names are checked on the classes that had them: each line must fail to compile.
    const consumer = `import {
  Connection,
  NodeClusterAdapter,
  SocketClient,
  SocketServer,
  TcpClient,
  TcpServer,
  UdpPeer,
  UdpServer,
} from 'sockframe';
import { RedisAdapter } from 'sockframe/redis';
declare const conn: Connection;
declare const server: TcpServer;
declare const udp: UdpServer;
declare const peer: UdpPeer;
declare const client: TcpClient;
declare const cluster: NodeClusterAdapter;
// @ts-expect-error: internal
conn.fault;
// @ts-expect-error: internal
conn.flush;
// @ts-expect-error: internal
conn.logger;
// @ts-expect-error: internal
conn.heldBytes;
// @ts-expect-error: internal
conn.rawSocket;
// @ts-expect-error: internal
(server as SocketServer<Connection, unknown, unknown>).listenerFault;
// @ts-expect-error: internal
(client as SocketClient).listenerFault;
// @ts-expect-error: internal
peer.lastSeenAt;
// @ts-expect-error: internal
peer.noteSent;
// @ts-expect-error: internal
cluster.deliver;
export const used: unknown[] = [udp, RedisAdapter, peer.stats.lastSeenAt];
`;
    await writeFile(join(dir, 'consumer.ts'), consumer);
    await writeFile(
      join(dir, 'tsconfig.consumer.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'esnext.disposable'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['consumer.ts', ...files],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.consumer.json'], dir, 120_000);
    expect(result.stdout + result.stderr).toBe('');
    expectSuccess(result);
  }, 120_000);
});
