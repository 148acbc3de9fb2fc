export { createService, createDripService, type DripServiceOptions } from './service';
export { checkCampaign, CampaignInput, type DripCampaign } from './campaigns/campaign';
export { nextStep, onTimer, onResume, scheduleNext } from './subscriptions/progress';
export { openApiDocument } from './openapi';
export { campaignsProjection } from './campaigns/projection';
