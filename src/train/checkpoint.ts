// Training checkpoints on disk: one directory per checkpoint and a pointer to the newest.
//
//   <out>/checkpoints/step-000123/   the files of the checkpoint taken after 123 optimizer steps
//   <out>/last                       a one-line text file: "checkpoints/step-000123"
//
// A checkpoint is first written to checkpoints/.step-000123.tmp-<pid>/ (each file flushed to
// disk), then renamed to its final name, and only then is `last` rewritten (to a temporary
// file, flushed, renamed over `last`). Renames within a filesystem are atomic, so a crash at
// any moment leaves `last` naming a complete checkpoint: the previous one or the new one. What
// a checkpoint holds is the trainer's business (autoencoder-checkpoint.ts); this file only
// knows directories, files and the pointer.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHECKPOINTS_DIR = 'checkpoints';
export const LAST_POINTER = 'last';

/** One file of a checkpoint: its name in the directory and how to write it to a given path. */
export interface CheckpointFile {
  name: string;
  write(filePath: string): void;
}

export interface WriteCheckpointOptions {
  /** Keep only the newest this many checkpoints (default: keep all). */
  keep?: number;
}

/** "step-000123": zero-padded so that names sort by step. */
export function checkpointName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0)
    throw new Error(`checkpointName: step must be an integer >= 0, got ${step}`);
  return `step-${String(step).padStart(6, '0')}`;
}

/**
 * Writes a checkpoint of `step` under `outDir` and points `last` at it; returns its directory.
 * A checkpoint of this step that already exists is kept as it is (the state at a step does not
 * change) and only the pointer is updated. If any file fails to write, the partial directory is
 * removed, the error is thrown, and `last` still names the previous checkpoint.
 */
export function writeCheckpoint(
  outDir: string,
  step: number,
  files: readonly CheckpointFile[],
  options: WriteCheckpointOptions = {},
): string {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  fs.mkdirSync(root, { recursive: true });
  const name = checkpointName(step);
  const finalDir = path.join(root, name);
  removeStaleTemporaries(root);
  if (!fs.existsSync(finalDir)) {
    const tmpDir = path.join(root, `.${name}.tmp-${process.pid}`);
    fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.mkdirSync(tmpDir);
    try {
      for (const file of files) {
        if (file.name.includes('/') || file.name.includes(path.sep) || file.name.startsWith('.')) {
          throw new Error(`writeCheckpoint: bad file name "${file.name}"`);
        }
        file.write(path.join(tmpDir, file.name));
      }
      fsyncPath(tmpDir);
      fs.renameSync(tmpDir, finalDir);
      fsyncPath(root);
    } catch (err) {
      fs.rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    }
  }
  writeFileAtomic(path.join(outDir, LAST_POINTER), `${CHECKPOINTS_DIR}/${name}\n`);
  if (options.keep !== undefined) pruneCheckpoints(outDir, options.keep, finalDir);
  return finalDir;
}

/** Writes `data` to `<filePath>.tmp-<pid>`, flushes it, and renames it over `filePath`. */
export function writeFileAtomic(filePath: string, data: string | Uint8Array): void {
  const tmpPath = `${filePath}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmpPath, 'w');
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmpPath, filePath);
  } catch (err) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmpPath, { force: true });
    throw err;
  }
}

/** A run's checkpoints, oldest first. */
export function listCheckpoints(outDir: string): { step: number; dir: string }[] {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((match) => match !== null)
    .map((match) => ({ step: Number(match[1]), dir: path.join(root, match[0]) }))
    .sort((a, b) => a.step - b.step);
}

/** The directory `last` names, or null when the run has no checkpoint yet. */
export function readLastPointer(outDir: string): string | null {
  const pointer = path.join(outDir, LAST_POINTER);
  if (!fs.existsSync(pointer)) return null;
  const target = fs.readFileSync(pointer, 'utf8').trim();
  const dir = path.resolve(outDir, target);
  if (!fs.existsSync(dir)) {
    throw new Error(`checkpoint pointer ${pointer} names ${target}, which does not exist`);
  }
  return dir;
}

/**
 * The checkpoint directory that `location` names: a run directory (its `last` checkpoint), a
 * checkpoint directory, or a file inside one. `marker` is a file every checkpoint has.
 */
export function resolveCheckpoint(location: string, marker: string): string {
  if (!fs.existsSync(location)) throw new Error(`checkpoint ${location} does not exist`);
  if (fs.statSync(location).isFile()) {
    const dir = path.dirname(location);
    if (fs.existsSync(path.join(dir, marker))) return dir;
    throw new Error(`${location} is not inside a checkpoint directory (no ${marker} beside it)`);
  }
  if (fs.existsSync(path.join(location, marker))) return location;
  const last = readLastPointer(location);
  if (last !== null) {
    if (!fs.existsSync(path.join(last, marker))) throw new Error(`checkpoint ${last} has no ${marker}`);
    return last;
  }
  throw new Error(
    `${location} is neither a checkpoint directory (no ${marker}) nor a run directory (no ${LAST_POINTER} pointer)`,
  );
}

/** Temporaries of writes that died (this process writes one checkpoint at a time). */
function removeStaleTemporaries(root: string): void {
  for (const name of fs.readdirSync(root)) {
    if (/^\.step-\d+\.tmp-\d+$/.test(name)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function pruneCheckpoints(outDir: string, keep: number, current: string): void {
  if (!Number.isInteger(keep) || keep < 1)
    throw new Error(`writeCheckpoint: keep must be an integer >= 1, got ${keep}`);
  const all = listCheckpoints(outDir);
  for (const { dir } of all.slice(0, Math.max(0, all.length - keep))) {
    if (dir !== current) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Flushes a file or directory entry to disk (directories: so that a rename survives a power cut). */
function fsyncPath(target: string): void {
  if (fs.statSync(target).isDirectory()) {
    for (const name of fs.readdirSync(target)) {
      const child = path.join(target, name);
      if (fs.statSync(child).isFile()) fsyncPath(child);
    }
  }
  const fd = fs.openSync(target, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
