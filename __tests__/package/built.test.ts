/**
 * What users run: every `npm run example:*` script and `npm start` (the demo), as a person runs
 * them (tsx, straight from the sources, no build). The package as `npm pack` ships it is checked
 * by tarball.test.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectSuccess, run, ROOT } from '../helpers/pack';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('examples (each exits by itself)', () => {
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

  test('every example has a script, and every example script is listed here', async () => {
    const manifest = await readFile(join(ROOT, 'package.json'), 'utf8');
    const { scripts } = JSON.parse(manifest) as { scripts: Record<string, string> };
    const listed = Object.keys(scripts)
      .filter((s) => s.startsWith('example:'))
      .map((s) => s.slice('example:'.length))
      .sort();
    expect(listed).toEqual(cases.map(([name]) => name).sort());
  });

  test.each(cases)(
    'npm run example:%s',
    async (name, output) => {
      const result = await run(npm, ['run', '--silent', `example:${name}`], ROOT, { timeout: 60_000 });
      expectSuccess(result, name);
      expect(result.stdout).toMatch(output);
    },
    70_000,
  );

  test('npm start: the demo tells what happened and passes its checks', async () => {
    const result = await run(npm, ['run', '--silent', 'start'], ROOT, { timeout: 60_000 });
    expectSuccess(result, 'demo');
    expect(result.stdout).toMatch(/300 came back; .*: 0 wrong\./);
    expect(result.stdout).toMatch(
      /A hostile peer announced a 4 GiB message: cut off \d+ ms .* with ERR_FRAME_TOO_LARGE\./,
    );
    expect(result.stdout).toMatch(/^checks: 5 passed, 0 failed$/m);
    expect(result.stdout).not.toMatch(/FAIL/);
    // Without --logs the demo prints its story only: no log records.
    expect(result.stdout).not.toMatch(/connection accepted|"level"/);
  }, 70_000);

  test('npm start -- --logs adds the pretty-printed logs of the server and each client', async () => {
    const result = await run(npm, ['run', '--silent', 'start', '--', '--logs'], ROOT, { timeout: 60_000 });
    expectSuccess(result, 'demo --logs');
    expect(result.stdout).toMatch(/INFO.*: connection accepted/);
    for (const client of ['client-1', 'client-2', 'client-3', 'client-4']) {
      expect(result.stdout).toContain(`client: "${client}"`);
    }
    expect(result.stdout).toMatch(/^checks: 5 passed, 0 failed$/m);
  }, 70_000);
});
