import { formatDuration } from './format.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A stopped spinner: what `startSpinner` returns when there is no terminal to draw on. */
const NO_SPINNER = { stop() {} };

/**
 * Shows `⠋ <text> (12s)` on stderr while a long wait runs, so a person sees
 * the CLI is alive. Only on a terminal: piped or captured stderr stays clean.
 */
export function startSpinner(text: string): { stop(): void } {
  if (!process.stderr.isTTY) return NO_SPINNER;
  const started = Date.now();
  let frame = 0;
  const draw = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    const elapsed = seconds < 60 ? `${seconds}s` : formatDuration(seconds * 1000);
    process.stderr.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text} (${elapsed})`);
  };
  const clear = () => process.stderr.write('\r\x1b[2K');
  // Ctrl-C while waiting is normal use: leave a clean line, exit as an interrupted command does.
  const onInterrupt = () => {
    clear();
    process.exit(130);
  };
  draw();
  const timer = setInterval(draw, 100);
  process.once('SIGINT', onInterrupt);
  return {
    stop() {
      clearInterval(timer);
      process.off('SIGINT', onInterrupt);
      clear();
    },
  };
}
