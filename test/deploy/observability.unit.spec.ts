// The Grafana dashboards and the Prometheus alert rules in deploy/ read only metrics the code
// exports (names taken from the services' metric registries and their source), and the rule file
// is one Prometheus loads, with a severity and the words on-call needs on every alert.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from './compose-file';
import { exportedSeries, metricsReadBy, metricsRegisteredInSource } from './observability-metrics';
import {
  alertRulesOf,
  datasourceUidsOf,
  expressionsOf,
  readDashboards,
  readRuleFile,
  ruleFileProblems,
} from './observability-files';

let exported: Set<string>;
beforeAll(async () => {
  exported = await exportedSeries();
});

const unknownIn = (expr: string) => metricsReadBy(expr).filter((name) => !exported.has(name));

describe('metric names from the code', () => {
  it('holds what the platform, the timers and the email service register', () => {
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'consumer_lag',
      'outbox_depth',
      'inbox_processed_rows',
      'timer_backlog',
      'timer_lateness_seconds_bucket',
      'timers_parked',
      'email_send_outcomes_total',
      'email_delivery_reports_total',
      'process_cpu_seconds_total',
    ])
      expect(exported).toContain(name);
    expect(exported).not.toContain('http_request_duration_seconds');
  });

  it('finds metrics registered inside service factories in their source', () => {
    const inSource = metricsRegisteredInSource();
    expect(inSource.get('email_inbound_rejected_total')).toBe('counter');
    expect(inSource.get('ingest_claim_failures_total')).toBe('counter');
    // The registry-built names are in the source too: the scan reads the same code.
    expect(inSource.get('timer_lateness_seconds')).toBe('histogram');
  });

  it('reads metric names out of PromQL, not functions, labels, keywords or Grafana variables', () => {
    expect(
      metricsReadBy(
        'histogram_quantile(0.99, sum by (service, le) (rate(timer_lateness_seconds_bucket{service=~"$service"}[$__rate_interval]))) > 5',
      ),
    ).toEqual(['timer_lateness_seconds_bucket']);
    expect(
      metricsReadBy(
        'sum(increase(a_total{type="complaint"}[1h])) / on(group) group_left(x) sum(increase(b_total[1h])) > 0.0025 and bool c offset 5m',
      ),
    ).toEqual(['a_total', 'b_total', 'c']);
    expect(metricsReadBy('label_values(consumer_lag{service=~"$service"}, group)')).toEqual(['consumer_lag']);
    expect(unknownIn('sum(rate(http_requests_totl[5m])) / deriv(outbox_depth[10m:1m])')).toEqual([
      'http_requests_totl',
    ]);
  });
});

describe('Grafana dashboards', () => {
  const dashboards = readDashboards();
  const datasources = parse(
    readFileSync(join(REPO, 'deploy/grafana/provisioning/datasources/datasources.yaml'), 'utf8'),
  ) as { datasources: Array<{ uid: string }> };

  it('has one per concern, each with a unique uid and a title', () => {
    expect(dashboards.map((d) => d.file)).toEqual([
      'cmis-email.json',
      'cmis-http-red.json',
      'cmis-pipeline.json',
      'cmis-timers.json',
    ]);
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const { dashboard } of dashboards) expect(dashboard.title).toEqual(expect.any(String));
  });

  it.each(readDashboards().map((d) => [d.file, d.dashboard] as const))(
    '%s reads only exported metrics, through a provisioned datasource',
    (_file, dashboard) => {
      const expressions = expressionsOf(dashboard);
      expect(expressions.length).toBeGreaterThan(0);
      const unknown = expressions.flatMap(({ where, expr }) =>
        unknownIn(expr).map((name) => `${where}: ${name}`),
      );
      expect(unknown).toEqual([]);
      // A query that reads no metric at all is one the parser did not understand.
      expect(expressions.filter(({ expr }) => metricsReadBy(expr).length === 0)).toEqual([]);
      const provisioned = datasources.datasources.map((d) => d.uid);
      for (const uid of datasourceUidsOf(dashboard)) expect(provisioned).toContain(uid);
    },
  );

  it('shows RED per route, lag per group, outbox depth, timer backlog and lateness, emails per provider', () => {
    const read = new Set(
      dashboards.flatMap(({ dashboard }) =>
        expressionsOf(dashboard).flatMap(({ expr }) => metricsReadBy(expr)),
      ),
    );
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'consumer_lag',
      'outbox_depth',
      'inbox_processed_rows',
      'timer_backlog',
      'timer_lateness_seconds_bucket',
      'email_send_outcomes_total',
      'email_delivery_reports_total',
    ])
      expect(read).toContain(name);
  });
});

describe('Prometheus alert rules (deploy/prometheus/alerts.yml)', () => {
  const file = readRuleFile();
  const rules = alertRulesOf(file);

  it('is well-formed: groups of alerts, each with expr, for, labels.severity and annotations', () => {
    expect(ruleFileProblems(file)).toEqual([]);
  });

  it('names what a broken rule file lacks', () => {
    expect(ruleFileProblems({})).toEqual(['no groups']);
    expect(
      ruleFileProblems({
        groups: [
          {
            name: 'g',
            rules: [{ alert: 'A', expr: 'up == 0', for: '5 minutes', labels: {}, annotations: {} }],
          },
          { name: 'g', rules: [] },
        ],
      }),
    ).toEqual([
      'A: for must be a duration',
      'A: labels.severity must be one of critical, warning, info',
      'A: annotations.summary missing',
      'A: annotations.description missing',
      'group g: name used twice',
      'group g: no rules',
    ]);
  });

  it('reads only exported metrics', () => {
    const unknown = rules.flatMap((rule) => unknownIn(rule.expr).map((name) => `${rule.alert}: ${name}`));
    expect(unknown).toEqual([]);
  });

  it('alerts on lag growing, outbox depth growing, timer lateness p99 over 5 s, complaint rate near 0.3%', () => {
    const byName = Object.fromEntries(rules.map((rule) => [rule.alert, rule]));
    expect(metricsReadBy(byName.ConsumerLagGrowing!.expr)).toEqual(['consumer_lag']);
    expect(byName.ConsumerLagGrowing!.expr).toMatch(/deriv\(/);
    expect(metricsReadBy(byName.OutboxDepthGrowing!.expr)).toEqual(['outbox_depth']);
    expect(byName.OutboxDepthGrowing!.expr).toMatch(/deriv\(/);
    expect(byName.TimerLatenessP99High!.expr).toMatch(
      /histogram_quantile\(0\.99,[^]*timer_lateness_seconds_bucket[^]*\)\s*>\s*5\s*$/,
    );
    expect(metricsReadBy(byName.ComplaintRateNearLimit!.expr).sort()).toEqual([
      'email_delivery_reports_total',
      'email_send_outcomes_total',
    ]);
    expect(byName.ComplaintRateNearLimit!.expr).toMatch(/> 0\.0025/);
  });
});
