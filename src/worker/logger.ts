/** Where the SDK writes what it has to say. Pass your own (pino, winston…) to `Worker.create`. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** Console logger; level from TIDEWAY_LOG_LEVEL (default 'info'). */
export function consoleLogger(level: Level = (process.env.TIDEWAY_LOG_LEVEL as Level | undefined) ?? 'info'): Logger {
  const min = Math.max(0, LEVELS.indexOf(level));
  const write = (l: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(l) < min) return;
    const line = `[tideway worker] ${l}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`;
    if (l === 'error' || l === 'warn') console.error(line);
    else console.log(line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
