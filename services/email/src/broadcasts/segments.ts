// Audiences that follow an analytics segment: a contact's segment-entered adds them (once) at the
// audience's next position, segment-exited removes them. A broadcast to such an audience sends to
// the positions present at its start. The audience starts empty: it follows the segment from its
// creation on (members from before are not backfilled).
import { segmentEventsTopic, type SegmentEntered, type SegmentExited } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';

export async function startSegmentAudienceConsumer(rt: ServiceRuntime): Promise<void> {
  await rt.consume({
    groupId: `${rt.name}.segments`,
    topics: [segmentEventsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const entered = envelope.type === 'cmis.analytics.segment-entered';
      if (!entered && envelope.type !== 'cmis.analytics.segment-exited') return;
      const { segmentId, contactId } = envelope.data as SegmentEntered | SegmentExited;
      // Locked: positions are handed out one at a time, and a broadcast's start sees a whole state.
      const audiences = (await trx('audiences')
        .where({ org_id: orgId, segment_id: segmentId })
        .orderBy('audience_id')
        .forUpdate()
        .select('audience_id', 'next_position')) as Array<{ audience_id: string; next_position: number }>;
      for (const { audience_id, next_position } of audiences) {
        const member = { org_id: orgId, audience_id, contact_id: contactId };
        if (entered) {
          if (await trx('audience_members').where(member).first('position')) continue;
          await trx('audience_members').insert({ ...member, position: next_position });
          await trx('audiences')
            .where({ org_id: orgId, audience_id })
            .update({ next_position: next_position + 1, size: trx.raw('size + 1') });
        } else {
          const removed = await trx('audience_members').where(member).delete();
          if (removed > 0)
            await trx('audiences')
              .where({ org_id: orgId, audience_id })
              .update({ size: trx.raw('size - ?', [removed]) });
        }
      }
    },
  });
}
