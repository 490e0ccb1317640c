// Thin client for the zos-orchestrator REST API (same origin).
// The bearer token lives in sessionStorage only; it is never put into URLs
// and never logged.

const TOKEN_KEY = 'zos.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable: nothing to clear */
  }
}

/** Error returned by the API: {code, message, field?} plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `Request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'http_error';
    this.field = field || null;
  }

  /** "message (field: x)" — what we show to people. */
  get display() {
    return this.field && !this.message.includes(this.field)
      ? `${this.message} (field: ${this.field})`
      : this.message;
  }
}

let unauthorizedHandler = () => {};

/** Called whenever any authenticated request gets a 401. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export function authHeaders(token = getToken()) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function parseError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (body && typeof body === 'object' && typeof body.message === 'string') {
    return new ApiError(res.status, body.code, body.message, body.field);
  }
  const fallback = {
    400: 'The request was invalid.',
    401: 'The token is missing, invalid or revoked.',
    403: 'Your role does not allow this action.',
    404: 'Not found.',
    409: 'Conflict: the resource already exists or was changed.',
    413: 'The request is too large.',
    415: 'Unsupported content type.',
  }[res.status];
  return new ApiError(res.status, 'http_error', fallback || `Request failed (HTTP ${res.status}).`);
}

/**
 * request('GET', '/nodes') → parsed JSON (or null for 204).
 * options.token overrides the stored token (used on sign-in);
 * options.auth=false sends no Authorization header;
 * options.silent401=true does not trigger the global sign-out.
 */
export async function request(method, path, body, options = {}) {
  const headers = { Accept: 'application/json' };
  if (options.auth !== false) Object.assign(headers, authHeaders(options.token ?? getToken()));
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check your connection.');
  }
  if (!res.ok) {
    const err = await parseError(res);
    if (res.status === 401 && options.auth !== false && !options.silent401) {
      unauthorizedHandler(err);
    }
    throw err;
  }
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent a response that is not JSON.');
  }
}

const enc = encodeURIComponent;

export const api = {
  whoami: (token) => request('GET', '/auth/whoami', undefined, { token, silent401: !!token }),
  health: () => request('GET', '/health', undefined, { auth: false }),
  listNodes: () => request('GET', '/nodes'),
  createNode: (node) => request('POST', '/nodes', node),
  patchNode: (id, patch) => request('PATCH', `/nodes/${enc(id)}`, patch),
  deleteNode: (id) => request('DELETE', `/nodes/${enc(id)}`),
};

/** Roles that may change nodes. */
export function canMutate(role) {
  return role === 'operator' || role === 'admin';
}
