/**
 * What users run: the examples as compiled, and the package as `npm pack` ships it, installed
 * into a folder of its own and used from CommonJS, ESM and strict TypeScript.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

  test('holds dist (JS and declarations, no source maps), README, CHANGELOG, LICENSE only', () => {
    const outside = files.filter((f) => !f.startsWith('dist/')).sort();
    expect(outside).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files.filter((f) => !/\.(js|d\.ts)$/.test(f) && f.startsWith('dist/'))).toEqual([]);
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
  });
});
