// The ledger's page: three views (the ledger, one VTID, the year's audit) over the JSON
// API, kept live by the event stream. No framework and no build step; every value from
// the API is put into the page as text, never as HTML.
'use strict';
(() => {
  const STATUSES = ['pending', 'active', 'blocked', 'complete', 'failed', 'cancelled'];
  // The lifecycle's moves, as the API allows them (docs/api.md, "The record"; the model's
  // Status::can_move_to). complete, failed and cancelled are final.
  const NEXT = {
    pending: ['active', 'blocked', 'cancelled'],
    active: ['blocked', 'complete', 'failed', 'cancelled'],
    blocked: ['active', 'pending', 'cancelled'],
  };
  // `q` is the list's free-text search: words of the title or description, any case.
  const FILTERS = ['q', 'taskFamily', 'status', 'tenant', 'assignedTo', 'parentVtid', 'year', 'includeTest'];
  // The API's limit on `q`, in characters once trimmed (docs/api.md, "Search").
  const SEARCH_MAX = 100;
  const PAGE_SIZES = ['25', '50', '100', '200'];
  // Counting reads pages of 200; past this a count shows as "1000+".
  const COUNT_CAP = 1000;
  // The tree and the timeline stop here on giant records rather than stall the tab.
  const TREE_CAP = 500;
  const TREE_DEPTH = 12;
  const HISTORY_CAP = 1000;
  // Breadcrumbs walk at most this many parents up.
  const ANCESTOR_CAP = 10;
  // The filters offer at most this many known values per field.
  const KNOWN_CAP = 500;
  const TOKEN_KEY = 'vtid-token';
  const RECONNECT_MS = 2000;
  // While the ledger cannot be reached, the page asks again this often.
  const RETRY_MS = 3000;
  // Counts are read again at most this often while changes keep coming.
  const RECOUNT_MS = 600;

  const main = document.getElementById('main');
  const liveEl = document.getElementById('live');
  const downEl = document.getElementById('down');
  const forgetBtn = document.getElementById('forget');
  let view = null; // the view on screen: {onEvent(event)}
  let generation = 0; // bumps on every navigation; late answers of old views are dropped

  // ---- small helpers ----------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  // Replaces an element's content, skipping absent parts (null, false).
  function fill(el, ...kids) {
    el.replaceChildren();
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // Runs `fn` `ms` after a call, never twice at once, and once more after a call made
  // while it ran: unlike a debounce, a steady stream of calls still runs it every `ms`.
  function throttle(fn, ms) {
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      timer = null;
      running = true;
      again = false;
      try {
        await fn();
      } finally {
        running = false;
        if (again) schedule();
      }
    }
    function schedule() {
      if (running) again = true;
      else if (!timer) timer = setTimeout(run, ms);
    }
    return schedule;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function ago(iso) {
    if (!iso) return '';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }

  // A span of seconds for people, in its two largest units, cut like a stopwatch's:
  // "45 s", "1 min 10 s" (70.836), "2 h 5 min", "3 d 4 h", "250 ms" under a second.
  function duration(seconds) {
    const s = Number(seconds);
    if (seconds == null || !Number.isFinite(s)) return null;
    if (s > 0 && s < 1) return `${Math.max(1, Math.floor(s * 1000))} ms`;
    let rest = Math.floor(s);
    const parts = [];
    for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      if (n || parts.length) parts.push(n ? `${n} ${unit}` : null);
      if (parts.length === 2) break;
    }
    return parts.filter(Boolean).join(' ') || '0 s';
  }

  function when(iso, suffix = ' ago') {
    if (!iso) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: iso, title: iso, 'data-suffix': suffix }, ago(iso) + suffix);
  }

  // "3 min ago" and "blocked for 2 h" stay true while the page stays open.
  setInterval(() => {
    for (const t of document.querySelectorAll('time[datetime]')) {
      t.textContent = ago(t.getAttribute('datetime')) + (t.dataset.suffix || '');
    }
  }, 15000);

  const badge = (status) => h('span', { class: `badge s-${status}` }, status);
  const vtidLink = (v) => (v ? h('a', { href: `#/vtid/${v}`, class: 'mono' }, v) : h('span', { class: 'muted' }, '—'));
  const text = (v) => (v == null || v === '' ? h('span', { class: 'muted' }, '—') : String(v));
  const shownTitle = (r) => r.title || r.description;

  // VTID-2026-0042 as a number that orders like the ledger: by year, then sequence.
  function vtidOrder(v) {
    const m = /^VTID-(\d{4})-(\d+)$/.exec(v || '');
    return m ? Number(m[1]) * 1e11 + Number(m[2]) : null;
  }

  // ---- the API ----------------------------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class ApiError extends Error {
    constructor(status, body, authenticate) {
      super((body && body.error) || `the ledger answered ${status}`);
      this.status = status;
      this.body = body;
      this.authenticate = authenticate; // WWW-Authenticate, on a refused token
    }
  }

  // No answer at all: the server is down or the network is gone.
  class Unreachable extends Error {}

  function authHeaders(extra) {
    const headers = Object.assign({ Accept: 'application/json' }, extra);
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    return headers;
  }

  // One call; `init` may give a method, headers and a body (JSON text).
  async function api(path, init = {}) {
    let res;
    try {
      res = await fetch(path, { method: init.method || 'GET', headers: authHeaders(init.headers), body: init.body });
    } catch (_) {
      reach.lost();
      throw new Unreachable(`the ledger at ${location.origin} cannot be reached`);
    }
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) throw new ApiError(res.status, body, res.headers.get('WWW-Authenticate'));
    return body;
  }

  // Follows nextCursor until `cap` items: the whole answer of a small query.
  async function all(path, params, cap) {
    const items = [];
    let cursor = null;
    do {
      const q = new URLSearchParams(params);
      q.set('limit', '200');
      if (cursor) q.set('cursor', cursor);
      const page = await api(`${path}?${q}`);
      items.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && items.length < cap);
    const kept = items.slice(0, cap);
    kept.forEach(known.note);
    return { items: kept, more: Boolean(cursor) || items.length > cap };
  }

  // Why the ledger refused a token, as its WWW-Authenticate says (expired, bad signature...).
  function tokenProblem(err) {
    const why = /error_description="([^"]*)"/.exec(err.authenticate || '');
    return why ? why[1] : err.message;
  }

  function showError(err, where) {
    if (err instanceof ApiError && err.status === 401) {
      // A token that was given and refused: say why, so the next one can be right.
      askToken(token() ? tokenProblem(err) : null);
      return;
    }
    if (err instanceof Unreachable) {
      fill(where, h('p', { class: 'notice error' }, 'Not loaded: the ledger cannot be reached. This view loads by itself once it answers.'));
      return;
    }
    const details = (err.body && err.body.details) || [];
    fill(where,
      h('div', { class: 'notice error', role: 'alert' },
        h('strong', {}, err.message),
        details.length ? h('ul', {}, details.map((d) => h('li', {}, `${d.field}: ${d.message}`))) : null),
    );
  }

  // ---- when the ledger cannot be reached ------------------------------------------------

  // A failed request shows a banner and starts asking /vtid/health (which needs no
  // identity) every RETRY_MS; at the first answer the banner goes and the view loads again.
  const reach = (() => {
    let down = false;

    async function probe() {
      while (down) {
        await sleep(RETRY_MS);
        try {
          await fetch('/vtid/health', { cache: 'no-store' });
        } catch (_) {
          continue;
        }
        down = false;
        downEl.hidden = true;
        fill(downEl);
        render();
      }
    }

    return {
      lost() {
        if (down) return;
        down = true;
        fill(downEl, h('strong', {}, `The ledger at ${location.origin} cannot be reached.`),
          ` The page tries again every ${RETRY_MS / 1000} s and carries on by itself when the ledger answers.`);
        downEl.hidden = false;
        probe();
      },
    };
  })();

  // ---- values seen, offered in the filters -----------------------------------------------

  // Families, tenants and assignees of every record the page has loaded or heard about,
  // as <datalist>s the filter fields point to.
  const known = (() => {
    const FIELDS = ['taskFamily', 'tenant', 'assignedTo'];
    const values = Object.fromEntries(FIELDS.map((f) => [f, new Set()]));
    let scheduled = false;

    function refresh() {
      scheduled = false;
      for (const f of FIELDS) {
        const el = document.getElementById(`known-${f}`);
        if (el) fill(el, options(f));
      }
    }

    function options(f) {
      return [...values[f]].sort((a, b) => a.localeCompare(b)).map((v) => h('option', { value: v }));
    }

    return {
      note(r) {
        for (const f of FIELDS) {
          const v = r && r[f];
          if (typeof v !== 'string' || !v || values[f].has(v) || values[f].size >= KNOWN_CAP) continue;
          values[f].add(v);
          if (!scheduled) {
            scheduled = true;
            setTimeout(refresh, 0);
          }
        }
      },
      datalist: (f) => h('datalist', { id: `known-${f}` }, options(f)),
    };
  })();

  // ---- the token (only when the server checks tokens) ----------------------------------

  // Tenants whose records this caller was refused a change to (403).
  const refused = new Set();

  function setToken(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    forgetBtn.hidden = !value;
    refused.clear();
    stream.restart();
    render();
  }

  function askToken(refusedWhy) {
    generation += 1;
    view = null;
    const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', required: true, size: 40 });
    fill(main, h('section', {},
      h('h1', {}, 'A token is needed'),
      refusedWhy ? h('p', { class: 'notice error', role: 'alert', id: 'token-refused' },
        `The ledger refused the token you gave: ${refusedWhy}.`) : null,
      h('p', {}, 'This ledger checks bearer tokens. Paste one to read it. It is kept in this tab only ' +
        '(sessionStorage, gone when the tab closes) and sent only to this server.'),
      h('form', {
        onsubmit: (e) => {
          e.preventDefault();
          setToken(input.value.trim());
        },
      }, h('label', { for: 'token' }, 'Bearer token', input), ' ', h('button', { type: 'submit' }, 'Use token'))));
    input.focus();
  }

  forgetBtn.hidden = !token();
  forgetBtn.addEventListener('click', () => setToken(null));

  // ---- the event stream ---------------------------------------------------------------

  // GET /vtid/events read with fetch (EventSource cannot send a token), resumed with
  // Last-Event-ID after a break, so the page misses no change.
  const stream = (() => {
    let controller = null;
    let lastId = null;

    function say(state, words) {
      liveEl.className = `live ${state}`;
      liveEl.textContent = words;
    }

    function dispatch(id, kind, data) {
      let body;
      try {
        body = JSON.parse(data);
      } catch (_) {
        return;
      }
      const m = body.metadata || {};
      const event = {
        id, kind, body, vtid: m.vtid, status: m.status, taskFamily: m.taskFamily,
        tenant: body.tenant, assignedTo: m.assignedTo, parentVtid: m.parentVtid, isTest: m.isTest,
      };
      known.note(event);
      if (view && view.onEvent) view.onEvent(event);
    }

    async function readOnce(signal) {
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (lastId !== null) headers['Last-Event-ID'] = lastId;
      const res = await fetch('/vtid/events?includeTest=true', { headers, signal });
      if (res.status === 401) return 'stop:no live updates without a token';
      // 404: a server on DynamoDB (no outbox); other 4xx: a server without the route.
      if (res.status === 404) return 'stop:no live updates on this store';
      if (res.status >= 400 && res.status < 500) return `stop:no live updates (${res.status})`;
      if (!res.ok) return `retry:the stream answered ${res.status}`;
      say('on', 'live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let kind = '';
      let data = null;
      let id = lastId;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'retry:reconnecting…';
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (data !== null) {
              lastId = id;
              dispatch(id, kind || 'message', data);
            }
            kind = '';
            data = null;
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let v = colon < 0 ? '' : line.slice(colon + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'id') id = v;
            else if (field === 'event') kind = v;
            else if (field === 'data') data = data === null ? v : `${data}\n${v}`;
          }
        }
      }
    }

    async function run(signal) {
      while (!signal.aborted) {
        let outcome;
        try {
          outcome = await readOnce(signal);
        } catch (_) {
          // A network error (not our own abort): the server is gone.
          if (!signal.aborted) reach.lost();
          outcome = 'retry:reconnecting…';
        }
        if (signal.aborted) return;
        const [what, words] = outcome.split(/:(.*)/s);
        say('off', words);
        if (what === 'stop') return;
        await sleep(RECONNECT_MS);
      }
    }

    return {
      restart() {
        if (controller) controller.abort();
        controller = new AbortController();
        lastId = null;
        say('', 'connecting…');
        run(controller.signal);
      },
    };
  })();

  // ---- the ledger ---------------------------------------------------------------------

  function matches(filters, e) {
    if (filters.includeTest !== 'true' && e.isTest) return false;
    if (filters.year && !(e.vtid || '').startsWith(`VTID-${filters.year}-`)) return false;
    for (const k of ['taskFamily', 'status', 'tenant', 'assignedTo', 'parentVtid']) {
      if (filters[k] && e[k] !== filters[k]) return false;
    }
    // An event carries the title but not the description, so it cannot tell whether the
    // record matches `q`: it may, and the list asks the ledger again.
    return true;
  }

  function ledgerHash(filters, extra) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(Object.assign({}, filters, extra))) if (v) q.set(k, v);
    const s = q.toString();
    return s ? `#/?${s}` : '#/';
  }

  function filterForm(filters, limit) {
    const field = (name, label, attrs) => h('label', {}, label,
      h('input', Object.assign({ type: 'text', name, value: filters[name] || '', autocomplete: 'off' }, attrs)));
    const status = h('select', { name: 'status' },
      h('option', { value: '' }, 'any'),
      STATUSES.map((s) => h('option', { value: s, selected: filters.status === s }, s)));
    const size = h('select', { name: 'limit' }, PAGE_SIZES.map((n) => h('option', { value: n, selected: limit === n }, n)));
    return h('form', {
      class: 'filters', role: 'search', 'aria-label': 'Filters',
      onsubmit: (e) => {
        e.preventDefault();
        const data = new FormData(e.target);
        const next = {};
        for (const k of FILTERS) {
          const raw = (data.get(k) || '').toString();
          // The other filters are exact values; the search's surrounding spaces mean nothing.
          const v = k === 'q' ? raw.trim() : raw;
          if (k === 'includeTest' ? data.get(k) : v) next[k] = k === 'includeTest' ? 'true' : v;
        }
        const chosen = data.get('limit');
        location.hash = ledgerHash(next, { limit: chosen === '50' ? '' : chosen });
      },
    },
    h('label', { class: 'search' }, 'Search', h('input', {
      type: 'search', name: 'q', value: filters.q || '', autocomplete: 'off', id: 'first-filter', maxlength: SEARCH_MAX,
      placeholder: 'words of a title or description, in any case',
      title: 'Records whose title or description contains every word, in any case',
    })),
    field('taskFamily', 'Family', { maxlength: 64, list: 'known-taskFamily' }),
    h('label', {}, 'Status', status),
    field('tenant', 'Tenant', { maxlength: 64, list: 'known-tenant' }),
    field('assignedTo', 'Assigned to', { maxlength: 128, list: 'known-assignedTo' }),
    field('parentVtid', 'Parent VTID', { placeholder: 'VTID-2026-0001', maxlength: 24 }),
    field('year', 'Year', { class: 'year', inputmode: 'numeric', maxlength: 4, placeholder: 'any' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'includeTest', checked: filters.includeTest === 'true' }), 'test records'),
    h('label', {}, 'Per page', size),
    h('button', { type: 'submit' }, 'Apply'),
    h('a', { href: '#/' }, 'Clear'),
    ['taskFamily', 'tenant', 'assignedTo'].map(known.datalist));
  }

  function statusCell(r) {
    return [badge(r.status),
      r.status === 'blocked' ? h('span', { class: 'muted' }, ' for ', when(r.updatedAt, '')) : null,
      r.durationSeconds != null
        ? h('span', { class: 'muted', title: `${r.durationSeconds} s from start to finish` }, ` after ${duration(r.durationSeconds)}`)
        : null];
  }

  // The ledger's columns: header, cell and sort key. `opt` columns give way on a phone.
  const COLUMNS = [
    { key: 'vtid', label: 'VTID', cls: 'num c-vtid', cell: (r) => vtidLink(r.vtid), by: (r) => vtidOrder(r.vtid) },
    { key: 'title', label: 'Title', cls: 'what c-title', cell: (r) => h('span', { title: r.description }, shownTitle(r)), by: shownTitle },
    { key: 'family', label: 'Family / type', cls: 'c-family', cell: (r) => `${r.taskFamily} / ${r.taskType}`, by: (r) => `${r.taskFamily} / ${r.taskType}` },
    { key: 'status', label: 'Status', cls: 'c-status', cell: statusCell, by: (r) => STATUSES.indexOf(r.status) },
    { key: 'tenant', label: 'Tenant', cls: 'c-tenant opt', cell: (r) => r.tenant, by: (r) => r.tenant },
    { key: 'assignedTo', label: 'Assigned to', cls: 'c-assigned opt', cell: (r) => text(r.assignedTo), by: (r) => r.assignedTo },
    { key: 'parent', label: 'Parent', cls: 'num c-parent opt', cell: (r) => vtidLink(r.parentVtid), by: (r) => vtidOrder(r.parentVtid) },
    { key: 'created', label: 'Created', cls: 'when c-created opt', cell: (r) => when(r.createdAt), by: (r) => Date.parse(r.createdAt) },
    { key: 'updated', label: 'Updated', cls: 'when c-updated', cell: (r) => when(r.updatedAt), by: (r) => Date.parse(r.updatedAt) },
  ];
  const SERVER_ORDER = { key: 'vtid', dir: 'descending' };
  // The ledger's sort, kept while the tab moves between views.
  let ledgerSort = SERVER_ORDER;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  // Sorts a copy; empty values go last either way, ties keep the server's order.
  function sortRecords(records, sort) {
    const col = COLUMNS.find((c) => c.key === sort.key) || COLUMNS[0];
    const sign = sort.dir === 'descending' ? -1 : 1;
    const blank = (v) => v == null || v === '' || Number.isNaN(v);
    return records.map((r, i) => [col.by(r), i, r]).sort(([a, i], [b, j]) => {
      if (blank(a) || blank(b)) return (blank(a) - blank(b)) || i - j;
      const c = typeof a === 'number' && typeof b === 'number' ? a - b : collator.compare(String(a), String(b));
      return c * sign || i - j;
    }).map(([, , r]) => r);
  }

  function sortLabel(sort) {
    if (sort.key === SERVER_ORDER.key && sort.dir === SERVER_ORDER.dir) return '· newest first';
    const col = COLUMNS.find((c) => c.key === sort.key);
    return `· this page by ${col.label.toLowerCase()}, ${sort.dir}`;
  }

  function ledgerTable(records, flash, sort, onSort) {
    if (!records.length) return h('p', { class: 'notice' }, 'No records match.');
    return h('table', { class: 'ledger' },
      h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', {
        scope: 'col', class: c.cls, 'data-key': c.key, 'aria-sort': sort.key === c.key ? sort.dir : null,
      }, h('button', { type: 'button', class: 'sort', onclick: () => onSort(c.key) }, c.label))))),
      h('tbody', {}, sortRecords(records, sort).map((r) => h('tr', { class: flash.has(r.vtid) ? 'flash' : null, 'data-vtid': r.vtid },
        COLUMNS.map((c) => h('td', { class: c.cls }, c.cell(r)))))));
  }

  function ledgerView(params) {
    const filters = {};
    for (const k of FILTERS) if (params.get(k)) filters[k] = params.get(k);
    const limit = PAGE_SIZES.includes(params.get('limit')) ? params.get('limit') : '50';
    const cursor = params.get('cursor');
    const back = params.get('back'); // the cursors of the pages before, for "Newer"
    const gen = generation;
    const counts = h('ul', { class: 'counts', 'aria-label': 'Records per status' });
    const banner = h('div', { class: 'banner', 'aria-live': 'polite' });
    const list = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
    const order = h('span', { class: 'muted' }, sortLabel(ledgerSort));
    fill(main, h('section', {}, h('h1', {}, 'Ledger ', order),
      filterForm(filters, limit), counts, banner, list, pager));
    let records = [];
    let shown = new Set();
    let counted = new Set(); // the VTIDs behind the counts
    let unseen = 0;

    function showTable(flash = new Set()) {
      fill(list, ledgerTable(records, flash, ledgerSort, sortBy));
      fill(order, sortLabel(ledgerSort));
    }

    // A header's first click sorts the shown rows by it, ascending; the next reverses them.
    function sortBy(key) {
      const flip = ledgerSort.key === key && ledgerSort.dir === 'ascending';
      ledgerSort = { key, dir: flip ? 'descending' : 'ascending' };
      showTable();
      const button = list.querySelector(`th[data-key="${key}"] button`);
      if (button) button.focus();
    }

    async function loadPage(flash = new Set()) {
      const q = new URLSearchParams(filters);
      q.set('limit', limit);
      if (cursor) q.set('cursor', cursor);
      try {
        const page = await api(`/vtid/list?${q}`);
        if (gen !== generation) return;
        records = page.data;
        records.forEach(known.note);
        shown = new Set(records.map((r) => r.vtid));
        showTable(flash);
        list.removeAttribute('aria-busy');
        const stack = back ? back.split(',') : [];
        const pageSize = limit === '50' ? '' : limit;
        fill(pager,
          cursor ? h('a', { href: ledgerHash(filters, { limit: pageSize, cursor: stack.slice(-1)[0] || '', back: stack.slice(0, -1).join(',') }) }, '← Newer') : null,
          h('span', { class: 'muted' }, `${page.count} shown`),
          page.nextCursor ? h('a', { href: ledgerHash(filters, { limit: pageSize, cursor: page.nextCursor, back: [...stack, cursor || ''].join(',') }) }, 'Older →') : null);
      } catch (err) {
        if (gen === generation) showError(err, list);
      }
    }

    async function count(status) {
      const q = Object.assign({}, filters, { status });
      const { items, more } = await all('/vtid/list', q, COUNT_CAP);
      return { vtids: items.map((r) => r.vtid), label: more ? `${COUNT_CAP}+` : String(items.length) };
    }

    async function loadCounts() {
      try {
        const values = [];
        for (const s of STATUSES) values.push(await count(s)); // one at a time: gentle on a small server
        if (gen !== generation) return;
        counted = new Set(values.flatMap((v) => v.vtids));
        fill(counts, ...STATUSES.map((s, i) => h('li', {},
          h('a', { href: ledgerHash(filters, { status: filters.status === s ? '' : s }), 'aria-current': filters.status === s ? 'true' : null, class: `s-${s}` },
            s, h('b', {}, values[i].label)))));
      } catch (err) {
        if (gen === generation && !(err instanceof ApiError && err.status === 401)) {
          fill(counts, h('li', { class: 'muted' }, 'counts unavailable'));
        }
      }
    }

    // The counts cover every status under the other filters: a change moves them when
    // the record matches those filters now, or was counted before (it left them).
    function movesCounts(e) {
      return matches(Object.assign({}, filters, { status: '' }), e) || counted.has(e.vtid);
    }

    // Rows changed since the last refresh flash once when it lands.
    let changed = new Set();
    const refresh = debounce(() => {
      const flash = changed;
      changed = new Set();
      loadPage(flash);
    }, 250);
    const recount = throttle(loadCounts, RECOUNT_MS);
    loadPage();
    loadCounts();
    return {
      onEvent(e) {
        if (movesCounts(e)) recount();
        if (!matches(filters, e) && !shown.has(e.vtid)) return;
        if (cursor) {
          unseen += 1;
          fill(banner, h('p', { class: 'notice' }, `${unseen} new change${unseen === 1 ? '' : 's'} since this page loaded. `,
            h('a', { href: ledgerHash(filters, { limit: limit === '50' ? '' : limit }) }, 'Show the newest')));
          return;
        }
        changed.add(e.vtid);
        refresh();
      },
    };
  }

  // ---- one VTID -----------------------------------------------------------------------

  const FIELDS = [
    ['taskFamily', 'Family'], ['taskType', 'Type'], ['title', 'Title'], ['description', 'Description'],
    ['tenant', 'Tenant'], ['assignedTo', 'Assigned to'], ['parentVtid', 'Parent'], ['isTest', 'Test record'],
    ['createdAt', 'Created'], ['createdBy', 'Created by'], ['updatedAt', 'Updated'], ['updatedBy', 'Updated by'],
    ['startedAt', 'Started'], ['completedAt', 'Completed'], ['durationSeconds', 'Duration'], ['version', 'Version'],
  ];

  function recordList(r) {
    const dl = h('dl', { class: 'record' });
    for (const [k, label] of FIELDS) {
      let v = r[k];
      if (k === 'parentVtid') v = vtidLink(v);
      else if (k === 'durationSeconds' && v != null) v = h('span', { title: `${v} s` }, duration(v));
      else if (k.endsWith('At') && v) v = h('span', {}, v, ' ', h('span', { class: 'muted' }, '(', when(v), ')'));
      else v = text(v);
      dl.append(h('dt', {}, label), h('dd', {}, v));
    }
    dl.append(h('dt', {}, 'Metadata'), h('dd', {}, h('pre', {}, JSON.stringify(r.metadata, null, 2))));
    return dl;
  }

  // The parents, oldest first, at most ANCESTOR_CAP of them; `more` when the walk stopped
  // short of the top. A parent this caller may not read ends the walk, shown as its VTID.
  async function ancestors(r) {
    const chain = [];
    const seen = new Set([r.vtid]);
    let next = r.parentVtid;
    while (next && !seen.has(next) && chain.length < ANCESTOR_CAP) {
      seen.add(next);
      try {
        const { data: parent } = await api(`/vtid/${encodeURIComponent(next)}`);
        known.note(parent);
        chain.unshift(parent);
        next = parent.parentVtid;
      } catch (err) {
        if (!(err instanceof ApiError && (err.status === 403 || err.status === 404))) throw err;
        chain.unshift({ vtid: next });
        next = null;
      }
    }
    return { chain, more: Boolean(next) && !seen.has(next) };
  }

  function crumbs(vtid, line) {
    return h('ol', {},
      h('li', {}, h('a', { href: '#/' }, 'Ledger')),
      line.more ? h('li', { class: 'muted', title: `more than ${ANCESTOR_CAP} levels up` }, '…') : null,
      line.chain.map((a) => h('li', {}, h('a', { href: `#/vtid/${a.vtid}`, class: 'mono', title: a.title || a.description }, a.vtid))),
      h('li', { class: 'mono', 'aria-current': 'page' }, vtid));
  }

  // The subtasks, level by level, at most TREE_CAP nodes and TREE_DEPTH levels.
  async function subtree(vtid, depth, budget, kin) {
    if (depth > TREE_DEPTH || budget.left <= 0) return null;
    const { items, more } = await all('/vtid/list', { parentVtid: vtid, includeTest: 'true' }, budget.left);
    budget.left -= items.length;
    if (!items.length) return null;
    const ul = h('ul', { class: depth === 1 ? 'tree' : null });
    for (const c of items.reverse()) {
      kin.add(c.vtid);
      const kids = await subtree(c.vtid, depth + 1, budget, kin);
      ul.append(h('li', {}, vtidLink(c.vtid), ' ', badge(c.status), ' ', shownTitle(c), kids));
    }
    if (more) ul.append(h('li', { class: 'muted' }, '… more subtasks than this page shows'));
    return ul;
  }

  async function history(vtid) {
    const entries = [];
    let cursor = null;
    do {
      const q = new URLSearchParams({ limit: '200' });
      if (cursor) q.set('cursor', cursor);
      const page = await api(`/vtid/${encodeURIComponent(vtid)}/history?${q}`);
      entries.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && entries.length < HISTORY_CAP);
    return { entries, more: Boolean(cursor) };
  }

  function valueText(field, v) {
    if (v == null) return '∅';
    if (field === 'durationSeconds') return duration(v);
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  function timeline(entries, more) {
    const ol = h('ol', { class: 'timeline' });
    for (const e of entries) {
      const verb = e.action === 'updated' ? `changed v${e.fromVersion} → v${e.toVersion}` : e.action;
      const changes = Object.entries(e.changes);
      ol.append(h('li', {},
        h('div', {}, h('strong', {}, e.by), ` ${verb} `, when(e.at), h('span', { class: 'muted' }, ` · ${e.at}`)),
        e.action === 'updated'
          ? h('ul', { class: 'change' }, changes.map(([field, c]) => h('li', {}, h('span', { class: 'field' }, `${field}: `),
            h('del', {}, valueText(field, c.before)), ' → ', h('ins', {}, valueText(field, c.after)))))
          : h('details', { class: 'change' }, h('summary', { class: 'muted' }, `${changes.length} fields set`),
            h('ul', {}, changes.map(([field, c]) => h('li', {}, h('span', { class: 'field' }, `${field}: `), valueText(field, c.after)))))));
    }
    if (more) ol.append(h('li', { class: 'muted' }, `only the first ${HISTORY_CAP} entries are shown`));
    return ol;
  }

  // The moves the lifecycle allows from here; `chosen` keeps a choice across live reloads.
  function statusForm(r, chosen, submit) {
    const next = NEXT[r.status] || [];
    if (!next.length) return h('p', { class: 'muted' }, `${r.status} is final: the status cannot change any more.`);
    if (refused.has(r.tenant)) return h('p', { class: 'muted' }, `Status changes are not offered: the ledger refused this caller a change to ${r.tenant}'s records.`);
    const select = h('select', { name: 'status', id: 'next-status' },
      next.map((s) => h('option', { value: s, selected: s === chosen }, s)));
    return h('form', {
      class: 'move', 'aria-label': 'Change the status',
      onsubmit: (e) => {
        e.preventDefault();
        for (const el of e.target.elements) el.disabled = true;
        submit(select.value);
      },
    }, h('label', { for: 'next-status' }, `Move from ${r.status} to`), select,
    h('button', { type: 'submit' }, 'Change status'),
    h('span', { class: 'muted' }, `as of version ${r.version}`));
  }

  // Why a status change did not happen, for a person.
  function refusal(err, r) {
    if (err instanceof Unreachable) return 'Not changed: the ledger cannot be reached.';
    if (!(err instanceof ApiError)) return `Not changed: ${err.message}`;
    if (err.status === 412) {
      return `Not changed: the record changed meanwhile (it is no longer version ${r.version}). ` +
        'It has been reloaded: check it and choose again.';
    }
    if (err.status === 403) return `Not changed: the ledger refused this caller: ${err.message}.`;
    if (err.status === 401) {
      return `Not changed: the ledger did not accept the token (${tokenProblem(err)}). ` +
        'Use "Forget token" and paste a valid one.';
    }
    if (err.status === 409) return `Not changed: ${err.message}. The record has been reloaded.`;
    return `Not changed: ${err.message}`;
  }

  function recordView(vtid) {
    const gen = generation;
    const trail = h('nav', { class: 'crumbs', 'aria-label': 'Ancestors' }, crumbs(vtid, { chain: [], more: false }));
    const head = h('h1', {}, vtid);
    const move = h('div', { class: 'move-box' });
    const note = h('div', { class: 'note', 'aria-live': 'polite' });
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    fill(main, h('section', {}, trail, head, move, note, body));
    let family = new Set([vtid]);

    async function load() {
      try {
        const [{ data: r }, past] = await Promise.all([api(`/vtid/${encodeURIComponent(vtid)}`), history(vtid)]);
        known.note(r);
        const kin = new Set([vtid]);
        const [tree, line] = await Promise.all([subtree(vtid, 1, { left: TREE_CAP }, kin), ancestors(r)]);
        if (gen !== generation) return;
        line.chain.forEach((a) => kin.add(a.vtid));
        family = kin;
        fill(trail, crumbs(vtid, line));
        fill(head, vtid, ' ', badge(r.status), r.title ? h('span', { class: 'muted' }, ` ${r.title}`) : null);
        const chosen = move.querySelector('select') ? move.querySelector('select').value : null;
        fill(move, statusForm(r, chosen, (to) => changeStatus(r, to)));
        document.title = `${vtid} · VTID ledger`;
        body.removeAttribute('aria-busy');
        fill(body, recordList(r),
          h('div', { class: 'columns' },
            h('section', { 'aria-labelledby': 'subtasks' }, h('h2', { id: 'subtasks' }, 'Subtasks'),
              tree || h('p', { class: 'muted' }, 'No subtasks.')),
            h('section', { 'aria-labelledby': 'history' }, h('h2', { id: 'history' }, 'History'),
              timeline(past.entries, past.more))));
      } catch (err) {
        if (gen === generation) showError(err, body);
      }
    }

    // PATCH with If-Match: the change applies only to the version on screen.
    async function changeStatus(r, to) {
      fill(note, h('p', { class: 'muted' }, `Moving ${r.vtid} to ${to}…`));
      try {
        const res = await api(`/vtid/${encodeURIComponent(r.vtid)}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json', 'If-Match': `"${r.version}"` },
          body: JSON.stringify({ status: to }),
        });
        if (gen !== generation) return;
        fill(note, h('p', { class: 'notice', role: 'status' }, `Moved to ${res.data.status}: now version ${res.data.version}.`));
      } catch (err) {
        if (gen !== generation) return;
        if (err instanceof ApiError && err.status === 403) refused.add(r.tenant);
        fill(note, h('p', { class: 'notice error', role: 'alert' }, refusal(err, r)));
      }
      await load();
    }

    const reload = debounce(load, 250);
    load();
    return {
      onEvent(e) {
        if (family.has(e.vtid) || family.has(e.parentVtid)) reload();
      },
    };
  }

  // ---- the audit ----------------------------------------------------------------------

  function auditView(params) {
    const gen = generation;
    const thisYear = String(new Date().getUTCFullYear());
    const year = /^\d{4}$/.test(params.get('year') || '') ? params.get('year') : thisYear;
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    const input = h('input', { type: 'text', name: 'year', value: year, class: 'year', inputmode: 'numeric', maxlength: 4, id: 'first-filter' });
    fill(main, h('section', {}, h('h1', {}, 'Audit'),
      h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); location.hash = `#/audit?year=${encodeURIComponent(input.value.trim())}`; } },
        h('label', {}, 'Year', input), h('button', { type: 'submit' }, 'Check')),
      out));

    async function load() {
      try {
        const { data: a } = await api(`/vtid/audit?year=${encodeURIComponent(year)}`);
        if (gen !== generation) return;
        const clean = a.missingCount === 0 && a.duplicates.length === 0 && a.aboveCounter.length === 0;
        const stat = (label, value) => h('div', { class: 'stat' }, h('b', {}, value), label);
        out.removeAttribute('aria-busy');
        fill(out,
          h('p', { class: `verdict ${clean ? 'ok' : 'bad'}`, role: 'status' }, clean
            ? (a.counter ? `No missing or duplicate numbers in ${a.year}: 1 to ${a.counter} are all accounted for.` : `No VTIDs issued in ${a.year}.`)
            : `${a.year} has ${a.missingCount} missing, ${a.duplicates.length} duplicate and ${a.aboveCounter.length} above-counter numbers.`),
          h('div', { class: 'stats' }, stat('counter', a.counter), stat('records', a.records), stat('missing', a.missingCount),
            stat('duplicates', a.duplicates.length), stat('skipped ranges', a.skipped.length)),
          a.missing.length ? h('div', {}, h('h2', {}, 'Missing numbers'), h('p', { class: 'mono' }, a.missing.join(', '),
            a.missingCount > a.missing.length ? ` … (${a.missingCount} in all)` : '')) : null,
          a.duplicates.length ? h('div', {}, h('h2', {}, 'Duplicates'), h('p', {}, a.duplicates.map((v) => [vtidLink(v), ' ']))) : null,
          a.aboveCounter.length ? h('div', {}, h('h2', {}, 'Above the counter'), h('p', {}, a.aboveCounter.map((v) => [vtidLink(v), ' ']))) : null,
          a.skipped.length ? h('div', {}, h('h2', {}, 'Skipped by imports'), h('p', { class: 'mono' }, a.skipped.map(([f, t]) => `${f}–${t}`).join(', '))) : null);
      } catch (err) {
        if (gen === generation) showError(err, out);
      }
    }

    const reload = debounce(load, 1000);
    load();
    return {
      onEvent(e) {
        if (e.kind === 'vtid-created' && (e.vtid || '').startsWith(`VTID-${year}-`)) reload();
      },
    };
  }

  // ---- navigation and keys --------------------------------------------------------------

  function render() {
    generation += 1;
    const raw = location.hash.replace(/^#/, '') || '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const record = path.match(/^\/vtid\/(VTID-\d{4}-\d{4,10})$/);
    const current = path === '/audit' ? 'audit' : record ? null : 'ledger';
    for (const a of document.querySelectorAll('.bar nav a')) {
      if (a.dataset.view === current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = 'VTID ledger';
    if (path === '/audit') view = auditView(params);
    else if (record) view = recordView(record[1]);
    else view = ledgerView(params);
  }

  let pendingG = false;
  document.addEventListener('keydown', (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (e.key === 'Escape' && typing) {
      document.activeElement.blur();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') {
      const first = document.getElementById('first-filter');
      if (first) {
        e.preventDefault();
        first.focus();
      }
    } else if (pendingG && (e.key === 'l' || e.key === 'a')) {
      location.hash = e.key === 'l' ? '#/' : '#/audit';
    }
    pendingG = e.key === 'g';
  });

  window.addEventListener('hashchange', () => {
    render();
    main.focus({ preventScroll: true });
  });
  stream.restart();
  render();
})();
