// Per-org measure settings: the attribution model and windows, and what one message costs.
import type { Knex } from 'knex';
import { z } from 'zod';
import { ATTRIBUTION_MODELS, DEFAULT_ATTRIBUTION, type AttributionSettings } from './attribution';

export const MAX_CLICK_WINDOW_DAYS = 90;
export const MAX_OPEN_WINDOW_DAYS = 30;

export const MeasureSettings = z
  .object({
    attributionModel: z.enum(ATTRIBUTION_MODELS),
    clickWindowDays: z.number().int('must be a whole number of days').min(0).max(MAX_CLICK_WINDOW_DAYS),
    openWindowDays: z.number().int('must be a whole number of days').min(0).max(MAX_OPEN_WINDOW_DAYS),
    messageCost: z
      .number()
      .finite()
      .min(0)
      .max(1_000)
      .describe('Cost of one sent message, in the revenue currency'),
  })
  .strict();
export type MeasureSettings = z.infer<typeof MeasureSettings>;

/** PUT takes any of the fields; the others keep their value. */
export const MeasureSettingsChange = MeasureSettings.partial()
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'name at least one setting');

export const DEFAULT_SETTINGS: MeasureSettings = {
  attributionModel: DEFAULT_ATTRIBUTION.model,
  clickWindowDays: DEFAULT_ATTRIBUTION.clickWindowDays,
  openWindowDays: DEFAULT_ATTRIBUTION.openWindowDays,
  messageCost: 0,
};

export async function readSettings(trx: Knex.Transaction): Promise<MeasureSettings> {
  const row = await trx('m_settings').first();
  if (!row) return DEFAULT_SETTINGS;
  return {
    attributionModel: row.attribution_model,
    clickWindowDays: row.click_window_days,
    openWindowDays: row.open_window_days,
    messageCost: Number(row.message_cost),
  };
}

export async function writeSettings(
  trx: Knex.Transaction,
  orgId: string,
  settings: MeasureSettings,
  at: Date,
): Promise<void> {
  await trx('m_settings')
    .insert({
      org_id: orgId,
      attribution_model: settings.attributionModel,
      click_window_days: settings.clickWindowDays,
      open_window_days: settings.openWindowDays,
      message_cost: settings.messageCost,
      updated_at: at,
    })
    .onConflict(['org_id'])
    .merge();
}

export const attributionOf = (s: MeasureSettings): AttributionSettings => ({
  model: s.attributionModel,
  clickWindowDays: s.clickWindowDays,
  openWindowDays: s.openWindowDays,
});
