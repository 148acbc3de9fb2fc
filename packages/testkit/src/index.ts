export {
  startInfra,
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  type Infra,
  type StartInfraOptions,
} from './infra';
export { startKafka, type RunningKafka } from './kafka';
export { startRegistry, type RunningRegistry } from './registry';
export { cacheDir, ensureApicurio, ensureKafka, ArtifactError } from './artifacts';
export { InfraStartError, freePort } from './process';
export { KAFKA_VERSION, APICURIO_VERSION } from './versions';
export {
  testEnv,
  serviceProcessEnv,
  uniqueName,
  uniqueSchema,
  throwawayOrg,
  testKafka,
  createTopics,
  produce,
  waitForMessages,
  until,
  type ReceivedMessage,
  type WaitForMessagesOptions,
} from './helpers';
export { createScratchDatabase, type ScratchDatabase } from './scratch-database';
export {
  startServiceStack,
  ServiceProcess,
  CMIS_SERVICES,
  type CmisServiceName,
  type ServiceStack,
  type ServiceStackOptions,
  type StackOrg,
} from './stack';
