// Argument checks shared by the layer constructors, so that a bad config fails at construction
// with the layer and argument named, not later inside a kernel.

export function checkPositiveInteger(value: number, layer: string, name: string): void {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${layer}: ${name} must be a positive integer, got ${value}`);
}

export function checkPositive(value: number, layer: string, name: string): void {
  if (!(value > 0)) throw new Error(`${layer}: ${name} must be positive, got ${value}`);
}
