// The details of one container, shown under its row on the node's Containers
// tab: what it was created with, its processes and 0-core jobs (read from the
// node while it runs), and a box that runs a command in it and shows the
// command's output live, with a button that kills it.

import { api, containerPath } from '../api.js';
import { h, replace, formatBytes, formatDuration } from '../dom.js';
import { toast, errorToast, button, inputError, rowActions, confirmAction, relativeTime, copyButton, glyph } from '../ui.js';
import { asList, refreshTable } from '../resource.js';
import { followOutput } from '../output.js';
import { fact } from './workloads.js';

// Processes and jobs are the node's, not the store's: no live events, so read them again while open.
const POLL_MS = 5_000;
// Lines kept in the output box (the oldest go first).
const MAX_LINES = 2_000;
const RESULT_TONES = { success: 'ok', running: 'accent', killed: 'warn' };

/**
 * Splits a command line into words as a shell would for simple cases:
 * whitespace separates, '…' and "…" quote, a backslash escapes the next
 * character. Throws an Error for an unterminated quote.
 */
export function splitCommand(line) {
  const words = [];
  let word = '';
  let inWord = false;
  let quote = null;
  const text = String(line);
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[(i += 1)];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[(i += 1)];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`The ${quote === '"' ? 'double' : 'single'} quote is not closed.`);
  if (inWord) words.push(word);
  return words;
}

/** A long job id (32 hex digits) cut to its first 12; the title has it whole. */
function shortId(id) {
  const s = String(id);
  return s.length > 14 ? `${s.slice(0, 12)}…` : s;
}

/** A command line of a process: its name and arguments, quoted where needed. */
export function commandLine(process) {
  const quote = (w) => (w === '' || /[\s'"\\]/.test(w) ? `'${w.replace(/'/g, `'\\''`)}'` : w);
  return [process.name, ...asList(process.args)].map((w) => quote(String(w))).join(' ');
}

export function containerDetail(ctx, nodeId, initial) {
  let container = initial;
  const name = initial.name;
  let stopped = false;
  let pollTimer = null;
  let running = container.status === 'running';
  // The command whose output shows: {id, title, attach, state, controller}.
  let current = null;

  const facts = h('dl', { class: 'ct-facts', testid: 'container-facts' });
  const haltedNote = h('p', { class: 'ct-note', testid: 'container-halted', hidden: true });

  // ---- run a command ----------------------------------------------------------

  const cmdInput = h('input', {
    class: 'input input-mono',
    testid: 'run-command',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'ping -c 3 -i 0.2 127.0.0.1',
    'aria-label': `Command to run in ${name}`,
  });
  const runBtn = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', testid: 'run-submit' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    glyph('terminal', { size: 16 }),
    h('span', { class: 'btn-label' }, 'Run'),
  );
  const runError = h('p', { class: 'field-message', testid: 'run-error', role: 'alert', hidden: true });
  const { show: showRunError, clear: clearRunError } = inputError(cmdInput, runError);
  const runForm = ctx.canMutate
    ? h(
        'form',
        { class: 'run-form', testid: 'run-form', novalidate: true },
        h('label', { class: 'sr-only', for: `run-${nodeId}-${name}` }, 'Command'),
        h('span', { class: 'run-prompt', 'aria-hidden': 'true' }, '$'),
        cmdInput,
        runBtn,
      )
    : null;
  if (runForm) {
    cmdInput.id = `run-${nodeId}-${name}`;
    runForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      runCommand();
    });
  }

  const outTitle = h('span', { class: 'console-title mono', testid: 'console-title' });
  const outState = h('span', { class: 'console-state', testid: 'console-state' });
  const killBtn = ctx.canMutate
    ? button('Kill', { small: true, kind: 'ghost-danger', iconName: 'x', testid: 'console-kill', title: 'Kill this job (SIGKILL)', onClick: () => killCurrent(), spinner: true })
    : null;
  const clearBtn = button('Clear', { small: true, kind: 'ghost', testid: 'console-clear', title: 'Clear the output', onClick: () => clearConsole() });
  const lines = h('div', { class: 'console-body', testid: 'console', role: 'log', 'aria-live': 'polite', tabindex: '0' });
  const consoleEl = h(
    'div',
    { class: 'console', testid: 'console-box', hidden: true },
    h('div', { class: 'console-head' }, outTitle, outState, h('span', { class: 'console-actions' }, killBtn, clearBtn)),
    lines,
  );

  const runCard = h(
    'section',
    { class: 'ct-section ct-run', testid: 'container-run' },
    h('h3', { class: 'ct-heading' }, glyph('terminal', { size: 15 }), 'Run a command'),
    runForm || h('p', { class: 'ct-note' }, 'Your role can watch the output of jobs here, but not start or kill them.'),
    runError,
    h('p', { class: 'field-hint' }, 'Runs as a job in the container; its output streams here as it is written.'),
    consoleEl,
  );

  // ---- processes and jobs -------------------------------------------------------

  const processes = nodeTable({ name: 'container-processes', title: 'Processes', iconName: 'cpu' }, {
    fetcher: () => api.containerProcesses(nodeId, name),
    empty: 'No processes.',
    columns: [{ label: 'PID', class: 'num' }, { label: 'Command', class: 'col-fill' }, { label: 'CPU', class: 'num' }, { label: 'Memory', class: 'num' }],
    actions: ctx.canMutate,
    rows: (list) => list.sort((a, b) => Number(a.pid) - Number(b.pid)).map(processRow),
  });
  const jobs = nodeTable({ name: 'container-jobs', title: 'Jobs', iconName: 'list' }, {
    fetcher: () => api.containerJobs(nodeId, name),
    empty: 'No jobs are running.',
    columns: [{ label: 'Job', class: 'col-fill' }, 'Started'],
    actions: true,
    rows: (list) => list.sort((a, b) => (Number(a.startTime) || 0) - (Number(b.startTime) || 0)).map(jobRow),
  });

  const live = h('div', { class: 'ct-live' }, runCard, h('div', { class: 'ct-tables' }, processes.el, jobs.el));
  const el = h('div', { class: 'ct-detail', testid: 'container-detail', dataset: { name } }, facts, haltedNote, live);

  render();
  if (running) loadTables();

  // ---- rendering ----------------------------------------------------------------

  function render() {
    const c = container;
    const init = asList(c.initprocesses);
    const nics = asList(c.nics);
    replace(
      facts,
      fact('Hostname', c.hostname ? h('span', { class: 'mono' }, c.hostname) : h('span', { class: 'muted' }, '—')),
      fact('Flist', h('span', { class: 'ct-flist' }, h('span', { class: 'mono', testid: 'container-flist-url' }, c.flist), copyButton(c.flist, { label: 'Copy the flist URL' }))),
      fact(
        'Network',
        c.hostNetworking
          ? h('span', null, 'host networking')
          : nics.length
            ? h('span', { class: 'chips' }, nics.map((n) => h('span', { class: 'pill-mono', title: n.status ? `status ${n.status}` : null }, n.id ? `${n.type} ${n.id}` : n.type)))
            : h('span', { class: 'muted' }, 'none'),
      ),
      fact(
        'Init',
        init.length
          ? h('span', { class: 'ct-init' }, init.map((p) => h('code', { class: 'cmdline' }, commandLine(p))))
          : h('span', { class: 'muted' }, 'none'),
      ),
      asList(c.filesystems).length
        ? fact('Filesystems', h('span', { class: 'chips', testid: 'container-filesystems' }, asList(c.filesystems).map((f) => h('span', { class: 'pill-mono' }, f))))
        : null,
      fact('0-core id', c.coreId === null || c.coreId === undefined ? h('span', { class: 'muted' }, '—') : h('span', { class: 'mono', testid: 'container-core-id' }, String(c.coreId))),
      fact('Last job', c.job ? h('a', { class: 'mono row-link', href: `#/jobs?q=${encodeURIComponent(c.job)}`, testid: 'container-job-link', title: 'The orchestrator job of the latest change' }, c.job) : h('span', { class: 'muted' }, '—')),
    );
    haltedNote.hidden = running;
    live.hidden = !running;
    if (!running) {
      replace(
        haltedNote,
        glyph('info', { size: 15 }),
        c.state === 'running' || c.state === 'halted'
          ? 'The container is not running: start it to see its processes and jobs, and to run commands in it.'
          : `The container is ${c.state}…`,
      );
    }
  }

  /** A section with a list from the node (refreshTable's), read while the container runs. */
  function nodeTable({ name: slug, title, iconName }, list) {
    const { r, count, body, refresh } = refreshTable({ testid: slug, name: title.toLowerCase(), ...list });
    const head = h('div', { class: 'ct-table-head' }, h('h3', { class: 'ct-heading' }, glyph(iconName, { size: 15 }), title, count), refresh);
    return { el: h('section', { class: 'ct-section ct-table', testid: `${slug}-card` }, head, body), r };
  }

  function processRow(p) {
    const cpu = p.cpu && typeof p.cpu === 'object' ? p.cpu : {};
    const seconds = (Number(cpu.user) || 0) + (Number(cpu.system) || 0);
    return h(
      'tr',
      { testid: 'container-process-row', dataset: { pid: p.pid } },
      h('td', { dataset: { label: 'PID' }, class: 'num mono' }, String(p.pid)),
      h('td', { dataset: { label: 'Command' }, class: 'col-fill' }, h('code', { class: 'cmdline cell-file', title: p.cmdline || '' }, p.cmdline || '—')),
      h('td', { dataset: { label: 'CPU' }, class: 'num nowrap', title: 'CPU time (user + system)' }, `${seconds.toFixed(2)} s`),
      h('td', { dataset: { label: 'Memory' }, class: 'num nowrap', title: 'Resident set size' }, formatBytes(p.rss)),
      ctx.canMutate
        ? rowActions({ label: 'Kill', danger: true, iconName: 'x', testid: 'container-process-kill', title: `Kill process ${p.pid} (SIGTERM)`, onClick: () => killProcess(p) })
        : null,
    );
  }

  function jobRow(job) {
    const started = Number(job.startTime) > 0 ? new Date(Number(job.startTime)).toISOString() : null;
    const watching = current && current.id === job.id && current.state === 'running';
    return h(
      'tr',
      { testid: 'container-job-row', dataset: { jobId: job.id } },
      h('td', { dataset: { label: 'Job' }, class: 'col-fill' }, h('span', { class: 'mono strong', title: job.id }, shortId(job.id))),
      h(
        'td',
        { dataset: { label: 'Started' }, class: 'nowrap', title: started ? `running for ${formatDuration((Date.now() - Number(job.startTime)) / 1000)}` : null },
        started ? relativeTime(started) : '—',
      ),
      rowActions(
        { label: 'Show output', iconName: 'terminal', testid: 'container-job-attach', title: watching ? 'Its output is shown above' : 'Show its output from now on', disabled: watching, onClick: () => attach(job.id) },
        ctx.canMutate ? { label: 'Kill', danger: true, iconName: 'x', testid: 'container-job-kill', title: `Kill job ${job.id} (SIGKILL)`, onClick: () => killJob(job.id) } : null,
      ),
    );
  }

  // ---- data ---------------------------------------------------------------------

  function loadTables() {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (stopped || !running) return;
    Promise.all([processes.r.load(), jobs.r.load()]).finally(() => {
      if (stopped || !running) return;
      for (const t of [processes, jobs]) {
        if (t.r.error && t.r.error.code === 'container_not_running') return; // the list will say so
      }
      pollTimer = setTimeout(loadTables, POLL_MS);
    });
  }

  // ---- commands -----------------------------------------------------------------

  async function runCommand() {
    clearRunError();
    let words;
    try {
      words = splitCommand(cmdInput.value.trim());
    } catch (err) {
      return showRunError(err.message);
    }
    if (words.length === 0) return showRunError('Type a command, e.g. ping -c 3 127.0.0.1');
    const [program, ...args] = words;
    runBtn.disabled = true;
    runBtn.classList.add('is-busy');
    try {
      const { id } = await api.startContainerJob(nodeId, name, { name: program, args });
      if (stopped) return;
      follow({ id, title: commandLine({ name: program, args }), attach: false });
      jobs.r.load();
    } catch (err) {
      if (err.status !== 401 && !stopped) showRunError(err.display || err.message);
    } finally {
      runBtn.disabled = false;
      runBtn.classList.remove('is-busy');
    }
  }

  function attach(id) {
    follow({ id, title: `job ${id}`, attach: true });
    consoleEl.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  /** Shows the output of job `id` from its stream (from its first line, or from now on with `attach`). */
  async function follow({ id, title, attach: attached }) {
    if (current && current.controller) current.controller.abort();
    const run = { id, title, attach: attached, state: 'running', controller: new AbortController() };
    current = run;
    clearConsole(false);
    consoleEl.hidden = false;
    consoleEl.dataset.jobId = id;
    outTitle.textContent = attached ? title : `$ ${title}`;
    setState(run, 'running');
    const path = `${containerPath(nodeId, name)}/jobs/${encodeURIComponent(id)}/stream${attached ? '?attach=true' : ''}`;
    let state;
    try {
      const { success } = await followOutput(path, { onOutput: (line) => current === run && addLine(line.stream, line.text), signal: run.controller.signal });
      state = success ? 'success' : 'error';
      // The job's own word: killed, error, timeout …
      const result = await api.containerJob(nodeId, name, id).catch(() => null);
      if (result && typeof result.state === 'string' && result.state !== 'running') state = result.state;
    } catch (err) {
      if (err.code === 'aborted' || current !== run) return;
      if (err.status === 401) return;
      addLine('system', err.display || err.message);
      state = 'error';
    }
    if (current !== run || stopped) return;
    setState(run, state);
    jobs.r.load();
    processes.r.load();
  }

  function setState(run, state) {
    run.state = state;
    consoleEl.dataset.state = state;
    const tone = RESULT_TONES[state] || 'danger';
    replace(
      outState,
      h(
        'span',
        { class: `badge badge-${tone}`, testid: 'console-result', dataset: { state } },
        state === 'running' ? h('span', { class: 'spinner badge-spinner', 'aria-hidden': 'true' }) : h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
        state === 'running' ? 'running' : state.replace(/_/g, ' '),
      ),
    );
    if (killBtn) killBtn.hidden = state !== 'running';
  }

  function addLine(stream, text) {
    const nearBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 24;
    lines.appendChild(h('div', { class: `console-line console-${stream}`, testid: 'console-line', dataset: { stream } }, text));
    while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
    if (nearBottom) lines.scrollTop = lines.scrollHeight;
  }

  function clearConsole(hide = true) {
    replace(lines);
    if (hide && (!current || current.state !== 'running')) {
      consoleEl.hidden = true;
      current = null;
    }
  }

  async function killCurrent() {
    if (!current || current.state !== 'running') return;
    killBtn.classList.add('is-busy');
    killBtn.disabled = true;
    try {
      await api.killContainerJob(nodeId, name, current.id);
    } catch (err) {
      if (err.status !== 401) errorToast(err, 'Could not kill the job');
    } finally {
      killBtn.classList.remove('is-busy');
      killBtn.disabled = false;
    }
  }

  async function killJob(id) {
    try {
      await api.killContainerJob(nodeId, name, id);
      toast(`Job ${id} killed.`, { type: 'success' });
    } catch (err) {
      if (err.status !== 401) errorToast(err, 'Could not kill the job');
    }
    jobs.r.load();
    processes.r.load();
  }

  function killProcess(p) {
    confirmAction({
      title: 'Kill process?',
      submitLabel: 'Kill process',
      testid: 'kill-process-modal',
      iconName: 'x',
      text: ['This sends SIGTERM to process ', h('strong', { class: 'mono' }, String(p.pid)), p.cmdline ? [' (', h('code', null, p.cmdline), ')'] : '', ` in ${name}.`],
      async onConfirm() {
        await api.killContainerProcess(nodeId, name, p.pid);
        toast(`Process ${p.pid} killed.`, { type: 'success' });
        processes.r.load();
        jobs.r.load();
      },
    });
  }

  return {
    el,
    /** A new version of the container from the list. */
    update(next) {
      container = next;
      const was = running;
      running = next.status === 'running';
      render();
      if (running && !was) loadTables();
      if (!running && was) {
        clearTimeout(pollTimer);
        if (current && current.controller) current.controller.abort();
        if (current && current.state === 'running') setState(current, 'stopped');
      }
    },
    focusCommand() {
      cmdInput.focus();
    },
    stop() {
      stopped = true;
      clearTimeout(pollTimer);
      processes.r.stop();
      jobs.r.stop();
      if (current && current.controller) current.controller.abort();
    },
  };
}
