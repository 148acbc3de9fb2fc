// The SSRF-safe, Standard Webhooks-signed sender that services deliver their outgoing webhooks with.
export {
  checkWebhookUrl,
  classifyAddress,
  embeddedIPv4,
  literalHost,
  parseAllowlist,
  type AddressVerdict,
  type Allowlist,
} from './address';
export {
  BlockedAddressError,
  createWebhookSender,
  resolveChecked,
  systemResolver,
  type AttemptResult,
  type DeliveryResult,
  type Resolver,
  type WebhookRequest,
  type WebhookSender,
  type WebhookSenderOptions,
} from './deliver';
export { newWebhookSecret, signWebhook, webhookHeaders } from './signature';
