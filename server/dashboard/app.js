/* global document, window, sessionStorage, fetch, URL, URLSearchParams, CSS, setTimeout, clearTimeout */
/**
 * The Offboard dashboard: one page over the JSON API for HR, IT and the IT desk.
 *
 * - Sign-in with an operator bearer token (kept in sessionStorage only), checked with GET /me, whose
 *   role decides which actions are shown (the API enforces them anyway).
 * - Departures list (GET /departures) with filters; one departure (GET /departures/:id) with its steps,
 *   verification report, acknowledgments, assets and documents, refreshed after every action and polled.
 * - Every piece of data is put on the page with textContent (via `el`), never parsed as markup.
 * - Deep link: #departure=<id>.
 */
'use strict';
(function () {
  const TOKEN_KEY = 'offboard.dashboard.token';
  const POLL_MS = 5000;

  // ------------------------------------------------------------------ words

  const ROLE_WORDS = { hr: 'HR', it: 'IT', itdesk: 'IT desk', admin: 'Administrator' };
  const COLOUR_WORDS = { green: 'Green', yellow: 'Yellow', red: 'Red', grey: 'Grey' };

  /** Step status -> [colour, meaning]. */
  const STEP_STATUS = {
    pending: ['grey', 'not started yet'],
    running: ['yellow', 'running now'],
    green: ['green', 'done and confirmed'],
    yellow: ['yellow', 'action taken, waiting for confirmation'],
    red: ['red', 'failed, needs attention'],
    halted: ['grey', 'stopped (termination cancelled)'],
  };
  const REPORT_COLOUR = {
    green: ['green', 'OK'],
    yellow: ['yellow', 'not finished'],
    red: ['red', 'problem'],
  };
  const DEPARTURE_STATUS = {
    accepted: ['yellow', 'Received, not started yet'],
    started: ['yellow', 'Started'],
    running: ['yellow', 'Removing access'],
    scoped: ['yellow', 'Notice period'],
    awaiting_signoff: ['yellow', 'Waiting for sign-off'],
    completed: ['green', 'Completed'],
    rescinded: ['grey', 'Cancelled (rescinded)'],
    blocked: ['red', 'Could not start'],
  };
  const PHASE_WORDS = {
    planning: 'Planning',
    revoking: 'Removing access',
    scoped: 'Notice period: urgent access removed, the rest at the end of the last day',
    awaiting_tickets: 'Waiting for system owners to confirm',
    recovering: 'Collecting equipment and documents',
    revocation_complete: 'Access removed',
    awaiting_signoff: 'Waiting for HR and IT to sign off',
    completed: 'Completed',
    rescinded: 'Cancelled (termination rescinded)',
  };
  const ASSET_STATUS = {
    pending: ['yellow', 'not requested yet'],
    requested: ['yellow', 'return requested'],
    received: ['green', 'received'],
    escalated_it: ['red', 'overdue, IT owner told'],
    escalated_department_head: ['red', 'overdue, department head told'],
    failed: ['red', 'failed'],
  };
  const DOCUMENT_WORDS = {
    completion_certificate: 'Completion certificate',
    data_archiving_confirmation: 'Data archiving confirmation',
    nda_acknowledgment: 'NDA acknowledgment',
    benefits_notification: 'Benefits notification',
    payroll_notification: 'Payroll notification',
    exit_survey: 'Exit survey',
  };
  const RESOLUTION_WORDS = {
    fixed_by_hand: 'Fixed by hand',
    redriven_confirmed: 'Run again and confirmed',
    accepted_risk: 'Risk accepted',
    no_account: 'No account there',
  };
  const RESOLUTION_HELP = {
    fixed_by_hand: 'Someone removed the access or fixed the problem manually.',
    redriven_confirmed: 'The step was run again and is now confirmed (green).',
    accepted_risk: 'Leave it as it is; explain why in the note.',
    no_account: 'They never had an account in this system; say how you know in the note.',
  };
  const CONDITIONS = [
    ['good', 'Good'],
    ['damaged', 'Damaged'],
    ['missing_parts', 'Missing parts'],
    ['wiped', 'Wiped'],
    ['not_working', 'Not working'],
  ];

  const words = (s) => String(s || '').replace(/_/g, ' ');
  /** A report item's label in plain words (actions come as snake_case from the workflow). */
  const itemLabel = (i) => capital(words(i.label));
  const capital = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : dateFormat.format(d);
  }

  // ------------------------------------------------------------------ DOM helpers

  /**
   * Creates an element. `props`: class, text (textContent), on<Event> handlers, dataset, booleans
   * (hidden, disabled, checked, required); anything else becomes an attribute. Children: nodes or text.
   */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, '');
      else node.setAttribute(k, String(v));
    }
    append(node, children);
    return node;
  }
  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
    }
  }
  const $ = (id) => document.getElementById(id);
  /** Replaces the children of `node` (null and false entries are skipped, never shown as text). */
  function fill(node, ...children) {
    node.replaceChildren();
    append(node, children);
  }

  /** A colour badge: always the colour word and its meaning in text, never colour alone. */
  function badge(colour, meaning) {
    const c = COLOUR_WORDS[colour] ? colour : 'grey';
    return el(
      'span',
      { class: `badge colour-${c}`, dataset: { colour: c } },
      `${COLOUR_WORDS[c]}: ${meaning}`,
    );
  }

  function showError(node, message) {
    node.textContent = message || '';
    node.hidden = !message;
  }

  let feedbackTimer = null;
  /** The message after an action (announced politely to screen readers). */
  function feedback(message, kind) {
    const box = $('feedback');
    box.textContent = message;
    box.className = `feedback ${kind === 'error' ? 'feedback-error' : 'feedback-ok'}`;
    box.hidden = false;
    clearTimeout(feedbackTimer);
    feedbackTimer = setTimeout(() => {
      box.hidden = true;
    }, 15000);
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const PREFIX = {
    401: 'Your token was not accepted',
    403: 'You are not allowed to do this',
    404: 'Not found',
    409: 'This cannot be done right now',
    422: 'This cannot be done',
    503: 'The service is temporarily unavailable, please try again',
  };

  /** Calls the API with the bearer token; throws ApiError with the API's message on any failure. */
  async function api(method, path, body) {
    const headers = { authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(
        0,
        'network',
        'The server could not be reached. Check your connection and try again.',
      );
    }
    if (res.ok) return res;
    let err = null;
    try {
      err = (await res.json()).error;
    } catch {
      /* not JSON */
    }
    const detail = err && err.message ? err.message : `the server answered ${res.status}`;
    const fields = err && Array.isArray(err.fields) ? err.fields : [];
    const fieldText = fields.map((f) => `${words(f.field)}: ${f.message}`).join('; ');
    const prefix = PREFIX[res.status] || 'Something went wrong';
    throw new ApiError(
      res.status,
      err && err.code,
      `${prefix}: ${detail}${fieldText ? ` (${fieldText})` : ''}.`.replace(/\.\.$/, '.'),
    );
  }
  const apiJson = async (method, path, body) => (await api(method, path, body)).json();
  const departurePath = (id) => `/departures/${encodeURIComponent(id)}`;

  // ------------------------------------------------------------------ state

  const state = {
    token: null,
    me: null,
    openId: null,
    detail: null,
    detailJson: null,
    listJson: null,
    /** An open form ({ kind, key }): polling does not redraw the departure while someone types. */
    editing: null,
    pollTimer: null,
    generation: 0,
  };

  const role = () => (state.me ? state.me.role : null);
  const can = {
    acknowledge: () => role() === 'hr' || role() === 'it',
    resolve: () => ['hr', 'it', 'admin'].includes(role()),
    receiveAsset: () => ['itdesk', 'admin'].includes(role()),
    confirmArchive: () => ['it', 'admin'].includes(role()),
    download: () => ['hr', 'it', 'admin'].includes(role()),
  };

  // ------------------------------------------------------------------ sign-in

  async function signIn(token) {
    state.token = token;
    let me;
    try {
      me = await apiJson('GET', '/me');
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      const msg =
        e.status === 401
          ? `Sign-in failed. ${e.message} Check that you pasted the whole token, or ask IT for a new one.`
          : `Sign-in failed. ${e.message}`;
      showSignIn(msg);
      return false;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    state.me = me;
    showApp();
    return true;
  }

  function signOut(message) {
    state.generation++;
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.me = null;
    state.openId = null;
    state.detail = null;
    state.detailJson = null;
    state.listJson = null;
    state.editing = null;
    clearTimeout(state.pollTimer);
    // Nothing of the previous session stays on the page.
    $('departures').tBodies[0].replaceChildren();
    $('detail-body').replaceChildren();
    $('who-text').textContent = '';
    showSignIn(null);
    if (message) feedback(message, message.startsWith('You are signed out') ? 'ok' : 'error');
  }

  function showSignIn(error) {
    $('app').hidden = true;
    $('who').hidden = true;
    $('signin').hidden = false;
    $('token').value = '';
    showError($('signin-error'), error);
    $('token').focus();
  }

  function showApp() {
    $('signin').hidden = true;
    showError($('signin-error'), null);
    $('who-text').textContent =
      `Signed in as ${state.me.name} (${ROLE_WORDS[state.me.role] || state.me.role})`;
    $('who').hidden = false;
    $('app').hidden = false;
    state.listJson = null;
    void loadList();
    openFromHash(false);
    schedulePoll();
  }

  // ------------------------------------------------------------------ list

  function listQuery() {
    const q = new URLSearchParams();
    const status = $('filter-status').value;
    const department = $('filter-department').value.trim();
    // "Failed" is the workflow's state (failed, terminated or timed out), not a departure status.
    if (status === 'failed') q.set('workflow', 'failed');
    else if (status) q.set('status', status);
    if (department) q.set('department', department);
    if ($('filter-red').checked) q.set('red', 'true');
    q.set('limit', '200');
    return q.toString();
  }

  async function loadList() {
    const gen = state.generation;
    let data;
    try {
      data = await apiJson('GET', `/departures?${listQuery()}`);
    } catch (e) {
      if (gen !== state.generation) return;
      if (e.status === 401) return signOut('You were signed out: your token is no longer accepted.');
      showError($('list-error'), `The departures could not be loaded. ${e.message}`);
      return;
    }
    if (gen !== state.generation) return;
    showError($('list-error'), null);
    $('list-updated').textContent = `Updated ${timeFormat.format(new Date())}; refreshes every few seconds.`;
    const json = JSON.stringify(data);
    if (json === state.listJson) return markOpenRow();
    state.listJson = json;
    renderList(data.departures || []);
  }

  function renderList(rows) {
    const table = $('departures');
    table.hidden = rows.length === 0;
    $('list-empty').hidden = rows.length !== 0;
    const focusKey =
      document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    fill(
      table.tBodies[0],
      ...rows.map((d) => {
        const [colour, label] = DEPARTURE_STATUS[d.status] || ['grey', capital(words(d.status))];
        const red = Number(d.redSteps) || 0;
        const redItems = Number(d.redItems) || 0;
        const problems = [
          red > 0 ? `${red} red step${red === 1 ? '' : 's'}` : null,
          redItems > 0 ? `${redItems} red item${redItems === 1 ? '' : 's'} to resolve` : null,
        ].filter(Boolean);
        return el(
          'tr',
          { dataset: { departure: d.id } },
          el(
            'td',
            null,
            el(
              'a',
              { href: `#departure=${encodeURIComponent(d.id)}`, dataset: { key: `open:${d.id}` } },
              d.employeeName || d.employeeId,
            ),
            el('span', { class: 'muted small block' }, d.employeeId),
          ),
          el('td', null, d.department),
          el('td', null, badge(colour, label)),
          el('td', null, problems.length ? badge('red', problems.join(', ')) : badge('green', 'none')),
          el('td', null, when(d.createdAt)),
        );
      }),
    );
    markOpenRow();
    restoreFocus(focusKey);
  }

  function markOpenRow() {
    for (const tr of $('departures').tBodies[0].rows) {
      if (tr.dataset.departure === state.openId) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
  }

  function restoreFocus(key) {
    if (!key) return;
    const again = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again && document.activeElement !== again) again.focus();
  }

  // ------------------------------------------------------------------ one departure

  function idFromHash() {
    const m = /^#departure=(.+)$/.exec(window.location.hash);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return null;
    }
  }

  function openFromHash(moveFocus) {
    if (!state.token) return;
    const id = idFromHash();
    if (id === state.openId) return;
    state.openId = id;
    state.detail = null;
    state.detailJson = null;
    state.editing = null;
    markOpenRow();
    $('detail-body').replaceChildren();
    $('detail-body').hidden = true;
    showError($('detail-error'), null);
    $('detail-title').textContent = 'Departure';
    $('detail-placeholder').hidden = id !== null;
    if (id) {
      $('detail-placeholder').hidden = false;
      $('detail-placeholder').textContent = 'Loading…';
      void loadDetail().then(() => {
        if (moveFocus) $('detail-title').focus();
      });
    } else {
      $('detail-placeholder').textContent = 'Choose a departure from the list to see its details.';
    }
  }

  /** Loads the open departure; `force` redraws even while a form is open (after that form's action). */
  async function loadDetail(force) {
    const id = state.openId;
    const gen = state.generation;
    if (!id) return;
    let data;
    try {
      data = await apiJson('GET', departurePath(id));
    } catch (e) {
      if (gen !== state.generation || id !== state.openId) return;
      if (e.status === 401) return signOut('You were signed out: your token is no longer accepted.');
      $('detail-placeholder').hidden = true;
      showError(
        $('detail-error'),
        e.status === 404
          ? `There is no departure with the id "${id}".`
          : `This departure could not be loaded. ${e.message}`,
      );
      return;
    }
    if (gen !== state.generation || id !== state.openId) return;
    showError($('detail-error'), null);
    const json = JSON.stringify(data);
    state.detail = data;
    if (json === state.detailJson && !force) return updateStamp();
    if (state.editing && !force) {
      updateStamp('New information is waiting; it appears when you save or cancel the form.');
      return;
    }
    state.detailJson = json;
    renderDetail(data);
  }

  function updateStamp(extra) {
    const stamp = $('detail-updated');
    if (stamp)
      stamp.textContent = `Updated ${timeFormat.format(new Date())}; refreshes every few seconds.${extra ? ` ${extra}` : ''}`;
  }

  function overall(v) {
    const ver = v.verification;
    if (v.departure.status === 'completed' || v.workflow.phase === 'completed') return ['green', 'Completed'];
    if (v.departure.status === 'rescinded' || v.workflow.phase === 'rescinded')
      return ['grey', 'Cancelled (rescinded)'];
    const redItems =
      ver && ver.report
        ? ver.report.items.filter((i) => i.colour === 'red' && ver.unresolved.includes(i.itemId))
        : [];
    if (v.departure.redSteps > 0 || redItems.length > 0 || v.departure.status === 'blocked')
      return ['red', 'Needs attention'];
    return ['yellow', 'In progress'];
  }

  function renderDetail(v) {
    const d = v.departure;
    const focusKey =
      document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    $('detail-title').textContent = `${d.employeeName} (${d.employeeId})`;
    $('detail-placeholder').hidden = true;
    const [oc, ol] = overall(v);
    const [sc, sl] = DEPARTURE_STATUS[d.status] || ['grey', capital(words(d.status))];
    const body = $('detail-body');
    fill(
      body,
      el('p', { class: 'muted small', id: 'detail-updated' }),
      el(
        'dl',
        { class: 'summary' },
        pair('Overall', el('span', { id: 'overall' }, badge(oc, ol))),
        pair('Status', el('span', { id: 'departure-status', dataset: { status: d.status } }, badge(sc, sl))),
        pair(
          'Progress',
          el(
            'span',
            { id: 'departure-phase', dataset: { phase: v.workflow.phase || '' } },
            v.workflow.phase
              ? PHASE_WORDS[v.workflow.phase] || capital(words(v.workflow.phase))
              : 'Not known right now',
          ),
        ),
        pair('Department', d.department),
        pair('Work location', capital(words(d.workLocation))),
        pair('Leaving', `${capital(words(d.terminationType))}; last day ${d.lastDay || 'not given'}`),
        pair('Received', when(d.createdAt)),
        d.revokeRestAt ? pair('Remaining access removed at', when(d.revokeRestAt)) : null,
        d.rescindedAt ? pair('Rescinded', when(d.rescindedAt)) : null,
      ),
      v.source === 'database'
        ? el(
            'p',
            { class: 'notice' },
            'The live status is not available right now; this is the last saved state.',
          )
        : null,
      d.lastStartError ? el('p', { class: 'notice' }, `Could not start: ${d.lastStartError}`) : null,
      d.status === 'awaiting_approval'
        ? el(
            'p',
            { class: 'notice', id: 'awaiting-approval' },
            `Waiting for a second operator's approval before anything starts: ${d.approvalReason || ''}. ` +
              `Approve it with "offboard approve ${d.id} --note …" (not by the operator who submitted it).`,
          )
        : null,
      outstandingSection(v),
      certificateSection(v),
      stepsSection(v),
      reportSection(v),
      acknowledgmentSection(v),
      assetsSection(v),
      documentsSection(v),
      archivesSection(v),
      reviewsSection(v),
    );
    body.hidden = false;
    updateStamp();
    restoreFocus(focusKey);
  }

  function pair(term, value) {
    return [el('dt', null, term), el('dd', null, value)];
  }

  function section(key, title, ...content) {
    return el(
      'section',
      { class: 'block', id: `section-${key}`, 'aria-labelledby': `h-${key}` },
      el('h3', { id: `h-${key}`, tabindex: '-1' }, title),
      ...content,
    );
  }

  function table(caption, headers, rows) {
    return el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        { class: 'table' },
        el('caption', { class: 'visually-hidden' }, caption),
        el(
          'thead',
          null,
          el(
            'tr',
            null,
            headers.map((h) => el('th', { scope: 'col' }, h)),
          ),
        ),
        el('tbody', null, rows),
      ),
    );
  }

  function labelOf(v, itemId) {
    const items = v.verification && v.verification.report ? v.verification.report.items : [];
    const item = items.find((i) => i.itemId === itemId);
    return item ? itemLabel(item) : itemId;
  }

  function outstandingText(v, line) {
    const m = /^resolution of (\S+) \((\w+)\)$/.exec(line);
    if (m) return `Resolve “${labelOf(v, m[1])}” (${COLOUR_WORDS[m[2]] || m[2]})`;
    const ack = /^(HR|IT) acknowledgment$/.exec(line);
    if (ack) return `${ack[1]} must acknowledge the verification report`;
    const due = /^verification report \(due (.+)\)$/.exec(line);
    if (due) return `The verification report is compiled ${when(due[1])}`;
    return capital(line);
  }

  function outstandingSection(v) {
    const ver = v.verification;
    if (!ver) return null;
    if (ver.done)
      return section(
        'outstanding',
        'Still to do',
        el('p', null, 'Nothing: everything is signed off and checked.'),
      );
    if (!ver.outstanding.length) return null;
    return section(
      'outstanding',
      'Still to do',
      el(
        'ul',
        { id: 'outstanding' },
        ver.outstanding.map((line) => el('li', null, outstandingText(v, line))),
      ),
    );
  }

  function certificateSection(v) {
    const cert = (v.documents || []).find((x) => x.type === 'completion_certificate');
    if (!cert || !['generated', 'delivered'].includes(cert.status)) return null;
    if (!can.download())
      return section(
        'certificate',
        'Completion certificate',
        el('p', null, 'The completion certificate is ready. HR and IT can download it.'),
      );
    return section(
      'certificate',
      'Completion certificate',
      el('p', null, `Issued ${when(cert.updatedAt)}.`),
      el(
        'button',
        {
          type: 'button',
          id: 'download-certificate',
          dataset: { key: 'download-certificate' },
          onclick: (ev) => downloadCertificate(v, ev.currentTarget),
        },
        'Download completion certificate (PDF)',
      ),
    );
  }

  /** A notice period's phase of a step: scoped at once, or held until the last day ends. */
  function phaseLabel(s) {
    if (s.kind === 'scope') return 'notice period: scoped, account kept working';
    if (s.scheduledFor) return 'after the last day';
    return s.privileged ? 'privileged' : null;
  }

  function stepsSection(v) {
    if (!v.steps.length)
      return section(
        'steps',
        'Access removal steps',
        el('p', { class: 'muted' }, 'No steps have been planned yet.'),
      );
    const rows = v.steps.map((s) => {
      const [colour, meaning] = STEP_STATUS[s.status] || ['grey', words(s.status)];
      const last = s.finishedAt || s.confirmedAt || s.actedAt || s.startedAt || s.scheduledFor;
      const detail =
        s.lastError ||
        s.detail ||
        (s.scheduledFor && s.status === 'pending' ? `Scheduled for ${when(s.scheduledFor)}` : '');
      return el(
        'tr',
        { dataset: { step: s.stepId }, class: `row-${colour}` },
        el(
          'td',
          null,
          s.systemName,
          phaseLabel(s) ? el('span', { class: 'muted small block' }, phaseLabel(s)) : null,
        ),
        el('td', null, capital(words(s.action))),
        el('td', { class: 'status-cell' }, badge(colour, meaning)),
        el('td', null, String(s.attempts)),
        el('td', { class: 'account-cell' }, accountText(s.match)),
        el('td', null, when(last)),
        el('td', { class: 'detail-cell' }, detail || '—'),
      );
    });
    return section(
      'steps',
      'Access removal steps',
      table(
        'Access removal steps',
        ['System', 'What', 'Status', 'Attempts', 'Account', 'Last change', 'Details'],
        rows,
      ),
    );
  }

  /** Which account a step acted on and the key that found it, or why it acted on none. */
  function accountText(m) {
    if (!m) return '—';
    if (m.outcome === 'found') return `${m.account.name} (found by ${m.by})`;
    if (m.outcome === 'not_found')
      return `None found (searched ${m.keys.map((k) => k.key).join(', ') || 'no key'})`;
    if (m.outcome === 'ambiguous')
      return `${m.candidates.length} accounts match, none changed: ${m.candidates.map((c) => c.name).join('; ')}`;
    return `Protected, not changed: ${m.account.name} (${m.protectedBy || ''})`;
  }

  function reportSection(v) {
    const ver = v.verification;
    if (!ver)
      return section(
        'report',
        'Verification report',
        el('p', { class: 'muted' }, 'This departure has no verification report.'),
      );
    if (!ver.report)
      return section(
        'report',
        'Verification report',
        el('p', null, `The verification report is not ready yet. It is due ${when(ver.reportAt)}.`),
      );
    const rep = ver.report;
    const resolutionOf = (itemId) => [...ver.resolutions].reverse().find((r) => r.itemId === itemId);
    const rows = [];
    for (const i of rep.items) {
      const open = ver.unresolved.includes(i.itemId);
      const [nc, nm] = REPORT_COLOUR[i.colour] || ['grey', i.colour];
      const [rc, rm] = REPORT_COLOUR[i.reportColour] || ['grey', i.reportColour];
      const r = resolutionOf(i.itemId);
      let action;
      if (open) {
        action = [
          el('span', { class: 'needs' }, 'Needs a resolution'),
          can.resolve() && !ver.done
            ? el(
                'button',
                {
                  type: 'button',
                  class: 'small-button',
                  dataset: { key: `resolve:${i.itemId}` },
                  'aria-label': `Resolve ${itemLabel(i)}`,
                  onclick: () => openForm({ kind: 'resolve', key: i.itemId }),
                },
                'Resolve…',
              )
            : null,
        ];
      } else if (r) {
        action = `${RESOLUTION_WORDS[r.how] || words(r.how)} by ${r.by} (${ROLE_WORDS[r.role] || r.role}), ${when(r.at)}: ${r.note}`;
      } else action = '—';
      rows.push(
        el(
          'tr',
          { dataset: { item: i.itemId }, class: `row-${i.colour}` },
          el('td', null, itemLabel(i)),
          el('td', { class: 'status-cell' }, badge(nc, nm)),
          el('td', { class: 'status-cell' }, badge(rc, rm)),
          el('td', { class: 'detail-cell' }, i.detail || '—'),
          el('td', { class: 'resolution-cell' }, action),
        ),
      );
      if (state.editing && state.editing.kind === 'resolve' && state.editing.key === i.itemId)
        rows.push(el('tr', { class: 'form-row' }, el('td', { colspan: '5' }, resolveForm(v, i))));
    }
    const counts = ['red', 'yellow', 'green'].map(
      (c) => `${rep.items.filter((i) => i.colour === c).length} ${c}`,
    );
    return section(
      'report',
      'Verification report',
      el(
        'p',
        null,
        `Compiled ${when(rep.compiledAt)}; acknowledgments due ${when(rep.ackDueAt)}. Now: ${counts.join(', ')}.`,
      ),
      ver.unresolved.length
        ? el(
            'p',
            null,
            `${ver.unresolved.length} item${ver.unresolved.length === 1 ? ' needs' : 's need'} a resolution.`,
          )
        : el('p', null, 'Every item that needed a resolution has one.'),
      table('Verification report items', ['Item', 'Now', 'In the report', 'Details', 'Resolution'], rows),
    );
  }

  function resolveForm(v, item) {
    const id = `resolve-${item.itemId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const errorBox = el('p', { class: 'error', role: 'alert', hidden: true });
    const allowed = (how) => {
      if (how === 'redriven_confirmed') return item.kind === 'step' && item.colour === 'green';
      // Only for an account matching did not find; not finding one is never an accepted risk.
      const notFound = item.kind === 'step' && /^AccountNotFoundError:/.test(item.detail || '');
      if (how === 'no_account') return notFound;
      if (how === 'accepted_risk' && (notFound || /^AmbiguousAccountError:/.test(item.detail || '')))
        return false;
      if (item.kind === 'access' && item.colour === 'red') return how === 'fixed_by_hand';
      return true;
    };
    const options = Object.keys(RESOLUTION_WORDS).filter(allowed);
    const note = el('textarea', {
      id: `${id}-note`,
      name: 'note',
      rows: '3',
      required: true,
      minlength: '3',
      maxlength: '4000',
    });
    const form = el(
      'form',
      {
        class: 'inline-form',
        novalidate: true,
        dataset: { form: `resolve:${item.itemId}` },
        onsubmit: (ev) => {
          ev.preventDefault();
          const how = form.querySelector('input[name="how"]:checked');
          if (!how) return showError(errorBox, 'Choose how it was resolved.');
          if (note.value.trim().length < 3) {
            note.focus();
            return showError(
              errorBox,
              'Write a short note (at least 3 characters) saying what was done or why.',
            );
          }
          void submit(
            form,
            errorBox,
            async () => {
              await apiJson('POST', `${departurePath(v.departure.id)}/resolutions`, {
                itemId: item.itemId,
                how: how.value,
                note: note.value.trim(),
              });
              return `Resolved “${itemLabel(item)}” as ${RESOLUTION_WORDS[how.value].toLowerCase()}.`;
            },
            'report',
          );
        },
      },
      el(
        'fieldset',
        null,
        el('legend', null, `Resolve: ${itemLabel(item)}`),
        item.kind === 'access' && item.colour === 'red'
          ? el(
              'p',
              { class: 'hint' },
              'The account is still active. Disable it in the system first; it is checked again before sign-off.',
            )
          : null,
        options.map((how) =>
          el(
            'div',
            { class: 'radio' },
            el('input', {
              type: 'radio',
              name: 'how',
              id: `${id}-${how}`,
              value: how,
              checked: options.length === 1,
            }),
            el(
              'label',
              { for: `${id}-${how}` },
              el('strong', null, RESOLUTION_WORDS[how]),
              ` — ${RESOLUTION_HELP[how]}`,
            ),
          ),
        ),
        el('label', { for: `${id}-note` }, 'Note (required): what was done, or why the risk is accepted'),
        note,
      ),
      errorBox,
      el(
        'div',
        { class: 'form-actions' },
        el('button', { type: 'submit' }, 'Save resolution'),
        el('button', { type: 'button', class: 'secondary', onclick: () => closeForm('report') }, 'Cancel'),
      ),
    );
    return form;
  }

  function acknowledgmentSection(v) {
    const ver = v.verification;
    if (!ver) return null;
    const line = (r) => {
      const a = ver.acknowledgments[r];
      return el(
        'li',
        { dataset: { ack: r } },
        a
          ? [
              badge('green', 'acknowledged'),
              ` ${ROLE_WORDS[r]}: by ${a.by}, ${when(a.at)}${a.note ? ` — “${a.note}”` : ''}`,
            ]
          : [badge('yellow', 'not yet'), ` ${ROLE_WORDS[r]}: not acknowledged yet`],
      );
    };
    const content = [el('ul', { class: 'plain', id: 'acknowledgments' }, line('hr'), line('it'))];
    const mine = role();
    if (can.acknowledge()) {
      if (ver.acknowledgments[mine])
        content.push(el('p', null, `You have acknowledged this report for ${ROLE_WORDS[mine]}.`));
      else if (!ver.report)
        content.push(el('p', { class: 'muted' }, 'You can acknowledge once the report is ready.'));
      else if (v.workflow.phase === 'rescinded')
        content.push(el('p', { class: 'muted' }, 'The termination was rescinded.'));
      else if (state.editing && state.editing.kind === 'ack') content.push(ackForm(v));
      else
        content.push(
          el(
            'button',
            {
              type: 'button',
              id: 'acknowledge',
              dataset: { key: 'acknowledge' },
              onclick: () => openForm({ kind: 'ack', key: mine }),
            },
            `Acknowledge as ${ROLE_WORDS[mine]}…`,
          ),
        );
    } else if (mine === 'itdesk' || mine === 'admin') {
      content.push(el('p', { class: 'muted small' }, 'HR and IT each acknowledge the report themselves.'));
    }
    return section('acknowledgments', 'Sign-off (acknowledgments)', ...content);
  }

  function ackForm(v) {
    const mine = role();
    const errorBox = el('p', { class: 'error', role: 'alert', hidden: true });
    const note = el('textarea', { id: 'ack-note', name: 'note', rows: '2', maxlength: '2000' });
    const form = el(
      'form',
      {
        class: 'inline-form',
        novalidate: true,
        dataset: { form: 'ack' },
        onsubmit: (ev) => {
          ev.preventDefault();
          void submit(
            form,
            errorBox,
            async () => {
              const text = note.value.trim();
              const r = await apiJson(
                'POST',
                `${departurePath(v.departure.id)}/acknowledge`,
                text ? { note: text } : {},
              );
              return r.alreadyAcknowledged
                ? `${ROLE_WORDS[mine]} had already acknowledged this report (by ${r.acknowledgment.by}).`
                : `Acknowledged as ${ROLE_WORDS[mine]}.`;
            },
            'acknowledgments',
          );
        },
      },
      el(
        'fieldset',
        null,
        el('legend', null, `Acknowledge the verification report as ${ROLE_WORDS[mine]}`),
        el(
          'p',
          { class: 'hint' },
          'By acknowledging you confirm you have read the report. You sign only for your own function.',
        ),
        el('label', { for: 'ack-note' }, 'Note (optional)'),
        note,
      ),
      errorBox,
      el(
        'div',
        { class: 'form-actions' },
        el('button', { type: 'submit' }, `Acknowledge as ${ROLE_WORDS[mine]}`),
        el(
          'button',
          { type: 'button', class: 'secondary', onclick: () => closeForm('acknowledgments') },
          'Cancel',
        ),
      ),
    );
    return form;
  }

  function assetsSection(v) {
    if (!v.assets.length)
      return section(
        'assets',
        'Equipment',
        el('p', { class: 'muted' }, 'No equipment is being recovered (none assigned, or not started yet).'),
      );
    const rows = [];
    for (const a of v.assets) {
      const [colour, meaning] = ASSET_STATUS[a.status] || ['grey', words(a.status)];
      // Anything not yet received can still come back (a late return is recorded too).
      const open = a.status !== 'received';
      rows.push(
        el(
          'tr',
          { dataset: { asset: a.assetTag }, class: `row-${colour}` },
          el('td', null, a.assetName),
          el('td', null, a.assetTag),
          el('td', null, a.route === 'remote' ? 'Sent back by post' : 'Handed in at the office'),
          el('td', { class: 'status-cell' }, badge(colour, meaning)),
          el('td', null, a.receivedAt ? `Received ${when(a.receivedAt)}` : `Due ${when(a.dueAt)}`),
          el(
            'td',
            null,
            open && can.receiveAsset()
              ? el(
                  'button',
                  {
                    type: 'button',
                    class: 'small-button',
                    dataset: { key: `receive:${a.assetTag}` },
                    'aria-label': `Record ${a.assetName} ${a.assetTag} as received`,
                    onclick: () => openForm({ kind: 'asset', key: a.assetTag }),
                  },
                  'Record as received…',
                )
              : a.lastError || '—',
          ),
        ),
      );
      if (state.editing && state.editing.kind === 'asset' && state.editing.key === a.assetTag)
        rows.push(el('tr', { class: 'form-row' }, el('td', { colspan: '6' }, assetForm(v, a))));
    }
    return section(
      'assets',
      'Equipment',
      table('Equipment to recover', ['Item', 'Tag', 'How it comes back', 'Status', 'When', 'Action'], rows),
    );
  }

  function assetForm(v, a) {
    const id = `asset-${a.assetTag.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const errorBox = el('p', { class: 'error', role: 'alert', hidden: true });
    const condition = el(
      'select',
      { id: `${id}-condition`, name: 'condition', required: true },
      el('option', { value: '' }, 'Choose…'),
      CONDITIONS.map(([value, label]) => el('option', { value }, label)),
    );
    const inspectedBy = el('input', {
      id: `${id}-inspected`,
      name: 'inspectedBy',
      type: 'text',
      required: true,
      maxlength: '200',
    });
    inspectedBy.value = state.me ? state.me.name : '';
    const receivedBy = el('input', {
      id: `${id}-received`,
      name: 'receivedBy',
      type: 'text',
      maxlength: '200',
      placeholder: 'you',
    });
    const notes = el('textarea', { id: `${id}-notes`, name: 'notes', rows: '2', maxlength: '2000' });
    const form = el(
      'form',
      {
        class: 'inline-form',
        novalidate: true,
        dataset: { form: `asset:${a.assetTag}` },
        onsubmit: (ev) => {
          ev.preventDefault();
          if (!condition.value) {
            condition.focus();
            return showError(errorBox, 'Choose the condition the item came back in.');
          }
          if (!inspectedBy.value.trim()) {
            inspectedBy.focus();
            return showError(errorBox, 'Write who inspected the item.');
          }
          const body = { condition: condition.value, inspectedBy: inspectedBy.value.trim() };
          if (receivedBy.value.trim()) body.receivedBy = receivedBy.value.trim();
          if (notes.value.trim()) body.notes = notes.value.trim();
          void submit(
            form,
            errorBox,
            async () => {
              await apiJson(
                'POST',
                `${departurePath(v.departure.id)}/assets/${encodeURIComponent(a.assetTag)}/received`,
                body,
              );
              return `Recorded ${a.assetName} (${a.assetTag}) as received. The list updates in a moment.`;
            },
            'assets',
          );
        },
      },
      el(
        'fieldset',
        null,
        el('legend', null, `Record ${a.assetName} (${a.assetTag}) as received`),
        el('label', { for: condition.id }, 'Condition'),
        condition,
        el('label', { for: inspectedBy.id }, 'Inspected by'),
        inspectedBy,
        el('label', { for: receivedBy.id }, 'Received by (leave empty if it was you)'),
        receivedBy,
        el('label', { for: notes.id }, 'Notes (optional)'),
        notes,
      ),
      errorBox,
      el(
        'div',
        { class: 'form-actions' },
        el('button', { type: 'submit' }, 'Save receipt'),
        el('button', { type: 'button', class: 'secondary', onclick: () => closeForm('assets') }, 'Cancel'),
      ),
    );
    return form;
  }

  const ARCHIVE_STATUS = {
    pending: ['yellow', "waiting for the data owner's word"],
    archived: ['green', 'archived'],
  };

  function archivesSection(v) {
    const archives = v.archives || [];
    if (!archives.length) return null;
    const running = v.workflow.status === 'RUNNING';
    const rows = [];
    for (const a of archives) {
      const [colour, meaning] = ARCHIVE_STATUS[a.status] || ['grey', words(a.status)];
      rows.push(
        el(
          'tr',
          { dataset: { archive: a.sourceId }, class: `row-${colour}` },
          el('td', null, a.sourceName),
          el('td', null, a.retentionPolicy),
          el('td', { class: 'status-cell' }, badge(colour, meaning)),
          el(
            'td',
            null,
            a.archivedAt ? `${when(a.archivedAt)}${a.items != null ? `, ${a.items} items` : ''}` : '—',
          ),
          el(
            'td',
            null,
            a.status === 'pending' && running && can.confirmArchive()
              ? el(
                  'button',
                  {
                    type: 'button',
                    class: 'small-button',
                    dataset: { key: `archive:${a.sourceId}` },
                    'aria-label': `Record the archive of ${a.sourceName} as done`,
                    onclick: () => openForm({ kind: 'archive', key: a.sourceId }),
                  },
                  'Record as archived…',
                )
              : '—',
          ),
        ),
      );
      if (state.editing && state.editing.kind === 'archive' && state.editing.key === a.sourceId)
        rows.push(el('tr', { class: 'form-row' }, el('td', { colspan: '5' }, archiveForm(v, a))));
    }
    return section(
      'archives',
      'Data archives',
      table('Data archives', ['Data source', 'Retention', 'Status', 'Archived', 'Action'], rows),
    );
  }

  function archiveForm(v, a) {
    const id = `archive-${a.sourceId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const errorBox = el('p', { class: 'error', role: 'alert', hidden: true });
    const items = el('input', {
      id: `${id}-items`,
      name: 'items',
      type: 'number',
      min: '0',
      step: '1',
      required: true,
      inputmode: 'numeric',
    });
    const note = el('textarea', {
      id: `${id}-note`,
      name: 'note',
      rows: '2',
      maxlength: '2000',
      required: true,
    });
    const form = el(
      'form',
      {
        class: 'inline-form',
        novalidate: true,
        dataset: { form: `archive:${a.sourceId}` },
        onsubmit: (ev) => {
          ev.preventDefault();
          const n = Number(items.value);
          if (items.value.trim() === '' || !Number.isInteger(n) || n < 0) {
            items.focus();
            return showError(
              errorBox,
              'Write how many items the owner archived (a whole number, 0 or more).',
            );
          }
          if (note.value.trim().length < 3) {
            note.focus();
            return showError(errorBox, 'Write who confirmed it and how (at least 3 characters).');
          }
          void submit(
            form,
            errorBox,
            async () => {
              await apiJson(
                'POST',
                `${departurePath(v.departure.id)}/archives/${encodeURIComponent(a.sourceId)}/confirmed`,
                { items: n, note: note.value.trim() },
              );
              return `Recorded the archive of ${a.sourceName}. The list updates in a moment.`;
            },
            'archives',
          );
        },
      },
      el(
        'fieldset',
        null,
        el('legend', null, `Record the archive of ${a.sourceName} as done`),
        el('label', { for: items.id }, 'Items archived (as the owner reported)'),
        items,
        el('label', { for: note.id }, 'Who confirmed it, and how'),
        note,
      ),
      errorBox,
      el(
        'div',
        { class: 'form-actions' },
        el('button', { type: 'submit' }, 'Save confirmation'),
        el('button', { type: 'button', class: 'secondary', onclick: () => closeForm('archives') }, 'Cancel'),
      ),
    );
    return form;
  }

  function documentColour(x) {
    if (['generated', 'delivered', 'signed', 'answered'].includes(x.status)) return 'green';
    if (x.status === 'sent' && x.type === 'exit_survey') return 'green';
    if (['expired', 'failed'].includes(x.status)) return 'red';
    return 'yellow';
  }

  function documentsSection(v) {
    if (!v.documents.length)
      return section('documents', 'Documents', el('p', { class: 'muted' }, 'No documents yet.'));
    const rows = v.documents.map((x) =>
      el(
        'tr',
        { dataset: { document: x.type } },
        el('td', null, DOCUMENT_WORDS[x.type] || capital(words(x.type))),
        el('td', { class: 'status-cell' }, badge(documentColour(x), words(x.status))),
        el('td', null, when(x.updatedAt)),
      ),
    );
    return section('documents', 'Documents', table('Documents', ['Document', 'Status', 'Updated'], rows));
  }

  function reviewsSection(v) {
    const open = (v.reviews || []).filter((r) => r.status === 'open');
    if (!open.length) return null;
    return section(
      'reviews',
      'Decisions waiting for HR and IT',
      el(
        'ul',
        null,
        open.map((r) =>
          el('li', null, `${capital(words(r.kind))} opened by ${r.openedBy}, ${when(r.createdAt)}`),
        ),
      ),
    );
  }

  // ------------------------------------------------------------------ actions

  function openForm(editing) {
    state.editing = editing;
    if (state.detail) renderDetail(state.detail);
    const form = document.querySelector(
      editing.kind === 'ack'
        ? 'form[data-form="ack"]'
        : `form[data-form="${CSS.escape(`${editing.kind}:${editing.key}`)}"]`,
    );
    const first = form && form.querySelector('input:not([type="hidden"]), select, textarea');
    if (first) first.focus();
  }

  function closeForm(sectionKey) {
    state.editing = null;
    if (state.detail) renderDetail(state.detail);
    const h = $(`h-${sectionKey}`);
    if (h) h.focus();
    void loadDetail(true);
  }

  /** Runs an action from a form: disables it while it runs, shows the outcome, refreshes the departure. */
  async function submit(form, errorBox, action, sectionKey) {
    const buttons = form.querySelectorAll('button');
    const submitButton = form.querySelector('button[type="submit"]');
    const label = submitButton.textContent;
    for (const b of buttons) b.disabled = true;
    submitButton.textContent = 'Saving…';
    showError(errorBox, null);
    try {
      const message = await action();
      state.editing = null;
      feedback(message, 'ok');
      await loadDetail(true);
      void loadList();
      const h = $(`h-${sectionKey}`);
      if (h) h.focus();
    } catch (e) {
      if (e.status === 401) return signOut('You were signed out: your token is no longer accepted.');
      for (const b of buttons) b.disabled = false;
      submitButton.textContent = label;
      showError(errorBox, e.message);
      feedback(e.message, 'error');
    }
  }

  async function downloadCertificate(v, button) {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = 'Downloading…';
    try {
      const res = await api('GET', `${departurePath(v.departure.id)}/documents/completion_certificate`);
      const blob = await res.blob();
      const cd = res.headers.get('content-disposition') || '';
      const m = /filename="([^"]+)"/.exec(cd);
      const name = m ? m[1] : `completion_certificate-${v.departure.employeeId}.pdf`;
      const url = URL.createObjectURL(blob);
      const a = el('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      feedback(`The completion certificate was downloaded as ${name}.`, 'ok');
    } catch (e) {
      if (e.status === 401) return signOut('You were signed out: your token is no longer accepted.');
      feedback(`The certificate could not be downloaded. ${e.message}`, 'error');
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  // ------------------------------------------------------------------ polling

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    const gen = state.generation;
    state.pollTimer = setTimeout(async () => {
      if (!state.token || gen !== state.generation) return;
      await Promise.all([loadList(), loadDetail(false)]);
      if (state.token && gen === state.generation) schedulePoll();
    }, POLL_MS);
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    $('signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const token = $('token').value.trim();
      if (!token) return showError($('signin-error'), 'Paste your access token first.');
      const button = ev.target.querySelector('button[type="submit"]');
      button.disabled = true;
      button.textContent = 'Signing in…';
      void signIn(token).finally(() => {
        button.disabled = false;
        button.textContent = 'Sign in';
      });
    });
    $('sign-out').addEventListener('click', () =>
      signOut('You are signed out. The token was removed from this browser tab.'),
    );
    $('filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.listJson = null;
      void loadList();
    });
    $('filter-status').addEventListener('change', () => {
      state.listJson = null;
      void loadList();
    });
    $('filter-red').addEventListener('change', () => {
      state.listJson = null;
      void loadList();
    });
    $('filters-clear').addEventListener('click', () => {
      $('filters').reset();
      state.listJson = null;
      void loadList();
    });
    window.addEventListener('hashchange', () => openFromHash(true));

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) void signIn(saved);
    else showSignIn(null);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
