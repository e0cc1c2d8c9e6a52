import { Resources } from '../helpers/net';
import { runFanout, type FanoutCase } from './fanout';
import { caseSeed, pick, prng } from './model';
import { FORMATS } from './wire';

const resources = new Resources();
afterEach(() => resources.closeAll());

const IPC = { transport: 'ipc' as const, counts: [1, 6, 60, 120, 250], budget: 24 << 20 };
// Handshakes and encryption cost more: fewer connections and bytes, the same program.
const TLS = { transport: 'tls' as const, counts: [1, 5, 30, 80], budget: 12 << 20 };

const fixedName = 'fan-out ipc fixedSize';
const cases: FanoutCase[] = [
  { name: 'fan-out ipc lengthField()', format: FORMATS['length-default'](), ...IPC },
  { name: 'fan-out ipc varint', format: FORMATS.varint(), ...IPC },
  { name: 'fan-out ipc delimited', format: FORMATS['delimited-lf'](), ...IPC },
  { name: 'fan-out ipc custom header', format: FORMATS.custom(), ...IPC },
  {
    name: fixedName,
    format: FORMATS.fixed(pick(prng(caseSeed(fixedName) ^ 0x5eed), [17, 1000, 3000, 20_000])),
    ...IPC,
  },
  { name: 'fan-out tls lengthField()', format: FORMATS['length-default'](), ...TLS },
  { name: 'fan-out tls varint', format: FORMATS.varint(), ...TLS },
  { name: 'fan-out tls delimited', format: FORMATS['delimited-crlf'](), ...TLS },
  { name: 'fan-out tls custom header (factory)', format: FORMATS['custom-factory'](), ...TLS },
];

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  await runFanout(c, caseSeed(c.name), resources);
});
