// What the experiments slice learns: email A/B assignments, sends and human clicks; workflow
// random-split passes and conversions; orders (revenue); rule firings (held out or acted on);
// entity metric snapshots. Each consumer group is the slice's own.
import {
  emailMessagesTopic,
  entityMetricsTopic,
  ruleEventsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type ActionTracked,
  type EntityMetricsObserved,
  type InstanceEnded,
  type MessageClicked,
  type MessageRendered,
  type MessageSent,
  type RuleFired,
  type StepCompleted,
} from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import { orderOf } from '../rfm/scoring';
import { noteOutcomes, registerBanditSplit } from './allocations';
import { banditOfDetail, type BanditThrottle } from './bandit';

export async function startExperimentConsumers(
  rt: ServiceRuntime,
  bandits: { now: () => Date; throttle: BanditThrottle },
): Promise<void> {
  // Email: rendered carries the test and variant and comes before sent and clicks on the
  // message's key, so sends and clicks only update units a rendered event created (messages
  // outside any test leave no row).
  await rt.consume({
    groupId: `${rt.name}.experiments.email`,
    topics: [emailMessagesTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const at = new Date(envelope.time);
      switch (envelope.type) {
        case 'cmis.email.message-rendered': {
          const data = envelope.data as MessageRendered;
          if (!data.abTestId || !data.variantId) return;
          await trx('exp_units')
            .insert({
              org_id: orgId,
              kind: 'email',
              unit_id: data.messageId,
              experiment_id: data.abTestId,
              variant_id: data.variantId,
              contact_id: data.contactId ?? null,
              instance_id: data.messageId,
            })
            .onConflict(['org_id', 'kind', 'unit_id'])
            .ignore();
          return;
        }
        case 'cmis.email.message-sent': {
          const data = envelope.data as MessageSent;
          await trx('exp_units')
            .where({ org_id: orgId, kind: 'email', unit_id: data.messageId, exposed: false })
            .update({ exposed: true, exposed_at: at });
          return;
        }
        case 'cmis.email.message-clicked': {
          const data = envelope.data as MessageClicked;
          if (data.machine) return; // scanners and privacy proxies are not people converting
          await trx('exp_units')
            .where({ org_id: orgId, kind: 'email', unit_id: data.messageId, converted: false })
            .update({ converted: true, converted_at: at });
          return;
        }
        default:
          return;
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.experiments.workflows`,
    topics: [workflowInstancesTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const at = new Date(envelope.time);
      if (envelope.type === 'cmis.workflows.step-completed') {
        const data = envelope.data as StepCompleted;
        if (data.stepKind !== 'random_split') return;
        const experimentId = `${data.workflowId}:${data.stepId}`;
        // A bandit split's pass carries its options: the split is allocated from its results.
        const bandit = banditOfDetail(data.detail);
        if (bandit)
          await registerBanditSplit(
            trx,
            orgId,
            {
              experimentId,
              workflowId: data.workflowId,
              stepId: data.stepId,
              workflowVersion: data.workflowVersion,
            },
            bandit,
          );
        const inserted = await trx('exp_units')
          .insert({
            org_id: orgId,
            kind: 'workflow',
            unit_id: `${data.instanceId}:${data.stepId}`,
            experiment_id: experimentId,
            variant_id: data.outcome,
            contact_id: data.contactId,
            instance_id: data.instanceId,
            exposed: true,
            exposed_at: at,
          })
          .onConflict(['org_id', 'kind', 'unit_id'])
          .ignore()
          .returning('experiment_id');
        if (inserted.length > 0)
          await noteOutcomes(trx, orgId, [experimentId], bandits.now(), bandits.throttle);
      } else if (envelope.type === 'cmis.workflows.instance-ended') {
        const data = envelope.data as InstanceEnded;
        if (data.status !== 'converted') return;
        const converted = (await trx('exp_units')
          .where({ org_id: orgId, kind: 'workflow', instance_id: data.instanceId, converted: false })
          .update({ converted: true, converted_at: at })
          .returning('experiment_id')) as Array<{ experiment_id: string }>;
        await noteOutcomes(
          trx,
          orgId,
          converted.map((r) => r.experiment_id),
          bandits.now(),
          bandits.throttle,
        );
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.experiments.orders`,
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.action-tracked') return;
      const data = envelope.data as ActionTracked;
      // The same orders RFM counts (Order Completed, revenue or total).
      const order = orderOf(data.event, data.properties);
      const contactId = data.userId ?? data.anonymousId;
      if (!order || !contactId) return;
      const revenue = order.amount;
      await trx('exp_orders')
        .insert({
          org_id: orgId,
          event_id: envelope.id,
          contact_id: contactId,
          revenue,
          at: new Date(data.timestamp),
        })
        .onConflict(['org_id', 'event_id'])
        .ignore();
    },
  });

  await rt.consume({
    groupId: `${rt.name}.experiments.rules`,
    topics: [ruleEventsTopic.name, entityMetricsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type === 'cmis.rules.rule-fired') {
        const data = envelope.data as RuleFired;
        if (data.dryRun) return;
        // The first firing per subject decides its group; later firings do not move it.
        await trx('exp_rule_firings')
          .insert({
            org_id: orgId,
            rule_id: data.ruleId,
            subject: data.subject,
            held_out: data.heldOut === true,
            fired_at: new Date(envelope.time),
          })
          .onConflict(['org_id', 'rule_id', 'subject'])
          .ignore();
      } else if (envelope.type === 'cmis.triggers.entity-metrics-observed') {
        const data = envelope.data as EntityMetricsObserved;
        await trx('exp_entity_metrics')
          .insert({
            org_id: orgId,
            event_id: envelope.id,
            entity_id: data.entityId,
            entity_type: data.entityType,
            metrics: JSON.stringify(data.metrics),
            observed_at: new Date(data.observedAt),
          })
          .onConflict(['org_id', 'event_id'])
          .ignore();
      }
    },
  });
}
