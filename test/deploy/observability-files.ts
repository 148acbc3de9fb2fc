// The Grafana dashboards and the Prometheus rule file in deploy/, read as the checks need them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from './compose-file';

export const DASHBOARDS_DIR = join(REPO, 'deploy/grafana/dashboards');
export const RULES_FILE = join(REPO, 'deploy/prometheus/alerts.yml');

export interface Dashboard {
  uid?: string;
  title?: string;
  panels?: Panel[];
  templating?: { list?: Array<{ name?: string; query?: string | { query?: string } }> };
}

export interface Panel {
  title?: string;
  type?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

export function readDashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(DASHBOARDS_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      dashboard: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard,
    }));
}

function panelsOf(panels: Panel[] = []): Panel[] {
  return panels.flatMap((panel) => [panel, ...panelsOf(panel.panels)]);
}

/** Every PromQL expression of a dashboard: its panels' queries and its variables' queries. */
export function expressionsOf(dashboard: Dashboard): Array<{ where: string; expr: string }> {
  const fromPanels = panelsOf(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr ?? '' })),
  );
  const fromVariables = (dashboard.templating?.list ?? []).map((variable) => ({
    where: `variable $${variable.name}`,
    expr: typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? ''),
  }));
  return [...fromPanels, ...fromVariables];
}

export function datasourceUidsOf(dashboard: Dashboard): string[] {
  return panelsOf(dashboard.panels).flatMap((panel) => [
    ...(panel.datasource?.uid ? [panel.datasource.uid] : []),
    ...(panel.targets ?? []).flatMap((t) => (t.datasource?.uid ? [t.datasource.uid] : [])),
  ]);
}

export function readRuleFile(path = RULES_FILE): unknown {
  return parse(readFileSync(path, 'utf8'));
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const SEVERITIES = ['critical', 'warning', 'info'];

/** Problems that would make Prometheus refuse the file or leave an alert without what on-call needs. */
export function ruleFileProblems(file: unknown): string[] {
  const problems: string[] = [];
  const groups = (file as { groups?: unknown })?.groups;
  if (!Array.isArray(groups) || groups.length === 0) return ['no groups'];
  const groupNames = new Set<string>();
  const alertNames = new Set<string>();
  groups.forEach((group: { name?: unknown; rules?: unknown }, g) => {
    const name = typeof group?.name === 'string' ? group.name : undefined;
    if (!name) problems.push(`group ${g + 1}: no name`);
    else if (groupNames.has(name)) problems.push(`group ${name}: name used twice`);
    else groupNames.add(name);
    if (!Array.isArray(group?.rules) || group.rules.length === 0) {
      problems.push(`group ${name ?? g + 1}: no rules`);
      return;
    }
    group.rules.forEach((rule: Partial<Record<keyof AlertRule, unknown>>, r) => {
      const at = typeof rule.alert === 'string' && rule.alert ? rule.alert : `rule ${r + 1} of ${name}`;
      if (typeof rule.alert !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(rule.alert))
        problems.push(`${at}: alert must be a name`);
      else if (alertNames.has(rule.alert)) problems.push(`${at}: alert name used twice`);
      else alertNames.add(rule.alert);
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') problems.push(`${at}: no expr`);
      if (typeof rule.for !== 'string' || !DURATION.test(rule.for))
        problems.push(`${at}: for must be a duration`);
      const severity = (rule.labels as { severity?: unknown } | undefined)?.severity;
      if (typeof severity !== 'string' || !SEVERITIES.includes(severity))
        problems.push(`${at}: labels.severity must be one of ${SEVERITIES.join(', ')}`);
      const annotations = rule.annotations as Record<string, unknown> | undefined;
      for (const key of ['summary', 'description'])
        if (typeof annotations?.[key] !== 'string' || annotations[key] === '')
          problems.push(`${at}: annotations.${key} missing`);
    });
  });
  return problems;
}

export function alertRulesOf(file: unknown): AlertRule[] {
  return ((file as { groups: Array<{ rules: AlertRule[] }> }).groups ?? []).flatMap((g) => g.rules);
}
