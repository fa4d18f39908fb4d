import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import type { FieldErrors } from './validation.js';
import { imageProblem, MAX_UPLOAD_BYTES, storeImage } from './uploads.js';

const upload = multer({
  // Kept in memory (at most 5 MB) so the content can be checked and hashed before
  // anything touches the shared folder.
  storage: multer.memoryStorage(),
  limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 50, fieldSize: 64 * 1024 },
}).single('photo');

/**
 * Parses multipart forms (the only kind that carries a photo). A rejected file does
 * not fail the request: the reason is kept for the form, which is shown again.
 */
export const parseMultipart: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  if (!req.is('multipart/form-data')) return next();
  upload(req, res, (err: unknown) => {
    if (err instanceof multer.MulterError) {
      res.locals.uploadError =
        err.code === 'LIMIT_FILE_SIZE' ? 'Photo must be at most 5 MB' : `Upload refused: ${err.message}`;
      return next();
    }
    next(err);
  });
};

/** Problems with the submitted photo, as form errors (empty when fine or absent). */
export function photoErrors(req: Request, res: Response): FieldErrors {
  const problem = res.locals.uploadError ?? (req.file && req.file.size > 0 ? imageProblem(req.file) : undefined);
  return problem ? { photo: problem } : {};
}

/** Stores the submitted photo (already checked by photoErrors) and returns its name, or null if none. */
export async function savePhoto(req: Request, uploadDir: string): Promise<string | null> {
  return req.file && req.file.size > 0 ? storeImage(uploadDir, req.file.buffer) : null;
}
