/**
 * A horizontal grouped bar chart as a standalone SVG: one group per workload (under a heading per
 * transport), one bar per contender, the bar's length being performance relative to the baseline on a log scale
 * (higher is better; for latency and memory the inverse ratio is drawn).
 */

export interface ChartSeries {
  name: string;
  color: string;
}

export interface ChartGroup {
  title: string;
  /** A heading drawn above this group when it differs from the previous group's (the transport). */
  section?: string;
  /** Per series: relative performance (1 = baseline, higher is better), or why there is none. */
  values: Record<string, number | string>;
}

const LEFT = 290;
const RIGHT = 70;
const PLOT = 560;
const BAR = 11;
const GAP = 2;
const GROUP_GAP = 14;
const TOP = 70;
/** Height of a section heading (one per transport). */
const SECTION = 24;
const MIN = 0.01;
const MAX = 10;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function x(value: number): number {
  const clamped = Math.min(MAX, Math.max(MIN, value));
  return LEFT + (Math.log10(clamped / MIN) / Math.log10(MAX / MIN)) * PLOT;
}

function label(value: number): string {
  if (value >= 10) return value.toFixed(0);
  if (value >= 0.095) return value.toFixed(2);
  return value.toFixed(3);
}

export function barChart(
  title: string,
  subtitle: string,
  series: ChartSeries[],
  groups: ChartGroup[],
): string {
  const groupHeight = series.length * (BAR + GAP) + GROUP_GAP;
  const legendRows = Math.ceil(series.length / 4);
  const plotTop = TOP + legendRows * 18;
  // Where each group starts: a section heading takes a line of its own.
  const starts: number[] = [];
  const headings: { y: number; text: string }[] = [];
  let y = plotTop;
  groups.forEach((group, g) => {
    if (group.section !== undefined && group.section !== groups[g - 1]?.section) {
      headings.push({ y: y + 12, text: group.section });
      y += SECTION;
    }
    starts.push(y);
    y += groupHeight;
  });
  const plotBottom = y;
  const height = plotBottom + 40;
  const width = LEFT + PLOT + RIGHT;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="12" y="40" fill="#555555">${escapeXml(subtitle)}</text>`,
  );
  series.forEach((s, i) => {
    const lx = 12 + (i % 4) * 210;
    const ly = TOP - 14 + Math.floor(i / 4) * 18;
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 17}" y="${ly + 1}">${escapeXml(s.name)}</text>`,
    );
  });
  for (const heading of headings) {
    out.push(
      `<rect x="0" y="${heading.y - 13}" width="${width}" height="18" fill="#eef2f8"/>`,
      `<text x="12" y="${heading.y}" font-size="12" font-weight="bold" fill="#1f3f7f">${escapeXml(heading.text)}</text>`,
    );
  }
  for (const tick of [0.01, 0.03, 0.1, 0.3, 1, 3, 10]) {
    const tx = x(tick).toFixed(1);
    const strong = tick === 1;
    out.push(
      `<line x1="${tx}" y1="${plotTop - 6}" x2="${tx}" y2="${plotBottom}" stroke="${strong ? '#333333' : '#dddddd'}" stroke-width="${strong ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${plotBottom + 14}" text-anchor="middle" fill="#555555">${tick}×</text>`,
    );
  }
  out.push(
    `<text x="${LEFT + PLOT / 2}" y="${plotBottom + 30}" text-anchor="middle" fill="#555555">relative to baseline (log scale, higher is better; latency and memory drawn as baseline ÷ contender)</text>`,
  );
  groups.forEach((group, g) => {
    const gy = starts[g] as number;
    out.push(
      `<text x="${LEFT - 8}" y="${gy + (series.length * (BAR + GAP)) / 2 + 4}" text-anchor="end" font-weight="bold">${escapeXml(group.title)}</text>`,
    );
    series.forEach((s, i) => {
      const by = gy + i * (BAR + GAP);
      const value = group.values[s.name];
      if (typeof value === 'number' && Number.isFinite(value)) {
        const end = x(value);
        out.push(
          `<rect x="${LEFT}" y="${by}" width="${(end - LEFT).toFixed(1)}" height="${BAR}" fill="${s.color}"/>`,
          `<text x="${(end + 4).toFixed(1)}" y="${by + BAR - 2}" font-size="9" fill="#333333">${label(value)}</text>`,
        );
      } else {
        out.push(
          `<text x="${LEFT + 4}" y="${by + BAR - 2}" font-size="9" fill="#999999">n/a${typeof value === 'string' ? ` (${escapeXml(value)})` : ''}</text>`,
        );
      }
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One row of the suite's results, as far as the chart needs it. */
export interface SuiteChartRow {
  title: string;
  /** The workload's id: its prefix (tls-, ipc-, udp-) names the transport the chart groups it under. */
  workload?: string;
  /** The contender the ratios are taken against. */
  reference: string;
  higherIsBetter: boolean;
  cells: Record<string, { ratio?: number; na?: string } | undefined>;
}

const PALETTE: Record<string, string> = {
  baseline: '#7f7f7f',
  naive: '#c7c7c7',
  sockframe: '#1f5fbf',
  'frame-stream': '#ff7f0e',
  'length-prefixed-stream': '#2ca02c',
  'node-ipc': '#9467bd',
  zeromq: '#d62728',
  jayson: '#8c564b',
  'net-ipc': '#e377c2',
  go: '#00add8',
};

const TRANSPORTS = ['tcp', 'tls', 'ipc', 'udp'] as const;
type ChartTransport = (typeof TRANSPORTS)[number];
const SECTIONS: Record<ChartTransport, string> = {
  tcp: 'TCP (loopback)',
  tls: 'TLS (node:tls, loopback)',
  ipc: 'Unix socket',
  udp: 'UDP (loopback)',
};

function transportOf(row: SuiteChartRow): ChartTransport {
  const prefix = row.workload?.split('-')[0];
  return prefix === 'tls' || prefix === 'ipc' || prefix === 'udp' ? prefix : 'tcp';
}

/** The benchmark suite's chart: one group per row, one bar per contender, grouped by transport. */
export function suiteChart(
  rows: readonly SuiteChartRow[],
  contenders: readonly string[],
  subtitle: string,
): string {
  const series = contenders.map((name) => ({ name, color: PALETTE[name] ?? '#17becf' }));
  // Grouped by transport, in this order; the rows keep their order within a transport.
  const ordered = TRANSPORTS.flatMap((transport) => rows.filter((row) => transportOf(row) === transport));
  const groups = ordered.map((row) => ({
    section: SECTIONS[transportOf(row)],
    title: `${row.title.replace(/ [¹²³⁴]$/, '')}${row.reference === 'baseline' ? '' : ` (vs ${row.reference})`}`,
    values: Object.fromEntries(
      contenders.map((name): [string, number | string] => {
        const cell = row.cells[name];
        if (cell === undefined || cell.ratio === undefined || !Number.isFinite(cell.ratio)) {
          return [name, cell?.na === undefined ? 'no data' : 'see table'];
        }
        return [name, row.higherIsBetter ? cell.ratio : 1 / cell.ratio];
      }),
    ),
  }));
  return barChart('sockframe and its peers, by transport', subtitle, series, groups);
}
