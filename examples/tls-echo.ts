/**
 * TLS echo. The certificate in examples/certs is a self-signed TEST certificate for localhost:
 * its private key is public, so use it for nothing but this example.
 *
 *   npm run example:tls-echo
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlsClient, TlsServer } from 'sockframe';

// Compiled to .build/examples/, run from the package root by the npm script.
const certs = join(__dirname, 'certs');
const cert = readFileSync(join(certs, 'localhost-cert.pem'));
const key = readFileSync(join(certs, 'localhost-key.pem'));

async function main(): Promise<void> {
  const server = new TlsServer({ key, cert });
  server.on('connect', (conn) => console.log(`TLS connection ${conn.id} from ${conn.remoteAddress}`));
  server.on('message', (conn, message) => {
    // A reply that cannot be written yet: stop reading until it can (backpressure).
    if (!conn.send(message)) {
      conn.pause();
      conn.once('drain', () => conn.resume());
    }
  });
  server.on('error', (err) => console.error(`server: ${err.code} ${err.message}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

  // Trust exactly the test certificate; the name checked is 'localhost'.
  const client = new TlsClient({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' });
  await client.connect();
  const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
  client.send('hello over TLS');
  console.log('reply:', (await reply).toString());

  await client.close();
  await server.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
