import { testEnv, uniqueName } from '@cmis/testkit';
import { busConformanceSuite } from './conformance';
import { createKafkaBus } from './kafka';

busConformanceSuite('kafka', async () =>
  createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('conformance') }),
);
