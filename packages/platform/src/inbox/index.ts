export {
  startInbox,
  PoisonEventError,
  type ApplyEvents,
  type InboxContext,
  type InboxEvent,
  type InboxOptions,
} from './inbox';
export { inboxMigrations } from './migrations';
export {
  createInboxPruner,
  DEFAULT_INBOX_RETENTION_MS,
  type InboxPruner,
  type InboxPrunerOptions,
} from './prune';
