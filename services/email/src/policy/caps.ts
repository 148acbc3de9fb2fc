// Frequency caps per contact: at most N marketing emails a day and a week (transactional mail is
// exempt; the caller decides what counts).

export interface FrequencyCaps {
  perDay?: number;
  perWeek?: number;
}

/** Why one more would exceed a cap, or undefined when it would not. */
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
