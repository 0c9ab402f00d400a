// Reuse of float32 buffers: the gradients that die during backward(), and, on request, the
// activations of a graph that backward() has finished with.
//
// Every op allocates its output, and the garbage collector reclaims it once no tensor holds
// it. A training step of the 1.5M-parameter MNIST U-Net at batch 64 allocated 556 MB this
// way, about 90x its parameter memory; the price is paid three times: the allocator zeroes
// every buffer (or the kernel maps fresh pages), the writes go to memory that is not in
// cache, and the external memory drives V8 into frequent full collections.
//
// The gradients that backward() passes from node to node are different: the engine creates
// them, hands each to one gradient rule, and drops it. Those it releases here, and the next
// op of the same size gets the buffer back at once, still in cache. A buffer is released
// only when all of these hold (see autograd.ts):
//   - it was handed out by `allocate` during the current backward pass (so no closure or
//     caller from before the pass can hold it: saved activations, seeds, user tensors);
//   - every Tensor ever built over it has died in the walk: it is no longer pending for any
//     input, was not delivered to the caller (a leaf's .grad, a grad() result), and no rule
//     returned it for a further input. A view that a rule makes of a gradient (reshape's
//     rule does) is one more such tensor; a view that is never pending (a temporary inside a
//     rule) never dies in the walk and keeps the buffer out of the pool, which is safe.
// Code that takes a typed-array view (subarray) of a gradient's data inside a gradient rule
// would defeat the count; nothing in src/ does.
//
// Activations (the outputs of the ops between a loss and its leaves) are released only when
// the caller asks, with backward's `releaseActivations`: the caller promises to read none of
// them afterwards. Then a buffer goes back when every tensor ever built over it is one of
// those activations (so a view the caller made with detach() keeps it out) and `allocate`
// handed it out. A training loop's next step then runs on the same memory.
//
// `allocate` returns a recycled or uninitialised buffer: callers must overwrite every element
// (all kernels that write an `out` buffer do). `allocateZeroed` clears it. With the
// environment variable LDM_POISON_RELEASED=1 (the test suite sets it), every released buffer
// is filled with NaN, so that a read after release shows up instead of reading stale values.

/** Below this many floats V8 allocates typed arrays cheaply on its own heap: not pooled. */
const MIN_POOLED_LENGTH = 1024;
/**
 * The pool keeps at most this much memory; further releases are left to the collector. It must
 * hold a training step's activations (330 MB for the MNIST U-Net above) until the next step.
 */
const MAX_POOLED_BYTES = 2 * 1024 * 1024 * 1024;

const POISON_RELEASED = typeof process !== 'undefined' && process.env?.LDM_POISON_RELEASED === '1';

const freeBuffers = new Map<number, Float32Array[]>();
let pooledBytes = 0;

/** The backward pass during which allocate() handed out each buffer (0: outside any). */
const allocatedInPass = new WeakMap<Float32Array, number>();
/** How many Tensors were built over each pooled-size buffer. */
const wrappers = new WeakMap<Float32Array, number>();

let currentPass = 0;
let passCounter = 0;
/** Tensors over each buffer of the current pass that have died in the walk. */
let deadWrappers = new Map<Float32Array, number>();

/** A buffer of `length` floats whose values are unspecified: the caller writes every one. */
export function allocate(length: number): Float32Array {
  if (length < MIN_POOLED_LENGTH) return new Float32Array(length);
  const reused = freeBuffers.get(length)?.pop();
  const buffer = reused ?? uninitialized(length);
  if (reused !== undefined) pooledBytes -= buffer.byteLength;
  allocatedInPass.set(buffer, currentPass);
  return buffer;
}

/**
 * A fresh buffer without the zero fill of `new Float32Array` (about half the cost of a
 * large allocation): Node's allocUnsafeSlow takes its memory from malloc, not calloc.
 */
function uninitialized(length: number): Float32Array {
  if (typeof Buffer === 'undefined') return new Float32Array(length); // not in Node
  const bytes = Buffer.allocUnsafeSlow(length * Float32Array.BYTES_PER_ELEMENT);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}

/** A buffer of `length` zeros. */
export function allocateZeroed(length: number): Float32Array {
  const buffer = allocate(length);
  return buffer.fill(0);
}

/** Called by the Tensor constructor: notes that one more tensor shares this buffer. */
export function noteWrapped(data: Float32Array): void {
  if (data.length < MIN_POOLED_LENGTH) return;
  wrappers.set(data, (wrappers.get(data) ?? 0) + 1);
}

/** Starts a backward pass; returns the enclosing one for endBackwardPass. */
export function beginBackwardPass(): number {
  const enclosing = currentPass;
  currentPass = ++passCounter;
  return enclosing;
}

export function endBackwardPass(enclosing: number): void {
  currentPass = enclosing;
  deadWrappers = new Map();
}

/**
 * Notes that one tensor over `data` died in the walk (the caller counts each tensor once);
 * when it was the last of the tensors ever built over a buffer of this pass, the buffer goes
 * back to the pool.
 */
export function noteDeadInPass(data: Float32Array): void {
  if (currentPass === 0 || allocatedInPass.get(data) !== currentPass) return;
  const dead = (deadWrappers.get(data) ?? 0) + 1;
  if (dead === wrappers.get(data)) {
    deadWrappers.delete(data);
    release(data);
  } else {
    deadWrappers.set(data, dead);
  }
}

/**
 * Whether the engine may overwrite this buffer: allocated in the current backward pass and
 * wrapped by a single tensor. The caller vouches that this tensor is referenced only where it
 * expects the new values.
 */
export function ownedByPass(data: Float32Array): boolean {
  return currentPass !== 0 && allocatedInPass.get(data) === currentPass && wrappers.get(data) === 1;
}

/**
 * Returns the buffers of dead activations to the pool: `tensorsPerBuffer` counts, for each
 * buffer, the dead tensors built over it. A buffer goes back when they are all the tensors
 * ever built over it and `allocate` handed it out.
 */
export function releaseActivations(tensorsPerBuffer: ReadonlyMap<Float32Array, number>): void {
  for (const [data, count] of tensorsPerBuffer) {
    if (allocatedInPass.has(data) && wrappers.get(data) === count) release(data);
  }
}

/** Returns a dead buffer to the pool; the caller has checked that nothing else can read it. */
export function release(data: Float32Array): void {
  allocatedInPass.delete(data); // a second release of the same buffer now fails ownedByPass
  wrappers.delete(data);
  if (POISON_RELEASED) data.fill(NaN);
  if (pooledBytes + data.byteLength > MAX_POOLED_BYTES) return;
  let list = freeBuffers.get(data.length);
  if (list === undefined) freeBuffers.set(data.length, (list = []));
  list.push(data);
  pooledBytes += data.byteLength;
}
