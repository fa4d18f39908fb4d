import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { Client, openPost } from './support/client.js';
import { createDatabase } from './support/db.js';
import sharp from 'sharp';
import { createCompany, createCustomer, photoUrl } from './support/fixtures.js';
import { solidPng } from './support/images.js';

/** GET with the path sent exactly as written (fetch would normalise `../`). */
function rawGet(baseUrl: string, rawPath: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(baseUrl);
    http
      .get({ hostname, port, path: rawPath, headers: { cookie } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('photo uploads', () => {
  let app: AppProcess;
  let client: Client;
  let databaseUrl: string;
  let uploadDir: string;
  let companyId: number;

  before(async () => {
    databaseUrl = await createDatabase('uploads');
    uploadDir = tempDir('uploads');
    app = await AppProcess.startHealthy(databaseUrl, uploadDir);
    client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    companyId = await createCompany(client, databaseUrl, 'Upload Co');
  });
  after(() => app.stop());

  const storedFiles = () => readdirSync(uploadDir).filter((f) => !f.startsWith('.healthz-'));

  async function rejectedWith(photo: Blob): Promise<string> {
    const before = storedFiles();
    const res = await client.submit('/customers/new', '/customers', { name: 'Bad Photo', company_id: String(companyId), photo });
    assert.equal(res.status, 422, 'form shown again');
    assert.deepEqual(storedFiles(), before, 'nothing was written to the upload folder');
    return res.text();
  }

  it('rejects a text file disguised as a PNG', async () => {
    const html = await rejectedWith(new Blob(['just some text, not an image'], { type: 'image/png' }));
    assert.match(html, /Photo must be a JPEG, PNG, WebP or GIF image/);
  });

  it('rejects a file over 5 MB, even with a PNG header', async () => {
    const big = Buffer.concat([solidPng(1, 1, [0, 0, 0]), Buffer.alloc(5 * 1024 * 1024)]);
    const html = await rejectedWith(new Blob([new Uint8Array(big)], { type: 'image/png' }));
    assert.match(html, /Photo must be at most 5 MB/);
  });

  it('rejects a GIF header followed by an HTML page', async () => {
    const polyglot = Buffer.concat([Buffer.from('GIF89a'), Buffer.from('<html><script>alert(document.cookie)</script></html>')]);
    const html = await rejectedWith(new Blob([new Uint8Array(polyglot)], { type: 'image/gif' }));
    assert.match(html, /Photo must be a JPEG, PNG, WebP or GIF image/);
  });

  it('re-encodes photos: EXIF metadata (e.g. GPS position) is not stored', async () => {
    const withExif = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3366cc' } })
      .jpeg()
      .withExif({ IFD0: { Copyright: 'secret-location-48.85N' } })
      .toBuffer();
    assert.ok(withExif.includes('secret-location'), 'the test image carries the metadata');
    const customerId = await createCustomer(client, companyId, 'Exif Photo', new Blob([new Uint8Array(withExif)], { type: 'image/jpeg' }));
    const stored = readFileSync(path.join(uploadDir, (await photoUrl(client, customerId)).slice('/uploads/'.length)));
    assert.ok(!stored.includes('secret-location'), 'metadata dropped');
    const meta = await sharp(stored).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.exif], ['jpeg', 40, 30, undefined]);
  });

  it('reads no multipart body before the sign-in and CSRF checks pass', async () => {
    const signedIn = client.cookie;
    for (const [who, cookie] of [['anonymous', ''], ['signed in, no token', signedIn]] as const) {
      const { req, status } = openPost(app.url, '/customers', {
        cookie,
        'content-type': 'multipart/form-data; boundary=x',
        'content-length': 4 * 1024 * 1024,
      });
      // 64 kB of a declared 4 MB: the answer must come without the rest.
      req.write(Buffer.alloc(64 * 1024, 'a'));
      assert.equal(await status, 403, who);
      req.destroy();
    }
  });

  it('stores an accepted photo under its content hash', async () => {
    await createCustomer(client, companyId, 'Good Photo', new Blob([new Uint8Array(solidPng(8, 8, [1, 2, 3]))], { type: 'image/png' }));
    assert.equal(storedFiles().filter((f) => /^[a-f0-9]{64}\.png$/.test(f)).length, 1);
  });

  it('serves nothing outside the upload folder or under a non-hash name', async () => {
    writeFileSync(path.join(uploadDir, 'secret.png'), 'not for you');
    const attempts = [
      '/uploads/../package.json',
      '/uploads/..%2F..%2Fpackage.json',
      '/uploads/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/uploads/..%5C..%5Cetc%5Cpasswd',
      '/uploads/secret.png',
      `/uploads/${'a'.repeat(64)}.png/../../etc/passwd`,
    ];
    for (const attempt of attempts) {
      assert.equal(await rawGet(app.url, attempt, client.cookie), 404, attempt);
    }
  });

  it('serves photos to signed-in users only', async () => {
    const name = storedFiles().find((f) => /^[a-f0-9]{64}\.png$/.test(f));
    assert.ok(name);
    assert.equal(await rawGet(app.url, `/uploads/${name}`, client.cookie), 200);
    const res = await client.get(`/uploads/${name}`);
    assert.equal(res.headers.get('cache-control'), 'private, max-age=31536000, immutable', 'no shared cache keeps a copy');
    assert.equal(await rawGet(app.url, `/uploads/${name}`, ''), 303);
  });
});
