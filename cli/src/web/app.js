// The ledger's page: three views (the ledger, one VTID, the year's audit) over the JSON
// API, kept live by the event stream. No framework and no build step; every value from
// the API is put into the page as text, never as HTML.
'use strict';
(() => {
  const STATUSES = ['pending', 'active', 'blocked', 'complete', 'failed', 'cancelled'];
  const FILTERS = ['taskFamily', 'status', 'tenant', 'assignedTo', 'parentVtid', 'year', 'includeTest'];
  const PAGE_SIZES = ['25', '50', '100', '200'];
  // Counting reads pages of 200; past this a count shows as "1000+".
  const COUNT_CAP = 1000;
  // The tree and the timeline stop here on giant records rather than stall the tab.
  const TREE_CAP = 500;
  const TREE_DEPTH = 12;
  const HISTORY_CAP = 1000;
  const TOKEN_KEY = 'vtid-token';
  const RECONNECT_MS = 2000;

  const main = document.getElementById('main');
  const liveEl = document.getElementById('live');
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

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function ago(iso) {
    if (!iso) return '';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
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

  // ---- the API ----------------------------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `the ledger answered ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  function authHeaders(extra) {
    const headers = Object.assign({ Accept: 'application/json' }, extra);
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    return headers;
  }

  async function api(path) {
    const res = await fetch(path, { headers: authHeaders() });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) throw new ApiError(res.status, body);
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
    return { items: items.slice(0, cap), more: Boolean(cursor) || items.length > cap };
  }

  function showError(err, where) {
    if (err instanceof ApiError && err.status === 401) {
      askToken();
      return;
    }
    const details = (err.body && err.body.details) || [];
    fill(where,
      h('div', { class: 'notice error', role: 'alert' },
        h('strong', {}, err.message),
        details.length ? h('ul', {}, details.map((d) => h('li', {}, `${d.field}: ${d.message}`))) : null),
    );
  }

  // ---- the token (only when the server checks tokens) ----------------------------------

  function askToken() {
    generation += 1;
    view = null;
    const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', required: true, size: 40 });
    fill(main, h('section', {},
      h('h1', {}, 'A token is needed'),
      h('p', {}, 'This ledger checks bearer tokens. Paste one to read it. It is kept in this tab only ' +
        '(sessionStorage, gone when the tab closes) and sent only to this server.'),
      h('form', {
        onsubmit: (e) => {
          e.preventDefault();
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          forgetBtn.hidden = false;
          stream.restart();
          render();
        },
      }, h('label', { for: 'token' }, 'Bearer token', input), ' ', h('button', { type: 'submit' }, 'Use token'))));
    input.focus();
  }

  forgetBtn.hidden = !token();
  forgetBtn.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    forgetBtn.hidden = true;
    stream.restart();
    render();
  });

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
          const v = (data.get(k) || '').toString();
          if (k === 'includeTest' ? data.get(k) : v) next[k] = k === 'includeTest' ? 'true' : v;
        }
        const chosen = data.get('limit');
        location.hash = ledgerHash(next, { limit: chosen === '50' ? '' : chosen });
      },
    },
    field('taskFamily', 'Family', { id: 'first-filter', maxlength: 64 }),
    h('label', {}, 'Status', status),
    field('tenant', 'Tenant', { maxlength: 64 }),
    field('assignedTo', 'Assigned to', { maxlength: 128 }),
    field('parentVtid', 'Parent VTID', { placeholder: 'VTID-2026-0001', maxlength: 24 }),
    field('year', 'Year', { class: 'year', inputmode: 'numeric', maxlength: 4, placeholder: 'any' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'includeTest', checked: filters.includeTest === 'true' }), 'test records'),
    h('label', {}, 'Per page', size),
    h('button', { type: 'submit' }, 'Apply'),
    h('a', { href: '#/' }, 'Clear'));
  }

  function ledgerTable(records, flash) {
    if (!records.length) return h('p', { class: 'notice' }, 'No records match.');
    return h('table', {},
      h('thead', {}, h('tr', {}, ['VTID', 'Title', 'Family / type', 'Status', 'Tenant', 'Assigned to', 'Parent', 'Updated']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, records.map((r) => h('tr', { class: flash.has(r.vtid) ? 'flash' : null, 'data-vtid': r.vtid },
        h('td', { class: 'num' }, vtidLink(r.vtid)),
        h('td', { class: 'what' }, h('span', { title: r.description }, r.title || r.description)),
        h('td', {}, `${r.taskFamily} / ${r.taskType}`),
        h('td', {}, badge(r.status), r.status === 'blocked' ? h('span', { class: 'muted' }, ' for ', when(r.updatedAt, '')) : null),
        h('td', {}, r.tenant),
        h('td', {}, text(r.assignedTo)),
        h('td', { class: 'num' }, r.parentVtid ? vtidLink(r.parentVtid) : text(null)),
        h('td', { class: 'when' }, when(r.updatedAt))))));
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
    fill(main, h('section', {}, h('h1', {}, 'Ledger ', h('span', { class: 'muted' }, '· newest first')),
      filterForm(filters, limit), counts, banner, list, pager));
    let shown = new Set();
    let unseen = 0;

    async function loadPage(flash = new Set()) {
      const q = new URLSearchParams(filters);
      q.set('limit', limit);
      if (cursor) q.set('cursor', cursor);
      try {
        const page = await api(`/vtid/list?${q}`);
        if (gen !== generation) return;
        shown = new Set(page.data.map((r) => r.vtid));
        fill(list, ledgerTable(page.data, flash));
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
      return more ? `${COUNT_CAP}+` : String(items.length);
    }

    async function loadCounts() {
      try {
        const values = [];
        for (const s of STATUSES) values.push(await count(s)); // one at a time: gentle on a small server
        if (gen !== generation) return;
        fill(counts, ...STATUSES.map((s, i) => h('li', {},
          h('a', { href: ledgerHash(filters, { status: filters.status === s ? '' : s }), 'aria-current': filters.status === s ? 'true' : null, class: `s-${s}` },
            s, h('b', {}, values[i])))));
      } catch (err) {
        if (gen === generation && !(err instanceof ApiError && err.status === 401)) {
          fill(counts, h('li', { class: 'muted' }, 'counts unavailable'));
        }
      }
    }

    // Rows changed since the last refresh flash once when it lands.
    let changed = new Set();
    const refresh = debounce(() => {
      const flash = changed;
      changed = new Set();
      loadPage(flash);
    }, 250);
    const recount = debounce(loadCounts, 1500);
    loadPage();
    loadCounts();
    return {
      onEvent(e) {
        const relevant = matches(filters, e) || shown.has(e.vtid);
        if (!relevant) return;
        recount();
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
    ['startedAt', 'Started'], ['completedAt', 'Completed'], ['durationSeconds', 'Duration (s)'], ['version', 'Version'],
  ];

  function recordList(r) {
    const dl = h('dl', { class: 'record' });
    for (const [k, label] of FIELDS) {
      let v = r[k];
      if (k === 'parentVtid') v = vtidLink(v);
      else if (k.endsWith('At') && v) v = h('span', {}, v, ' ', h('span', { class: 'muted' }, '(', when(v), ')'));
      else v = text(v);
      dl.append(h('dt', {}, label), h('dd', {}, v));
    }
    dl.append(h('dt', {}, 'Metadata'), h('dd', {}, h('pre', {}, JSON.stringify(r.metadata, null, 2))));
    return dl;
  }

  // The subtasks, level by level, at most TREE_CAP nodes and TREE_DEPTH levels.
  async function subtree(vtid, depth, budget, known) {
    if (depth > TREE_DEPTH || budget.left <= 0) return null;
    const { items, more } = await all('/vtid/list', { parentVtid: vtid, includeTest: 'true' }, budget.left);
    budget.left -= items.length;
    if (!items.length) return null;
    const ul = h('ul', { class: depth === 1 ? 'tree' : null });
    for (const c of items.reverse()) {
      known.add(c.vtid);
      const kids = await subtree(c.vtid, depth + 1, budget, known);
      ul.append(h('li', {}, vtidLink(c.vtid), ' ', badge(c.status), ' ', c.title || c.description, kids));
    }
    if (more) ul.append(h('li', { class: 'muted' }, '… more subtasks than this page shows'));
    return ul;
  }

  function valueText(v) {
    if (v == null) return '∅';
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
            h('del', {}, valueText(c.before)), ' → ', h('ins', {}, valueText(c.after)))))
          : h('details', { class: 'change' }, h('summary', { class: 'muted' }, `${changes.length} fields set`),
            h('ul', {}, changes.map(([field, c]) => h('li', {}, h('span', { class: 'field' }, `${field}: `), valueText(c.after)))))));
    }
    if (more) ol.append(h('li', { class: 'muted' }, `only the first ${HISTORY_CAP} entries are shown`));
    return ol;
  }

  function recordView(vtid) {
    const gen = generation;
    const head = h('h1', {}, vtid);
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    fill(main, h('section', {}, h('p', {}, h('a', { href: '#/' }, '← Ledger')), head, body));
    let family = new Set([vtid]);

    async function load() {
      try {
        const [{ data: r }, history] = await Promise.all([
          api(`/vtid/${encodeURIComponent(vtid)}`),
          (async () => {
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
          })(),
        ]);
        const known = new Set([vtid]);
        const tree = await subtree(vtid, 1, { left: TREE_CAP }, known);
        if (gen !== generation) return;
        family = known;
        fill(head, vtid, ' ', badge(r.status), r.title ? h('span', { class: 'muted' }, ` ${r.title}`) : null);
        document.title = `${vtid} · VTID ledger`;
        body.removeAttribute('aria-busy');
        fill(body, recordList(r),
          h('div', { class: 'columns' },
            h('section', { 'aria-labelledby': 'subtasks' }, h('h2', { id: 'subtasks' }, 'Subtasks'),
              tree || h('p', { class: 'muted' }, 'No subtasks.')),
            h('section', { 'aria-labelledby': 'history' }, h('h2', { id: 'history' }, 'History'),
              timeline(history.entries, history.more))));
      } catch (err) {
        if (gen === generation) showError(err, body);
      }
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
