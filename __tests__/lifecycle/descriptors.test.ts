/**
 * Out of file descriptors, libuv accepts each new connection and closes it at once, and Node
 * hears nothing. The server must say so, and serve again once descriptors are freed. Run in a
 * child process with a low descriptor limit, so that only it runs out.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Resources, RawClient, frame } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

type Line = { event: string } & Record<string, unknown>;

/** The child, and a way to wait for its next line that matches. */
function startChild(): { child: ChildProcessWithoutNullStreams; next: (event: string) => Promise<Line> } {
  const script = join(__dirname, 'fixtures', 'out-of-descriptors.js');
  const child = spawn('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${script}"`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  resources.add(child, (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const waiters: { event: string; resolve: (line: Line) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    const waiter = waiters.find((w) => w.event === line.event);
    if (waiter === undefined) lines.push(line);
    else {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const next = (event: string): Promise<Line> => {
    const seen = lines.findIndex((l) => l.event === event);
    if (seen >= 0) return Promise.resolve(lines.splice(seen, 1)[0] as Line);
    return new Promise((resolve, reject) => {
      waiters.push({ event, resolve });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before '${event}': ${stderr}`)));
    });
  };
  return { child, next };
}

function connectRaw(port: number): Promise<RawClient> {
  return RawClient.connect({ port, host: '127.0.0.1' }).then((client) => {
    resources.add(client, (c) => c.socket.destroy());
    return client;
  });
}

test('connections refused for want of descriptors are reported, and the server accepts again once they are freed', async () => {
  const { child, next } = startChild();
  const { port } = (await next('listening')) as unknown as { port: number };
  child.stdin.write('fill\n');
  expect((await next('filled')).code).toBe('EMFILE');
  // Accepted and closed at once by libuv: the peer sees its connection end without an answer.
  const refused = await connectRaw(port);
  refused.write(frame('anyone there?'));
  await refused.closed;
  expect(refused.messages).toEqual([]);
  const error = await next('error');
  expect(error).toEqual({ event: 'error', code: 'ERR_SOCKET', syscallCode: 'EMFILE' });

  child.stdin.write('free\n');
  await next('freed');
  const served = await connectRaw(port);
  served.write(frame('back'));
  const [echo] = await served.waitForMessages(1);
  expect(echo?.toString()).toBe('back');
  child.stdin.write('quit\n');
  await new Promise((resolve) => child.once('exit', resolve));
}, 20_000);
