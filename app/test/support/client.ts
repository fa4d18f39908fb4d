import assert from 'node:assert/strict';
import http from 'node:http';

/** A minimal browser stand-in: a cookie jar, CSRF tokens taken from the last page. */
export class Client {
  private jar = new Map<string, string>();
  /**
   * Sent as X-Forwarded-For, as the one balancer in front passes it on (what the client
   * sent, then the address the balancer saw): the app takes the last entry as the client's.
   */
  forwardedFor?: string;

  constructor(public baseUrl: string) {}

  /** The Cookie header this client sends. */
  get cookie(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  set cookie(header: string) {
    this.jar = new Map(
      header
        .split(';')
        .map((p) => p.trim())
        .filter(Boolean)
        .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as [string, string]),
    );
  }

  cookieNamed(name: string): string | undefined {
    return this.jar.get(name);
  }

  async get(path: string): Promise<Response> {
    return this.send(path, { method: 'GET' });
  }

  async text(path: string): Promise<string> {
    const res = await this.get(path);
    assert.equal(res.status, 200, `GET ${path}`);
    return res.text();
  }

  /**
   * Loads `formPage`, then posts `fields` (plus its CSRF token) to `action`. Forms with
   * a file go as multipart, with the token in the query string as the app's forms do.
   */
  async submit(formPage: string, action: string, fields: Record<string, string | Blob>): Promise<Response> {
    const token = csrfToken(await this.text(formPage));
    return this.post(action, fields, token);
  }

  /** Posts `fields` with the given CSRF token (none when undefined). */
  async post(action: string, fields: Record<string, string | Blob>, token?: string): Promise<Response> {
    const hasFile = Object.values(fields).some((v) => v instanceof Blob);
    const body = hasFile ? new FormData() : new URLSearchParams();
    if (token) body.append('_csrf', token);
    for (const [k, v] of Object.entries(fields)) {
      if (typeof v === 'string') body.append(k, v);
      else (body as FormData).append(k, v, 'photo.png');
    }
    const url = hasFile && token ? `${action}${action.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(token)}` : action;
    return this.send(url, { method: 'POST', body });
  }

  async login(username: string, password: string): Promise<void> {
    const res = await this.submit('/login', '/login', { username, password });
    assert.equal(res.status, 303, `sign-in as ${username} should redirect`);
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.jar.size) headers.cookie = this.cookie;
    if (this.forwardedFor) headers['x-forwarded-for'] = this.forwardedFor;
    const res = await fetch(`${this.baseUrl}${path}`, { ...init, redirect: 'manual', headers });
    for (const set of res.headers.getSetCookie()) {
      const pair = set.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      // Expired (cleared) cookies are dropped, as a browser would.
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(set)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
}

export function csrfToken(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html) ?? /_csrf=([^"&]+)"/.exec(html);
  assert.ok(m?.[1], 'page has a CSRF token');
  return decodeURIComponent(m[1]);
}

/** The id in a redirect such as /customers/42. */
export function redirectId(res: Response, prefix: string): number {
  const location = res.headers.get('location') ?? '';
  const m = new RegExp(`^${prefix}/(\\d+)$`).exec(location);
  assert.ok(m?.[1], `expected a redirect to ${prefix}/<id>, got ${res.status} ${location}`);
  return Number(m[1]);
}

/**
 * Starts a POST and leaves its body to the caller (req.write/req.end, or nothing), to
 * see what the server does before the body has arrived. Errors after the answer (the
 * server closing an unfinished upload) are expected and ignored.
 */
export function openPost(baseUrl: string, path: string, headers: http.OutgoingHttpHeaders): { req: http.ClientRequest; status: Promise<number> } {
  const { hostname, port } = new URL(baseUrl);
  const req = http.request({ hostname, port, method: 'POST', path, headers });
  let answered = false;
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      resolve(res.resume().statusCode ?? 0);
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
  });
  return { req, status };
}
