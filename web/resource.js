// Data a view shows: fetched from the API, refreshed when live events say it
// changed, and drawn as a skeleton or an error until the first load succeeds.

import { h, replace } from './dom.js';
import { errorToast, emptyState, button, dataTable, confirmDelete, toast } from './ui.js';

/**
 * resource({name, fetcher, onChange, refreshMs, debounce, key})
 * - key: the field that names an item when the data is a list ('name'), for
 *   upsertItem, removeItem and deleteItem
 * - data: null until the first load, then what fetcher() resolved to
 * - error: the first load's error (later failures only toast)
 * - load(): fetches now (once more after an overlapping load ends)
 * - schedule(): loads after refreshMs (milliseconds, or a function giving
 *   them); bursts of changes load once, at most every refreshMs, or with
 *   `debounce` once refreshMs after the last one
 * - set(data): a local update (after our own change); retry(); stop()
 * onChange() runs after every load and set().
 */
export function resource({ name, fetcher, onChange, refreshMs, debounce = false, key = 'name' }) {
  const r = { name, key, data: null, error: null, inFlight: false, again: false, timer: null, stopped: false };
  r.load = async () => {
    if (r.stopped) return;
    if (r.inFlight) {
      r.again = true;
      return;
    }
    r.inFlight = true;
    try {
      const value = await fetcher();
      if (r.stopped) return;
      r.data = value;
      r.error = null;
    } catch (err) {
      if (r.stopped) return;
      if (err.status === 401) return; // global handler signs out
      if (r.data === null) r.error = err;
      else errorToast(err, `Could not refresh ${name}`);
    } finally {
      r.inFlight = false;
    }
    onChange();
    if (r.again) {
      r.again = false;
      r.load();
    }
  };
  r.schedule = () => {
    if (r.timer) {
      if (!debounce) return;
      clearTimeout(r.timer);
    }
    r.timer = setTimeout(
      () => {
        r.timer = null;
        r.load();
      },
      typeof refreshMs === 'function' ? refreshMs() : refreshMs,
    );
  };
  r.set = (value) => {
    r.data = value;
    r.error = null;
    onChange();
  };
  r.retry = () => {
    r.error = null;
    onChange();
    r.load();
  };
  r.stop = () => {
    r.stopped = true;
    clearTimeout(r.timer);
  };
  return r;
}

const LIVE_DEBOUNCE_MS = 100;

/**
 * watchLive(live, matches, onEvent): the one reader of the live feed's
 * messages. onEvent(change) runs for each change that matches(change)
 * accepts, and onEvent(null) when the event stream (re)connects (changes may
 * have been missed: catch up). Returns the function that unsubscribes.
 */
export function watchLive(live, matches, onEvent) {
  return live.subscribe((msg) => {
    if (msg.type === 'open') onEvent(null);
    else if (msg.type === 'change' && matches(msg.change)) onEvent(msg.change);
  });
}

/**
 * liveResource({live, matches, ...resource options}): a resource loaded
 * again (by default debounced) when a live change that matches(change)
 * accepts arrives or the event stream (re)connects; its stop() also ends the
 * subscription. Call load() for the first load.
 */
export function liveResource({ live, matches, refreshMs = LIVE_DEBOUNCE_MS, debounce = true, ...options }) {
  const r = resource({ ...options, refreshMs, debounce });
  const unsubscribe = watchLive(live, matches, () => r.schedule());
  const stop = r.stop;
  r.stop = () => {
    stop();
    unsubscribe();
  };
  return r;
}

/**
 * liveList(name, list, {live, collections, onChange, ...liveResource
 * options}): a liveResource of the list that list() fetches, following the
 * changes of `collections`.
 */
export function liveList(name, list, { live, collections, onChange, ...options }) {
  return liveResource({
    name,
    fetcher: async () => asList(await list()),
    onChange,
    live,
    matches: (change) => collections.includes(change.collection),
    ...options,
  });
}

/**
 * liveCards({body, what, empty, items, card, ...liveResource options}): a
 * liveResource drawn into `body` (kept as its `body`), one card(item) per
 * item, or listOrState's state (what, empty, items) while there are none;
 * drawn at once and after each load (none comes after stop()), and loaded
 * at once.
 */
export function liveCards({ body, what, empty, items, card, ...options }) {
  const r = liveResource({ ...options, onChange: draw });
  function draw() {
    const list = listOrState(r, body, { what, empty, items });
    if (list) replace(body, list.map(card));
  }
  r.body = body;
  draw();
  r.load();
  return r;
}

/** A list from the API, or [] for anything else (e.g. null before the first load). */
export const asList = (v) => (Array.isArray(v) ? v : []);

/** Adds or replaces the item whose key (r.key) matches (a local update after our own change). */
export function upsertItem(r, item, key = r.key) {
  if (!item || !item[key]) return;
  r.set([...asList(r.data).filter((x) => x[key] !== item[key]), item]);
}

/** Drops the item whose key (r.key) is `value` (no-op before the first load). */
export function removeItem(r, value, key = r.key) {
  if (r.data === null) return;
  r.set(r.data.filter((x) => x[key] !== value));
}

/** The "Delete …?" modal whose button ("Delete <what>") runs deleteItem(from, name, item). */
export function confirmDeleteItem(from, name, { title, text, ...item }) {
  return confirmDelete({ title, submitLabel: `Delete ${item.what.toLowerCase()}`, text, onConfirm: () => deleteItem(from, name, item) });
}

/**
 * deleteItem(from, name, {what, call, reload}): runs call(), the DELETE of
 * the item `name` of the list resource `from`; one that finds it gone
 * already (404) counts as done. Either way it is dropped from `from` at once
 * (with `reload`, for an item inside one of the list's items: the list is
 * read again), and a toast says which it was ("Node x deleted." / "Node x
 * was already deleted.").
 */
export async function deleteItem(from, name, { what, call, reload = false }) {
  const remove = () => (reload ? from.load() : removeItem(from, name));
  try {
    await call();
  } catch (err) {
    if (err.status !== 404) throw err;
    remove();
    toast(`${what} ${name} was already deleted.`, { type: 'info' });
    return;
  }
  remove();
  toast(`${what} ${name} deleted.`, { type: 'success' });
}

/**
 * Until the first load succeeds, shows a skeleton of `rows` lines or the
 * error with a retry button in `body`, and returns true; afterwards returns
 * false and leaves `body` alone. what: "nodes", "boot events" …
 */
export function showLoadState(r, body, what, { rows = 3 } = {}) {
  if (r.data !== null) return false;
  const slug = r.name.replace(/\s+/g, '-');
  if (r.error) {
    replace(
      body,
      emptyState({
        iconName: 'alert',
        title: `Could not load ${what}`,
        text: r.error.display || r.error.message,
        testid: `${slug}-error`,
        action: button('Try again', { iconName: 'refresh', onClick: () => r.retry() }),
      }),
    );
  } else {
    replace(
      body,
      h(
        'div',
        { class: 'skeleton', testid: `${slug}-loading`, 'aria-busy': 'true', 'aria-label': `Loading ${what}` },
        Array.from({ length: rows }, () => h('div', { class: 'skeleton-row' })),
      ),
    );
  }
  return true;
}

/**
 * The states a list view walks through before it has rows to draw: loading or failed, nothing yet, nothing
 * matching the filter. Draws whichever applies into `body` and returns null; otherwise returns the items to
 * draw. `items` orders or picks from the resource's data; `matches` and `noMatch` (a drawn node, usually
 * from the view's filter box) are given together or not at all.
 */
export function listOrState(r, body, { what, rows, empty, items = (data) => data, matches = null, noMatch = null }) {
  if (showLoadState(r, body, what, { rows })) return null;
  const all = items(r.data);
  if (all.length === 0) {
    replace(body, emptyState(empty));
    return null;
  }
  const visible = matches ? all.filter(matches) : all;
  if (visible.length === 0) {
    replace(body, noMatch());
    return null;
  }
  return visible;
}

/**
 * refreshTable({testid, name, fetcher, empty, columns, rows, actions}) →
 * {r, count, body, refresh}: a list the node is asked for (its processes,
 * its jobs; no live change says when it changed), read on load() and again
 * with the `refresh` button. `body` holds its load state, then a compact
 * table (rows(list) makes its rows) or the `empty` note; `count` is its size.
 * The caller frames the three in its card. testid: the stem of their testids
 * (and the resource's name); name: what it lists, in messages ("processes").
 */
export function refreshTable({ testid, name, fetcher, empty, columns, rows, actions = false }) {
  const count = h('span', { class: 'count-pill', testid: `${testid}-count` }, '…');
  const body = h('div', { class: 'node-table' });
  const r = resource({
    name: testid,
    fetcher: async () => asList(await fetcher()),
    onChange: () => {
      count.hidden = r.error !== null && r.data === null;
      count.textContent = r.data ? String(r.data.length) : '…';
      if (showLoadState(r, body, name, { rows: 2 })) return;
      replace(
        body,
        r.data.length
          ? dataTable({ testid: `${testid}-table`, compact: true, columns, rows: rows([...r.data]), actions })
          : h('p', { class: 'card-empty', testid: `${testid}-empty` }, empty),
      );
    },
    refreshMs: 0,
  });
  const refresh = button('Refresh', { small: true, kind: 'ghost', iconName: 'refresh', testid: `${testid}-refresh`, title: `Read the ${name} again`, onClick: () => r.retry() });
  showLoadState(r, body, name, { rows: 2 });
  return { r, count, body, refresh };
}
