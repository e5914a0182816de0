/*
 * qry_fetch.c : fan-out to the collectors and merging (qry_fetch.h).
 *
 * Data in: query requests (ksk_qreq). Data out: merged, decoded answers.
 * Each call runs one job per collector, in parallel (one thread per extra
 * collector), each on a pooled col_client; then merges on the calling
 * thread. Replies are parsed with msgpack-c only after ksk_wire_guard has
 * checked their structure, and every chunk frame goes through the shared
 * hostile-safe frame and record decoders, so a broken collector cannot
 * crash kiseki-query.
 *
 * Invariants: a client is used by one thread at a time (taken from the
 * pool, given back after the call); a qry_tdata keeps every chunk's reply
 * bytes and decoders alive as long as its span/log pointers are.
 */
#include "qry_fetch.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_client.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#define QRY_POOL_IDLE 16

void qry_warn(qry_warns *w, const char *fmt, ...)
{
	if (!w || w->n >= QRY_MAX_WARNS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->msg[w->n], sizeof(w->msg[0]), fmt, ap);
	va_end(ap);
	for (uint32_t i = 0; i < w->n; i++)
		if (strcmp(w->msg[i], w->msg[w->n]) == 0)
			return; /* once is enough */
	w->n++;
}

/* ---- the client pool ---------------------------------------------------------------- */

typedef struct qry_coll {
	char *url;
	pthread_mutex_t mu;
	col_client *idle[QRY_POOL_IDLE];
	size_t n_idle;
} qry_coll;

struct qry_backend {
	qry_coll *colls;
	size_t n;
	int timeout_ms;
};

ksk_err qry_backend_create(const qry_backend_opts *o, qry_backend **out, ksk_errinfo *ei)
{
	if (!o || o->n_urls == 0 || o->n_urls > QRY_MAX_COLLECTORS)
		return ksk_errinfo_set(ei, KSK_EINVAL, "query: 1 to %d collectors, not %zu",
		                       QRY_MAX_COLLECTORS, o ? o->n_urls : 0);
	qry_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "query: out of memory");
	b->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	b->colls = calloc(o->n_urls, sizeof(*b->colls));
	if (!b->colls) {
		free(b);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "query: out of memory");
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		b->colls[i].url = strdup(o->urls[i]);
		pthread_mutex_init(&b->colls[i].mu, NULL);
		b->n++;
		if (!b->colls[i].url) {
			qry_backend_destroy(b);
			return ksk_errinfo_set(ei, KSK_ENOMEM, "query: out of memory");
		}
	}
	*out = b;
	return KSK_OK;
}

static void *qry_closer_main(void *arg)
{
	col_client_close(arg);
	return NULL;
}

/* A client whose last call failed may have a request outstanding: close
 * it where a hang cannot block anyone (nng 1.5.2; see agt_ship.c). */
static void qry_client_discard(col_client *c)
{
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, qry_closer_main, c) != 0)
		col_client_close(c);
	pthread_attr_destroy(&at);
}

void qry_backend_destroy(qry_backend *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		qry_coll *c = &b->colls[i];
		for (size_t k = 0; k < c->n_idle; k++)
			col_client_close(c->idle[k]);
		pthread_mutex_destroy(&c->mu);
		free(c->url);
	}
	free(b->colls);
	free(b);
}

size_t qry_backend_count(const qry_backend *b)
{
	return b->n;
}

const char *qry_backend_url(const qry_backend *b, size_t i)
{
	return i < b->n ? b->colls[i].url : NULL;
}

static ksk_err qry_acquire(qry_backend *b, size_t i, col_client **out, ksk_errinfo *ei)
{
	qry_coll *c = &b->colls[i];
	pthread_mutex_lock(&c->mu);
	col_client *cl = c->n_idle ? c->idle[--c->n_idle] : NULL;
	pthread_mutex_unlock(&c->mu);
	if (cl) {
		*out = cl;
		return KSK_OK;
	}
	return col_client_open(c->url, b->timeout_ms, out, ei);
}

static void qry_release(qry_backend *b, size_t i, col_client *cl, bool healthy)
{
	qry_coll *c = &b->colls[i];
	if (!healthy) {
		qry_client_discard(cl);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->n_idle < QRY_POOL_IDLE) {
		c->idle[c->n_idle++] = cl;
		cl = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	if (cl)
		col_client_close(cl);
}

/* ---- parallel jobs ------------------------------------------------------------------- */

typedef ksk_err (*qry_job_fn)(void *ctx, size_t i, col_client *c, ksk_errinfo *ei);

typedef struct qry_job {
	qry_backend *b;
	size_t i;
	qry_job_fn fn;
	void *ctx;
	ksk_err rc;
	ksk_errinfo ei;
	pthread_t th;
	bool threaded;
} qry_job;

static void qry_job_run(qry_job *j)
{
	col_client *c = NULL;
	ksk_errinfo_clear(&j->ei);
	j->rc = qry_acquire(j->b, j->i, &c, &j->ei);
	if (j->rc != KSK_OK)
		return;
	j->rc = j->fn(j->ctx, j->i, c, &j->ei);
	/* a collector's own error reply leaves the socket idle; transport
	 * failures may leave a request outstanding */
	bool healthy = j->rc == KSK_OK || (j->rc != KSK_ETIMEDOUT && j->rc != KSK_ENET &&
	                                   j->rc != KSK_EPARSE);
	qry_release(j->b, j->i, c, healthy);
}

static void *qry_job_main(void *arg)
{
	qry_job_run(arg);
	return NULL;
}

/* Runs fn for every collector. Fills jobs[i].rc/ei. Returns the number
 * that succeeded, or reports the failures as warnings. */
static size_t qry_fan(qry_backend *b, qry_job_fn fn, void *ctx, qry_job *jobs, qry_warns *w,
                      bool notfound_ok)
{
	for (size_t i = 0; i < b->n; i++) {
		jobs[i] = (qry_job){.b = b, .i = i, .fn = fn, .ctx = ctx};
		if (i + 1 < b->n &&
		    pthread_create(&jobs[i].th, NULL, qry_job_main, &jobs[i]) == 0)
			jobs[i].threaded = true;
		else
			qry_job_run(&jobs[i]);
	}
	size_t ok = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (jobs[i].threaded)
			pthread_join(jobs[i].th, NULL);
		if (jobs[i].rc == KSK_OK || (notfound_ok && jobs[i].rc == KSK_ENOTFOUND))
			ok++;
		else
			qry_warn(w, "collector %s: %s", b->colls[i].url,
			         jobs[i].ei.msg[0] ? jobs[i].ei.msg : ksk_errname(jobs[i].rc));
	}
	return ok;
}

/* the error of a call where no collector answered */
static ksk_err qry_fan_fail(const qry_backend *b, const qry_job *jobs, ksk_errinfo *ei)
{
	for (size_t i = 0; i < b->n; i++)
		if (jobs[i].rc != KSK_OK && jobs[i].rc != KSK_ENOTFOUND)
			return ksk_errinfo_set(ei, jobs[i].rc, "no collector answered: %s: %s",
			                       b->colls[i].url,
			                       jobs[i].ei.msg[0] ? jobs[i].ei.msg
			                                         : ksk_errname(jobs[i].rc));
	return ksk_errinfo_set(ei, KSK_ENOTFOUND, "not found");
}

/* ---- reply parsing ------------------------------------------------------------------ */

typedef struct qry_reply {
	msgpack_zone zone;
	msgpack_object root;
	bool live;
} qry_reply;

static bool qry_keyis(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, name, n) == 0;
}

static const msgpack_object *qry_get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (qry_keyis(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* parses a successful reply; an error reply becomes its error */
static ksk_err qry_reply_open(qry_reply *r, const ksk_buf *buf, ksk_errinfo *ei)
{
	memset(r, 0, sizeof(*r));
	col_reply cr;
	if (col_reply_parse(buf->data, buf->len, &cr) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EPARSE, "malformed reply");
	if (!cr.ok)
		return ksk_errinfo_set(ei, cr.code, "%s", cr.error);
	if (!msgpack_zone_init(&r->zone, 4096))
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	r->live = true;
	size_t off = 0;
	if (msgpack_unpack((const char *)buf->data, buf->len, &off, &r->zone, &r->root) !=
	    MSGPACK_UNPACK_SUCCESS)
		return ksk_errinfo_set(ei, KSK_EPARSE, "malformed reply");
	return KSK_OK;
}

static void qry_reply_close(qry_reply *r)
{
	if (r->live)
		msgpack_zone_destroy(&r->zone);
	r->live = false;
}

static ksk_str qry_ostr(ksk_arena *a, const msgpack_object *o)
{
	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0)
		return (ksk_str){"", 0};
	char *p = ksk_arena_alloc(a, o->via.str.size + 1);
	if (!p)
		return (ksk_str){"", 0};
	memcpy(p, o->via.str.ptr, o->via.str.size);
	p[o->via.str.size] = '\0';
	return (ksk_str){p, o->via.str.size};
}

static uint64_t qry_ou64(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

static const msgpack_object *qry_oarr(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

/* ---- simple requests: one reply per collector ---------------------------------------- */

typedef struct qry_simple {
	const ksk_qreq *req;
	ksk_buf replies[QRY_MAX_COLLECTORS];
} qry_simple;

static ksk_err qry_simple_job(void *ctx, size_t i, col_client *c, ksk_errinfo *ei)
{
	qry_simple *s = ctx;
	KSK_TRY(col_client_request(c, s->req, &s->replies[i], ei));
	col_reply cr;
	if (col_reply_parse(s->replies[i].data, s->replies[i].len, &cr) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EPARSE, "malformed reply");
	if (!cr.ok)
		return ksk_errinfo_set(ei, cr.code, "%s", cr.error);
	return KSK_OK;
}

/* Parses one element of a reply's array into `out` (an element of the
 * caller's type); false skips it. */
typedef bool (*qry_item_fn)(const msgpack_object *item, ksk_arena *a, void *out);

/* Runs `r` on every collector and gathers every element of each reply's
 * array `key` through `fn` into *items (malloc'd, `elem` bytes each;
 * strings copied into `a`). KSK_OK when at least one collector answered. */
static ksk_err qry_collect(qry_backend *b, const ksk_qreq *r, const char *key, size_t elem,
                           qry_item_fn fn, ksk_arena *a, void **items, size_t *n, qry_warns *w,
                           ksk_errinfo *ei)
{
	*items = NULL;
	*n = 0;
	qry_simple *s = calloc(1, sizeof(*s));
	qry_job *jobs = calloc(b->n, sizeof(*jobs));
	if (!s || !jobs) {
		free(s);
		free(jobs);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	s->req = r;
	for (size_t i = 0; i < b->n; i++)
		ksk_buf_init(&s->replies[i], NULL, 0);
	ksk_err rc = KSK_OK;
	if (qry_fan(b, qry_simple_job, s, jobs, w, false) == 0)
		rc = qry_fan_fail(b, jobs, ei);
	size_t cap = 0;
	uint8_t *v = NULL;
	for (size_t i = 0; rc == KSK_OK && i < b->n; i++) {
		if (jobs[i].rc != KSK_OK)
			continue;
		qry_reply rp;
		if (qry_reply_open(&rp, &s->replies[i], &jobs[i].ei) == KSK_OK) {
			const msgpack_object *arr = qry_oarr(qry_get(&rp.root, key));
			for (uint32_t k = 0; arr && k < arr->via.array.size; k++) {
				if (!ksk_grow(ksk_alloc_default(), (void **)&v, &cap, *n + 1, elem, 64)) {
					rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
					break;
				}
				memset(v + *n * elem, 0, elem);
				if (fn(&arr->via.array.ptr[k], a, v + *n * elem))
					(*n)++;
			}
		}
		qry_reply_close(&rp);
	}
	for (size_t i = 0; i < b->n; i++)
		ksk_buf_fini(&s->replies[i]);
	free(s);
	free(jobs);
	if (rc != KSK_OK) {
		free(v);
		*n = 0;
		return rc;
	}
	*items = v;
	return KSK_OK;
}

/* Sorts `n` items by `cmp`, folds equal neighbours (`merge` adds the later
 * into the kept one; NULL drops the later), keeps at most `limit` (0 = all)
 * after sorting by `order` (NULL = cmp order), copies them into `a` and
 * frees `items`. */
static ksk_err qry_finish(void *items, size_t n, size_t elem,
                          int (*cmp)(const void *, const void *),
                          void (*merge)(void *into, const void *from),
                          int (*order)(const void *, const void *), size_t limit, ksk_arena *a,
                          void **out, size_t *nout, ksk_errinfo *ei)
{
	uint8_t *v = items;
	if (n > 1)
		qsort(v, n, elem, cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u && cmp(v + (u - 1) * elem, v + i * elem) == 0) {
			if (merge)
				merge(v + (u - 1) * elem, v + i * elem);
		} else {
			if (u != i)
				memcpy(v + u * elem, v + i * elem, elem);
			u++;
		}
	}
	if (order && u > 1)
		qsort(v, u, elem, order);
	if (limit && u > limit)
		u = limit;
	*out = ksk_arena_alloc(a, (u ? u : 1) * elem);
	if (*out && u)
		memcpy(*out, v, u * elem);
	free(v);
	*nout = u;
	return *out ? KSK_OK : ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
}

static int qry_str_cmp(const void *a, const void *b)
{
	const ksk_str *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* an element that is an array of at least `n` items */
static const msgpack_object *qry_tuple(const msgpack_object *o, uint32_t n)
{
	o = qry_oarr(o);
	return o && o->via.array.size >= n ? o->via.array.ptr : NULL;
}

static bool qry_item_service(const msgpack_object *o, ksk_arena *a, void *out)
{
	ksk_str *s = out;
	*s = qry_ostr(a, o);
	return s->len > 0;
}

ksk_err qry_fetch_services(qry_backend *b, ksk_arena *a, ksk_str **out, size_t *n,
                           qry_warns *w, ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_SERVICES);
	void *v;
	size_t cnt;
	KSK_TRY(qry_collect(b, &r, "services", sizeof(ksk_str), qry_item_service, a, &v, &cnt, w,
	                    ei));
	return qry_finish(v, cnt, sizeof(ksk_str), qry_str_cmp, NULL, NULL, 0, a, (void **)out, n,
	                  ei);
}

static int qry_op_cmp(const void *a, const void *b)
{
	const qry_op *x = a, *y = b;
	int c = qry_str_cmp(&x->name, &y->name);
	return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

static bool qry_item_op(const msgpack_object *o, ksk_arena *a, void *out)
{
	const msgpack_object *f = qry_tuple(o, 2);
	if (!f)
		return false;
	qry_op *op = out;
	op->name = qry_ostr(a, &f[0]);
	op->kind = (int)qry_ou64(&f[1]);
	return true;
}

ksk_err qry_fetch_operations(qry_backend *b, ksk_str service, int kind, ksk_arena *a,
                             qry_op **out, size_t *n, qry_warns *w, ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_OPERATIONS);
	r.service = service;
	r.kind = kind;
	void *v;
	size_t cnt;
	KSK_TRY(qry_collect(b, &r, "operations", sizeof(qry_op), qry_item_op, a, &v, &cnt, w, ei));
	return qry_finish(v, cnt, sizeof(qry_op), qry_op_cmp, NULL, NULL, 0, a, (void **)out, n,
	                  ei);
}

static int qry_edge_cmp(const void *a, const void *b)
{
	const qry_edge *x = a, *y = b;
	int c = qry_str_cmp(&x->parent, &y->parent);
	return c ? c : qry_str_cmp(&x->child, &y->child);
}

static void qry_edge_merge(void *into, const void *from)
{
	qry_edge *d = into;
	const qry_edge *e = from;
	d->calls += e->calls;
	d->errors += e->errors;
	d->duration_ns_sum += e->duration_ns_sum;
}

static bool qry_item_edge(const msgpack_object *o, ksk_arena *a, void *out)
{
	const msgpack_object *f = qry_tuple(o, 5);
	if (!f)
		return false;
	*(qry_edge *)out = (qry_edge){qry_ostr(a, &f[0]), qry_ostr(a, &f[1]), qry_ou64(&f[2]),
	                              qry_ou64(&f[3]), qry_ou64(&f[4])};
	return true;
}

ksk_err qry_fetch_edges(qry_backend *b, uint64_t start_ns, uint64_t end_ns, ksk_arena *a,
                        qry_edge **out, size_t *n, qry_warns *w, ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_EDGES);
	r.start_ns = start_ns;
	r.end_ns = end_ns;
	void *v;
	size_t cnt;
	KSK_TRY(qry_collect(b, &r, "edges", sizeof(qry_edge), qry_item_edge, a, &v, &cnt, w, ei));
	return qry_finish(v, cnt, sizeof(qry_edge), qry_edge_cmp, qry_edge_merge, NULL, 0, a,
	                  (void **)out, n, ei);
}

static int qry_lc_cmp(const void *a, const void *b)
{
	const qry_logcount *x = a, *y = b;
	int c = qry_str_cmp(&x->service, &y->service);
	return c ? c : qry_str_cmp(&x->severity, &y->severity);
}

static void qry_lc_merge(void *into, const void *from)
{
	((qry_logcount *)into)->count += ((const qry_logcount *)from)->count;
}

static bool qry_item_lc(const msgpack_object *o, ksk_arena *a, void *out)
{
	const msgpack_object *f = qry_tuple(o, 3);
	if (!f)
		return false;
	*(qry_logcount *)out =
		(qry_logcount){qry_ostr(a, &f[0]), qry_ostr(a, &f[1]), qry_ou64(&f[2])};
	return true;
}

ksk_err qry_fetch_log_stats(qry_backend *b, uint64_t start_ns, uint64_t end_ns, ksk_arena *a,
                            qry_logcount **out, size_t *n, qry_warns *w, ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_LOG_STATS);
	r.start_ns = start_ns;
	r.end_ns = end_ns;
	void *v;
	size_t cnt;
	KSK_TRY(qry_collect(b, &r, "counts", sizeof(qry_logcount), qry_item_lc, a, &v, &cnt, w,
	                    ei));
	return qry_finish(v, cnt, sizeof(qry_logcount), qry_lc_cmp, qry_lc_merge, NULL, 0, a,
	                  (void **)out, n, ei);
}

/* newest first, then trace ID */
static int qry_sum_cmp(const void *a, const void *b)
{
	const qry_summary *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? 1 : -1;
	return memcmp(x->trace_id, y->trace_id, KSK_TRACE_ID_LEN);
}

static int qry_sum_id_cmp(const void *a, const void *b)
{
	const qry_summary *x = a, *y = b;
	return memcmp(x->trace_id, y->trace_id, KSK_TRACE_ID_LEN);
}

/* one trace split over several collectors adds up */
static void qry_sum_merge(void *into, const void *from)
{
	qry_summary *d = into;
	const qry_summary *e = from;
	if (e->start_ns < d->start_ns) {
		d->start_ns = e->start_ns;
		d->root_service = e->root_service;
		d->root_name = e->root_name;
	}
	if (e->end_ns > d->end_ns)
		d->end_ns = e->end_ns;
	d->spans += e->spans;
	d->errors += e->errors;
	d->logs += e->logs;
}

static bool qry_item_summary(const msgpack_object *e, ksk_arena *a, void *out)
{
	const msgpack_object *id = qry_get(e, "trace_id");
	if (!id || id->type != MSGPACK_OBJECT_BIN || id->via.bin.size != KSK_TRACE_ID_LEN)
		return false;
	qry_summary *q = out;
	memcpy(q->trace_id, id->via.bin.ptr, KSK_TRACE_ID_LEN);
	q->start_ns = qry_ou64(qry_get(e, "start"));
	q->end_ns = qry_ou64(qry_get(e, "end"));
	q->spans = (uint32_t)qry_ou64(qry_get(e, "spans"));
	q->errors = (uint32_t)qry_ou64(qry_get(e, "errors"));
	q->logs = (uint32_t)qry_ou64(qry_get(e, "logs"));
	q->root_service = qry_ostr(a, qry_get(e, "root_service"));
	q->root_name = qry_ostr(a, qry_get(e, "root_name"));
	const msgpack_object *sv = qry_oarr(qry_get(e, "services"));
	if (sv && sv->via.array.size) {
		q->services = ksk_arena_alloc(a, sv->via.array.size * sizeof(ksk_str));
		for (uint32_t m = 0; q->services && m < sv->via.array.size; m++)
			q->services[q->n_services++] = qry_ostr(a, &sv->via.array.ptr[m]);
	}
	return true;
}

ksk_err qry_fetch_search(qry_backend *b, const ksk_qreq *r, ksk_arena *a, qry_summary **out,
                         size_t *n, qry_warns *w, ksk_errinfo *ei)
{
	void *v;
	size_t cnt;
	KSK_TRY(qry_collect(b, r, "traces", sizeof(qry_summary), qry_item_summary, a, &v, &cnt, w,
	                    ei));
	return qry_finish(v, cnt, sizeof(qry_summary), qry_sum_id_cmp, qry_sum_merge, qry_sum_cmp,
	                  r->limit ? r->limit : 20, a, (void **)out, n, ei);
}

/* ---- chunked requests: traces and log searches --------------------------------------- */

typedef struct qry_chunk {
	ksk_buf reply;
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	const ksk_batch *b;
} qry_chunk;

typedef struct qry_cchain {
	qry_chunk *v;
	size_t n, cap;
	uint64_t total;
} qry_cchain;

struct qry_tdata {
	qry_cchain chains[QRY_MAX_COLLECTORS];
	size_t n_chains;
	qry_span_in *spans;
	size_t n_spans;
	qry_log_in *logs;
	size_t n_logs;
	uint64_t total_logs;
};

typedef struct qry_chunked {
	const ksk_qreq *req;
	qry_tdata *t;
} qry_chunked;

static void qry_chain_free(qry_cchain *c)
{
	for (size_t i = 0; i < c->n; i++) {
		ksk_buf_fini(&c->v[i].reply);
		ksk_wire_dec_destroy(c->v[i].wd);
		ksk_frame_dec_destroy(c->v[i].fd);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static ksk_err qry_chunked_job(void *ctx, size_t i, col_client *c, ksk_errinfo *ei)
{
	qry_chunked *q = ctx;
	qry_cchain *ch = &q->t->chains[i];
	ksk_qreq r = *q->req;
	r.cursor = 0;
	r.result = 0;
	for (int restarts = 0;;) {
		if (!ksk_grow(ksk_alloc_default(), (void **)&ch->v, &ch->cap, ch->n + 1, sizeof(*ch->v), 8))
			return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		qry_chunk *k = &ch->v[ch->n];
		memset(k, 0, sizeof(*k));
		ksk_buf_init(&k->reply, NULL, 0);
		ch->n++;
		KSK_TRY(ksk_frame_dec_create(NULL, NULL, &k->fd));
		KSK_TRY(ksk_wire_dec_create(NULL, NULL, &k->wd));
		KSK_TRY(col_client_request(c, &r, &k->reply, ei));
		col_reply rp;
		if (col_reply_parse(k->reply.data, k->reply.len, &rp) != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EPARSE, "malformed reply");
		if (!rp.ok) {
			if (rp.code == KSK_ENOTFOUND && r.cursor != 0 && restarts++ < 2) {
				/* the chunked result expired: start again */
				qry_chain_free(ch);
				r.cursor = 0;
				r.result = 0;
				continue;
			}
			return ksk_errinfo_set(ei, rp.code, "%s", rp.error);
		}
		ksk_frame_hdr h;
		KSK_TRY(ksk_frame_decode_batch(k->fd, k->wd, rp.records, rp.records_len, &h, &k->b,
		                               ei));
		ch->total = rp.total;
		if (rp.next == 0)
			return KSK_OK;
		if (rp.next <= r.cursor)
			return ksk_errinfo_set(ei, KSK_EPARSE, "cursor did not advance");
		r.cursor = rp.next;
		r.result = rp.result;
	}
}

void qry_tdata_destroy(qry_tdata *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_chains; i++)
		qry_chain_free(&t->chains[i]);
	free(t->spans);
	free(t->logs);
	free(t);
}

const qry_span_in *qry_tdata_spans(const qry_tdata *t, size_t *n)
{
	*n = t->n_spans;
	return t->spans;
}

const qry_log_in *qry_tdata_logs(const qry_tdata *t, size_t *n)
{
	*n = t->n_logs;
	return t->logs;
}

uint64_t qry_tdata_total_logs(const qry_tdata *t)
{
	return t->total_logs;
}

static ksk_str qry_res_field(const ksk_batch *b, uint32_t r, bool host)
{
	if (r >= b->n_resources)
		return (ksk_str){"", 0};
	return host ? b->resources[r].host : b->resources[r].service;
}

static int qry_span_key_cmp(const void *a, const void *b)
{
	const ksk_span *x = ((const qry_span_in *)a)->span, *y = ((const qry_span_in *)b)->span;
	int c = memcmp(x->span_id, y->span_id, KSK_SPAN_ID_LEN);
	if (c)
		return c;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (x->end_ns != y->end_ns)
		return x->end_ns < y->end_ns ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return qry_str_cmp(&x->name, &y->name);
}

static int qry_span_start_cmp(const void *a, const void *b)
{
	const ksk_span *x = ((const qry_span_in *)a)->span, *y = ((const qry_span_in *)b)->span;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return memcmp(x->span_id, y->span_id, KSK_SPAN_ID_LEN);
}

static int qry_log_time_cmp(const void *a, const void *b)
{
	const ksk_log *x = ((const qry_log_in *)a)->log, *y = ((const qry_log_in *)b)->log;
	uint64_t tx = x->time_ns ? x->time_ns : x->observed_ns;
	uint64_t ty = y->time_ns ? y->time_ns : y->observed_ns;
	return (tx > ty) - (tx < ty);
}

static int qry_log_time_rcmp(const void *a, const void *b)
{
	return -qry_log_time_cmp(a, b);
}

/* flattens the chains into span and log arrays */
static ksk_err qry_tdata_index(qry_tdata *t, bool newest_first, uint32_t log_limit,
                               ksk_errinfo *ei)
{
	size_t ns = 0, nl = 0, nchains_with_data = 0;
	for (size_t i = 0; i < t->n_chains; i++) {
		bool any = false;
		for (size_t k = 0; k < t->chains[i].n; k++) {
			const ksk_batch *b = t->chains[i].v[k].b;
			if (b) {
				ns += b->n_spans;
				nl += b->n_logs;
				any = true;
			}
		}
		t->total_logs += t->chains[i].total;
		nchains_with_data += any;
	}
	t->spans = calloc(ns ? ns : 1, sizeof(*t->spans));
	t->logs = calloc(nl ? nl : 1, sizeof(*t->logs));
	if (!t->spans || !t->logs)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n_chains; i++)
		for (size_t k = 0; k < t->chains[i].n; k++) {
			const ksk_batch *b = t->chains[i].v[k].b;
			if (!b)
				continue;
			for (uint32_t s = 0; s < b->n_spans; s++) {
				const ksk_span *sp = &b->spans[s];
				t->spans[t->n_spans++] = (qry_span_in){
					sp, qry_res_field(b, sp->resource, false),
					qry_res_field(b, sp->resource, true),
					sp->resource < b->n_resources ? &b->resources[sp->resource]
					                              : NULL};
			}
			for (uint32_t l = 0; l < b->n_logs; l++) {
				const ksk_log *lg = &b->logs[l];
				t->logs[t->n_logs++] = (qry_log_in){
					lg, qry_res_field(b, lg->resource, false),
					qry_res_field(b, lg->resource, true)};
			}
		}
	if (nchains_with_data > 1) {
		/* several collectors: drop exact copies, restore start order */
		qsort(t->spans, t->n_spans, sizeof(*t->spans), qry_span_key_cmp);
		size_t u = 0;
		for (size_t i = 0; i < t->n_spans; i++)
			if (u == 0 || qry_span_key_cmp(&t->spans[u - 1], &t->spans[i]) != 0)
				t->spans[u++] = t->spans[i];
		t->n_spans = u;
		qsort(t->spans, t->n_spans, sizeof(*t->spans), qry_span_start_cmp);
		qsort(t->logs, t->n_logs, sizeof(*t->logs),
		      newest_first ? qry_log_time_rcmp : qry_log_time_cmp);
	}
	if (log_limit && t->n_logs > log_limit)
		t->n_logs = log_limit;
	return KSK_OK;
}

static ksk_err qry_fetch_chunked(qry_backend *b, const ksk_qreq *r, bool newest_first,
                                 uint32_t log_limit, qry_tdata **out, qry_warns *w,
                                 ksk_errinfo *ei)
{
	qry_tdata *t = calloc(1, sizeof(*t));
	qry_job *jobs = calloc(b->n, sizeof(*jobs));
	if (!t || !jobs) {
		free(t);
		free(jobs);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	t->n_chains = b->n;
	qry_chunked q = {r, t};
	size_t ok = qry_fan(b, qry_chunked_job, &q, jobs, w, true);
	size_t found = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (jobs[i].rc == KSK_OK)
			found++;
		else
			qry_chain_free(&t->chains[i]); /* partial answers are not used */
	}
	ksk_err rc = KSK_OK;
	if (ok == 0)
		rc = qry_fan_fail(b, jobs, ei);
	else if (found == 0)
		rc = ksk_errinfo_set(ei, KSK_ENOTFOUND, "not found");
	else
		rc = qry_tdata_index(t, newest_first, log_limit, ei);
	free(jobs);
	if (rc != KSK_OK) {
		qry_tdata_destroy(t);
		return rc;
	}
	*out = t;
	return KSK_OK;
}

ksk_err qry_fetch_trace(qry_backend *b, const uint8_t trace_id[KSK_TRACE_ID_LEN],
                        uint64_t start_ns, uint64_t end_ns, qry_tdata **out, qry_warns *w,
                        ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_TRACE);
	memcpy(r.trace_id, trace_id, KSK_TRACE_ID_LEN);
	r.has_trace_id = true;
	r.start_ns = start_ns;
	r.end_ns = end_ns;
	return qry_fetch_chunked(b, &r, false, 0, out, w, ei);
}

ksk_err qry_fetch_logs(qry_backend *b, const ksk_qreq *r, qry_tdata **out, qry_warns *w,
                       ksk_errinfo *ei)
{
	ksk_err rc = qry_fetch_chunked(b, r, true, r->limit ? r->limit : 100, out, w, ei);
	if (rc == KSK_ENOTFOUND) {
		/* a log search that matches nothing is an empty answer */
		qry_tdata *t = calloc(1, sizeof(*t));
		if (!t)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		*out = t;
		return KSK_OK;
	}
	return rc;
}
