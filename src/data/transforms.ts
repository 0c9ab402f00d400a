// Per-sample image transforms on planar [C, H, W] float arrays.

/** Mirrors each row (torchvision's RandomHorizontalFlip applies this with probability 0.5). */
export function horizontalFlip(image: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(image.length);
  for (let row = 0; row < channels * height; row++) {
    const start = row * width;
    for (let x = 0; x < width; x++) out[start + x] = image[start + width - 1 - x];
  }
  return out;
}

/**
 * Converts a [fromChannels, H, W] image in [-1, 1] to `toChannels`: gray is repeated into RGB;
 * RGB becomes ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B, as PIL; affine, so exact in [-1, 1] too).
 */
export function convertChannels(image: Float32Array, fromChannels: number, toChannels: number): Float32Array {
  if (fromChannels === toChannels) return image;
  const plane = image.length / fromChannels;
  if (fromChannels === 1 && toChannels === 3) {
    const out = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) out.set(image, c * plane);
    return out;
  }
  if (fromChannels === 3 && toChannels === 1) {
    const out = new Float32Array(plane);
    for (let i = 0; i < plane; i++) {
      out[i] = 0.299 * image[i] + 0.587 * image[plane + i] + 0.114 * image[2 * plane + i];
    }
    return out;
  }
  throw new Error(`convertChannels: cannot convert ${fromChannels} channels to ${toChannels}`);
}
