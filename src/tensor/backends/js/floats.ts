// The array type the js kernels compute over. The Backend contract is float32, but every js
// kernel only indexes its arrays, so it runs unchanged on Float64Array too: the gradient tests
// use that to compare backward kernels with finite differences free of float32 rounding.
export type Floats = Float32Array | Float64Array;
