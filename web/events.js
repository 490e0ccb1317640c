// Live store changes from GET /events (text/event-stream).
//
// EventSource cannot send an Authorization header, so the stream is read with
// fetch() and parsed here. Reconnects with exponential backoff (+ jitter) and
// resumes with Last-Event-ID.

import { authHeaders } from './api.js';

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/** Incremental text/event-stream parser (WHATWG "event stream interpretation"). */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.reset();
    this.lastEventId = '';
    this.retry = null;
    this.sawCR = false;
  }

  reset() {
    this.data = [];
    this.eventType = '';
    this.hasData = false;
  }

  push(chunk) {
    let text = chunk;
    // A CRLF split across chunks: drop the LF that follows a trailing CR.
    if (this.sawCR && text.startsWith('\n')) text = text.slice(1);
    this.sawCR = text.endsWith('\r');
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  dispatch() {
    if (this.hasData) {
      this.onEvent({
        type: this.eventType || 'message',
        data: this.data.join('\n'),
        id: this.lastEventId,
      });
    }
    this.reset();
  }
}

/**
 * new LiveEvents({onChange, onStatus, onUnauthorized})
 *   onChange(change)  — parsed JSON data of each event, e.g. {kind, collection, id}
 *   onOpen()          — each time the stream (re)connects, and on a `reset` event (the server no longer holds
 *                       changes we missed): either way, views re-read their state
 *   onStatus(state)   — 'connecting' | 'live' | 'reconnecting' | 'stopped'
 *   onUnauthorized()  — the server answered 401
 */
export class LiveEvents {
  constructor({ onChange, onOpen, onStatus, onUnauthorized } = {}) {
    this.onChange = onChange || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.onUnauthorized = onUnauthorized || (() => {});
    this.lastEventId = '';
    this.controller = null;
    this.running = false;
    this.state = 'stopped';
    this.backoff = MIN_BACKOFF_MS;
    this.serverRetry = null;
    this.wakeTimer = null;
    this.wake = null;
  }

  setState(state) {
    if (this.state !== state) {
      this.state = state;
      this.onStatus(state);
    }
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    if (this.controller) this.controller.abort();
    if (this.wake) this.wake();
    this.setState('stopped');
  }

  sleep(ms) {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.wakeTimer);
        this.wake = null;
        resolve();
      };
      this.wakeTimer = setTimeout(this.wake, ms);
    });
  }

  async loop() {
    let first = true;
    while (this.running) {
      this.setState(first ? 'connecting' : 'reconnecting');
      first = false;
      try {
        await this.connectOnce();
      } catch (err) {
        if (err && err.unauthorized) {
          this.running = false;
          this.setState('stopped');
          this.onUnauthorized();
          return;
        }
        // network error / aborted / bad status: fall through to backoff
      }
      if (!this.running) break;
      this.setState('reconnecting');
      const base = Math.max(this.serverRetry ?? 0, this.backoff);
      const delay = base / 2 + Math.random() * (base / 2);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      await this.sleep(delay);
    }
    this.setState('stopped');
  }

  async connectOnce() {
    this.controller = new AbortController();
    const headers = { Accept: 'text/event-stream', ...authHeaders() };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    const res = await fetch('/events', {
      headers,
      cache: 'no-store',
      signal: this.controller.signal,
    });
    if (res.status === 401) {
      const err = new Error('unauthorized');
      err.unauthorized = true;
      throw err;
    }
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);

    this.backoff = MIN_BACKOFF_MS;
    this.setState('live');
    this.onOpen();

    const parser = new SseParser((ev) => {
      if (ev.id) this.lastEventId = ev.id;
      if (ev.type === 'reset') {
        this.onOpen();
        return;
      }
      if (ev.type !== 'message') return;
      let change = null;
      try {
        change = JSON.parse(ev.data);
      } catch {
        return; // ignore malformed payloads
      }
      if (change && typeof change === 'object') this.onChange(change);
    });
    parser.lastEventId = this.lastEventId;

    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
        if (parser.retry !== null) this.serverRetry = parser.retry;
      }
    } finally {
      // The id of a partially received event is still remembered (per spec).
      if (parser.lastEventId) this.lastEventId = parser.lastEventId;
      try {
        reader.releaseLock();
      } catch {
        /* already released */
      }
    }
  }
}
