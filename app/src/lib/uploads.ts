import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/** Stored names are `<sha256 of content>.<ext>`; nothing else is ever served. */
export const UPLOAD_NAME = /^[a-f0-9]{64}\.(jpg|png|webp|gif)$/;

export type ImageExt = 'jpg' | 'png' | 'webp' | 'gif';

const MIME_TYPES: Record<ImageExt, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
};

const startsWith = (buf: Buffer, bytes: number[], at = 0): boolean =>
  bytes.every((b, i) => buf[at + i] === b);

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Identifies the image format from its first bytes, whatever the client claimed. */
export function detectImage(buf: Buffer): ImageExt | undefined {
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpg';
  if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(buf, ascii('GIF87a')) || startsWith(buf, ascii('GIF89a'))) return 'gif';
  if (startsWith(buf, ascii('RIFF')) && startsWith(buf, ascii('WEBP'), 8)) return 'webp';
  return undefined;
}

export interface UploadedFile {
  buffer: Buffer;
  mimetype: string;
}

/** Returns an error message for a file that is not an accepted image, else undefined. */
export function imageProblem(file: UploadedFile): string | undefined {
  const ext = detectImage(file.buffer);
  if (!ext || !Object.values(MIME_TYPES).includes(file.mimetype)) {
    return 'Photo must be a JPEG, PNG, WebP or GIF image';
  }
  return undefined;
}

/**
 * Stores an image on the shared folder under its content hash. The bytes go to a
 * temporary file in the same folder first and are renamed into place, so other
 * servers never see a half-written file; identical uploads share one file.
 */
export async function storeImage(uploadDir: string, buf: Buffer): Promise<string> {
  const ext = detectImage(buf);
  if (!ext) throw new Error('storeImage: not an accepted image');
  const name = `${createHash('sha256').update(buf).digest('hex')}.${ext}`;
  const tmp = path.join(uploadDir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(buf);
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
