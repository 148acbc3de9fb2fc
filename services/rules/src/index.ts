export { createService, createRulesService, type RulesServiceOptions } from './service';
export { rulesDemo, PAUSE_HIGH_CPA_RULE } from './demo';
export { checkRule } from './definitions/type-check';
export { compileRule, buildIndex, type CompiledRule, type RuleIndex } from './evaluation/rule-index';
export { evaluateRules, countMatches } from './evaluation/evaluate';
export type { RuleDefinition, RuleInput } from './definitions/rule';
export { openApiDocument } from './openapi';
export { rulesProjection } from './definitions/projection';
