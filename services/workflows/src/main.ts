import '@cmis/platform/otel';
import { runServiceMain } from '@cmis/platform';
import { createService } from './service';

runServiceMain({ service: 'workflows', httpPort: 3003, create: createService });
