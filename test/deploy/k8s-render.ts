// Helpers of the manifest spec: render deploy/k8s with kubectl's kustomize, validate objects
// against the Kubernetes API schemas offline (kubernetes-models), and find the environment
// variables a service's code reads.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = join(__dirname, '..', '..');
export const K8S = join(ROOT, 'deploy', 'k8s');

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML: the spec reads the fields it checks */
/** A rendered Kubernetes object, loosely typed. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: any };
  [k: string]: any;
};
/* eslint-enable @typescript-eslint/no-explicit-any */

let kubectl: string | undefined;
/** kubectl from scripts/ensure-kubectl.sh (installs Debian's kubernetes-client where none exists). */
export function kubectlPath(): string {
  kubectl ??= execFileSync('bash', [join(ROOT, 'scripts', 'ensure-kubectl.sh')], { encoding: 'utf8' }).trim();
  return kubectl;
}

export function render(dir: string): K8sObject[] {
  const out = execFileSync(kubectlPath(), ['kustomize', join(K8S, dir)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

// kubernetes-models ships ES modules only, which jest's CommonJS loader cannot require: a child
// node process validates and answers with one line of JSON, the problems per object.
const VALIDATOR = `
import * as core from 'kubernetes-models';
import * as keda from '@kubernetes-models/keda';
import { readFileSync } from 'node:fs';
const camel = (group) => group.split('.').map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join('');
const problems = [];
for (const object of JSON.parse(readFileSync(process.argv[1], 'utf8'))) {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
  const models = group === undefined ? core : group.endsWith('keda.sh') ? keda : core;
  const Model = (group === undefined ? models[version] : models[camel(group)]?.[version])?.[object.kind];
  const id = object.dir + ' ' + object.kind + '/' + object.metadata?.name;
  delete object.dir;
  if (!Model) { problems.push(id + ': no schema for ' + object.apiVersion + ' ' + object.kind); continue; }
  try { new Model(object).validate(); } catch (error) { problems.push(id + ': ' + error.message); }
}
process.stdout.write(JSON.stringify(problems));
`;

/** The objects' problems against the API schemas (types, required fields, enums), each led by its dir. */
export function schemaProblems(objects: Array<K8sObject & { dir: string }>): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'cmis-k8s-')), 'objects.json');
  writeFileSync(file, JSON.stringify(objects));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', VALIDATOR, file], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return ['embedded', 'testing'].includes(name) ? [] : sources(path);
    const test = /\.(spec|fixture)\.ts$|testing\.ts$/.test(name);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') && !test ? [path] : [];
  });
}

const READS = [
  /process\.env\.([A-Z][A-Z0-9_]+)/g,
  /\benv\.([A-Z][A-Z0-9_]+)/g,
  /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
  // number('TRIGGERS_…') and the like: names handed to a helper that reads env.
  /['"]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"]/g,
  // Keys of a config schema: `EMAIL_FROM: z.string()…`, `HTTP_PORT: Port.default(…)`.
  /^\s+([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+):\s/gm,
];

/**
 * Environment variables read by a service process: its own sources and the runtime packages',
 * in files that touch the environment (the embedded default and test helpers left out).
 */
export function envReadBy(service: string): Set<string> {
  const dirs = [
    `services/${service}/src`,
    'packages/platform/src',
    'packages/contracts/src',
    'packages/conditions/src',
  ];
  const names = new Set<string>();
  for (const file of dirs.flatMap((dir) => sources(join(ROOT, dir)))) {
    const text = readFileSync(file, 'utf8');
    if (!/process\.env|ProcessEnv/.test(text)) continue;
    for (const pattern of READS) for (const match of text.matchAll(pattern)) names.add(match[1]!);
  }
  return names;
}

/**
 * The consumer groups a service's code names (`${rt.name}.user-actions`; a part made of a
 * variable, `${rt.name}.projections.${p.name}`, matches any name), as patterns.
 */
export function consumerGroupsOf(service: string): RegExp[] {
  const groups: RegExp[] = [];
  // `groupId: \`${rt.name}.<group>\`` in a consume call, or a helper naming one for several places
  // (`export const userActionsGroup = (service: string) => \`${service}.user-actions\``).
  const named =
    /(?:groupId: |Group = \(service: string\) => )`\$\{(?:(?:ctx\.)?rt\.name|service)\}\.((?:[a-z0-9.-]|\$\{[\w.]+\})+)`/g;
  for (const file of sources(join(ROOT, 'services', service, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(named)) {
      const parts = match[1]!.split(/\$\{[\w.]+\}/).map((p) => p.replace(/\./g, '\\.'));
      groups.push(new RegExp(`^${service}\\.${parts.join('[a-z0-9-]+')}$`));
    }
  }
  return groups;
}
