// The lengthField layouts against Netty's own LengthFieldBasedFrameDecoder and LengthFieldPrepender
// (Debian's libnetty-java), through a small Java peer compiled here with javac.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lengthField, TcpClient } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { frameOf, LAYOUTS, randomBytes, seeded, startPeer, type Layout } from './support';

const JARS = ['common', 'buffer', 'transport', 'codec'].map((m) => `/usr/share/java/netty-${m}.jar`);
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);

function noNettyReason(): string | undefined {
  for (const tool of ['java', 'javac']) {
    if (spawnSync(tool, ['-version']).status !== 0) return `skipped: ${tool} is not installed`;
  }
  const missing = JARS.find((jar) => !existsSync(jar));
  if (missing !== undefined) {
    return `skipped: ${missing} is missing (Debian: apt-get install libnetty-java; .ci/run installs it)`;
  }
  return undefined;
}
const NO_NETTY_REASON = noNettyReason();

if (NO_NETTY_REASON !== undefined) {
  test.skip(`Netty interop (${NO_NETTY_REASON})`, () => {});
}
const describeNetty = NO_NETTY_REASON === undefined ? describe : describe.skip;

describeNetty(`Netty's LengthFieldBasedFrameDecoder and LengthFieldPrepender (SEED=${SEED})`, () => {
  const resources = new Resources();
  let classes = '';
  beforeAll(() => {
    classes = mkdtempSync(join(tmpdir(), 'sockframe-netty-'));
    const compiled = spawnSync(
      'javac',
      ['-d', classes, '-cp', JARS.join(':'), join(__dirname, 'NettyPeer.java')],
      {
        encoding: 'utf8',
      },
    );
    if (compiled.status !== 0) throw new Error(`javac failed:\n${compiled.stderr}`);
  }, 60_000);
  afterAll(() => rmSync(classes, { recursive: true, force: true }));
  afterEach(() => resources.closeAll());

  test.each(LAYOUTS.map((layout) => ({ ...layout, label: layout.name })))(
    '$label: sockframe → Netty decoder; Netty prepender → sockframe where the layout starts with the field',
    async (layout: Layout) => {
      const next = seeded(SEED);
      const fieldMax = layout.size >= 3 ? 1 << 20 : 2 ** (8 * layout.size) - 1;
      const room = fieldMax - layout.magic.length - Math.abs(layout.adjust) - 8;
      const bodies = [0, 1, 2, 255, 256, 5000, ...Array.from({ length: 10 }, () => Math.floor(next() * 400))]
        .map((size) => Math.max(Math.min(size, room), Math.max(0, layout.adjust)))
        .map((size) => randomBytes(next, size));
      const messages = bodies.map((body) => frameOf(layout, body).subarray(layout.strip));
      const prepends = layout.offset === 0;
      const input =
        `${layout.offset} ${layout.size} ${layout.adjust} ${layout.strip} ${layout.endian} ${messages.length}\n` +
        (prepends ? bodies.map((b) => `${b.toString('hex')}\n`).join('') : '');
      const peer = await startPeer(resources, input, 'java', [
        '-cp',
        [classes, ...JARS].join(':'),
        'NettyPeer',
      ]);
      const client = resources.add(
        new TcpClient({
          host: '127.0.0.1',
          port: peer.ready.port as number,
          framing: lengthField({
            lengthOffset: layout.offset,
            lengthSize: layout.size,
            lengthAdjustment: layout.adjust,
            strip: layout.strip,
            endian: layout.endian,
            ...(layout.strip > 0 ? { header: layout.magic.subarray(0, layout.strip) } : {}),
          }),
        }),
        (c) => c.close({ timeout: 500 }),
      );
      const received: string[] = [];
      client.on('message', (message) => received.push(message.toString('hex')));
      client.on('error', () => {});
      await client.connect();
      for (const message of messages) client.send(message);
      const result = await peer.result;
      expect(result.received).toEqual(messages.map((m) => m.toString('hex')));
      if (prepends) {
        await waitUntil(() => received.length >= messages.length, 5000, 'frames from the prepender');
        expect(received).toEqual(messages.map((m) => m.toString('hex')));
      }
    },
  );
});
