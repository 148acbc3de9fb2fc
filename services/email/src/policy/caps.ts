// Frequency caps per contact: at most N marketing emails a day and a week. Transactional mail is
// exempt, and the caller decides what is transactional and counts what was sent.

export interface FrequencyCaps {
  perDay?: number;
  perWeek?: number;
}

/**
 * Why one more email would exceed a cap ('frequency cap: 3 per day'), or undefined when it would
 * not. `sent` counts what went out in the last 24 hours and 7 days; the day's cap is named first.
 */
export function capExceeded(
  caps: FrequencyCaps,
  sent: { lastDay: number; lastWeek: number },
): string | undefined {
  if (caps.perDay !== undefined && sent.lastDay >= caps.perDay)
    return `frequency cap: ${caps.perDay} per day`;
  if (caps.perWeek !== undefined && sent.lastWeek >= caps.perWeek)
    return `frequency cap: ${caps.perWeek} per week`;
  return undefined;
}
