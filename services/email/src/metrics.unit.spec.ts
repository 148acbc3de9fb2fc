import { createMetrics } from '@cmis/platform';
import { emailMetricsOf } from './metrics';

describe('email metrics', () => {
  it('counts send outcomes by provider under the event they became, and reports by source and type', async () => {
    const metrics = createMetrics({ service: 'email', defaultMetrics: false });
    const email = emailMetricsOf(metrics);
    email.sendOutcome('smtp.acme.test', 'accepted');
    email.sendOutcome('smtp.acme.test', 'accepted');
    email.sendOutcome('smtp.acme.test', 'deferred');
    email.sendOutcome('ses', 'bounced');
    email.deliveryReport({ source: 'ses', type: 'complaint' });
    email.deliveryReport({ source: 'dsn', type: 'bounce' });

    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'email_send_outcomes_total{provider="smtp.acme.test",outcome="sent",service="email"} 2',
    );
    expect(text).toContain(
      'email_send_outcomes_total{provider="smtp.acme.test",outcome="deferred",service="email"} 1',
    );
    expect(text).toContain('email_send_outcomes_total{provider="ses",outcome="bounced",service="email"} 1');
    expect(text).toContain('email_delivery_reports_total{source="ses",type="complaint",service="email"} 1');
    expect(text).toContain('email_delivery_reports_total{source="dsn",type="bounce",service="email"} 1');
  });

  it('registers once per registry: the worker, the webhooks and the receiver share the counters', () => {
    const metrics = createMetrics({ service: 'email', defaultMetrics: false });
    expect(emailMetricsOf(metrics)).toBe(emailMetricsOf(metrics));
    expect(emailMetricsOf(createMetrics({ service: 'email', defaultMetrics: false }))).not.toBe(
      emailMetricsOf(metrics),
    );
  });
});
