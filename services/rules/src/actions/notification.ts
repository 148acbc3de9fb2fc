// A send-notification action on the email channel becomes one email request per recipient, in
// the email service's request contract (the same one workflows and drip use). The idempotency key
// is the action id and the recipient's place, so a redelivered firing requests nothing new; a
// notification is operational mail, hence transactional (no frequency caps or quiet hours).
import type { EmailRequested, SendNotificationAction } from '@cmis/contracts';
import { isEmailAddress } from '../definitions/type-check';

/**
 * The email service renders inline content as Liquid; a notification's text is already filled in
 * by the rule, so it goes as literal text (a `{{` in a campaign name must not be a tag).
 */
export const literal = (text: string) => `{% raw %}${text.replaceAll('{%', '{ %')}{% endraw %}`;

export function notificationEmails(
  action: SendNotificationAction,
  ref: { ruleId: string; version: number; actionId: string },
): EmailRequested[] {
  return action.recipients.flatMap((address, index) =>
    // Rules saved before addresses were checked may hold other text: such a recipient is skipped.
    isEmailAddress(address)
      ? [
          {
            idempotencyKey: `rule-action:${ref.actionId}:${index}`,
            to: { kind: 'address' as const, address },
            content: {
              kind: 'inline' as const,
              subject: literal(action.title),
              text: literal(action.message),
            },
            data: {},
            origin: {
              kind: 'rule' as const,
              id: ref.ruleId,
              version: ref.version,
              stepId: String(index),
              instanceId: ref.actionId,
            },
            transactional: true,
          },
        ]
      : [],
  );
}
