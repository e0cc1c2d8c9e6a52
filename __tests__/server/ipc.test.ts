import { existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { AddressInUseError, IpcServer } from 'sockframe';
import { Resources, staleSocketFile, tmpSocketPath, waitUntil } from '../helpers/net';
import { expectEcho, rawClient, record } from './support';

const resources = new Resources();
afterEach(() => resources.closeAll());

const unixOnly = process.platform === 'win32' ? test.skip : test;

/** An echoing IpcServer, closed after the test. */
function ipcServer(): IpcServer {
  const server = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
  server.on('message', (conn, message) => conn.send(message));
  return server;
}

unixOnly('a stale socket file left by a crashed process is replaced', async () => {
  const path = resources.removeFile(tmpSocketPath());
  await staleSocketFile(resources, path);
  expect(lstatSync(path).isSocket()).toBe(true);
  // Nobody accepts on it any more.
  await expect(rawClient(resources, { path })).rejects.toMatchObject({ code: 'ECONNREFUSED' });

  const server = ipcServer();
  await expect(server.listen({ path })).resolves.toEqual({ path });
  await expectEcho(await rawClient(resources, { path }), 'replaced');
});

unixOnly('a live socket gives ERR_ADDRESS_IN_USE and is left alone', async () => {
  const path = resources.removeFile(tmpSocketPath());
  const live = ipcServer();
  const recorded = record(live);
  await live.listen({ path });
  const client = await rawClient(resources, { path });
  await expectEcho(client, 'before');

  const intruder = ipcServer();
  const attempt = intruder.listen({ path });
  await expect(attempt).rejects.toBeInstanceOf(AddressInUseError);
  await expect(attempt).rejects.toMatchObject({ code: 'ERR_ADDRESS_IN_USE', address: path });
  await intruder.close();

  expect(lstatSync(path).isSocket()).toBe(true);
  await expectEcho(client, 'after');
  await expectEcho(await rawClient(resources, { path }), 'newcomer');
  // The probe that found it alive was a connection like any other, and left quietly.
  await waitUntil(() => recorded.closes.length === 1, 5000, 'the probe to leave');
  expect(recorded.closes[0]?.reason).toEqual({ kind: 'peer-ended' });
  expect(recorded.errors).toEqual([]);
});

unixOnly('a regular file at the path is never removed', async () => {
  const path = resources.removeFile(tmpSocketPath());
  writeFileSync(path, 'precious');
  const server = ipcServer();
  await expect(server.listen({ path })).rejects.toMatchObject({ code: 'ERR_ADDRESS_IN_USE' });
  expect(readFileSync(path, 'utf8')).toBe('precious');
});

unixOnly('mode sets the permissions of the socket file', async () => {
  const path = resources.removeFile(tmpSocketPath());
  const server = ipcServer();
  await server.listen({ path, mode: 0o600 });
  expect(statSync(path).mode & 0o777).toBe(0o600);
  await expectEcho(await rawClient(resources, { path }), 'private');
});

test('a mode that is not a permission set is refused before listening', async () => {
  const path = resources.removeFile(tmpSocketPath());
  const server = ipcServer();
  await expect(server.listen({ path, mode: 0o1777 })).rejects.toThrow(
    'The "mode" option must be an integer from 0 to 0o777, such as 0o600; got 1023.',
  );
  await expect(server.listen({ path, mode: 1.5 })).rejects.toThrow(TypeError);
  expect(existsSync(path)).toBe(false);
  expect(server.listening).toBe(false);
});

test('listen() without a path is a TypeError', async () => {
  const server = ipcServer();
  await expect(server.listen({ path: '' })).rejects.toThrow(TypeError);
  await expect(server.listen({} as { path: string })).rejects.toThrow(
    'IpcServer.listen() needs { path }, a socket path or pipe name.',
  );
});

unixOnly('the socket file is removed on close', async () => {
  const path = resources.removeFile(tmpSocketPath());
  const server = ipcServer();
  await server.listen({ path });
  const client = await rawClient(resources, { path });
  await expectEcho(client, 'bye');
  expect(existsSync(path)).toBe(true);
  await server.close();
  await client.closed;
  expect(existsSync(path)).toBe(false);
});
