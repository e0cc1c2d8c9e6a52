/**
 * What users run: the examples as compiled. The package as `npm pack` ships it is checked by
 * tarball.test.ts.
 */
import { execFile } from 'node:child_process';
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
