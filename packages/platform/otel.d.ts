export * from './dist/otel';
