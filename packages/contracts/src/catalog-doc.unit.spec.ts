import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCatalogDoc } from './catalog-doc';
import { allTopics } from './catalog';

const CATALOG_MD = join(__dirname, '..', 'CATALOG.md');

/** Formats like `prettier --write` would; prettier's API needs ESM loading, which jest's VM lacks. */
function formatted(markdown: string): string {
  const cli = require.resolve('prettier/bin/prettier.cjs');
  const run = spawnSync(process.execPath, [cli, '--stdin-filepath', CATALOG_MD], {
    input: markdown,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`prettier failed: ${run.stderr}`);
  return run.stdout;
}

describe('CATALOG.md', () => {
  it('is what the catalog generates (run `pnpm --filter @cmis/contracts catalog:doc` when this fails)', () => {
    // The script formats with the repo's prettier config, so `prettier --write` leaves the file alone.
    expect(readFileSync(CATALOG_MD, 'utf8')).toBe(formatted(renderCatalogDoc()));
  });

  it('lists every topic, its dead-letter topic and every event type', () => {
    const doc = renderCatalogDoc();
    for (const topic of allTopics()) {
      expect(doc).toContain(`## ${topic.name}\n`);
      expect(doc).toContain(`\`${topic.deadLetterTopic}\``);
      for (const type of Object.keys(topic.events)) expect(doc).toContain(`### ${type}\n`);
    }
  });
});
