// Every slice of the analytics service, in start order.
import type { AnalyticsSlice } from './slice';

export const SLICES: AnalyticsSlice[] = [];
