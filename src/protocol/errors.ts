import { z } from 'zod';

/**
 * Errors every transport reports the same way: a code a program can switch
 * on, an HTTP status, and a message that says what to do.
 */
export const ERROR_STATUS = {
  InvalidArgument: 400,
  Unauthorized: 401,
  PermissionDenied: 403,
  NotFound: 404,
  WorkflowAlreadyStarted: 409,
  FailedPrecondition: 409,
  PayloadTooLarge: 413,
  QueryFailed: 422,
  IncompatibleVersion: 426,
  Internal: 500,
  Unavailable: 503,
  DeadlineExceeded: 504,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export class TidewayApiError extends Error {
  override name = 'TidewayApiError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
  static fromBody(body: ErrorBody, fallbackStatus: number): TidewayApiError {
    const code = (body.error.code in ERROR_STATUS ? body.error.code : statusToCode(fallbackStatus)) as ErrorCode;
    return new TidewayApiError(code, body.error.message, body.error.details);
  }
}

function statusToCode(status: number): ErrorCode {
  const found = Object.entries(ERROR_STATUS).find(([, s]) => s === status);
  return (found?.[0] as ErrorCode | undefined) ?? (status >= 500 ? 'Internal' : 'InvalidArgument');
}
