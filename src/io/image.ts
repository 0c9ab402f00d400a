// Images in and out of tensors. Tensors hold images as float32 [C, H, W] (or [N, C, H, W]) in
// [-1, 1], the LDM convention x / 127.5 - 1; files hold 8-bit pixels.
// - Decoding: PNG (pngjs) and JPEG (jpeg-js), both synchronous pure JavaScript
//   (docs/decisions/003-image-io.md). Alpha is composited over a background (white by default);
//   grayscale is ITU-R 601-2 luma, L = (299 R + 587 G + 114 B) / 1000, as PIL's convert('L').
// - Encoding: our own PNG writer (png.ts), values clamped to [-1, 1] and rounded to 0..255.
// - imageGrid: torchvision.utils.make_grid's layout, for sample and reconstruction grids.
import * as fs from 'node:fs';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { Tensor } from '../tensor/tensor.js';
import { encodePng, isPng, type PngText, type RawImage } from './png.js';

export interface DecodeOptions {
  /** Output channels: 1 (luma), 3 (RGB, the default) or 4 (RGBA, alpha kept as is). */
  channels?: 1 | 3 | 4;
  /** Colour under transparent pixels, 0..255 per RGB channel (default white). */
  background?: readonly [number, number, number];
}

const WHITE = [255, 255, 255] as const;

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Decodes PNG or JPEG bytes into interleaved RGBA. `source` names the file in errors. */
function decodeRgba(bytes: Uint8Array, source: string): { width: number; height: number; rgba: Uint8Array } {
  try {
    if (isPng(bytes)) {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: png.data };
    }
    if (isJpeg(bytes)) {
      const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: image.width, height: image.height, rgba: image.data };
    }
  } catch (error) {
    throw new Error(`decodeImage: cannot decode ${source}: ${(error as Error).message}`);
  }
  throw new Error(`decodeImage: ${source} is neither PNG nor JPEG (the formats read here)`);
}

/** Decodes PNG or JPEG bytes into an 8-bit planar image [C, H, W]. */
export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}, source = 'image'): RawImage {
  const { channels = 3, background = WHITE } = options;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new Error(`decodeImage: channels must be 1, 3 or 4, got ${channels}`);
  }
  const { width, height, rgba } = decodeRgba(bytes, source);
  const plane = width * height;
  const data = new Uint8Array(channels * plane);
  if (channels === 4) {
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 4; c++) data[c * plane + i] = rgba[4 * i + c];
    }
    return { channels, height, width, data };
  }
  const [backR, backG, backB] = background;
  const rgb = channels === 3 ? data : new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    // Alpha compositing: value * alpha + background * (1 - alpha).
    const alpha = rgba[4 * i + 3] / 255;
    rgb[i] = Math.round(rgba[4 * i] * alpha + backR * (1 - alpha));
    rgb[plane + i] = Math.round(rgba[4 * i + 1] * alpha + backG * (1 - alpha));
    rgb[2 * plane + i] = Math.round(rgba[4 * i + 2] * alpha + backB * (1 - alpha));
  }
  if (channels === 1) {
    // Luma of the composited RGB, as PIL's convert('RGB').convert('L').
    for (let i = 0; i < plane; i++) {
      data[i] = Math.round((299 * rgb[i] + 587 * rgb[plane + i] + 114 * rgb[2 * plane + i]) / 1000);
    }
  }
  return { channels, height, width, data };
}

/** 8-bit values to floats in [-1, 1]: x / 127.5 - 1. Writes into `out` when given. */
export function bytesToUnit(bytes: ArrayLike<number>, out = new Float32Array(bytes.length)): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 127.5 - 1;
  return out;
}

/** An 8-bit image as a tensor [C, H, W] in [-1, 1]. */
export function rawToTensor(image: RawImage): Tensor {
  return new Tensor(bytesToUnit(image.data), [image.channels, image.height, image.width]);
}

/** A tensor [C, H, W] in [-1, 1] as 8-bit pixels: clamped to [-1, 1], then round((x + 1) * 127.5). */
export function tensorToRaw(image: Tensor): RawImage {
  if (image.rank !== 3) throw new Error(`tensorToRaw: expected an image [C, H, W], got [${image.shape.join(', ')}]`);
  const [channels, height, width] = image.shape;
  const data = new Uint8Array(image.size);
  for (let i = 0; i < data.length; i++) {
    const x = image.data[i];
    // NaN maps to 0 rather than poisoning the file.
    data[i] = x > -1 ? Math.round((Math.min(x, 1) + 1) * 127.5) : 0;
  }
  return { channels, height, width, data };
}

/** Reads a PNG or JPEG file as a tensor [C, H, W] in [-1, 1]. */
export function readImage(path: string, options: DecodeOptions = {}): Tensor {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (error) {
    throw new Error(`readImage: cannot read ${path}: ${(error as Error).message}`);
  }
  return rawToTensor(decodeImage(bytes, options, path));
}

export interface GridOptions {
  /** Images per row (default 8). */
  nrow?: number;
  /** Pixels between and around images (default 2). */
  padding?: number;
  /** Value of the padding, in the images' units (default 0: mid-gray for [-1, 1] images, as LDM's logs). */
  padValue?: number;
}

/**
 * Tiles images [N, C, H, W] into one image [C, rows * (H + p) + p, cols * (W + p) + p], row-major,
 * cols = min(nrow, N), as torchvision.utils.make_grid (which returns a single image unpadded too).
 */
export function imageGrid(images: Tensor, options: GridOptions = {}): Tensor {
  const { nrow = 8, padding = 2, padValue = 0 } = options;
  if (images.rank !== 4) throw new Error(`imageGrid: expected images [N, C, H, W], got [${images.shape.join(', ')}]`);
  if (!Number.isInteger(nrow) || nrow < 1) throw new Error(`imageGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0) {
    throw new Error(`imageGrid: padding must be a non-negative integer, got ${padding}`);
  }
  const [count, channels, height, width] = images.shape;
  if (count === 1) return images.reshape([channels, height, width]);
  const cols = Math.min(nrow, count);
  const rows = Math.ceil(count / cols);
  const gridHeight = rows * (height + padding) + padding;
  const gridWidth = cols * (width + padding) + padding;
  const grid = new Float32Array(channels * gridHeight * gridWidth).fill(padValue);
  for (let n = 0; n < count; n++) {
    const top = Math.floor(n / cols) * (height + padding) + padding;
    const left = (n % cols) * (width + padding) + padding;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < height; y++) {
        const from = ((n * channels + c) * height + y) * width;
        grid.set(images.data.subarray(from, from + width), (c * gridHeight + top + y) * gridWidth + left);
      }
    }
  }
  return new Tensor(grid, [channels, gridHeight, gridWidth]);
}

export interface SaveImageOptions extends GridOptions {
  /** Key/value settings stored as PNG text chunks. */
  text?: PngText;
}

/**
 * Encodes images in [-1, 1] as PNG bytes: [C, H, W] with C = 1 (grayscale) or 3 (RGB), or a batch
 * [N, C, H, W] tiled by imageGrid (as torchvision's save_image).
 */
export function tensorToPng(images: Tensor, options: SaveImageOptions = {}): Buffer {
  const image = images.rank === 4 ? imageGrid(images, options) : images;
  if (image.rank !== 3 || (image.shape[0] !== 1 && image.shape[0] !== 3)) {
    throw new Error(
      `tensorToPng: expected [C, H, W] or [N, C, H, W] with C = 1 or 3, got [${images.shape.join(', ')}]`,
    );
  }
  return encodePng(tensorToRaw(image), options.text);
}

/** Writes images in [-1, 1] to a PNG file (see tensorToPng). */
export function saveImage(images: Tensor, path: string, options: SaveImageOptions = {}): void {
  fs.writeFileSync(path, tensorToPng(images, options));
}
