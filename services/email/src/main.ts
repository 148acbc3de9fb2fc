import '@cmis/platform/otel';
import { runServiceMain } from '@cmis/platform';
import { createService } from './service';

runServiceMain({ service: 'email', httpPort: 3005, create: createService });
