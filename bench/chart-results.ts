/**
 * Redraws the committed chart, bench/results/bench.svg, from the results of the last suite run
 * (bench/results/latest/bench.json). A suite run never touches the committed chart itself.
 *
 *   npm run bench:chart [-- --force]     --force: accept a --quick run's results too
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteChart, type SuiteChartRow } from './chart';
import { progress } from './stats';

const RESULTS = join(__dirname, '..', '..', 'bench', 'results');
const LATEST = join(RESULTS, 'latest', 'bench.json');
const CHART = join(RESULTS, 'bench.svg');

interface Results {
  command: string;
  quick: boolean;
  rows: SuiteChartRow[];
  chart: { contenders: string[]; subtitle: string };
}

function main(): void {
  let results: Results;
  try {
    results = JSON.parse(readFileSync(LATEST, 'utf8')) as Results;
  } catch (err) {
    progress(
      `cannot read ${LATEST} (${err instanceof Error ? err.message : String(err)}): run npm run bench first`,
    );
    process.exit(1);
  }
  if (results.quick && !process.argv.includes('--force')) {
    progress(
      `${LATEST} is from a --quick run (${results.command}), a smoke test: its figures are not for the committed chart. Run the full suite, or pass --force.`,
    );
    process.exit(1);
  }
  writeFileSync(CHART, suiteChart(results.rows, results.chart.contenders, results.chart.subtitle));
  progress(`wrote ${CHART} from ${results.command}`);
}

main();
