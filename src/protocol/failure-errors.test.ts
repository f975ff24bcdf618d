import { describe, expect, it } from 'vitest';
import { FailureSchema } from './failure.js';
import {
  ActivityFailure,
  ApplicationFailure,
  errorToFailure,
  failureToError,
  TerminatedFailure,
  type TidewayFailure,
  TimeoutFailure,
} from './failure-errors.js';

/** What crossing the wire does: encode, JSON, validate, decode. */
function overTheWire(error: unknown): TidewayFailure {
  const failure = FailureSchema.parse(JSON.parse(JSON.stringify(errorToFailure(error))));
  return failureToError(failure);
}

describe('ApplicationFailure', () => {
  it('keeps message, type, nonRetryable, details and stack across the wire', () => {
    const original = ApplicationFailure.nonRetryable('card declined', 'CardDeclined', { code: 51 }, 'retry later');
    const back = overTheWire(original);
    expect(back).toBeInstanceOf(ApplicationFailure);
    const app = back as ApplicationFailure;
    expect(app.message).toBe('card declined');
    expect(app.type).toBe('CardDeclined');
    expect(app.nonRetryable).toBe(true);
    expect(app.details).toEqual([{ code: 51 }, 'retry later']);
    expect(app.stack).toBe(original.stack);
    expect(app.remoteStack).toBe(original.stack);
    expect(app.stack).toContain('failure-errors.test.ts');
  });

  it('encodes as an application failure', () => {
    const failure = errorToFailure(ApplicationFailure.retryable('try again', 'Busy', 1));
    expect(failure).toMatchObject({
      message: 'try again',
      type: 'Busy',
      info: { kind: 'application' },
      details: [{ encoding: 'json/plain', data: 1 }],
    });
    expect(failure.nonRetryable).toBeUndefined();
    expect(errorToFailure(new ApplicationFailure('plain')).type).toBe('Error');
  });

  it('keeps a cause chain of mixed errors, each with its class, message and stack', () => {
    const root = new TypeError('undefined is not a function');
    const middle = new ApplicationFailure('lookup failed', { type: 'Lookup', cause: root });
    const top = new ApplicationFailure('order failed', { type: 'Order', details: ['o-1'], cause: middle });
    const back = overTheWire(top) as ApplicationFailure;
    expect(back.type).toBe('Order');
    expect(back.details).toEqual(['o-1']);
    const backMiddle = back.cause as ApplicationFailure;
    expect(backMiddle).toBeInstanceOf(ApplicationFailure);
    expect(backMiddle.message).toBe('lookup failed');
    expect(backMiddle.type).toBe('Lookup');
    expect(backMiddle.stack).toBe(middle.stack);
    const backRoot = backMiddle.cause as ApplicationFailure;
    expect(backRoot).toBeInstanceOf(ApplicationFailure);
    expect(backRoot.type).toBe('TypeError');
    expect(backRoot.message).toBe('undefined is not a function');
    expect(backRoot.stack).toBe(root.stack);
    expect(backRoot.cause).toBeUndefined();
  });

  it('survives a second round trip unchanged', () => {
    const once = overTheWire(new ApplicationFailure('x', { type: 'T', details: [{ a: [1] }], nonRetryable: true }));
    expect(errorToFailure(overTheWire(once))).toEqual(errorToFailure(once));
  });
});

describe('ActivityFailure', () => {
  it('keeps activity facts and its cause across the wire', () => {
    const cause = ApplicationFailure.nonRetryable('no such user', 'NotFound');
    const original = new ActivityFailure('activity getUser failed', 'getUser', '3', 4, 'non-retryable-failure', cause);
    const failure = errorToFailure(original);
    expect(failure).toMatchObject({
      type: 'ActivityFailure',
      info: { activityType: 'getUser', activityId: '3', attempt: 4, retryState: 'non-retryable-failure' },
      cause: { type: 'NotFound', nonRetryable: true },
    });
    const back = overTheWire(original) as ActivityFailure;
    expect(back).toBeInstanceOf(ActivityFailure);
    expect(back.message).toBe('activity getUser failed');
    expect([back.activityType, back.activityId, back.attempt, back.retryState]).toEqual([
      'getUser',
      '3',
      4,
      'non-retryable-failure',
    ]);
    expect(back.cause).toBeInstanceOf(ApplicationFailure);
    expect((back.cause as ApplicationFailure).type).toBe('NotFound');
    expect((back.cause as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('decodes what the engine writes for a timed-out activity: ActivityFailure caused by TimeoutFailure', () => {
    const error = failureToError({
      message: 'activity slow (id 1) timed out',
      type: 'ActivityFailure',
      info: { activityType: 'slow', activityId: '1', attempt: 1, retryState: 'timeout' },
      cause: {
        message: 'activity slow timed out (heartbeat timeout)',
        type: 'TimeoutFailure',
        info: { timeoutType: 'heartbeat' },
        details: [{ encoding: 'json/plain', data: { progress: 40 } }],
      },
    });
    expect(error).toBeInstanceOf(ActivityFailure);
    const timeout = error.cause as TimeoutFailure;
    expect(timeout).toBeInstanceOf(TimeoutFailure);
    expect(timeout.timeoutType).toBe('heartbeat');
    expect(timeout.lastHeartbeatDetails).toEqual({ progress: 40 });
  });
});

describe('TimeoutFailure and TerminatedFailure', () => {
  it('keeps the timeout type and last heartbeat details', () => {
    const back = overTheWire(new TimeoutFailure('timed out', 'startToClose', { step: 2 })) as TimeoutFailure;
    expect(back).toBeInstanceOf(TimeoutFailure);
    expect(back.message).toBe('timed out');
    expect(back.timeoutType).toBe('startToClose');
    expect(back.lastHeartbeatDetails).toEqual({ step: 2 });
    const noDetails = overTheWire(new TimeoutFailure('timed out', 'scheduleToStart')) as TimeoutFailure;
    expect(noDetails.lastHeartbeatDetails).toBeUndefined();
  });

  it('keeps a termination as TerminatedFailure', () => {
    const back = overTheWire(new TerminatedFailure('operator stopped it'));
    expect(back).toBeInstanceOf(TerminatedFailure);
    expect(back.message).toBe('operator stopped it');
  });
});

describe('errors that are not Tideway failures', () => {
  it('turns a plain Error into an ApplicationFailure typed by its name', () => {
    class InsufficientFunds extends Error {
      override name = 'InsufficientFunds';
    }
    const original = new InsufficientFunds('balance 3, need 5');
    expect(errorToFailure(original)).toEqual({
      message: 'balance 3, need 5',
      type: 'InsufficientFunds',
      stack: original.stack,
    });
    const back = overTheWire(original) as ApplicationFailure;
    expect(back).toBeInstanceOf(ApplicationFailure);
    expect(back.type).toBe('InsufficientFunds');
    expect(back.message).toBe('balance 3, need 5');
    expect(back.nonRetryable).toBe(false);
    expect(back.stack).toBe(original.stack);
  });

  it('keeps the cause of a plain Error', () => {
    const back = overTheWire(new Error('outer', { cause: new RangeError('inner') })) as ApplicationFailure;
    expect(back.type).toBe('Error');
    expect((back.cause as ApplicationFailure).type).toBe('RangeError');
    expect((back.cause as ApplicationFailure).message).toBe('inner');
  });

  it('describes thrown non-errors', () => {
    expect(errorToFailure('just a string')).toEqual({ message: 'just a string', type: 'Error' });
    expect(errorToFailure({ code: 42 })).toEqual({ message: '{"code":42}', type: 'Error' });
    expect(errorToFailure(42)).toEqual({ message: '42', type: 'Error' });
    expect(errorToFailure(undefined)).toEqual({ message: 'undefined', type: 'Error' });
    expect(errorToFailure(null)).toEqual({ message: 'null', type: 'Error' });
    expect(errorToFailure(10n)).toEqual({ message: '10', type: 'Error' });
    const back = overTheWire({ code: 42 });
    expect(back).toBeInstanceOf(ApplicationFailure);
    expect(back.message).toBe('{"code":42}');
  });

  it('bounds a cyclic cause chain', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    let depth = 0;
    for (let f = errorToFailure(a); f.cause; f = f.cause) depth++;
    expect(depth).toBe(20);
  });
});
