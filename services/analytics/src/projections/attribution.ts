// Pure: which email touches earned a conversion's revenue. A touch is a human open or click of
// a message by the converting contact before the conversion, within the org's window for its
// kind (default: a click within 5 days, an open within 1 day). A message counts once per
// conversion (its latest eligible touch). The model splits the revenue:
// - last_touch: all to the latest eligible touch (a click wins a tie with an open);
// - first_touch: all to the earliest;
// - linear: equal shares to every eligible message.
export const ATTRIBUTION_MODELS = ['last_touch', 'first_touch', 'linear'] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

export interface AttributionSettings {
  model: AttributionModel;
  clickWindowDays: number;
  openWindowDays: number;
}

export const DEFAULT_ATTRIBUTION: AttributionSettings = {
  model: 'last_touch',
  clickWindowDays: 5,
  openWindowDays: 1,
};

export interface Conversion {
  id: string;
  contactId: string;
  at: number; // epoch ms
  revenue: number;
}

export interface Touch {
  messageId: string;
  contactId: string;
  kind: 'open' | 'click';
  at: number; // epoch ms
  originKind: string;
  originId: string;
  stepId: string | null;
}

export interface Credit {
  conversionId: string;
  messageId: string;
  originKind: string;
  originId: string;
  stepId: string | null;
  /** The touch's share of the conversion, 0..1. */
  share: number;
  revenue: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function attribute(
  conversions: readonly Conversion[],
  touches: readonly Touch[],
  settings: AttributionSettings,
): Credit[] {
  const byContact = new Map<string, Touch[]>();
  for (const t of touches) {
    const list = byContact.get(t.contactId) ?? [];
    list.push(t);
    byContact.set(t.contactId, list);
  }
  const windowMs = (t: Touch) =>
    (t.kind === 'click' ? settings.clickWindowDays : settings.openWindowDays) * DAY_MS;
  const credits: Credit[] = [];
  for (const c of conversions) {
    // One touch per message: its latest eligible one (a click over an open at the same time).
    const perMessage = new Map<string, Touch>();
    for (const t of byContact.get(c.contactId) ?? []) {
      if (t.at > c.at || c.at - t.at > windowMs(t)) continue;
      const seen = perMessage.get(t.messageId);
      if (!seen || later(t, seen)) perMessage.set(t.messageId, t);
    }
    const eligible = [...perMessage.values()].sort((a, b) => (later(a, b) ? 1 : -1));
    if (eligible.length === 0) continue;
    const chosen =
      settings.model === 'linear'
        ? eligible
        : [settings.model === 'last_touch' ? eligible[eligible.length - 1]! : eligible[0]!];
    const share = 1 / chosen.length;
    for (const t of chosen) {
      credits.push({
        conversionId: c.id,
        messageId: t.messageId,
        originKind: t.originKind,
        originId: t.originId,
        stepId: t.stepId,
        share,
        revenue: c.revenue * share,
      });
    }
  }
  return credits;
}

/** Later in time; at the same instant a click counts as later than an open (it is the stronger touch). */
function later(a: Touch, b: Touch): boolean {
  if (a.at !== b.at) return a.at > b.at;
  if (a.kind !== b.kind) return a.kind === 'click';
  return a.messageId > b.messageId;
}

/** Revenue credited per origin (`<kind>:<id>`) and the conversions it took part in. */
export function revenueByOrigin(
  credits: readonly Credit[],
): Map<string, { revenue: number; conversions: number }> {
  const out = new Map<string, { revenue: number; conversions: number; seen: Set<string> }>();
  for (const c of credits) {
    const key = `${c.originKind}:${c.originId}`;
    const entry = out.get(key) ?? { revenue: 0, conversions: 0, seen: new Set<string>() };
    entry.revenue += c.revenue;
    if (!entry.seen.has(c.conversionId)) {
      entry.seen.add(c.conversionId);
      entry.conversions += 1;
    }
    out.set(key, entry);
  }
  return new Map([...out].map(([k, v]) => [k, { revenue: v.revenue, conversions: v.conversions }]));
}
