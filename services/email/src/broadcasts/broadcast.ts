// A broadcast: one campaign email to an audience (a static list, or a segment's members at its
// start), sent at a throttled pace, optionally as an A/B test (a test share gets the variants, the
// winner goes to the rest), pausing itself when its complaint rate passes the bulk-sender limit.
import { EmailContent, EmailVariant } from '@cmis/contracts';
import { z } from 'zod';

export const AudienceMember = z.union([
  z.object({ contactId: z.string().min(1).max(200) }).strict(),
  z.object({ address: z.string().trim().toLowerCase().email() }).strict(),
]);
export type AudienceMember = z.infer<typeof AudienceMember>;

export const MAX_AUDIENCE_UPLOAD = 100_000;

/** A static list (members), or one that follows an analytics segment (segmentId) from now on. */
export const AudienceInput = z
  .object({
    name: z.string().min(1).max(200),
    members: z.array(AudienceMember).min(1).max(MAX_AUDIENCE_UPLOAD).optional(),
    segmentId: z.string().min(1).max(200).optional(),
  })
  .refine((a) => (a.members === undefined) !== (a.segmentId === undefined), {
    message: 'an audience has members or a segmentId, one of them',
  });
export type AudienceInput = z.infer<typeof AudienceInput>;

/** The mailbox providers' bulk-sender limit (Gmail, Yahoo: keep spam complaints under 0.3%). */
export const COMPLAINT_RATE_LIMIT = 0.003;

export const BroadcastAbTest = z.object({
  variants: z.array(EmailVariant).min(2).max(10),
  testShare: z.number().gt(0).lt(1).describe('Share of the audience in the test, e.g. 0.2'),
  decideAfterMinutes: z
    .number()
    .min(0)
    .max(7 * 24 * 60),
  metric: z.enum(['clicks', 'opens']).default('clicks'),
  confidence: z.number().gt(0.5).lt(1).default(0.95),
  minSamplePerVariant: z.number().int().min(1).default(100),
  fallbackVariantId: z.string().min(1).optional().describe('Default: the first variant'),
});
export type BroadcastAbTest = z.infer<typeof BroadcastAbTest>;

export const BroadcastInput = z
  .object({
    name: z.string().min(1).max(200),
    audienceId: z.string().min(1).max(100),
    content: EmailContent,
    data: z.record(z.unknown()).default({}),
    subscriptionTopic: z.string().min(1).max(100).optional(),
    perMinute: z.number().int().min(1).max(1_000_000).default(6_000),
    abTest: BroadcastAbTest.optional(),
    complaintPauseMinSent: z.number().int().min(1).default(200),
  })
  .superRefine((b, ctx) => {
    const ids = b.abTest?.variants.map((v) => v.variantId) ?? [];
    if (new Set(ids).size !== ids.length)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['abTest', 'variants'],
        message: 'variant ids must differ',
      });
    const fallback = b.abTest?.fallbackVariantId;
    if (fallback && !ids.includes(fallback))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['abTest', 'fallbackVariantId'],
        message: 'must be one of the variants',
      });
  });
export type BroadcastDefinition = z.infer<typeof BroadcastInput>;

/**
 * draft → sending (test share first when A/B) → testing (waiting for the decision) → sending
 * (the rest, with the winner) → completed; paused from sending or testing, by its user or by
 * the complaint-rate policy.
 */
export type BroadcastStatus = 'draft' | 'sending' | 'testing' | 'paused' | 'completed';

/** Which pass a broadcast is in: the test share, or everyone else (all of them without a test). */
export type BroadcastPhase = 'test' | 'rest';

/** How many to request in a tick of `tickMs` at `perMinute`. */
export const perTick = (perMinute: number, tickMs: number) =>
  Math.max(1, Math.floor((perMinute * tickMs) / 60_000));
