// Entry `@cmis/platform/otel`: see src/otel.ts.
module.exports = require('./dist/otel.js');
