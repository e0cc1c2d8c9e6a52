import { Resources } from '../helpers/net';
import { runFanout, type FanoutCase } from './fanout';
import { caseSeed, pick, prng } from './model';
import { FORMATS, type WireFormat } from './wire';

const resources = new Resources();
afterEach(() => resources.closeAll());

const COUNTS = [1, 2, 8, 40, 100, 150, 300];
const BUDGET = 24 << 20;

/** fixedSize needs one size per run: drawn from the case's seed, on both sides of the copy limit. */
function fixed(name: string): WireFormat {
  return FORMATS.fixed(pick(prng(caseSeed(name) ^ 0x5eed), [17, 1000, 3000, 20_000]));
}

const cases: FanoutCase[] = [
  ...(
    [
      'length-default',
      'length-u16le',
      'length-offset',
      'length-u64',
      'varint',
      'delimited-lf',
      'delimited-crlf',
      'custom',
      'custom-factory',
    ] as const
  ).map((key) => {
    const format = FORMATS[key]();
    return {
      name: `fan-out tcp ${format.name}`,
      transport: 'tcp' as const,
      format,
      counts: COUNTS,
      budget: BUDGET,
    };
  }),
  {
    name: 'fan-out tcp fixedSize',
    transport: 'tcp',
    format: fixed('fan-out tcp fixedSize'),
    counts: COUNTS,
    budget: BUDGET,
  },
];

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  await runFanout(c, caseSeed(c.name), resources);
});
