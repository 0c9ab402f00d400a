// A JSON-lines log beside a run's outputs: one JSON object per line, appended and flushed as it
// happens (a crash loses nothing written before it), so that tools can follow or parse a run.
import * as fs from 'node:fs';

/** A log record: `event` says what kind ('train', 'eval', 'checkpoint', ...). */
export interface LogRecord {
  event: string;
  [key: string]: unknown;
}

export class RunLog {
  constructor(readonly path: string) {}

  /** Appends one record, with the time added (ISO 8601). */
  write(record: LogRecord): void {
    fs.appendFileSync(this.path, JSON.stringify({ ...record, time: new Date().toISOString() }) + '\n');
  }
}

/** Reads a JSON-lines log back; a torn last line (the process was killed mid-write) is skipped. */
export function readRunLog(path: string): LogRecord[] {
  const lines = fs.readFileSync(path, 'utf8').split('\n');
  const records: LogRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch (err) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((rest) => rest.trim() !== '')) {
        throw new Error(`readRunLog: line ${i + 1} of ${path} is not JSON: ${(err as Error).message}`);
      }
    }
  });
  return records;
}
