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

/** The ApiError of a response that is not ok (its JSON error body, or a fallback by status). */
export async function parseError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  return errorFromBody(res.status, body);
}

function errorFromBody(status, body) {
  if (body && typeof body === 'object' && typeof body.message === 'string') {
    return new ApiError(status, body.code, body.message, body.field);
  }
  const fallback = {
    400: 'The request was invalid.',
    401: 'The token is missing, invalid or revoked.',
    403: 'Your role does not allow this action.',
    404: 'Not found.',
    409: 'Conflict: the resource already exists or was changed.',
    413: 'The request is too large.',
    415: 'Unsupported content type.',
  }[status];
  return new ApiError(status, 'http_error', fallback || `Request failed (HTTP ${status}).`);
}

/**
 * request('GET', '/nodes') → parsed JSON (or null for 204).
 * options.token overrides the stored token (used on sign-in);
 * options.auth=false sends no Authorization header;
 * options.silent401=true does not trigger the global sign-out;
 * options.full=true resolves to {status, body, location} instead.
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
  let parsed = null;
  const text = res.status === 204 ? '' : await res.text();
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad_response', 'The server sent a response that is not JSON.');
    }
  }
  // options.full: the status and Location too (201 applied vs 202 accepted with a job to follow).
  if (options.full) return { status: res.status, body: parsed, location: res.headers.get('Location') };
  return parsed;
}

const enc = encodeURIComponent;

export const api = {
  whoami: (token) => request('GET', '/auth/whoami', undefined, { token, silent401: !!token }),
  health: () => request('GET', '/health', undefined, { auth: false }),
  // fields: the `?fields=` list of the summary view (no inventory), for the Nodes table.
  listNodes: (fields) => request('GET', fields ? `/nodes?fields=${enc(fields)}` : '/nodes'),
  createNode: (node) => request('POST', '/nodes', node),
  patchNode: (id, patch) => request('PATCH', `/nodes/${enc(id)}`, patch),
  deleteNode: (id) => request('DELETE', `/nodes/${enc(id)}`),
  getNode: (id) => request('GET', `/nodes/${enc(id)}`),
  nodeStats: (id) => request('GET', `/nodes/${enc(id)}/stats`),
  /** → HealthCheck[] (the reference's shape) */
  nodeHealth: (id) => request('GET', `/health/nodes/${enc(id)}`),
  nodeJobs: (id) => request('GET', `/nodes/${enc(id)}/jobs`),
  nodeProcesses: (id) => request('GET', `/nodes/${enc(id)}/processes`),
  pingNode: (id) => request('POST', `/nodes/${enc(id)}/ping`),
  rebootNode: (id) => request('POST', `/nodes/${enc(id)}/reboot`),
  listContainers: (node) => request('GET', `/nodes/${enc(node)}/containers`),
  getContainer: (node, name) => request('GET', containerPath(node, name)),
  /** → {status: 201, body: ContainerView} or {status: 202, body: Job} */
  createContainer: (node, spec) => request('POST', `/nodes/${enc(node)}/containers`, spec, { full: true }),
  deleteContainer: (node, name) => request('DELETE', containerPath(node, name), undefined, { full: true }),
  startContainer: (node, name) => request('POST', `${containerPath(node, name)}/start`, undefined, { full: true }),
  stopContainer: (node, name) => request('POST', `${containerPath(node, name)}/stop`, undefined, { full: true }),
  containerProcesses: (node, name) => request('GET', `${containerPath(node, name)}/processes`),
  killContainerProcess: (node, name, pid) => request('DELETE', `${containerPath(node, name)}/processes/${enc(pid)}`),
  containerJobs: (node, name) => request('GET', `${containerPath(node, name)}/jobs`),
  /** → {id} of the job started in the container */
  startContainerJob: (node, name, process) => request('POST', `${containerPath(node, name)}/jobs`, process),
  containerJob: (node, name, id) => request('GET', `${containerPath(node, name)}/jobs/${enc(id)}`),
  killContainerJob: (node, name, id) => request('DELETE', `${containerPath(node, name)}/jobs/${enc(id)}`),
  listVms: (node) => request('GET', vmPath(node)),
  getVm: (node, id) => request('GET', vmPath(node, id)),
  /** → {status: 201, body: VmView} or {status: 202, body: Job} */
  createVm: (node, spec) => request('POST', vmPath(node), spec, { full: true }),
  /** {memory, cpu, nics, disks}, only while the VM is halted → 204 */
  updateVm: (node, id, update) => request('PUT', vmPath(node, id), update),
  deleteVm: (node, id) => request('DELETE', vmPath(node, id), undefined, { full: true }),
  /** action: start | stop | shutdown (→ 204, or 202 with a job) | pause | resume (→ 204) */
  vmAction: (node, id, action) => request('POST', `${vmPath(node, id)}/${enc(action)}`, undefined, { full: true }),
  /** → {cpu: [percent per vCPU], disk: [{iops_read, iops_write, read, write}], net: [{rxPackets, txPackets, rxThroughput, txThroughput}]}, beside the reference's disks[] and nics[] */
  vmInfo: (node, id) => request('GET', `${vmPath(node, id)}/info`),
  listGateways: (node) => request('GET', gatewayPath(node)),
  /** → {status: 201, body: GatewayView} or {status: 202, body: Job} */
  createGateway: (node, spec) => request('POST', gatewayPath(node), spec, { full: true }),
  deleteGateway: (node, name) => request('DELETE', gatewayPath(node, name), undefined, { full: true }),
  /** action: start (→ 201) | stop (→ 204); 202 with a job when the node is slow */
  gatewayAction: (node, name, action) => request('POST', `${gatewayPath(node, name)}/${enc(action)}`, undefined, { full: true }),
  /** → {status: 201, body: PortForward} or {status: 202, body: Job} */
  addGatewayForward: (node, name, forward) => request('POST', `${gatewayPath(node, name)}/firewall/forwards`, forward, { full: true }),
  /** id: `srcip:srcport` (the colon stays as it is: it separates the two in the path) */
  deleteGatewayForward: (node, name, id) => request('DELETE', `${gatewayPath(node, name)}/firewall/forwards/${id.split(':').map(enc).join(':')}`, undefined, { full: true }),
  listDisks: (node) => request('GET', `/nodes/${enc(node)}/disks`),
  listPools: (node) => request('GET', poolPath(node)),
  createPool: (node, spec) => request('POST', poolPath(node), spec, { full: true }),
  deletePool: (node, pool) => request('DELETE', poolPath(node, pool), undefined, { full: true }),
  poolDevices: (node, pool) => request('GET', `${poolPath(node, pool)}/devices`),
  /** → the names of the pool's filesystems */
  listFilesystems: (node, pool) => request('GET', fsPath(node, pool)),
  getFilesystem: (node, pool, fs) => request('GET', fsPath(node, pool, fs)),
  createFilesystem: (node, pool, spec) => request('POST', fsPath(node, pool), spec, { full: true }),
  deleteFilesystem: (node, pool, fs) => request('DELETE', fsPath(node, pool, fs), undefined, { full: true }),
  /** → the names of the filesystem's snapshots */
  listSnapshots: (node, pool, fs) => request('GET', `${fsPath(node, pool, fs)}/snapshots`),
  getSnapshot: (node, pool, fs, snap) => request('GET', `${fsPath(node, pool, fs)}/snapshots/${enc(snap)}`),
  createSnapshot: (node, pool, fs, spec) => request('POST', `${fsPath(node, pool, fs)}/snapshots`, spec, { full: true }),
  deleteSnapshot: (node, pool, fs, snap) => request('DELETE', `${fsPath(node, pool, fs)}/snapshots/${enc(snap)}`, undefined, { full: true }),
  rollbackSnapshot: (node, pool, fs, snap) => request('POST', `${fsPath(node, pool, fs)}/snapshots/${enc(snap)}/rollback`, undefined, { full: true }),
  listBridges: (node) => request('GET', `/nodes/${enc(node)}/bridges`),
  createBridge: (node, spec) => request('POST', `/nodes/${enc(node)}/bridges`, spec, { full: true }),
  deleteBridge: (node, name) => request('DELETE', `/nodes/${enc(node)}/bridges/${enc(name)}`, undefined, { full: true }),
  listNodeZerotiers: (node) => request('GET', `/nodes/${enc(node)}/zerotiers`),
  joinZerotier: (node, spec) => request('POST', `/nodes/${enc(node)}/zerotiers`, spec, { full: true }),
  leaveZerotier: (node, nwid) => request('DELETE', `/nodes/${enc(node)}/zerotiers/${enc(nwid)}`, undefined, { full: true }),
  listJobs: () => request('GET', '/jobs'),
  listStorageClusters: () => request('GET', '/storageclusters'),
  getStorageCluster: (label) => request('GET', `/storageclusters/${enc(label)}`),
  // full: 201 (deployed) or 202 (still deploying, with its job).
  createStorageCluster: (body) => request('POST', '/storageclusters', body, { full: true }),
  deleteStorageCluster: (label) => request('DELETE', `/storageclusters/${enc(label)}`),
  listVdiskStorages: () => request('GET', '/vdiskstorage'),
  createVdiskStorage: (body) => request('POST', '/vdiskstorage', body),
  deleteVdiskStorage: (id) => request('DELETE', `/vdiskstorage/${enc(id)}`),
  listVdisks: (storage) => request('GET', `/vdiskstorage/${enc(storage)}/vdisks`),
  createVdisk: (storage, body) => request('POST', `/vdiskstorage/${enc(storage)}/vdisks`, body),
  deleteVdisk: (storage, id) => request('DELETE', `/vdiskstorage/${enc(storage)}/vdisks/${enc(id)}`),
  resizeVdisk: (storage, id, body) => request('POST', `/vdiskstorage/${enc(storage)}/vdisks/${enc(id)}/resize`, body),
  rollbackVdisk: (storage, id, body) => request('POST', `/vdiskstorage/${enc(storage)}/vdisks/${enc(id)}/rollback`, body),
  listImages: (storage) => request('GET', `/vdiskstorage/${enc(storage)}/images`),
  importImage: (storage, body) => request('POST', `/vdiskstorage/${enc(storage)}/images`, body, { full: true }),
  deleteImage: (storage, name) => request('DELETE', `/vdiskstorage/${enc(storage)}/images/${enc(name)}`, undefined, { full: true }),
  getJob: (id) => request('GET', `/jobs/${enc(id)}`),
  listZeroTierMembers: () => request('GET', '/zerotier/members'),
  authorizeZeroTierMember: (id) => request('POST', `/zerotier/members/${enc(id)}/authorize`),
  bootEvents: (limit = 50) => request('GET', `/boot/events?limit=${enc(limit)}`),
  /** The audit log, newest first; params: {limit, outcome, actor, method, path, since, until, before} (empty ones left out). */
  listAudit: (params) => request('GET', `/audit?${new URLSearchParams(Object.entries(params).filter(([, v]) => v))}`),
  bootSettings: () => request('GET', '/boot/settings'),
  putBootSettings: (settings) => request('PUT', '/boot/settings', settings),
  listBootProfiles: () => request('GET', '/boot/profiles'),
  createBootProfile: (profile) => request('POST', '/boot/profiles', profile),
  replaceBootProfile: (name, profile) => request('PUT', `/boot/profiles/${enc(name)}`, profile),
  deleteBootProfile: (name) => request('DELETE', `/boot/profiles/${enc(name)}`),
  listWebhooks: () => request('GET', '/webhooks'),
  getWebhook: (name) => request('GET', `/webhooks/${enc(name)}`),
  createWebhook: (hook) => request('POST', '/webhooks', hook),
  deleteWebhook: (name) => request('DELETE', `/webhooks/${enc(name)}`),
  listBootSelectors: () => request('GET', '/boot/selectors'),
  createBootSelector: (selector) => request('POST', '/boot/selectors', selector),
  deleteBootSelector: (name) => request('DELETE', `/boot/selectors/${enc(name)}`),
  listBootAssets: () => request('GET', '/boot/assets'),
  uploadBootAsset: (name, file, options) => upload('PUT', `/boot/assets/${enc(name)}`, file, options),
  deleteBootAsset: (name) => request('DELETE', `/boot/assets/${enc(name)}`),
};

/** The API path of a container. */
export function containerPath(node, name) {
  return `/nodes/${enc(node)}/containers/${enc(name)}`;
}

/** The API path of a node's VMs, or of one. */
function gatewayPath(node, name = null) {
  return `/nodes/${enc(node)}/gws${name === null ? '' : `/${enc(name)}`}`;
}

function vmPath(node, id = null) {
  return `/nodes/${enc(node)}/vms${id === null ? '' : `/${enc(id)}`}`;
}

/** The API path of a node's storage pools, or of one. */
function poolPath(node, pool = null) {
  return `/nodes/${enc(node)}/storagepools${pool === null ? '' : `/${enc(pool)}`}`;
}

/** The API path of a pool's filesystems, or of one. */
function fsPath(node, pool, fs = null) {
  return `${poolPath(node, pool)}/filesystems${fs === null ? '' : `/${enc(fs)}`}`;
}

/** Public URL of a boot asset (no token needed: firmware downloads it). */
export function bootAssetUrl(name) {
  return `/boot/assets/${enc(name)}`;
}

/**
 * Public URL of a boot medium (no token: fetched by hand or by provisioning tools):
 * /<kind>/<release>[/<network>[/<args>]][?profile=], the segments as /ipxe/… takes them.
 */
export function bootMediaUrl({ kind, release, network, args, profile }) {
  let path = `/${enc(kind)}/${enc(release)}`;
  if (network || args) path += `/${enc(network || '0')}`;
  if (args) path += `/${enc(args)}`;
  return profile ? `${path}?profile=${enc(profile)}` : path;
}

/**
 * What the server says about the boot medium at `url` without sending it (HEAD):
 * {bytes, filename, script (the URL its iPXE chains to), note (what it cannot do alone) | null}.
 * A refusal is the ApiError of the same GET (a HEAD answer has no body to name the field).
 */
export async function bootMediaInfo(url) {
  let res;
  try {
    res = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    if (!res.ok) res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check your connection.');
  }
  if (!res.ok) throw await parseError(res);
  const disposition = res.headers.get('Content-Disposition') || '';
  const filename = /filename="([^"]+)"/.exec(disposition);
  return {
    bytes: Number(res.headers.get('Content-Length')),
    filename: filename ? filename[1] : null,
    script: res.headers.get('X-Boot-Script'),
    note: res.headers.get('X-Boot-Media-Note'),
  };
}

/**
 * upload('PUT', '/boot/assets/x', file, {onProgress, signal}) → {status, body}
 * Sends the raw file (application/octet-stream) with XMLHttpRequest, the only
 * browser API that reports upload progress: onProgress(loaded, total).
 * Errors are ApiErrors like request()'s; an aborted upload throws one with
 * code "aborted".
 */
export function upload(method, path, file, { onProgress = null, signal = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const aborted = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    if (signal && signal.aborted) {
      aborted();
      return;
    }
    xhr.open(method, path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    if (onProgress) {
      xhr.upload.addEventListener('progress', (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : file.size));
    }
    xhr.addEventListener('abort', aborted);
    xhr.addEventListener('error', () =>
      reject(new ApiError(0, 'network_error', 'Cannot reach the server. Check your connection.')),
    );
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.status, body });
        return;
      }
      const err = errorFromBody(xhr.status, body);
      if (xhr.status === 401) unauthorizedHandler(err);
      reject(err);
    });
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

/** Roles that may change nodes. */
export function canMutate(role) {
  return role === 'operator' || role === 'admin';
}
