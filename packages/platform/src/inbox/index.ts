export {
  startInbox,
  PoisonEventError,
  type ApplyEvents,
  type InboxContext,
  type InboxEvent,
  type InboxOptions,
} from './inbox';
export { inboxMigrations } from './migrations';
