/**
 * A signal aborted as soon as any of `sources` is; `dispose` removes its
 * listeners from them (a source may be long-lived, like the engine's own
 * closing signal, and must not keep a listener per finished wait).
 */
export function linkedSignal(...sources: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const linked = new AbortController();
  const abort = () => linked.abort();
  if (sources.some((source) => source.aborted)) linked.abort();
  else for (const source of sources) source.addEventListener('abort', abort, { once: true });
  return {
    signal: linked.signal,
    dispose() {
      for (const source of sources) source.removeEventListener('abort', abort);
    },
  };
}
