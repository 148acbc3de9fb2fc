// The repo's Dockerfile, read as its build targets: each stage's name with its CMD and EXPOSE.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DockerTarget {
  cmd?: string[];
  expose?: number;
}

export function dockerfileTargets(root: string): Map<string, DockerTarget> {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const targets = new Map<string, DockerTarget>();
  let current: string | undefined;
  for (const line of dockerfile.split('\n')) {
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from) targets.set((current = from[1]!), {});
    const cmd = /^CMD\s+(\[.*\])\s*$/.exec(line);
    if (cmd && current) targets.get(current)!.cmd = JSON.parse(cmd[1]!) as string[];
    const expose = /^EXPOSE\s+(\d+)/.exec(line);
    if (expose && current) targets.get(current)!.expose = Number(expose[1]);
  }
  return targets;
}
