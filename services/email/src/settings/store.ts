import type { Knex } from 'knex';
import { DEFAULT_SETTINGS, EmailSettings } from './settings';

export async function loadSettings(trx: Knex.Transaction, orgId: string): Promise<EmailSettings> {
  const row = await trx('settings').where({ org_id: orgId }).first('settings');
  return row ? EmailSettings.parse(row.settings) : DEFAULT_SETTINGS;
}

export async function saveSettings(
  trx: Knex.Transaction,
  orgId: string,
  settings: EmailSettings,
  at: Date,
): Promise<void> {
  await trx('settings')
    .insert({ org_id: orgId, settings: JSON.stringify(settings), updated_at: at })
    .onConflict(['org_id'])
    .merge();
}
