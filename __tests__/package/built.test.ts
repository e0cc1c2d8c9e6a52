/**
 * What users run: every `npm run example:*` script and `npm start` (the demo), as a person runs
 * them (tsx, straight from the sources, no build). The package as `npm pack` ships it is checked
 * by tarball.test.ts.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
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
    // metrics serves until stopped: it has a test of its own below.
    expect(listed).toEqual([...cases.map(([name]) => name), 'metrics'].sort());
  });

  test('npm run example:metrics serves Prometheus metrics until SIGINT', async () => {
    // In a group of its own, as a terminal runs it: Ctrl-C signals the whole group.
    const child = spawn(npm, ['run', '--silent', 'example:metrics'], { cwd: ROOT, detached: true });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no endpoint printed: ${out}`)), 60_000);
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const found = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out);
          if (found !== null) {
            clearTimeout(timer);
            resolve(found[1] as string);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
      });
      const body = await new Promise<string>((resolve, reject) => {
        get(url, (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve(text));
        }).on('error', reject);
      });
      expect(body).toMatch(/^# TYPE \w+ (counter|gauge)/m);
    } finally {
      const exited = new Promise((resolve) => child.once('close', resolve));
      // SIGINT to the group, as Ctrl-C: the example stops its servers and exits.
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGINT');
      await exited;
    }
  }, 70_000);

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
