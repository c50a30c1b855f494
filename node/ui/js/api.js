// The API client and the session. The token lives in sessionStorage: it is
// gone when the tab closes, and never leaves this origin.

const TOKEN_KEY = 'vexil.token';
const ROLES = ['sdk', 'viewer', 'editor', 'admin'];

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  /** `{name, role}` from `GET /v1/me`. */
  me: null,
  /** Called when the API says the token is unknown (revoked, or a typo). */
  onUnauthorized: () => {},
};

export function setToken(token) {
  session.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function signOut() {
  setToken(null);
  session.me = null;
}

/** Whether the signed-in token's role allows `role`. */
export function can(role) {
  if (!session.me) return false;
  return ROLES.indexOf(session.me.role) >= ROLES.indexOf(role);
}

/** An API error: the status plus the JSON body `{error, message, field?, errors?}`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.error || String(status);
  }

  /** Every field problem, as `[{field, message}]`. */
  get fieldErrors() {
    if (this.body.errors?.length) return this.body.errors;
    if (this.body.field) return [{ field: this.body.field, message: this.body.message, code: this.body.error }];
    return [];
  }
}

/**
 * Calls the API. Resolves to the parsed JSON body (and `etag`); rejects with
 * an ApiError for a non-2xx answer, or a plain Error when the node is
 * unreachable.
 */
export async function api(method, path, { body, headers = {}, token = session.token } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new Error(`Cannot reach the node: ${e.message}`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data);
    if (resp.status === 401 && token === session.token && session.token) session.onUnauthorized(err);
    throw err;
  }
  if (data && typeof data === 'object') {
    Object.defineProperty(data, 'etag', { value: resp.headers.get('ETag'), enumerable: false });
  }
  return data;
}

export const get = (path) => api('GET', path);

/** A query string from an object, skipping empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Every page of a cursor-paged list, up to `max` items. */
export async function getAll(path, listKey, params = {}, max = 5000) {
  const out = [];
  let cursor = null;
  do {
    const page = await get(`${path}${qs({ ...params, limit: 1000, cursor })}`);
    out.push(...page[listKey]);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

/** A sentence explaining an error to a person. */
export function explain(err) {
  if (!(err instanceof ApiError)) return err.message || String(err);
  if (err.status === 403) {
    const me = session.me ? ` You are signed in as ${session.me.name} with the ${session.me.role} role.` : '';
    return `Not allowed: ${err.message}.${me}`;
  }
  return err.message;
}
