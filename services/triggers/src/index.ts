export {
  createService,
  createTriggersService,
  triggersOptionsFromEnv,
  type TriggersOptions,
} from './service';
export { triggersDemo } from './demo';
export { openApiDocument } from './openapi';
