// The live output of a job inside a container: GET …/jobs/{id}/stream is a
// text/event-stream (`output` {level, stream, text} for each line, then `end`
// {success}, or `error` {code, message}). It needs the bearer token, so it is
// read with fetch() and parsed with the SSE parser of the live events.

import { ApiError, authHeaders, parseError } from './api.js';
import { SseParser } from './events.js';

/**
 * followOutput(path, {onOutput, signal}) reads the stream at `path`
 * (…/jobs/{id}/stream, with `?attach=true` for a job already followed):
 * onOutput({stream, text, level}) for each line; resolves to {success} at the
 * end; rejects with an ApiError for an HTTP error, an `error` event, a stream
 * that closes early (code "stream_closed"), or an abort (code "aborted").
 */
export async function followOutput(path, { onOutput, signal = null }) {
  let res;
  try {
    res = await fetch(path, {
      headers: { Accept: 'text/event-stream', ...authHeaders() },
      cache: 'no-store',
      signal,
    });
  } catch {
    if (signal && signal.aborted) throw aborted();
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check your connection.');
  }
  if (!res.ok) throw await parseError(res);
  if (!res.body) throw new ApiError(res.status, 'bad_response', 'The server sent no stream.');

  let outcome = null; // {success} or an ApiError
  const parser = new SseParser((ev) => {
    let data = null;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return; // not ours
    }
    if (ev.type === 'output' && data && typeof data.text === 'string') {
      onOutput({ stream: data.stream === 'stderr' ? 'stderr' : 'stdout', text: data.text, level: data.level });
    } else if (ev.type === 'end' && outcome === null) {
      outcome = { success: !!(data && data.success) };
    } else if (ev.type === 'error' && outcome === null) {
      outcome = new ApiError(502, (data && data.code) || 'stream_error', (data && data.message) || 'The job’s output could not be read.');
    }
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (outcome === null) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
  } catch {
    if (signal && signal.aborted) throw aborted();
    throw new ApiError(0, 'stream_closed', 'The output stream was cut off.');
  } finally {
    reader.cancel().catch(() => {});
  }
  if (outcome === null) throw new ApiError(0, 'stream_closed', 'The output stream ended before the job did.');
  if (outcome instanceof ApiError) throw outcome;
  return outcome;
}

const aborted = () => new ApiError(0, 'aborted', 'No longer followed.');
