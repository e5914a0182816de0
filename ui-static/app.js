/*
 * app.js : the Kiseki web UI. Plain JavaScript, no build step, no
 * framework, nothing fetched from outside the query server.
 *
 * Pages (client-side routes, history API; kiseki-query serves index.html
 * for any non-/api path without a dot):
 *   /, /search     trace search (GET /api/search) with a duration scatter
 *   /trace/<id>    waterfall of one trace (GET /api/traces/<id>?format=compact),
 *                  its logs (/logs) and statistics (/stats)
 *   /deps          service graph (GET /api/dependencies)
 *   /logs          log search (GET /api/logs, /api/logs/stats)
 *
 * The waterfall is built for 10,000+ spans: spans live in typed arrays,
 * the visible rows are a list of span indices rebuilt in O(visible) on
 * collapse, and only the rows inside the viewport exist in the DOM (a
 * fixed row height, a spacer for the scroll height, a pool of row
 * elements reused by index modulo the pool size, so scrolling by one row
 * repaints one row). Nothing reads layout inside a render loop.
 *
 * Auth: when the API answers 401 a field asks for a bearer token, kept in
 * sessionStorage and sent as `Authorization: Bearer`.
 */
'use strict';
(function () {
	const TOKEN_KEY = 'kiseki.token';
	const ROW_H = 24;           /* waterfall row height (px); must match style.css */
	const LOG_ROW_H = 24;       /* log list row height (px) */
	const OVERSCAN = 8;         /* rows rendered above and below the viewport */
	const AUTO_ATTR_SPANS = 3000; /* fetch full span attributes on click below this */

	/* state shared with the tests (read only for them) */
	const kiseki = (window.kiseki = {timing: {}, page: null, version: 1});

	/* ---- small helpers ----------------------------------------------------------- */

	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		if (attrs)
			for (const k in attrs) {
				const v = attrs[k];
				if (v === undefined || v === null || v === false)
					continue;
				if (k === 'class')
					el.className = v;
				else if (k === 'text')
					el.textContent = v;
				else if (k === 'style' && typeof v === 'object')
					for (const sk in v) {
						if (sk.startsWith('--'))
							el.style.setProperty(sk, v[sk]);
						else
							el.style[sk] = v[sk];
					}
				else if (k.startsWith('on'))
					el.addEventListener(k.slice(2), v);
				else if (k === 'dataset')
					Object.assign(el.dataset, v);
				else
					el.setAttribute(k, v === true ? '' : v);
			}
		for (const c of kids.flat()) {
			if (c === null || c === undefined || c === false)
				continue;
			el.append(c.nodeType ? c : document.createTextNode(String(c)));
		}
		return el;
	}

	function svgEl(tag, attrs, ...kids) {
		const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
		if (attrs)
			for (const k in attrs)
				if (attrs[k] !== undefined && attrs[k] !== null)
					el.setAttribute(k, attrs[k]);
		for (const c of kids.flat())
			if (c !== null && c !== undefined)
				el.append(c.nodeType ? c : document.createTextNode(String(c)));
		return el;
	}

	/* appends the non-empty kids (native append would print "null") */
	function put(el, ...kids) {
		for (const c of kids.flat())
			if (c !== null && c !== undefined && c !== false)
				el.append(c);
		return el;
	}

	function pad(n, w) {
		return String(n).padStart(w || 2, '0');
	}

	/* a duration in µs, short: 850µs, 12.3ms, 1.234s, 2m 3.4s */
	function fmtDur(us) {
		if (!(us >= 0))
			return '-' + fmtDur(-us);
		if (us < 1000)
			return Math.round(us) + 'µs';
		if (us < 1e6)
			return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + 'ms';
		if (us < 6e7)
			return (us / 1e6).toFixed(us < 1e7 ? 3 : 2) + 's';
		const m = Math.floor(us / 6e7);
		if (m < 60)
			return m + 'm ' + ((us - m * 6e7) / 1e6).toFixed(1) + 's';
		const hr = Math.floor(m / 60);
		return hr + 'h ' + (m % 60) + 'm';
	}

	function fmtSigned(us) {
		return (us >= 0 ? '+' : '−') + fmtDur(Math.abs(us));
	}

	/* µs since the epoch -> local "2026-01-31 12:34:56.789" */
	function fmtTime(us) {
		const d = new Date(us / 1000);
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
			pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' +
			pad(d.getMilliseconds(), 3);
	}

	function fmtAgo(us) {
		const s = (Date.now() * 1000 - us) / 1e6;
		if (s < 0)
			return 'in the future';
		if (s < 60)
			return Math.round(s) + 's ago';
		if (s < 3600)
			return Math.round(s / 60) + 'm ago';
		if (s < 86400)
			return Math.round(s / 3600) + 'h ago';
		return Math.round(s / 86400) + 'd ago';
	}

	function fmtNum(n) {
		return Number(n).toLocaleString('en-US');
	}

	/* Go-style duration ("100ms", "1.5s") -> µs; NaN when malformed */
	const DUR_UNITS = {ns: 1e-3, us: 1, 'µs': 1, ms: 1e3, s: 1e6, m: 6e7, h: 3.6e9, d: 8.64e10};
	function parseDur(s) {
		const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)\s*$/.exec(s || '');
		return m ? parseFloat(m[1]) * DUR_UNITS[m[2]] : NaN;
	}

	/* datetime-local value <-> µs since the epoch */
	function localToUs(v) {
		const t = new Date(v).getTime();
		return isNaN(t) ? NaN : t * 1000;
	}
	/* The search forms' custom time range and limit into `p`; an error
	 * message for the form, or '' */
	function formRangeLimit(f, p, custom, maxLimit) {
		if (custom) {
			const s = localToUs(f.start.value), e = localToUs(f.end.value);
			if (isNaN(s) || isNaN(e) || s > e)
				return 'time: pick a start before the end';
			p.set('start', String(s));
			p.set('end', String(e));
		}
		const lim = parseInt(f.limit.value, 10);
		if (!(lim >= 1 && lim <= maxLimit))
			return 'limit: 1 to ' + maxLimit;
		p.set('limit', String(lim));
		return '';
	}
	function usToLocal(us) {
		const d = new Date(us / 1000);
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
			pad(d.getHours()) + ':' + pad(d.getMinutes());
	}

	/* tags text "k=v k2=\"v w\"" -> {k: v}; throws on a term without '=' */
	function parseTags(text) {
		const out = {};
		const re = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
		let pos = 0;
		const s = (text || '').trim();
		while (pos < s.length) {
			re.lastIndex = pos;
			const m = re.exec(s);
			if (!m)
				throw new Error('tags: expected key=value at "' + s.slice(pos).trim().slice(0, 30) + '"');
			out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
			pos = re.lastIndex;
			while (pos < s.length && /\s/.test(s[pos]))
				pos++;
		}
		return out;
	}

	/* ---- service colours ---------------------------------------------------------- */

	/* Red is kept for errors. A name hashes to a preferred slot; a taken
	 * slot moves on to the next free one, so the services of one page get
	 * distinct colours as long as there are no more than the palette. */
	const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#8b5cf6', '#ec4899', '#06b6d4',
		'#84cc16', '#f97316', '#6366f1', '#14b8a6', '#ca8a04', '#a855f7', '#0ea5e9',
		'#22c55e', '#d946ef', '#64748b'];
	const colourOf = new Map();
	const slotTaken = new Array(PALETTE.length).fill(false);
	function hashStr(s) {
		let x = 2166136261;
		for (let i = 0; i < s.length; i++) {
			x ^= s.charCodeAt(i);
			x = Math.imul(x, 16777619);
		}
		return x >>> 0;
	}
	function colour(name) {
		let c = colourOf.get(name);
		if (c)
			return c;
		const hsh = hashStr(name);
		let slot = hsh % PALETTE.length;
		for (let k = 0; k < PALETTE.length && slotTaken[slot]; k++)
			slot = (slot + 1) % PALETTE.length;
		if (!slotTaken[slot]) {
			slotTaken[slot] = true;
			c = PALETTE[slot];
		} else {
			c = 'hsl(' + (hsh % 360) + ' 55% 48%)';
		}
		colourOf.set(name, c);
		return c;
	}
	function registerColours(names) {
		for (const n of [...new Set(names)].sort())
			colour(n);
	}

	/* ---- API ----------------------------------------------------------------------- */

	class ApiError extends Error {
		constructor(msg, status) {
			super(msg);
			this.status = status;
		}
	}

	function token() {
		try {
			return sessionStorage.getItem(TOKEN_KEY) || '';
		} catch (e) {
			return '';
		}
	}

	/* GET path?params -> the parsed envelope; throws ApiError with the
	 * server's message. Partial failures (errors next to data) are shown
	 * as a banner and the data returned. */
	async function api(path, params, opts) {
		const u = new URL(path, location.origin);
		if (params)
			for (const k in params) {
				const v = params[k];
				if (v !== undefined && v !== null && v !== '')
					u.searchParams.set(k, v);
			}
		const headers = {Accept: 'application/json'};
		const t = token();
		if (t)
			headers.Authorization = 'Bearer ' + t;
		let r;
		try {
			r = await fetch(u.pathname + u.search, {headers, signal: opts && opts.signal});
		} catch (e) {
			if (e.name === 'AbortError')
				throw e;
			throw new ApiError('cannot reach the query server: ' + e.message, 0);
		}
		let body = null;
		const text = await r.text();
		try {
			body = text ? JSON.parse(text) : null;
		} catch (e) {
			body = null;
		}
		const errs = body && Array.isArray(body.errors) ? body.errors : [];
		if (r.status === 401) {
			showAuth(t ? 'The token was refused. Paste another one.' :
				'This server needs a bearer token.');
			throw new ApiError(errs.length ? errs[0].msg : 'unauthorized', 401);
		}
		if (!r.ok || !body || body.data === null || body.data === undefined) {
			const msg = errs.length ? errs.map((e) => e.msg).join('; ') :
				'HTTP ' + r.status + (text ? ': ' + text.slice(0, 200) : '');
			throw new ApiError(msg, r.status);
		}
		if (errs.length)
			banner('Partial answer: ' + errs.map((e) => e.msg).join('; '));
		return body;
	}

	function errorBox(e) {
		return h('div', {class: 'error-box', role: 'alert'},
			h('strong', {text: e && e.status === 404 ? 'Not found: ' : 'Error: '}),
			String((e && e.message) || e));
	}

	function banner(msg) {
		const app = document.getElementById('app');
		if (!app || app.querySelector('.banner'))
			return;
		app.prepend(h('div', {class: 'banner', role: 'status'}, msg,
			h('button', {class: 'link', onclick: (ev) => ev.target.parentNode.remove(), text: '×',
				'aria-label': 'dismiss'})));
	}

	/* ---- auth bar ------------------------------------------------------------------ */

	function showAuth(msg) {
		const box = document.getElementById('auth');
		document.getElementById('auth-msg').textContent = msg;
		document.getElementById('auth-forget').hidden = !token();
		if (box.hidden) {
			box.hidden = false;
			document.getElementById('auth-token').focus();
		}
	}

	function initAuth() {
		document.getElementById('auth-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			const v = document.getElementById('auth-token').value.trim();
			if (!v)
				return;
			try {
				sessionStorage.setItem(TOKEN_KEY, v);
			} catch (e) { /* private mode: keep going without storage */ }
			document.getElementById('auth-token').value = '';
			document.getElementById('auth').hidden = true;
			route();
		});
		document.getElementById('auth-forget').addEventListener('click', () => {
			try {
				sessionStorage.removeItem(TOKEN_KEY);
			} catch (e) { /* nothing stored */ }
			document.getElementById('auth-forget').hidden = true;
		});
	}

	/* ---- router -------------------------------------------------------------------- */

	let cleanup = null;   /* the current page's teardown */
	let routeGen = 0;     /* bumps on every navigation: stale answers are dropped */

	function navigate(url, replace) {
		if (replace)
			history.replaceState(null, '', url);
		else
			history.pushState(null, '', url);
		route();
	}

	function route() {
		routeGen++;
		if (cleanup) {
			try {
				cleanup();
			} catch (e) { /* a teardown must not block the next page */ }
			cleanup = null;
		}
		kiseki.timing = {routeStart: performance.now()};
		const path = location.pathname.replace(/\/+$/, '') || '/';
		const q = new URLSearchParams(location.search);
		const main = document.getElementById('app');
		main.textContent = '';
		main.className = '';
		let page = 'search';
		let m;
		if ((m = /^\/trace\/([^/]+)$/.exec(path))) {
			page = 'trace';
			cleanup = pageTrace(main, decodeURIComponent(m[1]), q, routeGen);
		} else if (path === '/deps' || path === '/dependencies') {
			page = 'deps';
			cleanup = pageDeps(main, q, routeGen);
		} else if (path === '/logs') {
			page = 'logs';
			cleanup = pageLogs(main, q, routeGen);
		} else if (path === '/' || path === '/search') {
			cleanup = pageSearch(main, q, routeGen);
		} else {
			main.append(h('div', {class: 'pad'}, errorBox(new ApiError('no page ' + path, 404)),
				h('p', null, h('a', {href: '/search', 'data-nav': ''}, 'Search traces'))));
		}
		kiseki.page = page;
		let last = '';
		try {
			last = sessionStorage.getItem('kiseki.lastSearch') || '';
		} catch (e) { /* no storage: plain link */ }
		for (const a of document.querySelectorAll('#top nav a')) {
			a.classList.toggle('active', a.dataset.page === page);
			if (a.dataset.page === 'search')
				a.setAttribute('href', '/search' + (last ? '?' + last : ''));
		}
		document.title = 'Kiseki — ' + (page === 'trace' ? 'trace' : page);
	}

	function initNav() {
		document.addEventListener('click', (ev) => {
			if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey ||
			    ev.shiftKey || ev.altKey)
				return;
			const a = ev.target.closest('a[href]');
			if (!a || a.target || a.hasAttribute('download'))
				return;
			const u = new URL(a.href, location.href);
			if (u.origin !== location.origin || u.pathname.startsWith('/api/'))
				return;
			ev.preventDefault();
			if (u.pathname + u.search !== location.pathname + location.search)
				navigate(u.pathname + u.search + u.hash);
		});
		window.addEventListener('popstate', route);
		document.getElementById('goto').addEventListener('submit', (ev) => {
			ev.preventDefault();
			const inp = document.getElementById('goto-id');
			const id = inp.value.trim().toLowerCase();
			if (!/^[0-9a-f]{1,32}$/.test(id)) {
				inp.setCustomValidity('a trace ID is 1 to 32 hex digits');
				inp.reportValidity();
				return;
			}
			inp.setCustomValidity('');
			inp.value = '';
			navigate('/trace/' + id);
		});
	}

	/* ---- a virtual list (fixed row height, pooled rows) ----------------------------- */

	/* `scroller` is an overflow:auto element; rows are absolutely
	 * positioned children of it. paint(el, k) fills row element `el` for
	 * list position k; make() creates an empty row element. Rows are
	 * reused by k modulo the pool size. */
	class VirtualList {
		constructor(scroller, rowH, make, paint) {
			this.sc = scroller;
			this.rowH = rowH;
			this.make = make;
			this.paint = paint;
			this.n = 0;
			this.ver = 1;
			this.pool = [];
			this.viewH = 0;
			this.first = 0;
			this.pending = false;
			this.onrender = null;
			this.spacer = h('div', {class: 'vl-spacer'});
			scroller.append(this.spacer);
			this.onScroll = () => this.schedule();
			scroller.addEventListener('scroll', this.onScroll, {passive: true});
			this.ro = new ResizeObserver((entries) => {
				const hgt = entries[0].contentRect.height;
				if (hgt !== this.viewH) {
					this.viewH = hgt;
					this.schedule();
				}
			});
			this.ro.observe(scroller);
		}
		destroy() {
			this.ro.disconnect();
			this.sc.removeEventListener('scroll', this.onScroll);
		}
		setCount(n) {
			this.n = n;
			this.spacer.style.height = n * this.rowH + 'px';
			this.invalidate();
		}
		/* every row repaints on the next frame (data changed) */
		invalidate() {
			this.ver++;
			this.schedule();
		}
		schedule() {
			if (this.pending)
				return;
			this.pending = true;
			requestAnimationFrame(() => {
				this.pending = false;
				this.render();
			});
		}
		render() {
			const viewH = this.viewH || this.sc.clientHeight || 600;
			const want = Math.ceil(viewH / this.rowH) + 2 * OVERSCAN;
			while (this.pool.length < want) {
				const el = this.make();
				el._k = -1;
				el.style.display = 'none';
				this.sc.append(el);
				this.pool.push(el);
			}
			const P = this.pool.length;
			const top = this.sc.scrollTop;
			const first = Math.max(0, Math.floor(top / this.rowH) - OVERSCAN);
			this.first = first;
			for (let k = first; k < first + P; k++) {
				const el = this.pool[k % P];
				if (k < this.n) {
					if (el._k !== k || el._v !== this.ver) {
						el._k = k;
						el._v = this.ver;
						el.style.transform = 'translateY(' + k * this.rowH + 'px)';
						this.paint(el, k);
						if (el.style.display === 'none')
							el.style.display = '';
					}
				} else if (el._k !== -1) {
					el._k = -1;
					el.style.display = 'none';
				}
			}
			if (this.onrender)
				this.onrender(Math.floor(top / this.rowH), Math.ceil((top + viewH) / this.rowH));
		}
		/* scrolls so that position k is visible (centred when it was not) */
		reveal(k) {
			const viewH = this.viewH || this.sc.clientHeight;
			const y = k * this.rowH;
			if (y < this.sc.scrollTop || y + this.rowH > this.sc.scrollTop + viewH)
				this.sc.scrollTop = Math.max(0, y - viewH / 2 + this.rowH / 2);
			this.schedule();
		}
	}

	/* ---- page: search ---------------------------------------------------------------- */

	const LOOKBACKS = [['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['1h', 'Last hour'],
		['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['24h', 'Last 24 hours'],
		['2d', 'Last 2 days'], ['7d', 'Last 7 days'], ['custom', 'Custom range']];

	function pageSearch(main, q, gen) {
		main.className = 'page-search';
		const f = {};
		const field = (label, el, hint) => h('label', {class: 'field'},
			h('span', {class: 'lbl'}, label), el, hint ? h('span', {class: 'hint'}, hint) : null);
		f.service = h('select', {name: 'service'}, h('option', {value: ''}, 'All services'));
		f.operation = h('select', {name: 'operation'}, h('option', {value: ''}, 'All operations'));
		f.tags = h('input', {name: 'tags', type: 'text', spellcheck: 'false',
			placeholder: 'http.response.status_code=503 region="eu west"'});
		f.minDuration = h('input', {name: 'minDuration', type: 'text', placeholder: 'e.g. 100ms',
			size: 8});
		f.maxDuration = h('input', {name: 'maxDuration', type: 'text', placeholder: 'e.g. 2s',
			size: 8});
		f.errors = h('input', {name: 'errors', type: 'checkbox'});
		f.lookback = h('select', {name: 'lookback'},
			LOOKBACKS.map(([v, t]) => h('option', {value: v}, t)));
		f.start = h('input', {name: 'start', type: 'datetime-local'});
		f.end = h('input', {name: 'end', type: 'datetime-local'});
		f.limit = h('input', {name: 'limit', type: 'number', min: 1, max: 1500, value: 20});
		const custom = h('div', {class: 'custom-range'}, field('From', f.start), field('To', f.end));
		const formErr = h('div', {class: 'form-err', role: 'alert'});
		const form = h('form', {class: 'panel search-form', autocomplete: 'off'},
			h('h2', null, 'Find traces'),
			field('Service', f.service),
			field('Operation', f.operation),
			field('Tags', f.tags, 'key=value, space separated; all must match'),
			h('div', {class: 'row2'},
				field('Min duration', f.minDuration),
				field('Max duration', f.maxDuration)),
			h('p', {class: 'hint'}, 'Durations apply to the whole trace (Go syntax: 250us, 100ms, 1.5s).'),
			h('label', {class: 'check'}, f.errors, ' Traces with errors only'),
			field('Time', f.lookback),
			custom,
			field('Limit', f.limit),
			formErr,
			h('button', {type: 'submit', class: 'primary'}, 'Find traces'));
		const results = h('section', {class: 'results'});
		main.append(form, results);

		/* fill from the URL */
		f.tags.value = q.get('tags') || '';
		f.minDuration.value = q.get('minDuration') || '';
		f.maxDuration.value = q.get('maxDuration') || '';
		f.errors.checked = q.get('errors') === '1' || q.get('errors') === 'true';
		f.lookback.value = LOOKBACKS.some(([v]) => v === q.get('lookback')) ? q.get('lookback') : '1h';
		f.limit.value = q.get('limit') || '20';
		const nowUs = Date.now() * 1000;
		f.start.value = usToLocal(q.get('start') ? Number(q.get('start')) : nowUs - 3.6e9);
		f.end.value = usToLocal(q.get('end') ? Number(q.get('end')) : nowUs);
		const syncCustom = () => { custom.hidden = f.lookback.value !== 'custom'; };
		syncCustom();
		f.lookback.addEventListener('change', syncCustom);

		async function loadOps(svc, want) {
			f.operation.length = 1;
			if (!svc)
				return;
			try {
				const r = await api('/api/operations', {service: svc});
				if (gen !== routeGen)
					return;
				const names = [...new Set(r.data.map((o) => (typeof o === 'string' ? o : o.name)))].sort();
				for (const n of names)
					f.operation.append(h('option', {value: n}, n));
				if (want && names.includes(want))
					f.operation.value = want;
			} catch (e) { /* the list just stays empty */ }
		}
		f.service.addEventListener('change', () => loadOps(f.service.value));
		(async () => {
			try {
				const r = await api('/api/services');
				if (gen !== routeGen)
					return;
				registerColours(r.data);
				for (const s of r.data)
					f.service.append(h('option', {value: s}, s));
				const want = q.get('service');
				if (want) {
					if (!r.data.includes(want))
						f.service.append(h('option', {value: want}, want));
					f.service.value = want;
					loadOps(want, q.get('operation'));
				}
			} catch (e) {
				if (gen === routeGen && e.status !== 401)
					formErr.textContent = 'services: ' + e.message;
			}
		})();

		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			formErr.textContent = '';
			const p = new URLSearchParams();
			const set = (k, v) => { if (v) p.set(k, v); };
			set('service', f.service.value);
			set('operation', f.operation.value);
			set('tags', f.tags.value.trim());
			for (const k of ['minDuration', 'maxDuration']) {
				const v = f[k].value.trim();
				if (v && isNaN(parseDur(v))) {
					formErr.textContent = k + ': "' + v + '" is not a duration like 100ms or 1.5s';
					return;
				}
				set(k, v);
			}
			try {
				parseTags(f.tags.value);
			} catch (e) {
				formErr.textContent = e.message;
				return;
			}
			if (f.errors.checked)
				p.set('errors', '1');
			p.set('lookback', f.lookback.value);
			const bad = formRangeLimit(f, p, f.lookback.value === 'custom', 1500);
			if (bad) {
				formErr.textContent = bad;
				return;
			}
			try {
				sessionStorage.setItem('kiseki.lastSearch', p.toString());
			} catch (e) { /* fine */ }
			navigate('/search?' + p.toString());
		});

		runSearch(q, results, gen);
		return null;
	}

	async function runSearch(q, results, gen) {
		const params = {limit: q.get('limit') || '20'};
		if (q.get('service'))
			params.service = q.get('service');
		if (q.get('operation'))
			params.operation = q.get('operation');
		if (q.get('minDuration'))
			params.minTraceDuration = q.get('minDuration');
		if (q.get('maxDuration'))
			params.maxTraceDuration = q.get('maxDuration');
		if (q.get('errors') === '1' || q.get('errors') === 'true')
			params.errors = 'true';
		const lb = q.get('lookback') || '1h';
		if (lb === 'custom') {
			params.start = q.get('start');
			params.end = q.get('end');
		} else {
			params.lookback = lb;
		}
		results.textContent = '';
		try {
			if (q.get('tags'))
				params.tags = JSON.stringify(parseTags(q.get('tags')));
		} catch (e) {
			results.append(errorBox(e));
			return;
		}
		results.append(h('p', {class: 'muted'}, 'Searching…'));
		let r;
		try {
			r = await api('/api/search', params);
		} catch (e) {
			if (gen !== routeGen)
				return;
			results.textContent = '';
			results.append(errorBox(e));
			return;
		}
		if (gen !== routeGen)
			return;
		results.textContent = '';
		const list = r.data;
		registerColours(list.flatMap((t) => t.services || []).concat(list.map((t) => t.rootService)));
		if (!list.length) {
			results.append(h('div', {class: 'empty'},
				h('p', null, 'No traces match.'),
				h('p', {class: 'muted'}, 'Widen the time range, or drop a filter.')));
			return;
		}
		const sortSel = h('select', {'aria-label': 'sort'},
			h('option', {value: 'recent'}, 'Most recent'),
			h('option', {value: 'longest'}, 'Longest first'),
			h('option', {value: 'shortest'}, 'Shortest first'),
			h('option', {value: 'spans'}, 'Most spans'),
			h('option', {value: 'errors'}, 'Most errors'));
		const head = h('div', {class: 'results-head'},
			h('h2', null, fmtNum(list.length) + (list.length === 1 ? ' trace' : ' traces')),
			h('span', {class: 'spacer'}), h('label', null, 'Sort ', sortSel));
		const chart = h('div', {class: 'panel scatter'});
		const ul = h('ol', {class: 'result-list'});
		results.append(head, chart, ul);
		drawScatter(chart, list);
		const maxDur = Math.max(1, ...list.map((t) => t.duration));
		const paintList = () => {
			const s = list.slice();
			const by = sortSel.value;
			if (by === 'recent')
				s.sort((a, b) => b.start - a.start);
			else if (by === 'longest')
				s.sort((a, b) => b.duration - a.duration);
			else if (by === 'shortest')
				s.sort((a, b) => a.duration - b.duration);
			else if (by === 'spans')
				s.sort((a, b) => b.spans - a.spans);
			else
				s.sort((a, b) => b.errors - a.errors);
			ul.textContent = '';
			for (const t of s)
				ul.append(resultItem(t, maxDur));
		};
		sortSel.addEventListener('change', paintList);
		paintList();
	}

	function svcChip(name, extra) {
		return h('span', {class: 'chip' + (extra ? ' ' + extra : ''), style: {'--c': colour(name)}},
			name);
	}

	function resultItem(t, maxDur) {
		const svcs = t.services || [];
		return h('li', null, h('a', {class: 'result' + (t.errors ? ' has-err' : ''),
			href: '/trace/' + t.traceID, 'data-trace': t.traceID},
		h('div', {class: 'r-main'},
			h('div', {class: 'r-title'},
				svcChip(t.rootService || '?'),
				h('span', {class: 'r-name'}, t.rootName || '(no root span)'),
				h('span', {class: 'r-id mono'}, t.traceID)),
			h('div', {class: 'r-meta'},
				h('span', {title: fmtTime(t.start)}, fmtAgo(t.start) + ' · ' + fmtTime(t.start)),
				h('span', null, fmtNum(t.spans) + ' spans'),
				t.errors ? h('span', {class: 'err-text'}, fmtNum(t.errors) + (t.errors === 1 ? ' error' : ' errors')) : null,
				t.logs ? h('span', null, fmtNum(t.logs) + ' logs') : null),
			h('div', {class: 'r-svcs'}, svcs.slice(0, 10).map((s) => svcChip(s, 'small')),
				svcs.length > 10 ? h('span', {class: 'muted'}, '+' + (svcs.length - 10)) : null)),
		h('div', {class: 'r-dur'},
			h('span', {class: 'r-dur-t'}, fmtDur(t.duration)),
			h('span', {class: 'r-dur-bar'}, h('span', {style: {
				width: Math.max(1, (t.duration / maxDur) * 100) + '%',
				background: colour(t.rootService || '?')}})))));
	}

	/* duration over start time, one dot per trace (size: spans) */
	function drawScatter(box, list) {
		const W = Math.max(320, box.clientWidth - 24 || 800), H = 170;
		const L = 64, R = 16, T = 12, B = 26;
		const t0 = Math.min(...list.map((t) => t.start)), t1 = Math.max(...list.map((t) => t.start));
		const span = Math.max(1, t1 - t0);
		const dmax = Math.max(1, ...list.map((t) => t.duration)) * 1.08;
		const x = (t) => L + (list.length === 1 ? (W - L - R) / 2 : ((t - t0) / span) * (W - L - R));
		const y = (d) => T + (H - T - B) * (1 - d / dmax);
		const svg = svgEl('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
			class: 'scatter-svg', role: 'img', 'aria-label': 'trace durations over time'});
		for (const f of [0, 0.5, 1]) {
			const yy = y(f * dmax / 1.08);
			svg.append(svgEl('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid'}),
				svgEl('text', {x: L - 8, y: yy + 4, class: 'axis', 'text-anchor': 'end'},
					fmtDur(f * dmax / 1.08)));
		}
		svg.append(svgEl('text', {x: L, y: H - 6, class: 'axis'}, fmtTime(t0).slice(11, 19)),
			svgEl('text', {x: W - R, y: H - 6, class: 'axis', 'text-anchor': 'end'},
				fmtTime(t1).slice(11, 19)));
		const dots = list.slice().sort((a, b) => b.spans - a.spans);
		for (const t of dots) {
			const r = Math.min(14, 3.5 + Math.sqrt(t.spans) / 3);
			const c = svgEl('circle', {cx: x(t.start).toFixed(1), cy: y(t.duration).toFixed(1),
				r: r.toFixed(1), fill: colour(t.rootService || '?'),
				class: 'dot' + (t.errors ? ' err' : ''), 'data-trace': t.traceID},
			svgEl('title', null, (t.rootService || '') + ': ' + (t.rootName || '') + '\n' +
				fmtDur(t.duration) + ', ' + t.spans + ' spans' +
				(t.errors ? ', ' + t.errors + ' errors' : '') + '\n' + fmtTime(t.start)));
			c.addEventListener('click', () => navigate('/trace/' + t.traceID));
			svg.append(c);
		}
		box.append(svg);
	}

	/* ---- page: trace ------------------------------------------------------------------ */

	/* Builds the typed-array model of a compact trace. Spans come in
	 * depth-first order (every subtree contiguous); if that does not hold,
	 * they are put in that order here. */
	function traceModel(d) {
		let spans = d.spans || [];
		const n = spans.length;
		let par = new Int32Array(n);
		for (let i = 0; i < n; i++) {
			const p = spans[i].parent;
			par[i] = Number.isInteger(p) && p >= 0 && p < n && p !== i ? p : -1;
		}
		let size = subtreeSizes(par, n);
		if (!size) {
			const r = dfsOrder(spans, par, n);
			spans = r.spans;
			par = r.par;
			size = subtreeSizes(par, n);
		}
		const dep = new Int32Array(n), st = new Float64Array(n), du = new Float64Array(n);
		const sv = new Uint16Array(n), fl = new Uint8Array(n), nch = new Int32Array(n);
		let maxDepth = 0, errors = 0;
		for (let i = 0; i < n; i++) {
			const s = spans[i];
			dep[i] = par[i] < 0 ? 0 : dep[par[i]] + 1;
			if (dep[i] > maxDepth)
				maxDepth = dep[i];
			st[i] = s.start || 0;
			du[i] = s.duration || 0;
			sv[i] = s.service || 0;
			fl[i] = (s.error ? 1 : 0) | (s.critical ? 2 : 0) | (s.warning || s.skew ? 4 : 0);
			errors += s.error ? 1 : 0;
			if (par[i] >= 0)
				nch[par[i]]++;
		}
		let dur = d.duration || 0;
		for (let i = 0; i < n; i++)
			if (st[i] + du[i] > dur)
				dur = st[i] + du[i];
		return {spans, n, par, size, dep, st, du, sv, fl, nch, maxDepth, errors,
			dur: Math.max(dur, 1), services: d.services || [], hosts: d.hosts || []};
	}

	/* subtree sizes when the order is depth-first with contiguous subtrees,
	 * else null */
	function subtreeSizes(par, n) {
		const size = new Int32Array(n).fill(1);
		for (let i = n - 1; i > 0; i--) {
			const p = par[i];
			if (p >= i)
				return null;
			if (p >= 0)
				size[p] += size[i];
		}
		if (n && par[0] >= 0)
			return null;
		for (let i = 1; i < n; i++) {
			const p = par[i];
			if (p >= 0 && i >= p + size[p])
				return null;
		}
		return size;
	}

	function dfsOrder(spans, par, n) {
		const kids = new Array(n);
		const roots = [];
		for (let i = 0; i < n; i++) {
			if (par[i] < 0)
				roots.push(i);
			else
				(kids[par[i]] || (kids[par[i]] = [])).push(i);
		}
		const byStart = (a, b) => (spans[a].start - spans[b].start) || (a - b);
		roots.sort(byStart);
		const order = [], seen = new Uint8Array(n);
		const stack = roots.slice().reverse();
		/* nodes in parent cycles are never reached from a root: add them as roots */
		for (let pass = 0; pass < 2; pass++) {
			while (stack.length) {
				const i = stack.pop();
				if (seen[i])
					continue;
				seen[i] = 1;
				order.push(i);
				const k = kids[i];
				if (k) {
					k.sort(byStart);
					for (let j = k.length - 1; j >= 0; j--)
						stack.push(k[j]);
				}
			}
			for (let i = n - 1; i >= 0; i--)
				if (!seen[i]) {
					par[i] = -1;
					stack.push(i);
				}
		}
		const pos = new Int32Array(n);
		order.forEach((i, k) => { pos[i] = k; });
		const np = new Int32Array(n);
		for (let k = 0; k < n; k++) {
			const p = par[order[k]];
			np[k] = p < 0 ? -1 : pos[p];
		}
		return {spans: order.map((i) => spans[i]), par: np};
	}

	function pageTrace(main, id, q, gen) {
		main.className = 'page-trace';
		const T = kiseki.timing;
		const raw = q.get('raw') === '1';
		const wantSpan = q.get('span');
		const ctl = new AbortController();
		const head = h('div', {class: 'trace-head'}, h('p', {class: 'muted'}, 'Loading trace ' + id + '…'));
		main.append(head);
		let teardown = [];
		const pTrace = api('/api/traces/' + encodeURIComponent(id),
			{format: 'compact', raw: raw ? 'true' : undefined}, {signal: ctl.signal});
		const pLogs = api('/api/traces/' + encodeURIComponent(id) + '/logs', null,
			{signal: ctl.signal});
		pLogs.catch(() => {});
		pTrace.then((r) => {
			if (gen !== routeGen)
				return;
			T.fetched = performance.now();
			const d = Array.isArray(r.data) ? r.data[0] : r.data;
			if (!d || !d.spans || !d.spans.length) {
				head.textContent = '';
				head.append(errorBox(new ApiError('trace ' + id + ' has no spans', 404)));
				return;
			}
			const view = buildTraceView(main, head, d, id, raw, pLogs, gen);
			teardown.push(view.destroy);
			if (wantSpan)
				view.selectById(wantSpan);
		}).catch((e) => {
			if (gen !== routeGen || e.name === 'AbortError')
				return;
			head.textContent = '';
			head.append(errorBox(e));
		});
		return () => {
			ctl.abort();
			for (const f of teardown)
				f();
		};
	}

	function buildTraceView(main, head, d, id, raw, pLogs, gen) {
		const T = kiseki.timing;
		const M = traceModel(d);
		const {spans, n, par, size, dep, st, du, sv, fl} = M;
		const svcNames = M.services;
		registerColours(svcNames);
		const svcColour = svcNames.map((s) => colour(s));
		const collapsed = new Uint8Array(n);
		const vis = new Int32Array(n);
		let visN = 0;
		let sel = -1;
		let critOn = false;
		let hits = null, hitList = [], hitPos = -1;
		let z0 = 0, z1 = M.dur;            /* zoom window, µs from trace start */
		let logs = null;                   /* the trace's logs, oldest first */
		let logsOf = null;                 /* span index -> [log index] */
		const logCount = new Uint16Array(n);
		let idIndex = null;                /* spanID -> span index */
		let attrs = null;                  /* spanID -> Jaeger span, when fetched */
		let attrsLoading = null;

		const spanIndex = (sid) => {
			if (!idIndex) {
				idIndex = new Map();
				for (let i = 0; i < n; i++)
					idIndex.set(spans[i].spanID, i);
			}
			const i = idIndex.get(sid);
			return i === undefined ? -1 : i;
		};

		/* indentation: 14px per level, squeezed for deep trees */
		const indent = Math.max(3, Math.min(14, Math.floor(260 / Math.max(1, M.maxDepth))));

		/* ---- header ---- */
		const root = spans[0];
		const rootSvc = svcNames[root.service] || '?';
		const perSvc = new Map();
		for (let i = 0; i < n; i++) {
			const s = svcNames[sv[i]] || '?';
			perSvc.set(s, (perSvc.get(s) || 0) + 1);
		}
		const warnings = d.warnings || [];
		const spanWarns = spans.reduce((a, s) => a + (s.warning ? 1 : 0), 0);
		const logStat = h('span', null, '… logs');
		head.textContent = '';
		put(head,
			h('div', {class: 'th-title'},
				svcChip(rootSvc),
				h('h1', null, root.name || '(unnamed)'),
				h('span', {class: 'mono muted tid', title: 'trace ID'}, d.traceID || id)),
			h('div', {class: 'th-meta'},
				h('span', null, 'Started ', h('b', null, fmtTime(d.start))),
				h('span', null, 'Duration ', h('b', null, fmtDur(M.dur))),
				h('span', null, h('b', null, fmtNum(n)), ' spans'),
				h('span', null, 'Depth ', h('b', null, M.maxDepth + 1)),
				h('span', null, h('b', null, perSvc.size), ' services'),
				M.errors ? h('span', {class: 'err-text'}, h('b', null, fmtNum(M.errors)), ' errors') :
					h('span', null, '0 errors'),
				logStat,
				raw ? h('span', {class: 'tag-raw', title: 'times as recorded, no clock-skew adjustment'},
					'raw times') : null),
			h('div', {class: 'legend'}, [...perSvc.entries()].sort((a, b) => b[1] - a[1]).map(
				([s, c]) => h('button', {class: 'chip legend-chip', style: {'--c': colour(s)},
					title: 'find spans of ' + s, onclick: () => { findInput.value = s; doFind(); }},
				s, h('span', {class: 'cnt'}, fmtNum(c))))),
			warnings.length || spanWarns ? h('details', {class: 'warnings'},
				h('summary', null, '⚠ ' + (warnings.length + (spanWarns ? 1 : 0)) + ' warning' +
					(warnings.length + (spanWarns ? 1 : 0) === 1 ? '' : 's')),
				h('ul', null, warnings.map((w) => h('li', null, w)),
					spanWarns ? h('li', null, fmtNum(spanWarns) +
						' spans carry a warning (⚠ in the tree: orphans, clock-skew adjustments)') :
						null)) : null);

		/* ---- toolbar ---- */
		const findInput = h('input', {type: 'search', class: 'find', placeholder: 'Find spans (name, service, ID)',
			spellcheck: 'false', 'aria-label': 'find spans'});
		const findCount = h('span', {class: 'find-count muted'});
		const critBox = h('input', {type: 'checkbox', id: 'crit-toggle'});
		const skewBox = h('input', {type: 'checkbox', id: 'skew-toggle', checked: !raw});
		const depthSel = h('select', {'aria-label': 'expand to depth', title: 'show levels'},
			h('option', {value: ''}, 'Levels…'),
			[1, 2, 3, 4, 6, 8].map((k) => h('option', {value: k}, k + (k === 1 ? ' level' : ' levels'))),
			h('option', {value: 'all'}, 'All levels'));
		const critFocus = h('button', {class: 'btn', hidden: true,
			title: 'collapse every subtree that is off the critical path', onclick: focusCritical},
		'Focus path');
		const zoomReset = h('button', {class: 'btn', disabled: true, title: 'show the whole trace',
			onclick: () => setZoom(0, M.dur)}, 'Reset zoom');
		const toolbar = h('div', {class: 'toolbar'},
			h('button', {class: 'btn', onclick: () => setAll(0), title: 'expand every span'}, 'Expand all'),
			h('button', {class: 'btn', onclick: () => setAll(1), title: 'collapse to the roots'}, 'Collapse all'),
			depthSel,
			h('span', {class: 'sep'}),
			findInput,
			h('button', {class: 'btn icon', title: 'previous match', onclick: () => stepFind(-1)}, '‹'),
			h('button', {class: 'btn icon', title: 'next match', onclick: () => stepFind(1)}, '›'),
			findCount,
			h('span', {class: 'sep'}),
			h('label', {class: 'check', title: 'highlight the critical path (what the end-to-end latency waited on)'},
				critBox, ' Critical path'),
			critFocus,
			h('label', {class: 'check', title: 'adjust spans for clock skew between hosts (off: times as recorded)'},
				skewBox, ' Skew adjustment'),
			zoomReset,
			h('span', {class: 'spacer'}),
			h('button', {class: 'btn', title: 'download this trace as Jaeger JSON', onclick: downloadJson},
				'JSON'));

		/* ---- waterfall ---- */
		const ticks = h('div', {class: 'ticks'});
		const nameHead = h('div', {class: 'name-h'}, 'Service & operation',
			h('span', {class: 'muted wf-count'}));
		const splitter = h('div', {class: 'splitter', title: 'drag to resize'});
		const mmCanvas = h('canvas', {class: 'mm-canvas'});
		const mmWin = h('div', {class: 'mm-win'});
		const mmView = h('div', {class: 'mm-view'});
		const mmSel = h('div', {class: 'mm-sel', hidden: true});
		const minimap = h('div', {class: 'minimap', title: 'drag to zoom the time axis; click to jump'},
			mmCanvas, mmWin, mmView, mmSel);
		const scroller = h('div', {class: 'wf-scroll', tabindex: 0, role: 'tree',
			'aria-label': 'spans'});
		const wf = h('div', {class: 'wf'},
			h('div', {class: 'wf-mini'}, h('div', {class: 'name-h muted small'},
				'Overview: ' + fmtNum(n) + ' spans'), minimap),
			h('div', {class: 'wf-head'}, nameHead, splitter, ticks),
			scroller);

		/* ---- side panel ---- */
		const tabs = {};
		const panes = {};
		const tabBar = h('div', {class: 'tabs', role: 'tablist'});
		for (const [k, label] of [['span', 'Span'], ['logs', 'Logs'], ['stats', 'Stats']]) {
			tabs[k] = h('button', {class: 'tab', role: 'tab', 'data-tab': k, onclick: () => showTab(k)}, label);
			panes[k] = h('div', {class: 'pane pane-' + k, hidden: true});
			tabBar.append(tabs[k]);
		}
		const side = h('aside', {class: 'side'}, tabBar, panes.span, panes.logs, panes.stats);
		const body = h('div', {class: 'trace-body'}, wf, side);
		wf.style.setProperty('--ind', indent + 'px');
		main.append(toolbar, body);

		/* ---- rows ---- */
		function makeRow() {
			const ind = h('span', {class: 'ind'});
			const tg = h('span', {class: 'tg', role: 'button', 'aria-label': 'collapse or expand'});
			const svc = h('span', {class: 'svc'});
			const op = h('span', {class: 'op'});
			const badge = h('span', {class: 'badge'});
			const warn = h('span', {class: 'wbadge'});
			const nm = h('div', {class: 'name'}, ind, tg, svc, op, badge, warn);
			const bar = h('div', {class: 'bar'});
			const lbl = h('span', {class: 'lbl'});
			const tl = h('div', {class: 'tl'}, bar, lbl);
			const el = h('div', {class: 'row', role: 'treeitem'}, nm, tl);
			el._c = {ind, tg, svc, op, badge, warn, bar, lbl};
			return el;
		}

		function paintRow(el, k) {
			const i = vis[k];
			const c = el._c;
			el._i = i;
			const f = fl[i];
			let cls = 'row';
			if (f & 1)
				cls += ' err';
			if (critOn)
				cls += f & 2 ? ' crit' : ' dim';
			if (i === sel)
				cls += ' sel';
			if (hits && hits[i])
				cls += ' hit';
			el.className = cls;
			c.ind.style.width = dep[i] * indent + 'px';
			if (size[i] > 1) {
				c.tg.textContent = collapsed[i] ? '▸' : '▾';
				c.tg.className = 'tg';
			} else {
				c.tg.textContent = '';
				c.tg.className = 'tg leaf';
			}
			const s = spans[i];
			const col = svcColour[sv[i]] || '#888';
			c.svc.textContent = svcNames[sv[i]] || '?';
			c.svc.style.color = col;
			c.op.textContent = s.name;
			let b = '';
			if (collapsed[i])
				b += '+' + fmtNum(size[i] - 1);
			if (logCount[i])
				b += (b ? ' ' : '') + '≡' + logCount[i];
			c.badge.textContent = b;
			if (f & 4) {
				c.warn.textContent = s.skew ? '⚠ skew' : '⚠';
				c.warn.title = s.warning || ('clock skew ' + fmtSigned(s.skew));
			} else if (c.warn.textContent) {
				c.warn.textContent = '';
				c.warn.title = '';
			}
			const span = z1 - z0;
			let left = ((st[i] - z0) / span) * 100;
			let w = (du[i] / span) * 100;
			if (left < 0) {
				w += left;
				left = 0;
			}
			if (left + w > 100)
				w = 100 - left;
			if (w < 0 || left > 100) {
				c.bar.style.display = 'none';
			} else {
				c.bar.style.display = '';
				c.bar.style.left = left + '%';
				c.bar.style.width = w + '%';
			}
			c.bar.style.background = f & 1 ? '' : col;
			c.lbl.textContent = fmtDur(du[i]);
			if (left + w < 78) {
				c.lbl.style.left = Math.max(0, left + w) + '%';
				c.lbl.style.right = '';
				c.lbl.className = 'lbl after';
			} else {
				c.lbl.style.left = '';
				c.lbl.style.right = Math.max(0, 100 - left) + '%';
				c.lbl.className = 'lbl before';
			}
		}

		const list = new VirtualList(scroller, ROW_H, makeRow, paintRow);
		const countEl = nameHead.querySelector('.wf-count');

		function rebuild() {
			let m = 0;
			for (let i = 0; i < n;) {
				vis[m++] = i;
				i = collapsed[i] ? i + size[i] : i + 1;
			}
			visN = m;
			countEl.textContent = visN === n ? '' : ' ' + fmtNum(visN) + ' of ' + fmtNum(n) + ' shown';
			list.setCount(visN);
		}

		function posOf(i) { /* vis is sorted: binary search */
			let lo = 0, hi = visN - 1;
			while (lo <= hi) {
				const mid = (lo + hi) >> 1;
				if (vis[mid] === i)
					return mid;
				if (vis[mid] < i)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
			return -1;
		}

		function toggle(i) {
			if (size[i] <= 1)
				return;
			collapsed[i] ^= 1;
			if (sel > i && sel < i + size[i] && collapsed[i])
				sel = i;
			rebuild();
		}

		function setAll(v) {
			for (let i = 0; i < n; i++)
				collapsed[i] = v && size[i] > 1 ? 1 : 0;
			if (v && sel >= 0) {
				let r = sel;
				while (par[r] >= 0)
					r = par[r];
				sel = r;
			}
			rebuild();
			if (!v && sel >= 0)
				list.reveal(posOf(sel));
		}

		function expandToDepth(levels) {
			for (let i = 0; i < n; i++)
				collapsed[i] = size[i] > 1 && dep[i] >= levels - 1 ? 1 : 0;
			rebuild();
		}

		/* makes span i visible (expanding its ancestors) and selects it */
		function revealSpan(i, focus) {
			let changed = false;
			for (let p = par[i]; p >= 0; p = par[p])
				if (collapsed[p]) {
					collapsed[p] = 0;
					changed = true;
				}
			if (changed)
				rebuild();
			select(i);
			list.reveal(posOf(i));
			if (focus)
				scroller.focus({preventScroll: true});
		}

		function select(i) {
			if (sel === i)
				return;
			sel = i;
			list.invalidate();
			showSpan(i);
			showTab('span');
		}

		scroller.addEventListener('click', (ev) => {
			const row = ev.target.closest('.row');
			if (!row)
				return;
			const i = row._i;
			if (ev.target.closest('.tg'))
				toggle(i);
			else
				select(i);
			scroller.focus({preventScroll: true});
		});
		scroller.addEventListener('dblclick', (ev) => {
			const row = ev.target.closest('.row');
			if (row && !ev.target.closest('.tg'))
				toggle(row._i);
		});
		scroller.addEventListener('keydown', (ev) => {
			if (!visN)
				return;
			let k = sel >= 0 ? posOf(sel) : -1;
			switch (ev.key) {
			case 'ArrowDown': k = Math.min(visN - 1, k + 1); break;
			case 'ArrowUp': k = Math.max(0, k - 1); break;
			case 'PageDown': k = Math.min(visN - 1, k + Math.floor(list.viewH / ROW_H)); break;
			case 'PageUp': k = Math.max(0, k - Math.floor(list.viewH / ROW_H)); break;
			case 'Home': k = 0; break;
			case 'End': k = visN - 1; break;
			case 'ArrowLeft':
				if (sel >= 0 && size[sel] > 1 && !collapsed[sel])
					toggle(sel);
				else if (sel >= 0 && par[sel] >= 0)
					k = posOf(par[sel]);
				break;
			case 'ArrowRight':
				if (sel >= 0 && collapsed[sel])
					toggle(sel);
				else if (sel >= 0 && size[sel] > 1)
					k = k + 1;
				break;
			case 'Enter':
				if (sel >= 0)
					toggle(sel);
				break;
			default: return;
			}
			ev.preventDefault();
			if (k >= 0 && k < visN) {
				select(vis[k]);
				list.reveal(k);
			}
		});

		/* ---- time axis and zoom ---- */
		function paintTicks() {
			ticks.textContent = '';
			for (const f of [0, 0.25, 0.5, 0.75, 1])
				ticks.append(h('span', {class: 'tick' + (f === 1 ? ' last' : ''),
					style: {left: f * 100 + '%'}}, fmtDur(z0 + f * (z1 - z0))));
			mmWin.style.left = (z0 / M.dur) * 100 + '%';
			mmWin.style.width = ((z1 - z0) / M.dur) * 100 + '%';
			zoomReset.disabled = z0 === 0 && z1 === M.dur;
		}
		function setZoom(a, b) {
			a = Math.max(0, a);
			b = Math.min(M.dur, b);
			if (b - a < 1)
				return;
			z0 = a;
			z1 = b;
			paintTicks();
			list.invalidate();
		}

		/* the overview: every span as one line, drawn once per size */
		let mmW = 0, mmH = 0;
		function drawMinimap() {
			const r = mmCanvas.getBoundingClientRect();
			if (!r.width)
				return;
			const dpr = window.devicePixelRatio || 1;
			mmW = r.width;
			mmH = r.height;
			mmCanvas.width = Math.round(r.width * dpr);
			mmCanvas.height = Math.round(r.height * dpr);
			const g = mmCanvas.getContext('2d');
			g.scale(dpr, dpr);
			const rowH = Math.max(mmH / n, 1);
			/* one fill style per service: group the rectangles */
			const bySvc = new Map();
			for (let i = 0; i < n; i++) {
				const key = fl[i] & 1 ? -1 : sv[i];
				let a = bySvc.get(key);
				if (!a)
					bySvc.set(key, (a = []));
				a.push(i);
			}
			for (const [key, idx] of bySvc) {
				g.fillStyle = key < 0 ? '#e5484d' : svcColour[key] || '#888';
				g.globalAlpha = key < 0 ? 1 : 0.9;
				for (const i of idx)
					g.fillRect((st[i] / M.dur) * mmW, (i / n) * mmH,
						Math.max(1, (du[i] / M.dur) * mmW), rowH);
			}
		}
		list.onrender = (a, b) => {
			if (!visN)
				return;
			const top = vis[Math.min(visN - 1, Math.max(0, a))];
			const bot = vis[Math.min(visN - 1, Math.max(0, b - 1))];
			mmView.style.top = (top / n) * 100 + '%';
			mmView.style.height = Math.max(0.5, ((bot - top + 1) / n) * 100) + '%';
			if (!T.firstRows) {
				T.firstRows = performance.now();
				T.rowsInDom = scroller.querySelectorAll('.row').length;
			}
		};
		let drag = null;
		minimap.addEventListener('mousedown', (ev) => {
			const r = minimap.getBoundingClientRect();
			drag = {x0: ev.clientX - r.left, y0: ev.clientY - r.top, r};
			ev.preventDefault();
		});
		const onMove = (ev) => {
			if (!drag)
				return;
			const x = Math.max(0, Math.min(drag.r.width, ev.clientX - drag.r.left));
			mmSel.hidden = false;
			mmSel.style.left = Math.min(x, drag.x0) + 'px';
			mmSel.style.width = Math.abs(x - drag.x0) + 'px';
		};
		const onUp = (ev) => {
			if (!drag)
				return;
			const x = Math.max(0, Math.min(drag.r.width, ev.clientX - drag.r.left));
			mmSel.hidden = true;
			if (Math.abs(x - drag.x0) > 4) {
				const a = (Math.min(x, drag.x0) / drag.r.width) * M.dur;
				const b = (Math.max(x, drag.x0) / drag.r.width) * M.dur;
				setZoom(a, b);
			} else {
				const i = Math.max(0, Math.min(n - 1, Math.floor((drag.y0 / drag.r.height) * n)));
				revealSpan(i);
			}
			drag = null;
		};
		window.addEventListener('mousemove', onMove);
		window.addEventListener('mouseup', onUp);

		/* name column resizing */
		splitter.addEventListener('mousedown', (ev) => {
			ev.preventDefault();
			const r = wf.getBoundingClientRect();
			const move = (e) => {
				const w = Math.max(160, Math.min(r.width - 200, e.clientX - r.left));
				wf.style.setProperty('--namew', w + 'px');
			};
			const up = () => {
				window.removeEventListener('mousemove', move);
				window.removeEventListener('mouseup', up);
			};
			window.addEventListener('mousemove', move);
			window.addEventListener('mouseup', up);
		});

		/* ---- find ---- */
		let lower = null;
		function doFind() {
			const qq = findInput.value.trim().toLowerCase();
			if (!qq) {
				hits = null;
				hitList = [];
				findCount.textContent = '';
				list.invalidate();
				return;
			}
			if (!lower)
				lower = spans.map((s) => (s.name + '\u0000' + (svcNames[s.service] || '') + '\u0000' +
					s.spanID).toLowerCase());
			hits = new Uint8Array(n);
			hitList = [];
			for (let i = 0; i < n; i++)
				if (lower[i].includes(qq)) {
					hits[i] = 1;
					hitList.push(i);
				}
			hitPos = -1;
			findCount.textContent = hitList.length ? fmtNum(hitList.length) + ' found' : 'none found';
			list.invalidate();
			if (hitList.length)
				stepFind(1);
		}
		function stepFind(dir) {
			if (!hitList.length)
				return;
			hitPos = (hitPos + dir + hitList.length) % hitList.length;
			findCount.textContent = (hitPos + 1) + ' / ' + fmtNum(hitList.length);
			revealSpan(hitList[hitPos]);
		}
		let findTimer = 0;
		findInput.addEventListener('input', () => {
			clearTimeout(findTimer);
			findTimer = setTimeout(doFind, 150);
		});
		findInput.addEventListener('keydown', (ev) => {
			if (ev.key === 'Enter') {
				ev.preventDefault();
				clearTimeout(findTimer);
				if (hits)
					stepFind(ev.shiftKey ? -1 : 1);
				else
					doFind();
			}
		});

		function focusCritical() {
			for (let i = 0; i < n; i++)
				collapsed[i] = size[i] > 1 && !(fl[i] & 2) ? 1 : 0;
			rebuild();
			list.sc.scrollTop = 0;
		}

		critBox.addEventListener('change', () => {
			critOn = critBox.checked;
			critFocus.hidden = !critOn;
			wf.classList.toggle('crit-on', critOn);
			list.invalidate();
		});
		skewBox.addEventListener('change', () => {
			const u = new URL(location.href);
			if (skewBox.checked)
				u.searchParams.delete('raw');
			else
				u.searchParams.set('raw', '1');
			if (sel >= 0)
				u.searchParams.set('span', spans[sel].spanID);
			navigate(u.pathname + u.search, true);
		});
		depthSel.addEventListener('change', () => {
			const v = depthSel.value;
			depthSel.value = '';
			if (v === 'all')
				setAll(0);
			else if (v)
				expandToDepth(parseInt(v, 10));
		});

		async function downloadJson() {
			try {
				const r = await api('/api/traces/' + encodeURIComponent(id), {raw: raw ? 'true' : undefined});
				const blob = new Blob([JSON.stringify(r)], {type: 'application/json'});
				const a = h('a', {href: URL.createObjectURL(blob), download: 'trace-' + id + '.json'});
				document.body.append(a);
				a.click();
				a.remove();
				setTimeout(() => URL.revokeObjectURL(a.href), 10000);
			} catch (e) {
				banner('JSON: ' + e.message);
			}
		}

		/* ---- side panel ---- */
		let statsLoaded = false;
		function showTab(k) {
			for (const key in tabs) {
				tabs[key].classList.toggle('active', key === k);
				tabs[key].setAttribute('aria-selected', key === k ? 'true' : 'false');
				panes[key].hidden = key !== k;
			}
			if (k === 'logs' && logList)
				logList.schedule();
			if (k === 'stats' && !statsLoaded) {
				statsLoaded = true;
				loadStats();
			}
		}

		function kv(k, v, cls) {
			return h('tr', null, h('th', null, k), h('td', {class: cls || null}, v));
		}

		function showSpan(i) {
			const p = panes.span;
			p.textContent = '';
			if (i < 0) {
				p.append(h('p', {class: 'muted'}, 'Click a span to see its details and its logs.'),
					h('ul', {class: 'hints muted'},
						h('li', null, '↑ ↓ move, ← → collapse or expand, Enter toggles a subtree'),
						h('li', null, 'drag across the overview to zoom the time axis; click it to jump'),
						h('li', null, '≡n: the span has n log records; +n: n spans folded; ⚠: a warning (orphan, clock skew)'),
						h('li', null, 'a click on a log selects its span')));
				return;
			}
			const s = spans[i];
			const svc = svcNames[s.service] || '?';
			const parentLink = par[i] >= 0 ? h('a', {href: '#', class: 'mono', onclick: (ev) => {
				ev.preventDefault();
				revealSpan(par[i], true);
			}}, spans[par[i]].spanID + ' (' + spans[par[i]].name + ')') : h('span', {class: 'muted'}, 'none (root)');
			const pct = (du[i] / M.dur) * 100;
			put(p,
				h('div', {class: 'sd-title'}, svcChip(svc), h('h3', null, s.name)),
				h('div', {class: 'sd-flags'},
					s.error ? h('span', {class: 'flag err'}, 'error') : null,
					s.critical ? h('span', {class: 'flag crit'}, 'critical path') : null,
					s.kind && s.kind !== 'unspecified' ? h('span', {class: 'flag'}, s.kind) : null),
				s.warning || s.skew ? h('div', {class: 'sd-warn'}, '⚠ ', s.warning ||
					('clock skew adjusted by ' + fmtSigned(s.skew))) : null,
				h('table', {class: 'kv'},
					kv('Span ID', s.spanID, 'mono'),
					h('tr', null, h('th', null, 'Parent'), h('td', null, parentLink)),
					kv('Trace ID', d.traceID || id, 'mono'),
					kv('Kind', s.kind || 'unspecified'),
					M.hosts[s.service] ? kv('Host', M.hosts[s.service]) : null,
					kv('Start', '+' + fmtDur(st[i]) + '  (' + fmtTime(d.start + st[i]) + ')'),
					kv('Duration', fmtDur(du[i]) + '  (' + (pct < 0.1 ? pct.toFixed(3) : pct.toFixed(1)) +
						'% of the trace)'),
					kv('Self time', fmtDur(s.self || 0) + (du[i] ? '  (' +
						Math.round(((s.self || 0) / du[i]) * 100) + '% of the span)' : '')),
					s.skew ? kv('Clock skew', fmtSigned(s.skew) + ' applied to this host\'s times') : null,
					kv('Depth', String(dep[i])),
					kv('Children', fmtNum(M.nch[i]) + (size[i] - 1 > M.nch[i] ?
						'  (' + fmtNum(size[i] - 1) + ' descendants)' : ''))),
				spanLogsBox(i),
				attrBox(s));
		}

		function logLine(lg, withSpan) {
			const el = h('div', {class: 'logline sev-' + sevClass(lg)},
				h('span', {class: 'l-t mono'}, '+' + fmtDur(lg.timestamp - d.start)),
				h('span', {class: 'sev'}, lg.severity || ''),
				withSpan ? h('span', {class: 'l-svc', style: {color: colour(lg.service || '?')}}, lg.service) : null,
				h('span', {class: 'l-body'}, lg.body));
			return el;
		}

		function spanLogsBox(i) {
			const box = h('div', {class: 'sd-logs'});
			if (!logs) {
				box.append(h('h4', null, 'Logs'), h('p', {class: 'muted'}, 'loading…'));
				return box;
			}
			const idx = (logsOf && logsOf.get(i)) || [];
			box.append(h('h4', null, 'Logs of this span (' + idx.length + ')'));
			if (!idx.length)
				box.append(h('p', {class: 'muted'}, 'No log record names this span.'));
			for (const k of idx.slice(0, 500)) {
				const lg = logs[k];
				const line = logLine(lg, false);
				if (lg.attributes && Object.keys(lg.attributes).length)
					line.title = JSON.stringify(lg.attributes);
				box.append(line);
			}
			if (idx.length > 500)
				box.append(h('p', {class: 'muted'}, (idx.length - 500) + ' more in the Logs tab'));
			return box;
		}

		function attrBox(s) {
			const box = h('div', {class: 'sd-attrs'}, h('h4', null, 'Attributes'));
			const fill = () => {
				const js = attrs && attrs.spans.get(s.spanID);
				box.textContent = '';
				box.append(h('h4', null, 'Attributes'));
				if (!js) {
					box.append(h('p', {class: 'muted'}, 'not in the full trace answer'));
					return;
				}
				box.append(h('table', {class: 'kv'}, (js.tags || []).map((t) =>
					kv(t.key, typeof t.value === 'object' ? JSON.stringify(t.value) : String(t.value), 'mono'))));
				if (js.logs && js.logs.length) {
					box.append(h('h4', null, 'Events'));
					for (const e of js.logs)
						box.append(h('div', {class: 'event'},
							h('span', {class: 'mono muted'}, '+' + fmtDur(e.timestamp - d.start)), ' ',
							(e.fields || []).map((f) => f.key === 'event' ? h('b', null, String(f.value) + ' ') :
								h('span', {class: 'mono'}, f.key + '=' + JSON.stringify(f.value) + ' '))));
				}
				const proc = attrs.processes[js.processID];
				if (proc && proc.tags && proc.tags.length) {
					box.append(h('h4', null, 'Resource'));
					box.append(h('table', {class: 'kv'}, proc.tags.map((t) => kv(t.key, String(t.value), 'mono'))));
				}
			};
			if (attrs) {
				fill();
			} else {
				const load = () => {
					box.querySelector('button') && (box.querySelector('button').disabled = true);
					loadAttrs().then(() => { if (spans[sel] === s) fill(); },
						(e) => { box.append(errorBox(e)); });
				};
				if (n <= AUTO_ATTR_SPANS) {
					box.append(h('p', {class: 'muted'}, 'loading…'));
					load();
				} else {
					box.append(h('button', {class: 'btn', onclick: load},
						'Load attributes (fetches the full ' + fmtNum(n) + '-span trace)'));
				}
			}
			return box;
		}

		function loadAttrs() {
			if (!attrsLoading)
				attrsLoading = api('/api/traces/' + encodeURIComponent(id), {raw: raw ? 'true' : undefined})
					.then((r) => {
						const t = r.data[0];
						const m = new Map();
						for (const s of t.spans)
							m.set(s.spanID, s);
						attrs = {spans: m, processes: t.processes || {}};
					}, (e) => {
						attrsLoading = null;
						throw e;
					});
			return attrsLoading;
		}

		/* logs tab: every log of the trace, oldest first, a virtual list */
		const logFilter = h('input', {type: 'search', placeholder: 'Filter logs (text or severity)',
			'aria-label': 'filter logs'});
		const logScroll = h('div', {class: 'log-scroll'});
		const logHead = h('div', {class: 'log-head muted'}, 'loading…');
		panes.logs.append(h('div', {class: 'log-tools'}, logFilter), logHead, logScroll);
		let logList = null;
		let logView = [];
		function makeLogRow() {
			const t = h('span', {class: 'l-t mono'});
			const sev = h('span', {class: 'sev'});
			const svc = h('span', {class: 'l-svc'});
			const bd = h('span', {class: 'l-body'});
			const el = h('div', {class: 'logline lrow'}, t, sev, svc, bd);
			el._c = {t, sev, svc, bd};
			return el;
		}
		function paintLogRow(el, k) {
			const lg = logs[logView[k]];
			const c = el._c;
			el._log = logView[k];
			el.className = 'logline lrow sev-' + sevClass(lg) + (lg._span >= 0 && lg._span === sel ? ' sel' : '') +
				(lg._span >= 0 ? ' linked' : '');
			c.t.textContent = '+' + fmtDur(lg.timestamp - d.start);
			c.sev.textContent = lg.severity || '';
			c.svc.textContent = lg.service || '';
			c.svc.style.color = colour(lg.service || '?');
			c.bd.textContent = lg.body;
			el.title = lg.body + (lg.spanID ? '\nspan ' + lg.spanID : '');
		}
		function filterLogs() {
			const qq = logFilter.value.trim().toLowerCase();
			logView = [];
			for (let k = 0; k < logs.length; k++) {
				const lg = logs[k];
				if (!qq || (lg.body || '').toLowerCase().includes(qq) ||
				    (lg.severity || '').toLowerCase() === qq || (lg.service || '').toLowerCase() === qq)
					logView.push(k);
			}
			logHead.textContent = fmtNum(logView.length) + (qq ? ' of ' + fmtNum(logs.length) : '') +
				' log records, oldest first; click one to select its span';
			logList.setCount(logView.length);
		}
		logScroll.addEventListener('click', (ev) => {
			const row = ev.target.closest('.lrow');
			if (!row)
				return;
			const lg = logs[row._log];
			if (lg._span >= 0) {
				revealSpan(lg._span, true);
				showTab('logs');
				logList.invalidate();
			}
		});
		logFilter.addEventListener('input', () => logs && filterLogs());

		pLogs.then((r) => {
			if (gen !== routeGen)
				return;
			logs = r.data.slice().sort((a, b) => a.timestamp - b.timestamp);
			logsOf = new Map();
			for (let k = 0; k < logs.length; k++) {
				const i = logs[k].spanID ? spanIndex(logs[k].spanID) : -1;
				logs[k]._span = i;
				if (i >= 0) {
					let a = logsOf.get(i);
					if (!a)
						logsOf.set(i, (a = []));
					a.push(k);
					if (logCount[i] < 65535)
						logCount[i]++;
				}
			}
			logStat.textContent = '';
			logStat.append(h('b', null, fmtNum(logs.length)), ' logs');
			tabs.logs.textContent = 'Logs (' + fmtNum(logs.length) + ')';
			logList = new VirtualList(logScroll, LOG_ROW_H, makeLogRow, paintLogRow);
			filterLogs();
			list.invalidate();
			if (sel >= 0)
				showSpan(sel);
		}, (e) => {
			if (gen !== routeGen || e.name === 'AbortError')
				return;
			logStat.textContent = 'logs unavailable';
			logHead.textContent = '';
			logHead.append(errorBox(e));
			logs = [];
			logsOf = new Map();
		});

		async function loadStats() {
			const p = panes.stats;
			p.append(h('p', {class: 'muted'}, 'loading…'));
			let r;
			try {
				r = await api('/api/traces/' + encodeURIComponent(id) + '/stats',
					{raw: raw ? 'true' : undefined});
			} catch (e) {
				if (gen !== routeGen)
					return;
				p.textContent = '';
				p.append(errorBox(e));
				statsLoaded = false;
				return;
			}
			if (gen !== routeGen)
				return;
			const s = r.data;
			p.textContent = '';
			p.append(h('div', {class: 'stat-cards'},
				[['Spans', fmtNum(s.spans)], ['Services', s.services], ['Depth', s.depth],
					['Errors', fmtNum(s.errors)], ['Logs', fmtNum(s.logs)],
					['Duration', fmtDur(s.duration)]].map(([k, v]) =>
					h('div', {class: 'card' + (k === 'Errors' && s.errors ? ' err' : '')},
						h('span', {class: 'v'}, String(v)), h('span', {class: 'k'}, k)))));
			const ops = s.operations || [];
			const cols = [['operation', 'Service · operation'], ['count', 'Count'],
				['totalDuration', 'Total'], ['selfTime', 'Self'], ['errors', 'Err']];
			let sortKey = 'selfTime', sortDir = -1;
			const tbody = h('tbody');
			const thead = h('thead', null, h('tr', null, cols.map(([k, label]) =>
				h('th', {class: k === 'operation' ? '' : 'num', 'data-k': k,
					onclick: () => {
						if (sortKey === k)
							sortDir = -sortDir;
						else {
							sortKey = k;
							sortDir = k === 'operation' ? 1 : -1;
						}
						fillStats();
					}}, label))));
			const maxSelf = Math.max(1, ...ops.map((o) => o.selfTime));
			function fillStats() {
				const a = ops.slice().sort((x, y) => {
					const u = x[sortKey], v = y[sortKey];
					return (typeof u === 'string' ? u.localeCompare(v) : u - v) * sortDir;
				});
				for (const th of thead.querySelectorAll('th'))
					th.classList.toggle('sorted', th.dataset.k === sortKey);
				tbody.textContent = '';
				for (const o of a)
					tbody.append(h('tr', {class: o.errors ? 'err' : '', title: 'find these spans',
						onclick: () => { findInput.value = o.operation; doFind(); }},
					h('td', {class: 'opcell'}, svcChip(o.service, 'small'), ' ', o.operation),
					h('td', {class: 'num'}, fmtNum(o.count)),
					h('td', {class: 'num'}, fmtDur(o.totalDuration)),
					h('td', {class: 'num selfcell'}, h('span', {class: 'selfbar', style: {
						width: (o.selfTime / maxSelf) * 100 + '%', background: colour(o.service)}}),
					h('span', null, fmtDur(o.selfTime))),
					h('td', {class: 'num' + (o.errors ? ' err-text' : '')}, fmtNum(o.errors))));
			}
			fillStats();
			p.append(h('h4', null, 'By service and operation'),
				h('p', {class: 'muted small'}, 'Self time: a span\'s duration minus the time covered by its children.'),
				h('table', {class: 'stats'}, thead, tbody));
			if (s.criticalPath && s.criticalPath.length) {
				p.append(h('h4', null, 'Critical path (' + s.criticalPath.length + ' spans)'));
				const ol = h('ol', {class: 'crit-list'});
				for (const c of s.criticalPath)
					ol.append(h('li', null, h('a', {href: '#', onclick: (ev) => {
						ev.preventDefault();
						const i = spanIndex(c.spanID);
						if (i >= 0)
							revealSpan(i, true);
					}}, svcChip(c.service, 'small'), ' ', c.operation), ' ',
					h('span', {class: 'muted'}, fmtDur(c.duration) + ', self ' + fmtDur(c.selfTime))));
				p.append(ol);
			}
		}

		/* ---- first paint ---- */
		paintTicks();
		rebuild();
		showSpan(-1);
		showTab('span');
		requestAnimationFrame(() => {
			drawMinimap();
			T.minimap = performance.now();
		});
		const ro = new ResizeObserver(() => drawMinimap());
		ro.observe(minimap);
		scroller.focus({preventScroll: true});

		/* for the tests: the model's size and a way to find rows */
		kiseki.trace = {
			spans: n,
			visible: () => visN,
			selected: () => (sel >= 0 ? spans[sel].spanID : null),
		};

		return {
			selectById(sid) {
				const i = spanIndex(sid);
				if (i >= 0)
					requestAnimationFrame(() => revealSpan(i));
			},
			destroy() {
				list.destroy();
				if (logList)
					logList.destroy();
				ro.disconnect();
				window.removeEventListener('mousemove', onMove);
				window.removeEventListener('mouseup', onUp);
				kiseki.trace = null;
			},
		};
	}

	function sevClass(lg) {
		const n = lg.severityNumber || 0;
		if (n >= 17)
			return n >= 21 ? 'fatal' : 'error';
		if (n >= 13)
			return 'warn';
		if (n >= 9)
			return 'info';
		if (n >= 5)
			return 'debug';
		if (n >= 1)
			return 'trace';
		const t = String(lg.severity || '').toLowerCase();
		return /err|crit|alert|emerg/.test(t) ? 'error' : /warn/.test(t) ? 'warn' :
			/debug/.test(t) ? 'debug' : 'info';
	}

	/* ---- page: services graph ----------------------------------------------------------- */

	const DEP_LOOKBACKS = [['1h', 3.6e6], ['6h', 2.16e7], ['24h', 8.64e7], ['2d', 1.728e8], ['7d', 6.048e8]];

	function pageDeps(main, q, gen) {
		main.className = 'page-deps';
		const lbSel = h('select', {'aria-label': 'time range'},
			DEP_LOOKBACKS.map(([k]) => h('option', {value: k}, 'Last ' + k)));
		lbSel.value = DEP_LOOKBACKS.some(([k]) => k === q.get('lookback')) ? q.get('lookback') : '24h';
		lbSel.addEventListener('change', () => navigate('/deps?lookback=' + lbSel.value, true));
		const graph = h('div', {class: 'panel graph'}, h('p', {class: 'muted'}, 'Loading…'));
		const table = h('div', {class: 'edge-table'});
		main.append(h('div', {class: 'page-head'}, h('h2', null, 'Service graph'),
			h('span', {class: 'muted'}, 'who calls whom, from span parent/child links'),
			h('span', {class: 'spacer'}), lbSel), graph, table);
		const ms = DEP_LOOKBACKS.find(([k]) => k === lbSel.value)[1];
		api('/api/dependencies', {endTs: String(Date.now()), lookback: String(ms)}).then((r) => {
			if (gen !== routeGen)
				return;
			graph.textContent = '';
			const edges = r.data || [];
			if (!edges.length) {
				graph.append(h('div', {class: 'empty'}, h('p', null, 'No calls between services in this range.')));
				return;
			}
			drawGraph(graph, edges);
			drawEdgeTable(table, edges);
		}, (e) => {
			if (gen !== routeGen)
				return;
			graph.textContent = '';
			graph.append(errorBox(e));
		});
		return null;
	}

	/* layered layout: layer = BFS depth from the roots (services nobody
	 * calls; in a cycle with no root, the most-calling service) */
	function layoutGraph(edges) {
		const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
		const out = new Map(names.map((s) => [s, []]));
		const inc = new Map(names.map((s) => [s, []]));
		for (const e of edges)
			if (e.parent !== e.child) {
				out.get(e.parent).push(e.child);
				inc.get(e.child).push(e.parent);
			}
		const layer = new Map();
		const bfs = (starts) => {
			const qq = [];
			for (const s of starts)
				if (!layer.has(s)) {
					layer.set(s, 0);
					qq.push(s);
				}
			while (qq.length) {
				const u = qq.shift();
				for (const v of out.get(u))
					if (!layer.has(v)) {
						layer.set(v, layer.get(u) + 1);
						qq.push(v);
					}
			}
		};
		bfs(names.filter((s) => inc.get(s).length === 0));
		while (layer.size < names.length) {
			const rest = names.filter((s) => !layer.has(s));
			rest.sort((a, b) => out.get(b).length - out.get(a).length);
			bfs([rest[0]]);
		}
		const layers = [];
		for (const s of names) {
			const l = layer.get(s);
			(layers[l] || (layers[l] = [])).push(s);
		}
		/* two barycenter sweeps to reduce crossings */
		const pos = new Map();
		const setPos = () => layers.forEach((ls) => ls.forEach((s, i) => pos.set(s, i)));
		setPos();
		for (let sweep = 0; sweep < 2; sweep++)
			for (let l = 1; l < layers.length; l++) {
				const bc = (s) => {
					const ps = inc.get(s).filter((p) => layer.get(p) === l - 1);
					return ps.length ? ps.reduce((a, p) => a + pos.get(p), 0) / ps.length : pos.get(s);
				};
				layers[l].sort((a, b) => bc(a) - bc(b));
				setPos();
			}
		return {names, layer, layers, pos};
	}

	function drawGraph(box, edges) {
		const L = layoutGraph(edges);
		const NW = 168, NH = 40, CW = 340, RH = 84, PADX = 40, PADY = 46;
		const maxRows = Math.max(...L.layers.map((l) => l.length));
		const W = PADX * 2 + (L.layers.length - 1) * CW + NW + 110;
		const H = PADY * 2 + (maxRows - 1) * RH + NH + 40;
		const xy = new Map();
		L.layers.forEach((ls, l) => {
			const off = ((maxRows - ls.length) * RH) / 2;
			ls.forEach((s, i) => xy.set(s, {x: PADX + l * CW, y: PADY + off + i * RH}));
		});
		const svg = svgEl('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, class: 'dep-svg',
			role: 'img', 'aria-label': 'service dependency graph'});
		svg.append(svgEl('defs', null,
			svgEl('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9,
				markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse'}, svgEl('path', {d: 'M0 0 L10 5 L0 10 z', class: 'arrow'})),
			svgEl('marker', {id: 'arrow-err', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9,
				markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse'}, svgEl('path', {d: 'M0 0 L10 5 L0 10 z', class: 'arrow err'}))));
		const maxCalls = Math.max(1, ...edges.map((e) => e.callCount));
		const gEdges = svgEl('g', {class: 'edges'});
		const gLabels = svgEl('g', {class: 'labels'});
		const inCount = new Map(), outCount = new Map();
		/* label boxes placed so far (nodes count as taken) */
		const taken = L.names.map((s) => {
			const p = xy.get(s);
			return {x0: p.x - 4, y0: p.y - 4, x1: p.x + NW + 4, y1: p.y + NH + 4};
		});
		const free = (r) => !taken.some((o) => r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1);
		/* cubic Bezier point at t */
		const bez = (c, t) => {
			const u = 1 - t;
			return [u * u * u * c[0] + 3 * u * u * t * c[2] + 3 * u * t * t * c[4] + t * t * t * c[6],
				u * u * u * c[1] + 3 * u * u * t * c[3] + 3 * u * t * t * c[5] + t * t * t * c[7]];
		};
		/* heavier edges first: their labels get the best spots */
		const order = edges.slice().sort((x, y) => y.callCount - x.callCount);
		let hidden = 0;
		for (const e of order) {
			outCount.set(e.parent, (outCount.get(e.parent) || 0) + e.callCount);
			inCount.set(e.child, (inCount.get(e.child) || 0) + e.callCount);
			const a = xy.get(e.parent), b = xy.get(e.child);
			const err = e.errorCount > 0;
			const sw = (1.2 + 2.6 * Math.log(1 + e.callCount) / Math.log(1 + maxCalls)).toFixed(2);
			let c;
			const la = L.layer.get(e.parent), lb = L.layer.get(e.child);
			if (e.parent === e.child) {
				const x = a.x + NW / 2, y = a.y;
				c = [x - 18, y, x - 44, y - 46, x + 44, y - 46, x + 18, y];
			} else if (lb > la) {
				/* forward: right side -> left side */
				const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x - 2, y2 = b.y + NH / 2;
				const cx = (x2 - x1) / 2;
				c = [x1, y1, x1 + cx, y1, x2 - cx, y2, x2, y2];
			} else if (lb === la) {
				/* same layer (stacked): out of the right side, bulging right */
				const x1 = a.x + NW, y1 = a.y + NH / 2 + (b.y > a.y ? 6 : -6);
				const x2 = b.x + NW + 2, y2 = b.y + NH / 2 + (b.y > a.y ? -6 : 6);
				const bulge = 34 + Math.abs(y2 - y1) * 0.32;
				c = [x1, y1, x1 + bulge, y1, x2 + bulge, y2, x2, y2];
			} else {
				/* back edge: out of the bottom, into the child's right side */
				const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW + 2, y2 = b.y + NH / 2 + 8;
				c = [x1, y1, x1, y1 + 70, x2 + 90, y2 + 40, x2, y2];
			}
			const d = `M${c[0]} ${c[1]} C ${c[2]} ${c[3]}, ${c[4]} ${c[5]}, ${c[6]} ${c[7]}`;
			const title = e.parent + ' → ' + e.child + ': ' + fmtNum(e.callCount) + ' calls, ' +
				fmtNum(e.errorCount) + ' errors' + (e.avgDurationMicros !== undefined ?
				', avg ' + fmtDur(e.avgDurationMicros) : '');
			const path = svgEl('path', {d, class: 'edge' + (err ? ' err' : ''), 'stroke-width': sw,
				'marker-end': err ? 'url(#arrow-err)' : 'url(#arrow)', 'data-parent': e.parent,
				'data-child': e.child}, svgEl('title', null, title));
			gEdges.append(path);
			const label = fmtNum(e.callCount) + ' call' + (e.callCount === 1 ? '' : 's') +
				(err ? ' · ' + fmtNum(e.errorCount) + ' err' : '');
			const tw = label.length * 6.2 + 12;
			let best = null;
			for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75]) {
				const [x, y] = bez(c, t);
				const r = {x0: x - tw / 2, y0: y - 9, x1: x + tw / 2, y1: y + 9};
				if (free(r)) {
					best = {x, y, r};
					break;
				}
			}
			/* no free spot: the label shows when the edge is hovered */
			const crowded = !best;
			if (crowded) {
				const [x, y] = bez(c, 0.5);
				best = {x, y};
				hidden++;
			} else {
				taken.push(best.r);
			}
			const lab = svgEl('g', {class: 'elabel' + (err ? ' err' : '') + (crowded ? ' crowded' : ''),
				transform: `translate(${best.x.toFixed(1)} ${best.y.toFixed(1)})`},
			svgEl('title', null, title),
			svgEl('rect', {x: -tw / 2, y: -9, width: tw, height: 18, rx: 9}),
			svgEl('text', {x: 0, y: 4, 'text-anchor': 'middle'}, label));
			gLabels.append(lab);
			path.addEventListener('mouseenter', () => lab.classList.add('show'));
			path.addEventListener('mouseleave', () => lab.classList.remove('show'));
		}
		const gNodes = svgEl('g', {class: 'nodes'});
		for (const s of L.names) {
			const p = xy.get(s);
			const c = colour(s);
			const label = s.length > 22 ? s.slice(0, 21) + '…' : s;
			const g = svgEl('g', {class: 'node', transform: `translate(${p.x} ${p.y})`, 'data-service': s,
				tabindex: 0, role: 'link'},
			svgEl('title', null, s + '\ncalls in: ' + fmtNum(inCount.get(s) || 0) + ', calls out: ' +
				fmtNum(outCount.get(s) || 0) + '\nclick: search its traces'),
			svgEl('rect', {width: NW, height: NH, rx: 9, style: `--c:${c}`}),
			svgEl('rect', {width: 6, height: NH, rx: 3, class: 'stripe', fill: c}),
			svgEl('text', {x: 16, y: NH / 2 + 5}, label));
			const go = () => navigate('/search?service=' + encodeURIComponent(s));
			g.addEventListener('click', go);
			g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') go(); });
			gNodes.append(g);
		}
		svg.append(gEdges, gNodes, gLabels);
		box.append(svg);
		if (hidden)
			box.append(h('p', {class: 'muted small graph-note'}, hidden + ' of ' + edges.length +
				' edge labels overlap others and show when the edge is hovered; every edge is in the table below.'));
	}

	function drawEdgeTable(box, edges) {
		const rows = edges.slice().sort((a, b) => b.callCount - a.callCount);
		box.append(h('table', {class: 'stats'},
			h('thead', null, h('tr', null, h('th', null, 'Caller'), h('th', null, 'Callee'),
				h('th', {class: 'num'}, 'Calls'), h('th', {class: 'num'}, 'Errors'),
				h('th', {class: 'num'}, 'Error rate'), h('th', {class: 'num'}, 'Avg duration'))),
			h('tbody', null, rows.map((e) => h('tr', {class: e.errorCount ? 'err' : ''},
				h('td', null, svcChip(e.parent, 'small')), h('td', null, svcChip(e.child, 'small')),
				h('td', {class: 'num'}, fmtNum(e.callCount)),
				h('td', {class: 'num' + (e.errorCount ? ' err-text' : '')}, fmtNum(e.errorCount)),
				h('td', {class: 'num'}, e.callCount ? ((e.errorCount / e.callCount) * 100).toFixed(1) + '%' : '–'),
				h('td', {class: 'num'}, e.avgDurationMicros !== undefined ? fmtDur(e.avgDurationMicros) : '–'))))));
	}

	/* ---- page: logs ---------------------------------------------------------------------- */

	const LOG_RANGES = [['15m', 9e8], ['1h', 3.6e9], ['6h', 2.16e10], ['24h', 8.64e10], ['7d', 6.048e11],
		['all', 0], ['custom', -1]];

	function pageLogs(main, q, gen) {
		main.className = 'page-logs';
		const f = {
			service: h('select', {name: 'service'}, h('option', {value: ''}, 'All services')),
			host: h('input', {name: 'host', type: 'text', placeholder: 'any host', size: 12}),
			severity: h('select', {name: 'severity'}, h('option', {value: ''}, 'Any severity'),
				['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((s) =>
					h('option', {value: s}, s + ' and above'))),
			q: h('input', {name: 'q', type: 'search', placeholder: 'regex on the body, e.g. timeout|refused',
				spellcheck: 'false', class: 'grow'}),
			range: h('select', {name: 'range'}, LOG_RANGES.map(([k]) =>
				h('option', {value: k}, k === 'all' ? 'All time' : k === 'custom' ? 'Custom range' : 'Last ' + k))),
			start: h('input', {name: 'start', type: 'datetime-local'}),
			end: h('input', {name: 'end', type: 'datetime-local'}),
			limit: h('input', {name: 'limit', type: 'number', min: 1, max: 100000, value: 200, size: 6}),
		};
		const custom = h('span', {class: 'custom-range'}, f.start, ' – ', f.end);
		const formErr = h('div', {class: 'form-err', role: 'alert'});
		const form = h('form', {class: 'panel logs-form', autocomplete: 'off'},
			f.service, f.host, f.severity, f.q, f.range, custom,
			h('label', null, 'Limit ', f.limit),
			h('button', {type: 'submit', class: 'primary'}, 'Search logs'), formErr);
		const summary = h('div', {class: 'log-summary'});
		const scroll = h('div', {class: 'log-scroll big'});
		const detail = h('div', {class: 'log-detail panel', hidden: true});
		main.append(h('div', {class: 'page-head'}, h('h2', null, 'Logs'),
			h('span', {class: 'muted'}, 'newest first; a log with a trace links to it')), form, summary,
		h('div', {class: 'logs-body'}, scroll, detail));

		f.service.value = '';
		f.host.value = q.get('host') || '';
		f.severity.value = q.get('severity') || '';
		f.q.value = q.get('q') || '';
		f.range.value = LOG_RANGES.some(([k]) => k === q.get('range')) ? q.get('range') : '1h';
		f.limit.value = q.get('limit') || '200';
		const nowUs = Date.now() * 1000;
		f.start.value = usToLocal(q.get('start') ? Number(q.get('start')) : nowUs - 3.6e9);
		f.end.value = usToLocal(q.get('end') ? Number(q.get('end')) : nowUs);
		const syncCustom = () => { custom.hidden = f.range.value !== 'custom'; };
		syncCustom();
		f.range.addEventListener('change', syncCustom);
		api('/api/services').then((r) => {
			if (gen !== routeGen)
				return;
			registerColours(r.data);
			for (const s of r.data)
				f.service.append(h('option', {value: s}, s));
			if (q.get('service')) {
				if (!r.data.includes(q.get('service')))
					f.service.append(h('option', {value: q.get('service')}, q.get('service')));
				f.service.value = q.get('service');
			}
		}, () => {});

		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			formErr.textContent = '';
			const p = new URLSearchParams();
			for (const k of ['service', 'host', 'severity', 'q'])
				if (f[k].value.trim())
					p.set(k, f[k].value.trim());
			p.set('range', f.range.value);
			const bad = formRangeLimit(f, p, f.range.value === 'custom', 100000);
			if (bad) {
				formErr.textContent = bad;
				return;
			}
			navigate('/logs?' + p.toString());
		});

		/* the query */
		const params = {limit: q.get('limit') || '200'};
		for (const k of ['service', 'host', 'severity', 'q'])
			if (q.get(k))
				params[k] = q.get(k);
		const range = f.range.value;
		if (range === 'custom') {
			params.start = q.get('start');
			params.end = q.get('end');
		} else {
			const lb = LOG_RANGES.find(([k]) => k === range)[1];
			if (lb > 0)
				params.start = String(Math.floor(nowUs - lb));
		}
		summary.append(h('p', {class: 'muted'}, 'Searching…'));
		let list = null;
		api('/api/logs', params).then((r) => {
			if (gen !== routeGen)
				return;
			const data = r.data;
			summary.textContent = '';
			summary.append(h('span', null, h('b', null, fmtNum(data.length)), ' log records' +
				(r.total > data.length ? ' (of ' + fmtNum(r.total) + ' matching; raise the limit to see more)' : '')));
			registerColours(data.map((l) => l.service || '?'));
			if (!data.length) {
				scroll.append(h('div', {class: 'empty'}, h('p', null, 'No logs match.')));
				return;
			}
			const sevCount = new Map();
			for (const l of data) {
				const c = sevClass(l);
				sevCount.set(c, (sevCount.get(c) || 0) + 1);
			}
			for (const c of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
				if (sevCount.get(c))
					summary.append(h('span', {class: 'sevchip sev-' + c}, c + ' ' + fmtNum(sevCount.get(c))));
			let selK = -1;
			const make = () => {
				const t = h('span', {class: 'l-t mono'});
				const sev = h('span', {class: 'sev'});
				const svc = h('span', {class: 'l-svc'});
				const host = h('span', {class: 'l-host muted'});
				const bd = h('span', {class: 'l-body'});
				const tr = h('a', {class: 'l-trace', 'data-nav': ''});
				const el = h('div', {class: 'logline lrow'}, t, sev, svc, host, bd, tr);
				el._c = {t, sev, svc, host, bd, tr};
				return el;
			};
			const paint = (el, k) => {
				const l = data[k];
				const c = el._c;
				el._k = k;
				el.className = 'logline lrow sev-' + sevClass(l) + (k === selK ? ' sel' : '');
				c.t.textContent = fmtTime(l.timestamp);
				c.sev.textContent = l.severity || '';
				c.svc.textContent = l.service || '';
				c.svc.style.color = colour(l.service || '?');
				c.host.textContent = l.host || '';
				c.bd.textContent = l.body;
				el.title = l.body;
				if (l.traceID) {
					c.tr.href = '/trace/' + l.traceID + (l.spanID ? '?span=' + l.spanID : '');
					c.tr.textContent = 'trace ' + l.traceID.slice(0, 8) + ' ↗';
					c.tr.style.visibility = '';
				} else {
					c.tr.removeAttribute('href');
					c.tr.textContent = '';
					c.tr.style.visibility = 'hidden';
				}
			};
			list = new VirtualList(scroll, LOG_ROW_H, make, paint);
			list.setCount(data.length);
			scroll.addEventListener('click', (ev) => {
				if (ev.target.closest('a'))
					return;
				const row = ev.target.closest('.lrow');
				if (!row)
					return;
				selK = row._k;
				list.invalidate();
				const l = data[selK];
				detail.hidden = false;
				detail.textContent = '';
				put(detail,
					h('div', {class: 'ld-head'}, h('span', {class: 'sev sev-' + sevClass(l)}, l.severity), ' ',
						svcChip(l.service || '?', 'small'), ' ', h('span', {class: 'muted'}, l.host || ''),
						h('span', {class: 'spacer'}),
						h('button', {class: 'link', onclick: () => { detail.hidden = true; }, text: '×',
							'aria-label': 'close'})),
					h('div', {class: 'mono small muted'}, fmtTime(l.timestamp)),
					h('pre', {class: 'ld-body'}, l.body),
					l.traceID ? h('p', null, h('a', {href: '/trace/' + l.traceID +
						(l.spanID ? '?span=' + l.spanID : ''), 'data-nav': ''}, 'Open trace ' + l.traceID),
					l.spanID ? h('span', {class: 'muted'}, ' at span ' + l.spanID) : null) : null,
					l.attributes && Object.keys(l.attributes).length ? h('table', {class: 'kv'},
						Object.entries(l.attributes).map(([k, v]) => h('tr', null, h('th', null, k),
							h('td', {class: 'mono'}, typeof v === 'object' ? JSON.stringify(v) : String(v))))) : null);
			});
		}, (e) => {
			if (gen !== routeGen)
				return;
			summary.textContent = '';
			summary.append(errorBox(e));
		});
		return () => { if (list) list.destroy(); };
	}

	/* ---- start -------------------------------------------------------------------------- */

	function start() {
		initAuth();
		initNav();
		route();
	}
	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
})();
