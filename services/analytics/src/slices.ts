// Every slice of the analytics service, in start order.
import { dashboardSlice } from './dashboard';
import { projectionsSlice } from './projections';
import { rfmSlice } from './rfm';
import { segmentsSlice } from './segments';
import { experimentsSlice } from './experiments';
import { recommendationsSlice } from './recommendations';
import type { AnalyticsSlice } from './slice';

export const SLICES: AnalyticsSlice[] = [
  projectionsSlice,
  rfmSlice,
  segmentsSlice,
  experimentsSlice,
  recommendationsSlice,
  dashboardSlice,
];
