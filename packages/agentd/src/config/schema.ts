import type { z } from 'zod';
import { checkConfigRules } from './rules.js';
import { ConfigShape } from './sections.js';

/**
 * The resolved agentd configuration: every section present (the profile preset fills what
 * the file leaves out), then the profile and cross-section security rules.
 */
export const AgentdConfigSchema = ConfigShape.superRefine(checkConfigRules);

/** A validated configuration. Values returned by loadConfig/parseConfig are deep-frozen. */
export type AgentdConfig = z.infer<typeof AgentdConfigSchema>;
