export { createService, createWorkflowsService, type WorkflowsServiceOptions } from './service';
export { checkWorkflow, compileWorkflow } from './definitions/compile';
export { WorkflowInput, type WorkflowDefinition, type Step } from './definitions/workflow';
export { advance, evolve, emptyState, type InstanceState, type EngineInput } from './instances/engine';
export { simulate } from './simulate/simulate';
export { openApiDocument } from './openapi';
export { workflowsDemo, ABANDONED_CART_WORKFLOW } from './demo';
export { workflowsProjection } from './definitions/projection';
