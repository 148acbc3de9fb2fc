import '@cmis/platform/otel';
import { runServiceMain } from '@cmis/platform';
import { createService } from './service';

runServiceMain({ service: 'analytics', httpPort: 3006, create: createService });
