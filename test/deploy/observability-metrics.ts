// The metric names CMIS exports, and the ones a PromQL expression reads, so dashboards and alert
// rules can be checked against the code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { emailMetricsOf } from '@cmis/email';
import { createMetrics, timerMetricsOf } from '@cmis/platform';
import { REPO } from './compose-file';

/** Series Prometheus makes itself for every scrape target. */
const PROMETHEUS_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'];

/** Series names of what a registry holds: histograms as their _bucket, _sum and _count. */
async function seriesOf(registry: ReturnType<typeof createMetrics>['registry']): Promise<string[]> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.flatMap(({ name, type }) =>
    String(type) === 'histogram'
      ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
      : String(type) === 'summary'
        ? [name, `${name}_sum`, `${name}_count`]
        : [name],
  );
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

/**
 * Metrics a service registers inside its own factories (they need a running service's runtime):
 * `new Counter({ name: '…'` and the like in the services' and packages' source.
 */
export function metricsRegisteredInSource(): Map<string, 'counter' | 'gauge' | 'histogram' | 'summary'> {
  const found = new Map<string, 'counter' | 'gauge' | 'histogram' | 'summary'>();
  const files = ['packages', 'services'].flatMap((top) =>
    readdirSync(join(REPO, top)).flatMap((pkg) => {
      const src = join(REPO, top, pkg, 'src');
      return statSync(src, { throwIfNoEntry: false })?.isDirectory() ? sourceFiles(src) : [];
    }),
  );
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /new (Counter|Gauge|Histogram|Summary)\(\{\s*name: '([a-zA-Z_:][a-zA-Z0-9_:]*)'/g,
    ))
      found.set(m[2]!, m[1]!.toLowerCase() as 'counter' | 'gauge' | 'histogram' | 'summary');
  }
  return found;
}

/**
 * Every series name a CMIS service's /metrics can carry: the platform's registry as a service
 * process builds it (HTTP, consumer lag, outbox, inbox, timers, Node.js defaults), the email
 * service's counters, and the few registered inside service factories.
 */
export async function exportedSeries(): Promise<Set<string>> {
  const metrics = createMetrics({ service: 'any' });
  timerMetricsOf(metrics);
  emailMetricsOf(metrics);
  const names = new Set([...PROMETHEUS_SERIES, ...(await seriesOf(metrics.registry))]);
  for (const [name, type] of metricsRegisteredInSource()) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  return names;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression reads. Strips strings, label matchers, ranges and the label
 * lists of by/without/on/ignoring/group_*; what is left that is not a function call, a keyword
 * or a number is a metric name. Grafana's `label_values(metric, label)` counts as reading metric.
 */
export function metricsReadBy(expr: string): string[] {
  const labelValues = [...expr.matchAll(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/g)].map((m) => m[1]!);
  if (/label_values\(/.test(expr)) return labelValues;
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}
