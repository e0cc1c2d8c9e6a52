/**
 * Echo over a Unix domain socket (a named pipe on Windows), with the socket file readable and
 * writable by its owner only.
 *
 *   npm run example:ipc-echo
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpcClient, IpcServer } from 'sockframe';

const path =
  process.platform === 'win32'
    ? `\\\\.\\pipe\\sockframe-example-${process.pid}`
    : join(tmpdir(), `sockframe-example-${process.pid}.sock`);

async function main(): Promise<void> {
  const server = new IpcServer();
  server.on('message', (conn, message) => {
    // A reply that cannot be written yet: stop reading until it can (backpressure).
    if (!conn.send(message)) {
      conn.pause();
      conn.once('drain', () => conn.resume());
    }
  });
  await server.listen({ path, mode: 0o600 });
  console.log(`echo server on ${path}`);

  const client = new IpcClient({ path });
  await client.connect();
  const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
  client.send(JSON.stringify({ hello: 'over a Unix socket', pid: process.pid }));
  console.log('reply:', (await reply).toString());

  await client.close();
  await server.close(); // removes the socket file
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
