import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import type { FieldErrors } from './validation.js';
import { BusyError } from './cpuQueue.js';
import { cleanImage, IMAGE_PROBLEM, MAX_UPLOAD_BYTES, storeImage } from './uploads.js';

const upload = multer({
  // Kept in memory (at most 5 MB) so the content can be decoded before anything
  // touches the shared folder. Only reached by signed-in users whose CSRF token
  // matched (see app.ts), so strangers cannot make the server buffer anything.
  storage: multer.memoryStorage(),
  limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 50, fieldSize: 64 * 1024 },
}).fields([
  { name: 'photo', maxCount: 1 },
  // The customer import's CSV file (same 5 MB limit).
  { name: 'csv', maxCount: 1 },
]);

type UploadedFiles = Record<string, Express.Multer.File[] | undefined>;

function parse(req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) =>
    upload(req, res, (err: unknown) => {
      if (err instanceof multer.MulterError) {
        res.locals.uploadError = err.code === 'LIMIT_FILE_SIZE' ? 'Photo must be at most 5 MB' : `Upload refused: ${err.message}`;
        return resolve();
      }
      return err ? reject(err) : resolve();
    }),
  );
}

/**
 * Parses multipart forms (the only kind that carries a photo) and re-encodes the photo.
 * A refused photo does not fail the request: the reason is kept for the form.
 */
export const parseMultipart: RequestHandler = async (req: Request, res: Response, next: NextFunction) => {
  if (!req.is('multipart/form-data')) return next();
  await parse(req, res);
  const files = (req.files ?? {}) as UploadedFiles;
  const csv = files.csv?.[0];
  if (csv && csv.size > 0) res.locals.csvFile = csv.buffer;
  const photo = files.photo?.[0];
  if (!res.locals.uploadError && photo && photo.size > 0) {
    try {
      const clean = await cleanImage(photo.buffer);
      if (clean) res.locals.photo = clean;
      else res.locals.uploadError = IMAGE_PROBLEM;
    } catch (err) {
      if (!(err instanceof BusyError)) throw err;
      res.locals.uploadError = 'The server is busy processing photos; please try again in a moment';
    }
  }
  next();
};

/** Problems with the submitted photo, as form errors (empty when fine or absent). */
export function photoErrors(_req: Request, res: Response): FieldErrors {
  return res.locals.uploadError ? { photo: res.locals.uploadError } : {};
}

/** Stores the submitted photo (already checked by photoErrors) and returns its name, or null if none. */
export async function savePhoto(res: Response, uploadDir: string): Promise<string | null> {
  return res.locals.photo ? storeImage(uploadDir, res.locals.photo) : null;
}
