import '@cmis/platform/otel';
import { runServiceMain } from '@cmis/platform';
import { createService } from './service';

runServiceMain({ service: 'triggers', httpPort: 3001, create: createService });
