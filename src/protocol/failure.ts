import { z } from 'zod';
import { type Payload, PayloadSchema } from './payload.js';

/**
 * A failure as it crosses the wire: an error's message, type, stack and
 * details, with its cause chain. `source` says which side produced it.
 */
export interface Failure {
  message: string;
  type: string;
  stack?: string | undefined;
  nonRetryable?: boolean | undefined;
  details?: Payload[] | undefined;
  /** Extra facts for specific kinds, e.g. the activity type and attempt for an activity failure. */
  info?: Record<string, unknown> | undefined;
  cause?: Failure | undefined;
}

// Named so the OpenAPI generator emits a $ref and can describe the recursive cause chain.
export const FailureSchema: z.ZodType<Failure> = z.lazy(() => FailureObjectSchema).meta({ id: 'Failure' });

const FailureObjectSchema: z.ZodType<Failure> = z.object({
  message: z.string().max(32_000),
  type: z.string().max(1_000),
  stack: z.string().max(64_000).optional(),
  nonRetryable: z.boolean().optional(),
  details: z.array(PayloadSchema).optional(),
  info: z.record(z.string(), z.unknown()).optional(),
  cause: FailureSchema.optional(),
});
