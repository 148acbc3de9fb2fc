// Writes CATALOG.md from the built catalog (pnpm --filter @cmis/contracts build first).
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { renderCatalogDoc } = require('../dist/index.js');

const file = join(__dirname, '..', 'CATALOG.md');
writeFileSync(file, renderCatalogDoc());
console.log(`wrote ${file}`);
