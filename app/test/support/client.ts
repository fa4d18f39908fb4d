import assert from 'node:assert/strict';

/** A minimal browser stand-in: one cookie jar, CSRF tokens taken from the last page. */
export class Client {
  cookie = '';

  constructor(public baseUrl: string) {}

  async get(path: string): Promise<Response> {
    return this.send(path, { method: 'GET' });
  }

  async text(path: string): Promise<string> {
    const res = await this.get(path);
    assert.equal(res.status, 200, `GET ${path}`);
    return res.text();
  }

  /** Loads `formPage`, then posts `fields` (plus its CSRF token) to `action`. */
  async submit(formPage: string, action: string, fields: Record<string, string | Blob>): Promise<Response> {
    const token = csrfToken(await this.text(formPage));
    const hasFile = Object.values(fields).some((v) => v instanceof Blob);
    const body = hasFile ? new FormData() : new URLSearchParams();
    body.append('_csrf', token);
    for (const [k, v] of Object.entries(fields)) {
      if (typeof v === 'string') body.append(k, v);
      else (body as FormData).append(k, v, 'photo.png');
    }
    return this.send(action, { method: 'POST', body });
  }

  async login(username: string, password: string): Promise<void> {
    const res = await this.submit('/login', '/login', { username, password });
    assert.equal(res.status, 303, `sign-in as ${username} should redirect`);
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      ...init,
      redirect: 'manual',
      headers: this.cookie ? { cookie: this.cookie } : {},
    });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0] ?? '';
    return res;
  }
}

export function csrfToken(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(m?.[1], 'page has a CSRF token');
  return m[1];
}

/** The id in a redirect such as /customers/42. */
export function redirectId(res: Response, prefix: string): number {
  const location = res.headers.get('location') ?? '';
  const m = new RegExp(`^${prefix}/(\\d+)$`).exec(location);
  assert.ok(m?.[1], `expected a redirect to ${prefix}/<id>, got ${res.status} ${location}`);
  return Number(m[1]);
}
