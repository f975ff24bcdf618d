/**
 * Turns `workflows` / `activities` options (plain objects or module
 * namespaces) into name → function maps. Non-function exports (signal
 * definitions, constants) are ignored.
 */
export type FunctionMap = Map<string, (...args: any[]) => any>;

export function collectFunctions(source: object | undefined, what: string): FunctionMap {
  const map: FunctionMap = new Map();
  if (!source) return map;
  for (const [name, value] of Object.entries(source)) {
    if (typeof value !== 'function') continue;
    if (name === 'default') {
      if (!value.name) throw new TypeError(`the default export among ${what} must be a named function`);
      map.set(value.name, value);
      continue;
    }
    map.set(name, value);
  }
  return map;
}
