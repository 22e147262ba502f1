import { z } from 'zod';
import { parseEnv } from './env';

const limit = (max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`);

/**
 * Edge limits (issue 11): what one GraphQL operation may ask for, checked at the gateway before
 * planning and again in every subgraph, and what one request may cost in time and bytes. The
 * defaults fit every operation of the README, the tests and shared/API.md with room to spare
 * (the deepest is 7 levels, the costliest about 1,300); the refusal codes are Apollo Router's.
 */
export const limitSettingsShape = {
  /** Deepest field nesting (root fields are at depth 1). MAX_DEPTH_LIMIT. */
  OPERATION_DEPTH_MAX: limit(1_000).default(12),
  /** Distinct fields of the operation once fragments are expanded (Router's "height"). MAX_HEIGHT_LIMIT. */
  OPERATION_HEIGHT_MAX: limit(100_000).default(200),
  /** Aliased fields once fragments are expanded. MAX_ALIASES_LIMIT. */
  OPERATION_ALIASES_MAX: limit(100_000).default(30),
  /** Fields of the root selection set (query, mutation or subscription). MAX_ROOT_FIELDS_LIMIT. */
  OPERATION_ROOT_FIELDS_MAX: limit(10_000).default(20),
  /** Lexical tokens of the document, counted before it is parsed. MAX_TOKENS_LIMIT. */
  OPERATION_TOKENS_MAX: limit(1_000_000).default(5_000),
  /** Directives on any one field, fragment spread or inline fragment. MAX_DIRECTIVES_LIMIT. */
  OPERATION_DIRECTIVES_PER_FIELD_MAX: limit(1_000).default(4),
  /**
   * Demand control: the estimated cost an operation may reach (Router's static cost: objects 1,
   * scalars and enums 0, mutations 10, lists multiplied by @listSize or `first`).
   * COST_ESTIMATED_TOO_EXPENSIVE.
   */
  OPERATION_COST_MAX: limit(1_000_000_000).default(5_000),
  /** Size assumed for a list field without @listSize. */
  OPERATION_COST_LIST_SIZE_DEFAULT: limit(100_000).default(10),
  /** Whole-request deadline at the gateway, subgraph fetches included. REQUEST_TIMEOUT (HTTP 504). */
  REQUEST_TIMEOUT_MS: limit(600_000).default(15_000),
  /** Bytes of subgraph responses one request may read, and of the response it sends. RESPONSE_TOO_LARGE. */
  RESPONSE_SIZE_MAX_BYTES: limit(1_073_741_824).default(4_194_304),
  /** `on` keeps introspection in production (NODE_ENV=production); development always has it. */
  INTROSPECTION: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
} as const;

export type LimitSettings = z.infer<z.ZodObject<typeof limitSettingsShape>>;

/** The limit settings of `env` (validated, defaults filled in). */
export function loadLimitSettings(env: NodeJS.ProcessEnv = process.env): LimitSettings {
  return parseEnv(limitSettingsShape, env);
}
