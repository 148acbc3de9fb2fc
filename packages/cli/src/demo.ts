import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createTenancyAdmin } from '@cmis/platform';
import type { RunningPlatform } from './all-in-one';
import type { ServiceEntry } from './services';

/**
 * `cmis up --demo`: a demo org with an API key, then each service's part of the demo
 * (a source with a write key, the predecessor's "Pause high CPA campaigns" rule, ...).
 */
export async function runDemo(
  running: RunningPlatform,
  entries: ServiceEntry[],
  print: (line: string) => void,
  /** Where the demo's lines are kept, so a restart shows them again instead of a second demo org. */
  savedTo?: string,
): Promise<void> {
  if (savedTo && existsSync(savedTo)) {
    print('');
    print(`demo (loaded on an earlier start; delete ${savedTo} to load a fresh one):`);
    for (const line of readFileSync(savedTo, 'utf8').trimEnd().split('\n')) print(line);
    return;
  }
  const lines: string[] = [];
  const show = (line: string) => {
    lines.push(line);
    print(line);
  };
  const admin = createTenancyAdmin({ bus: running.platform.bus, codec: running.platform.codec });
  const org = await admin.createOrg({ name: 'Demo Org' });
  const key = await admin.issueKey(org.orgId, { scopes: ['*'] });
  // Every service learns the key from the tenancy topic; wait until all of them accept it.
  const deadline = Date.now() + 30_000;
  for (const service of running.services) {
    for (;;) {
      const ok = await service.runtime.auth.authenticate(key.key).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error(`demo: ${service.runtime.name} did not learn the demo key within 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  print('');
  show(`demo org ${org.orgId} ("${org.name}"), API key: ${key.key}`);
  for (const entry of entries) {
    if (!entry.demo) continue;
    for (const line of await entry.demo({
      baseUrl: `${running.url}/${entry.name}`,
      apiKey: key.key,
      orgId: org.orgId,
    })) {
      show(line);
    }
  }
  if (savedTo) writeFileSync(savedTo, `${lines.join('\n')}\n`, { mode: 0o600 });
}
