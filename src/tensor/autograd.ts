// Reverse-mode automatic differentiation.
//
// Every op that sees an input requiring gradients records a GradNode on its output: the
// inputs and a closure that maps the output's gradient to the inputs' gradients. The
// closure captures exactly the tensors its rule needs (saved activations). backward()
// walks the graph once in reverse topological order; unless retainGraph is set, each node
// drops its closure and inputs as soon as it has run, so saved activations become garbage
// right away and a training loop's memory stays flat. Gradient rules run with recording
// off: gradients of gradients are not supported (LDM training needs none). Gradients that
// die during the walk go back to the buffer pool of memory.ts, and gradients summed for a
// tensor used several times are summed in place where the engine owns the buffer. With
// `releaseActivations`, the walked graph's intermediate tensors go back to the pool too.
import type { Tensor } from './tensor.js';
import { getBackend } from './device.js';
import { beginBackwardPass, endBackwardPass, noteDeadInPass, ownedByPass, releaseActivations } from './memory.js';
import { formatShape, shapesEqual } from './shape.js';

export type BackwardFn = (gradOutput: Tensor) => readonly (Tensor | null)[];

export interface GradNode {
  readonly op: string;
  inputs: readonly Tensor[];
  /** null once the node has run without retainGraph. */
  backward: BackwardFn | null;
}

let gradEnabled = true;
/** While grad() runs: the tensors whose gradients lead to its inputs; null means all. */
let neededTensors: ReadonlySet<Tensor> | null = null;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording gradients (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Whether a gradient rule should compute the gradient of this input: it requires grad and,
 * inside grad(), lies on a path to one of the requested inputs. Rules use it to skip work.
 */
export function needsGrad(t: Tensor): boolean {
  return t.requiresGrad && (neededTensors === null || neededTensors.has(t));
}

/**
 * Attaches a gradient rule to `out` when recording is on and some input requires grad.
 * `backward` returns one gradient per input (null where none flows), each shaped like its input.
 */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: BackwardFn): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward };
  }
  return out;
}

/** Tensors reachable from the roots through grad nodes, each listed after everything that depends on it. */
function reverseTopologicalOrder(roots: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative post-order DFS: graphs of deep networks overflow a recursive walk.
  const stack: { tensor: Tensor; next: number }[] = [];
  for (const root of roots) {
    if (visited.has(root)) continue;
    visited.add(root);
    stack.push({ tensor: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = top.tensor.gradFn?.inputs ?? [];
      if (top.next < inputs.length) {
        const child = inputs[top.next++];
        if (child.requiresGrad && !visited.has(child)) {
          visited.add(child);
          stack.push({ tensor: child, next: 0 });
        }
      } else {
        order.push(top.tensor);
        stack.pop();
      }
    }
  }
  return order.reverse();
}

/**
 * The gradients waiting for their tensor's turn in the walk. A gradient tensor may wait for
 * several tensors at once (a rule can return one tensor for two inputs), so each is counted
 * per reference; one whose count drops to zero and that the caller did not keep is dead, and
 * flush() reports it to memory.ts, which recycles a buffer once all its tensors are dead.
 */
class PendingGrads {
  private readonly byTensor = new Map<Tensor, Tensor>();
  private readonly references = new Map<Tensor, number>();
  private readonly kept = new Set<Tensor>();
  /** Gradients already counted as dead (memory.ts counts each tensor over a buffer once). */
  private readonly dead = new Set<Tensor>();
  private maybeDead: Tensor[] = [];

  /** Adds `grad` to the gradient pending for `tensor`. */
  accumulate(tensor: Tensor, grad: Tensor): void {
    const existing = this.byTensor.get(tensor);
    if (existing === undefined) {
      this.byTensor.set(tensor, grad);
      this.count(grad, 1);
      return;
    }
    this.maybeDead.push(grad);
    if (existing !== grad && this.references.get(existing) === 1 && ownedByPass(existing.data)) {
      // Only this entry holds `existing`: sum into it (each element is read before it is written).
      const n = existing.size;
      getBackend().binary('add', existing.data, grad.data, existing.data, {
        outShape: [n],
        aStrides: [1],
        bStrides: [1],
      });
      return;
    }
    const sum = existing.add(grad);
    this.byTensor.set(tensor, sum);
    this.count(sum, 1);
    this.count(existing, -1);
    this.maybeDead.push(existing);
  }

  /** Removes and returns the gradient pending for `tensor`. */
  take(tensor: Tensor): Tensor | undefined {
    const grad = this.byTensor.get(tensor);
    if (grad === undefined) return undefined;
    this.byTensor.delete(tensor);
    this.count(grad, -1);
    this.maybeDead.push(grad);
    return grad;
  }

  /** Marks a gradient as handed to the caller: never recycled. */
  keep(grad: Tensor): void {
    this.kept.add(grad);
  }

  /** Reports the gradients that died since the last flush, so that their buffers are recycled. */
  flush(): void {
    for (const grad of this.maybeDead) {
      if (this.references.has(grad) || this.kept.has(grad) || this.dead.has(grad)) continue;
      this.dead.add(grad);
      noteDeadInPass(grad.data);
    }
    this.maybeDead = [];
  }

  private count(grad: Tensor, delta: number): void {
    const n = (this.references.get(grad) ?? 0) + delta;
    if (n === 0) this.references.delete(grad);
    else this.references.set(grad, n);
  }
}

/**
 * Propagates gradients from roots; `deliver(tensor, grad)` receives the total gradient of
 * every tensor reached (leaves and intermediates) once it is complete, and returns whether it
 * kept that gradient tensor (which must then not be recycled).
 */
function propagate(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  retainGraph: boolean,
  targets: ReadonlySet<Tensor> | null,
  deliver: (tensor: Tensor, grad: Tensor) => boolean,
  releaseGraph = false,
): void {
  const pending = new PendingGrads();
  roots.forEach((root, i) => pending.accumulate(root, rootGrads[i]));
  const order = reverseTopologicalOrder(roots);
  const previousNeeded = neededTensors;
  neededTensors = targets === null ? null : tensorsLeadingTo(order, targets);
  const enclosingPass = beginBackwardPass();
  try {
    for (const tensor of order) {
      const grad = pending.take(tensor);
      if (grad === undefined) continue;
      if (deliver(tensor, grad)) pending.keep(grad);
      const node = tensor.gradFn;
      if (node !== null && (neededTensors === null || neededTensors.has(tensor))) {
        runNode(node, grad, retainGraph, pending);
      }
      pending.flush();
    }
  } finally {
    neededTensors = previousNeeded;
    endBackwardPass(enclosingPass);
  }
  if (releaseGraph) releaseActivations(intermediateBuffers(order, roots));
}

/** For each buffer under the non-leaf tensors of `order` other than the roots: how many of them it holds. */
function intermediateBuffers(order: readonly Tensor[], roots: readonly Tensor[]): Map<Float32Array, number> {
  const counts = new Map<Float32Array, number>();
  for (const tensor of order) {
    if (tensor.gradFn === null || roots.includes(tensor)) continue;
    counts.set(tensor.data, (counts.get(tensor.data) ?? 0) + 1);
  }
  return counts;
}

/** The tensors of `order` (outputs first) from which some target is reachable, targets included. */
function tensorsLeadingTo(order: readonly Tensor[], targets: ReadonlySet<Tensor>): Set<Tensor> {
  const leading = new Set<Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    if (targets.has(t) || (t.gradFn?.inputs ?? []).some((input) => leading.has(input))) leading.add(t);
  }
  return leading;
}

function runNode(node: GradNode, grad: Tensor, retainGraph: boolean, pending: PendingGrads): void {
  if (node.backward === null) {
    throw new Error(
      `backward: the graph through "${node.op}" was already freed by an earlier backward; pass { retainGraph: true } to the first call`,
    );
  }
  const inputGrads = node.backward(grad);
  node.inputs.forEach((input, i) => {
    const g = inputGrads[i];
    if (g === null || g === undefined || !needsGrad(input)) return;
    if (!shapesEqual(g.shape, input.shape)) {
      throw new Error(
        `backward: "${node.op}" produced a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(input.shape)}`,
      );
    }
    pending.accumulate(input, g);
  });
  if (!retainGraph) {
    node.backward = null;
    node.inputs = [];
  }
}

function seedGradients(outputs: readonly Tensor[], gradOutputs: readonly Tensor[] | undefined, op: string): Tensor[] {
  return outputs.map((out, i) => {
    if (!out.requiresGrad) throw new Error(`${op}: output ${i} does not require grad (nothing to differentiate)`);
    const given = gradOutputs?.[i];
    if (given !== undefined) {
      if (!shapesEqual(given.shape, out.shape)) {
        throw new Error(
          `${op}: gradient of shape ${formatShape(given.shape)} given for output of shape ${formatShape(out.shape)}`,
        );
      }
      return given;
    }
    if (out.size !== 1) {
      throw new Error(`${op}: output of shape ${formatShape(out.shape)} is not a scalar; pass its gradient explicitly`);
    }
    return out.onesLike();
  });
}

export interface BackwardOptions {
  /** Keep the graph so that another backward or grad() can run through it. */
  retainGraph?: boolean;
}

export interface BackwardReleaseOptions extends BackwardOptions {
  /**
   * Give the memory of the graph's intermediate tensors (every op output between the leaves
   * and `output`, `output` excluded) back to the engine's buffer pool once the gradients are
   * computed, for the next forward pass to reuse: the caller promises not to read them again
   * (they hold undefined values afterwards). Training loops, which keep nothing of the forward
   * pass but the loss, save the allocation and garbage collection of every step's activations.
   * Not with retainGraph.
   */
  releaseActivations?: boolean;
}

/** Accumulates d(output)/d(leaf) into the .grad of every leaf that requires grad. */
export function backward(output: Tensor, gradOutput?: Tensor, options: BackwardReleaseOptions = {}): void {
  const retainGraph = options.retainGraph ?? false;
  if (retainGraph && options.releaseActivations) {
    throw new Error('backward: releaseActivations frees the graph that retainGraph asks to keep');
  }
  noGrad(() => {
    const seeds = seedGradients([output], gradOutput ? [gradOutput] : undefined, 'backward');
    const deliver = (tensor: Tensor, g: Tensor): boolean => {
      if (tensor.gradFn !== null) return false;
      tensor.grad = tensor.grad === null ? g.detach() : tensor.grad.add(g);
      return true;
    };
    propagate([output], seeds, retainGraph, null, deliver, options.releaseActivations ?? false);
  });
}

export interface GradOptions extends BackwardOptions {
  /** Gradients of the outputs; default 1 for scalar outputs. */
  gradOutputs?: readonly Tensor[];
  /** Return zeros instead of throwing for inputs the outputs do not depend on. */
  allowUnused?: boolean;
}

/**
 * Gradients of the (summed) outputs with respect to `inputs`, returned instead of stored:
 * no .grad is touched (like torch.autograd.grad).
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  options: GradOptions = {},
): Tensor[] {
  const outs = Array.isArray(outputs) ? (outputs as readonly Tensor[]) : [outputs as Tensor];
  return noGrad(() => {
    const seeds = seedGradients(outs, options.gradOutputs, 'grad');
    const wanted = new Set(inputs);
    const found = new Map<Tensor, Tensor>();
    propagate(outs, seeds, options.retainGraph ?? false, wanted, (tensor, g) => {
      if (!wanted.has(tensor)) return false;
      found.set(tensor, g);
      return true;
    });
    return inputs.map((input, i) => {
      const g = found.get(input);
      if (g !== undefined) return g;
      if (options.allowUnused) return input.zerosLike();
      throw new Error(
        `grad: input ${i} (shape ${formatShape(input.shape)}) is not used by the outputs; pass allowUnused`,
      );
    });
  });
}
