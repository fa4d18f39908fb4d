import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { cpuQueue } from './cpuQueue.js';

export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/** Stored names are `<sha256 of content>.<ext>`; nothing else is ever served. */
export const UPLOAD_NAME = /^[a-f0-9]{64}\.(jpg|png|webp|gif)$/;

export type ImageExt = 'jpg' | 'png' | 'webp' | 'gif';

/** An image decoded and encoded again by libvips: only pixels survive, no metadata or trailing bytes. */
export interface CleanImage {
  buffer: Buffer;
  ext: 'jpg' | 'png' | 'webp';
}

// libvips runs on libuv's thread pool like scrypt: one image at a time per server,
// one libvips thread, no operation cache (memory stays bounded on small servers).
sharp.concurrency(1);
sharp.cache(false);
const decoding = cpuQueue('photos', 1, 8);

// Larger photos are scaled down: an avatar never needs more, and the stored file stays small.
const MAX_SIDE = 1600;
// Refuses decompression bombs (a small file that expands to gigabytes of pixels).
const MAX_INPUT_PIXELS = 40_000_000;

const startsWith = (buf: Buffer, bytes: number[], at = 0): boolean => bytes.every((b, i) => buf[at + i] === b);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Identifies the image format from its first bytes, whatever the client claimed. */
export function detectImage(buf: Buffer): ImageExt | undefined {
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpg';
  if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(buf, ascii('GIF87a')) || startsWith(buf, ascii('GIF89a'))) return 'gif';
  if (startsWith(buf, ascii('RIFF')) && startsWith(buf, ascii('WEBP'), 8)) return 'webp';
  return undefined;
}

const SHARP_FORMAT: Record<ImageExt, string> = { jpg: 'jpeg', png: 'png', webp: 'webp', gif: 'gif' };

export const IMAGE_PROBLEM = 'Photo must be a JPEG, PNG, WebP or GIF image';

/**
 * Decodes the upload with libvips and encodes a new file from its pixels: EXIF (GPS
 * position, camera), ICC and comments are dropped, bytes appended to an image (an
 * HTML page after `GIF89a`) cannot survive, and a file that does not decode fully is
 * refused. JPEG stays JPEG, WebP stays WebP, PNG and GIF (first frame) become PNG.
 * Returns undefined for anything that is not an accepted image.
 */
export async function cleanImage(input: Buffer): Promise<CleanImage | undefined> {
  const claimed = detectImage(input);
  if (!claimed) return undefined;
  return decoding.run(async () => {
    try {
      const image = sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS, animated: false });
      const meta = await image.metadata();
      if (meta.format !== SHARP_FORMAT[claimed]) return undefined;
      // rotate() applies the EXIF orientation to the pixels before that tag is dropped.
      const pipeline = image.rotate().resize({ width: MAX_SIDE, height: MAX_SIDE, fit: 'inside', withoutEnlargement: true });
      if (claimed === 'jpg') return { buffer: await pipeline.jpeg({ quality: 85 }).toBuffer(), ext: 'jpg' };
      if (claimed === 'webp') return { buffer: await pipeline.webp({ quality: 85 }).toBuffer(), ext: 'webp' };
      return { buffer: await pipeline.png().toBuffer(), ext: 'png' };
    } catch {
      // libvips could not decode it: truncated, corrupt, or not really this format.
      return undefined;
    }
  });
}

/**
 * Stores an image on the shared folder under its content hash. The bytes go to a
 * temporary file in the same folder first and are renamed into place, so other
 * servers never see a half-written file; identical uploads share one file.
 */
export async function storeImage(uploadDir: string, image: CleanImage): Promise<string> {
  const name = `${createHash('sha256').update(image.buffer).digest('hex')}.${image.ext}`;
  const tmp = path.join(uploadDir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(image.buffer);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path.join(uploadDir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return name;
}
