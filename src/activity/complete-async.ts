/**
 * Thrown by an activity that will be completed later, from elsewhere: the
 * worker reports nothing and frees its slot, and the attempt stays open
 * until someone completes, fails or heartbeats it with its task token
 * (`client.activities.complete(token, result)`, `tideway activity complete`,
 * or a POST to /activity-tasks/complete), or until its timeout.
 */
export class CompleteAsyncError extends Error {
  override name = 'CompleteAsyncError';
  constructor() {
    super('activity will be completed asynchronously with its task token');
  }
}
