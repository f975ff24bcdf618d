// Activities are ordinary async functions: they may do I/O, call APIs, fail
// and be retried. Workers run them; workflows call them through proxyActivities.

/** Builds the greeting. */
export async function greet(name: string): Promise<string> {
  return `Hello, ${name}`;
}
