import '@cmis/platform/otel';
import { runServiceMain } from '@cmis/platform';
import { createService } from './service';

runServiceMain({ service: 'drip', httpPort: 3004, create: createService });
