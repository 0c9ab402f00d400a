// Training progress on a terminal: one line rewritten in place on a TTY, or plain lines every N
// steps when the output is a file or a pipe (logs stay readable there).
export interface ProgressStats {
  /** Optimizer steps done. */
  step: number;
  totalSteps: number;
  /** Named values shown after the step, e.g. { loss: 0.12, rec: 0.05 }. */
  values: Record<string, number>;
  /** Training throughput; NaN until measured. */
  imagesPerSecond: number;
  /** Estimated seconds to the last step; NaN until measured. */
  etaSeconds: number;
}

/** Where a trainer reports: a step's numbers, and one-off messages (checkpoint saved, metrics). */
export interface ProgressSink {
  step(stats: ProgressStats): void;
  message(text: string): void;
  /** Ends the updating line, if any. */
  close(): void;
}

/** A sink that drops everything (library use without a terminal). */
export const silentProgress: ProgressSink = { step() {}, message() {}, close() {} };

/** The part of a Node stream a TerminalProgress writes to. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface TerminalProgressOptions {
  /** Default process.stdout. */
  stream?: ProgressStream;
  /** Rewrite one line in place (default: when the stream is a TTY). */
  tty?: boolean;
  /** Without a TTY, print every this many steps, and the last step (default 10). */
  every?: number;
  /** On a TTY, redraw at most this often (default 100 ms). */
  minIntervalMs?: number;
}

export class TerminalProgress implements ProgressSink {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly every: number;
  private readonly minIntervalMs: number;
  /** The line now shown on the TTY ('' when none). */
  private shown = '';
  private lastDraw = -Infinity;

  constructor(options: TerminalProgressOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.every = options.every ?? 10;
    this.minIntervalMs = options.minIntervalMs ?? 100;
    if (!Number.isInteger(this.every) || this.every < 1) {
      throw new Error(`TerminalProgress: every must be a positive integer, got ${this.every}`);
    }
  }

  step(stats: ProgressStats): void {
    const line = formatProgressLine(stats);
    if (!this.tty) {
      if (stats.step % this.every === 0 || stats.step === stats.totalSteps) this.stream.write(line + '\n');
      return;
    }
    const now = performance.now();
    if (now - this.lastDraw < this.minIntervalMs && stats.step !== stats.totalSteps) return;
    this.lastDraw = now;
    this.shown = this.fit(line);
    this.stream.write(`\r\x1b[2K${this.shown}`);
  }

  message(text: string): void {
    if (!this.tty) {
      this.stream.write(text + '\n');
      return;
    }
    // Print above the progress line, then put the line back.
    this.stream.write(`\r\x1b[2K${text}\n${this.shown}`);
  }

  close(): void {
    if (this.tty && this.shown !== '') this.stream.write('\n');
    this.shown = '';
  }

  /** Cuts the line to the terminal's width, so that it never wraps (a wrapped line cannot be redrawn). */
  private fit(line: string): string {
    const columns = this.stream.columns;
    return columns !== undefined && columns > 1 && line.length >= columns ? line.slice(0, columns - 1) : line;
  }
}

/** e.g. "step 120/1000 | loss 0.1234 rec 0.0567 | 12.3 img/s | ETA 3m12s". */
export function formatProgressLine(stats: ProgressStats): string {
  const width = String(stats.totalSteps).length;
  const values = Object.entries(stats.values)
    .map(([name, value]) => `${name} ${formatNumber(value)}`)
    .join(' ');
  const speed = Number.isFinite(stats.imagesPerSecond) ? `${stats.imagesPerSecond.toFixed(1)} img/s` : '- img/s';
  const eta = Number.isFinite(stats.etaSeconds) ? `ETA ${formatDuration(stats.etaSeconds)}` : 'ETA -';
  const parts = [`step ${String(stats.step).padStart(width)}/${stats.totalSteps}`, values, speed, eta];
  return parts.filter((part) => part !== '').join(' | ');
}

/** 4 significant digits, switching to exponent notation for very small or large magnitudes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(2);
  return value.toPrecision(4);
}

/** e.g. 42 -> "42s", 192 -> "3m12s", 7380 -> "2h03m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const minutes = Math.floor(s / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
