/*
 * trc_core.c : the tracer: lifecycle, span begin/end, per-thread state,
 * rings, sampling, clock, fork handling (kiseki/trace.h).
 *
 * Data in: spans begun and ended by any thread. Data out: span copies in
 * per-thread rings, drained by the exporter (trc_export.c).
 *
 * Hot path (begin/end/event/attributes): no lock, no system call, no
 * allocation. Per-thread state lives in one initial-exec TLS block: the
 * current-span chain (each span points to the span that was current before
 * it), a wyrand ID generator, the thread's ring and the tracer generation
 * it was set up for. Timestamps are raw clock ticks (TSC, or ns from
 * clock_gettime through the vDSO); the exporter converts them.
 * Sampling: a local parent's decision is always followed; a remote
 * parent's when parent_based; otherwise (roots) the trace-ID ratio decides
 * and then a lock-free GCRA token bucket (one CAS) enforces the rate.
 *
 * Rings: allocated once per thread at its first sampled span end (the
 * only allocation outside init), pushed on the registry under reg_mu, and
 * marked dead by a pthread key destructor when the thread exits; the
 * exporter frees a dead ring once drained.
 *
 * Generations: the tracer's `gen` changes at every init and in a forked
 * child. A thread whose TLS generation differs re-seeds its generator and
 * forgets its ring (which belonged to another tracer or to the parent
 * process); a span whose begin generation differs is not exported
 * (dropped_stale: the parent process exports it).
 *
 * Locks (never on the hot path): g_life_mu (init, shutdown, flush, stats,
 * fork) -> ex_mu (the exporter holds it for a whole cycle) -> reg_mu. The
 * fork prepare handler takes all three so the child starts from a
 * consistent state; the child handler frees the parent's rings and
 * restarts the exporter.
 *
 * Invariant: the global tracer pointer is published (release) only once
 * fully built, and cleared before it is torn down; callers must stop
 * ending spans before ksk_trace_shutdown() (documented in trace.h).
 */
#include "trc_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define TRC_HAVE_TSC 1
#else
#define TRC_HAVE_TSC 0
#endif

int ksk_trace_on_;

static trc_tracer *g_tr;                /* published with release */
static pthread_mutex_t g_life_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_gen;                  /* last generation handed out */
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

typedef struct trc_tls {
	ksk_trace_span *current;
	uint64_t rng;
	trc_ring *ring;
	uint32_t gen;
} trc_tls;

static _Thread_local trc_tls trc_t __attribute__((tls_model("initial-exec")));

static inline trc_tracer *trc_get(void)
{
	return __atomic_load_n(&g_tr, __ATOMIC_ACQUIRE);
}

/* ---- clock ------------------------------------------------------------------ */

static inline uint64_t trc_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t trc_now(const trc_tracer *tr)
{
#if TRC_HAVE_TSC
	if (__builtin_expect(tr->clock_mode == TRC_CLOCK_TSC, 1))
		return __rdtsc();
#endif
	if (tr->clock_mode == TRC_CLOCK_REALTIME)
		return trc_clock_ns(CLOCK_REALTIME);
	return ksk_clock_wall(tr->clock);
}

static bool trc_tsc_invariant(void)
{
#if TRC_HAVE_TSC
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	if (!__get_cpuid(0x80000007u, &a, &b, &c, &d))
		return false;
	return (d & (1u << 8)) != 0; /* invariant TSC */
#else
	return false;
#endif
}

/* A (TSC, clock) pair read as close together as possible. */
static void trc_pair(clockid_t id, uint64_t *tsc, uint64_t *ns)
{
#if TRC_HAVE_TSC
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t t1 = __rdtsc();
		uint64_t n = trc_clock_ns(id);
		uint64_t t2 = __rdtsc();
		if (t2 - t1 < best) {
			best = t2 - t1;
			*tsc = t1 + (t2 - t1) / 2;
			*ns = n;
		}
	}
#else
	*tsc = 0;
	*ns = trc_clock_ns(id);
#endif
}

void trc_calibrate(trc_tracer *tr)
{
	if (tr->clock_mode != TRC_CLOCK_TSC)
		return;
	uint64_t tsc = 0, raw = 0;
	trc_pair(CLOCK_MONOTONIC_RAW, &tsc, &raw);
	if (raw - tr->cal_raw0 < 2000000) {
		/* too short a baseline for a good rate: wait for 2 ms of it */
		struct timespec ts = {0, (long)(2000000 - (raw - tr->cal_raw0))};
		nanosleep(&ts, NULL);
		trc_pair(CLOCK_MONOTONIC_RAW, &tsc, &raw);
	}
	if (tsc > tr->cal_tsc0)
		tr->ns_per_tick = (double)(raw - tr->cal_raw0) / (double)(tsc - tr->cal_tsc0);
	trc_pair(CLOCK_REALTIME, &tr->cal_tsc, &tr->cal_real);
}

uint64_t trc_ticks_to_ns(const trc_tracer *tr, uint64_t ticks)
{
	if (tr->clock_mode != TRC_CLOCK_TSC)
		return ticks;
	/* the offset in double (exact enough for hours), the base in integer:
	 * a double near 1.8e18 would only resolve 256 ns */
	double off = (double)(int64_t)(ticks - tr->cal_tsc) * tr->ns_per_tick;
	int64_t d = (int64_t)(off < 0 ? off - 0.5 : off + 0.5);
	if (d < 0 && (uint64_t)-d > tr->cal_real)
		return 0;
	return tr->cal_real + (uint64_t)d;
}

/* ---- random IDs ------------------------------------------------------------- */

static inline uint64_t trc_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* wyrand: one multiply per 64 bits. */
static inline uint64_t trc_rand(trc_tls *t)
{
	t->rng += 0xa0761d6478bd642full;
	__uint128_t m = (__uint128_t)t->rng * (t->rng ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

static uint64_t trc_seed_fresh(void)
{
	uint64_t s = 0;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = trc_clock_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32) ^
		    (uint64_t)(uintptr_t)&s;
	return s;
}

void trc_rng_bytes(trc_tracer *tr, uint8_t *out, size_t n)
{
	while (n > 0) {
		uint64_t k = __atomic_add_fetch(&tr->rng_seq, 1, __ATOMIC_RELAXED);
		uint64_t v = trc_splitmix(tr->seed ^ trc_splitmix(k));
		size_t c = n < 8 ? n : 8;
		memcpy(out, &v, c);
		out += c;
		n -= c;
	}
}

/* ---- per-thread state and rings ------------------------------------------------ */

static void trc_tls_setup(trc_tls *t, trc_tracer *tr)
{
	uint64_t k = __atomic_add_fetch(&tr->rng_seq, 1, __ATOMIC_RELAXED);
	t->rng = trc_splitmix(tr->seed ^ trc_splitmix(k ^ 0x5bd1e995u));
	t->ring = NULL;
	t->gen = tr->gen;
}

/* pthread key destructor: the thread exits; its ring is drained and freed
 * by the exporter. */
static void trc_thread_exit(void *p)
{
	trc_ring *r = p;
	__atomic_store_n(&r->dead, 1, __ATOMIC_RELEASE);
	if (trc_t.ring == r) {
		trc_t.ring = NULL;
		trc_t.gen = 0;
	}
}

static void trc_ring_free(trc_tracer *tr, trc_ring *r)
{
	ksk_free(tr->alloc, r->raw);
}

static trc_ring *trc_ring_register(trc_tls *t, trc_tracer *tr)
{
	size_t hdr = (sizeof(trc_ring) + TRC_CACHELINE - 1) & ~(size_t)(TRC_CACHELINE - 1);
	size_t bytes = TRC_CACHELINE + hdr + (size_t)tr->ring_slots * sizeof(ksk_trace_span);
	void *raw = ksk_malloc(tr->alloc, bytes);
	if (!raw)
		return NULL;
	uintptr_t a = ((uintptr_t)raw + TRC_CACHELINE - 1) & ~(uintptr_t)(TRC_CACHELINE - 1);
	trc_ring *r = (trc_ring *)a;
	memset(r, 0, sizeof(*r));
	r->raw = raw;
	r->cap = tr->ring_slots;
	r->mask = tr->ring_slots - 1;
	r->slots = (ksk_trace_span *)(a + hdr);
	pthread_mutex_lock(&tr->reg_mu);
	r->next = tr->rings;
	__atomic_store_n(&tr->rings, r, __ATOMIC_RELEASE);
	tr->n_rings++;
	pthread_mutex_unlock(&tr->reg_mu);
	if (tr->key_ok)
		pthread_setspecific(tr->key, r);
	t->ring = r;
	return r;
}

/* ---- sampling ----------------------------------------------------------------- */

static uint64_t trc_ratio_threshold(double ratio)
{
	if (!(ratio > 0))
		return 1ull << 56;
	if (ratio >= 1)
		return 0;
	double t = ldexp(1.0 - ratio, 56);
	return t >= ldexp(1.0, 56) ? 1ull << 56 : (uint64_t)t;
}

static inline uint64_t trc_low56(const uint8_t *tid)
{
	uint64_t r = 0;
	for (int i = 9; i < 16; i++)
		r = (r << 8) | tid[i];
	return r;
}

bool ksk_trace_ratio_sampled(const uint8_t trace_id[KSK_TRACE_ID_LEN], double ratio)
{
	if (!trace_id)
		return false;
	return trc_low56(trace_id) >= trc_ratio_threshold(ratio);
}

/* GCRA: a token bucket of rate_burst_ns / rate_interval_ns tokens as one
 * 64-bit theoretical arrival time, updated with a CAS. */
static bool trc_rate_take(trc_tracer *tr)
{
	uint64_t now = tr->clock_mode == TRC_CLOCK_CUSTOM ? ksk_clock_mono(tr->clock)
	                                                  : trc_clock_ns(CLOCK_MONOTONIC_COARSE);
	uint64_t tat = __atomic_load_n(&tr->rate_tat, __ATOMIC_RELAXED);
	for (;;) {
		uint64_t base = tat > now ? tat : now;
		uint64_t next = base + tr->rate_interval_ns;
		if (next - now > tr->rate_burst_ns)
			return false;
		if (__atomic_compare_exchange_n(&tr->rate_tat, &tat, next, true,
		                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
}

/* The decision where no parent decision is followed. */
static bool trc_decide_entry(trc_tracer *tr, const uint8_t *tid)
{
	if (trc_low56(tid) < tr->ratio_threshold)
		return false;
	if (tr->rate_interval_ns && !trc_rate_take(tr)) {
		__atomic_add_fetch(&tr->rate_limited, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* ---- spans -------------------------------------------------------------------- */

void ksk_trace_begin(ksk_trace_span *sp, const ksk_trace_site *site,
                     const ksk_trace_ctx *parent, unsigned flags)
{
	if (!sp)
		return;
	trc_tracer *tr = trc_get();
	if (__builtin_expect(!tr || !site, 0)) {
		sp->state_ = 0;
		return;
	}
	trc_tls *t = &trc_t;
	if (__builtin_expect(t->gen != tr->gen, 0))
		trc_tls_setup(t, tr);
	ksk_trace_span *cur = (flags & KSK_TRACE_ROOT) ? NULL : t->current;
	bool sampled;
	uint8_t fl;
	if (parent && ksk_trace_ctx_valid(parent)) {
		memcpy(sp->trace_id, parent->trace_id, KSK_TRACE_ID_LEN);
		memcpy(sp->parent_id, parent->span_id, KSK_SPAN_ID_LEN);
		fl = parent->flags & (KSK_TRACE_FLAG_SAMPLED | KSK_TRACE_FLAG_RANDOM);
		sp->tracestate_ = parent->tracestate;
		sp->tracestate_len_ = parent->tracestate ? parent->tracestate_len : 0;
		if (!parent->remote || tr->parent_based)
			sampled = (fl & KSK_TRACE_FLAG_SAMPLED) != 0;
		else
			sampled = trc_decide_entry(tr, sp->trace_id);
	} else if (cur && !parent) {
		memcpy(sp->trace_id, cur->trace_id, KSK_TRACE_ID_LEN);
		memcpy(sp->parent_id, cur->span_id, KSK_SPAN_ID_LEN);
		fl = cur->flags;
		sp->tracestate_ = cur->tracestate_;
		sp->tracestate_len_ = cur->tracestate_len_;
		sampled = (fl & KSK_TRACE_FLAG_SAMPLED) != 0;
	} else {
		uint64_t a = trc_rand(t), b = trc_rand(t);
		if ((a | b) == 0)
			b = 1;
		memcpy(sp->trace_id, &a, 8);
		memcpy(sp->trace_id + 8, &b, 8);
		memset(sp->parent_id, 0, KSK_SPAN_ID_LEN);
		fl = KSK_TRACE_FLAG_RANDOM;
		sp->tracestate_ = NULL;
		sp->tracestate_len_ = 0;
		sampled = trc_decide_entry(tr, sp->trace_id);
	}
	uint64_t id = trc_rand(t);
	if (__builtin_expect(id == 0, 0))
		id = 1;
	memcpy(sp->span_id, &id, 8);
	sp->flags = sampled ? (uint8_t)(fl | KSK_TRACE_FLAG_SAMPLED)
	                    : (uint8_t)(fl & ~KSK_TRACE_FLAG_SAMPLED);
	sp->site_ = site;
	sp->gen_ = tr->gen;
	if (flags & KSK_TRACE_DETACHED) {
		sp->pushed_ = 0;
		sp->prev_ = NULL;
	} else {
		sp->prev_ = t->current;
		t->current = sp;
		sp->pushed_ = 1;
	}
	if (sampled) {
		sp->n_attrs_ = 0;
		sp->n_events_ = 0;
		sp->str_used_ = 0;
		sp->status_ = 0;
		sp->status_len_ = 0;
		sp->dropped_attrs_ = 0;
		sp->dropped_events_ = 0;
		sp->ev_dropped_ = 0;
		sp->state_ = 2;
		sp->start_ = trc_now(tr);
	} else {
		sp->state_ = 1;
	}
}

/* Takes `sp` off this thread's chain when it is not on top (ended out of
 * order); a span current on another thread is not reachable from here. */
static void trc_unlink(trc_tls *t, ksk_trace_span *sp)
{
	for (ksk_trace_span *c = t->current; c; c = c->prev_) {
		if (c->prev_ == sp) {
			c->prev_ = sp->prev_;
			return;
		}
	}
}

void ksk_trace_end(ksk_trace_span *sp)
{
	if (!sp)
		return;
	uint8_t st = sp->state_;
	if (!st)
		return;
	sp->state_ = 0;
	trc_tls *t = &trc_t;
	if (sp->pushed_) {
		if (t->current == sp)
			t->current = sp->prev_;
		else
			trc_unlink(t, sp);
		sp->pushed_ = 0;
	}
	if (st != 2)
		return;
	trc_tracer *tr = trc_get();
	if (__builtin_expect(!tr, 0))
		return;
	uint64_t end = trc_now(tr);
	if (__builtin_expect(sp->gen_ != tr->gen, 0)) {
		__atomic_add_fetch(&tr->drop_stale, 1, __ATOMIC_RELAXED);
		return;
	}
	if (__builtin_expect(t->gen != tr->gen, 0))
		trc_tls_setup(t, tr);
	trc_ring *r = t->ring;
	if (__builtin_expect(!r, 0) && !(r = trc_ring_register(t, tr))) {
		__atomic_add_fetch(&tr->drop_nomem, 1, __ATOMIC_RELAXED);
		return;
	}
	uint64_t h = r->head;
	if (h - r->tail_cache >= r->cap) {
		r->tail_cache = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (h - r->tail_cache >= r->cap) {
			__atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
			return;
		}
	}
	ksk_trace_span *slot = &r->slots[h & r->mask];
	memcpy(slot, sp, offsetof(ksk_trace_span, prev_));
	if (sp->n_attrs_)
		memcpy(slot->attrs_, sp->attrs_, sp->n_attrs_ * sizeof(sp->attrs_[0]));
	if (sp->n_events_)
		memcpy(slot->events_, sp->events_, sp->n_events_ * sizeof(sp->events_[0]));
	uint16_t used = sp->str_used_;
	if (used)
		memcpy(slot->str_, sp->str_, used);
	if (sp->tracestate_len_) {
		if ((size_t)used + sp->tracestate_len_ <= KSK_TRACE_STR_BYTES) {
			memcpy(slot->str_ + used, sp->tracestate_, sp->tracestate_len_);
			slot->ts_off_ = used;
			slot->str_used_ = (uint16_t)(used + sp->tracestate_len_);
		} else {
			slot->tracestate_len_ = 0;
		}
	}
	slot->end_ = end;
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

ksk_trace_span *ksk_trace_current(void)
{
	return trc_t.current;
}

ksk_trace_ctx ksk_trace_span_ctx(const ksk_trace_span *sp)
{
	ksk_trace_ctx c;
	memset(&c, 0, sizeof(c));
	if (!sp || !sp->state_)
		return c;
	memcpy(c.trace_id, sp->trace_id, KSK_TRACE_ID_LEN);
	memcpy(c.span_id, sp->span_id, KSK_SPAN_ID_LEN);
	c.flags = sp->flags;
	c.tracestate = sp->tracestate_;
	c.tracestate_len = sp->tracestate_len_;
	return c;
}

ksk_trace_ctx ksk_trace_current_ctx(void)
{
	return ksk_trace_span_ctx(trc_t.current);
}

void ksk_trace_event(ksk_trace_span *sp, const char *name, uint32_t name_len)
{
	if (!sp || sp->state_ != 2)
		return;
	trc_tracer *tr = trc_get();
	if (!tr)
		return;
	if (sp->n_events_ >= KSK_TRACE_MAX_EVENTS) {
		if (sp->dropped_events_ != 0xff)
			sp->dropped_events_++;
		sp->ev_dropped_ = 1;
		return;
	}
	ksk_trace_event_ *e = &sp->events_[sp->n_events_++];
	e->name = name;
	e->name_len = name ? name_len : 0;
	e->ticks = trc_now(tr);
	sp->ev_dropped_ = 0;
}

void ksk_trace_set_status(ksk_trace_span *sp, ksk_status_code code, const char *msg)
{
	if (!sp || sp->state_ != 2 || code == KSK_STATUS_UNSET || sp->status_ == KSK_STATUS_OK)
		return;
	if (code == KSK_STATUS_OK) {
		sp->status_ = KSK_STATUS_OK;
		sp->status_len_ = 0;
		return;
	}
	if (code != KSK_STATUS_ERROR)
		return;
	sp->status_ = KSK_STATUS_ERROR;
	sp->status_len_ = 0;
	if (msg && *msg) {
		ksk_trace_attr_ tmp;
		ksk_trace_attr_copy_(sp, &tmp, msg, strlen(msg));
		sp->status_off_ = tmp.s_off;
		sp->status_len_ = tmp.s_len;
	}
}

/* ---- lifecycle ------------------------------------------------------------------ */

void ksk_trace_opts_init(ksk_trace_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->sample_ratio = 1.0;
	o->parent_based = true;
}

static void trc_fork_prepare(void);
static void trc_fork_parent(void);
static void trc_fork_child(void);

static void trc_atfork_register(void)
{
	pthread_atfork(trc_fork_prepare, trc_fork_parent, trc_fork_child);
}

static void trc_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

static uint32_t trc_next_gen(void)
{
	if (++g_gen == 0)
		g_gen = 1;
	return g_gen;
}

static void trc_free_rings(trc_tracer *tr)
{
	trc_ring *r = tr->rings;
	while (r) {
		trc_ring *n = r->next;
		trc_ring_free(tr, r);
		r = n;
	}
	tr->rings = NULL;
	tr->n_rings = 0;
}

static void trc_destroy(trc_tracer *tr)
{
	trc_export_teardown(tr);
	trc_free_rings(tr);
	if (tr->key_ok)
		pthread_key_delete(tr->key);
	pthread_mutex_destroy(&tr->reg_mu);
	pthread_mutex_destroy(&tr->ex_mu);
	pthread_cond_destroy(&tr->ex_cv);
	pthread_cond_destroy(&tr->done_cv);
	ksk_free(tr->alloc, tr);
}

static ksk_err trc_check_opts(const ksk_trace_opts *o, ksk_errinfo *ei)
{
	if (!(o->sample_ratio >= 0 && o->sample_ratio <= 1))
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: sample_ratio %g not in 0..1",
		                       o->sample_ratio);
	if (!(o->rate_limit >= 0) || o->rate_limit > 1e9)
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: rate_limit %g out of range",
		                       o->rate_limit);
	uint32_t n = o->ring_slots;
	if (n && (n < 2 || (n & (n - 1)) != 0 || n > (1u << 24)))
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "trace: ring_slots %u is not a power of 2 in 2..2^24", n);
	if (o->clock_mode == KSK_TRACE_CLOCK_TSC && !o->clock && !trc_tsc_invariant())
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: no invariant TSC on this CPU");
	if ((int)o->clock_mode < 0 || o->clock_mode > KSK_TRACE_CLOCK_REALTIME)
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: unknown clock mode %d",
		                       (int)o->clock_mode);
	if (o->clock && (!o->clock->wall_ns || !o->clock->mono_ns))
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: clock without functions");
	return KSK_OK;
}

ksk_err ksk_trace_init(const ksk_trace_opts *uo, ksk_errinfo *ei)
{
	ksk_trace_opts o;
	if (uo)
		o = *uo;
	else
		ksk_trace_opts_init(&o);
	ksk_errinfo_clear(ei);
	KSK_TRY(trc_check_opts(&o, ei));
	pthread_once(&g_atfork_once, trc_atfork_register);

	pthread_mutex_lock(&g_life_mu);
	if (g_tr) {
		pthread_mutex_unlock(&g_life_mu);
		return ksk_errinfo_set(ei, KSK_ESTATE, "trace: already initialised");
	}
	const ksk_alloc *alloc = ksk_alloc_or_default(o.alloc);
	trc_tracer *tr = ksk_calloc(alloc, 1, sizeof(*tr));
	if (!tr) {
		pthread_mutex_unlock(&g_life_mu);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	}
	tr->alloc = alloc;
	tr->file_fd = -1;
	tr->gen = trc_next_gen();
	tr->seed = trc_seed_fresh();
	tr->parent_based = o.parent_based;
	tr->ratio_threshold = trc_ratio_threshold(o.sample_ratio);
	if (o.rate_limit > 0) {
		double iv = 1e9 / o.rate_limit;
		tr->rate_interval_ns = iv < 1 ? 1 : (uint64_t)iv;
		double burst = o.rate_limit < 1 ? 1 : o.rate_limit;
		tr->rate_burst_ns = (uint64_t)(burst * (double)tr->rate_interval_ns);
	}
	tr->ring_slots = o.ring_slots ? o.ring_slots : 512;
	tr->interval_ms = o.flush_interval_ms ? o.flush_interval_ms : 200;
	tr->shutdown_ms = o.shutdown_timeout_ms ? o.shutdown_timeout_ms : 2000;
	if (o.clock) {
		tr->clock_mode = TRC_CLOCK_CUSTOM;
		tr->clock = o.clock;
	} else if (o.clock_mode == KSK_TRACE_CLOCK_REALTIME ||
	           (o.clock_mode == KSK_TRACE_CLOCK_AUTO && !trc_tsc_invariant())) {
		tr->clock_mode = TRC_CLOCK_REALTIME;
	} else {
		tr->clock_mode = TRC_CLOCK_TSC;
		trc_pair(CLOCK_MONOTONIC_RAW, &tr->cal_tsc0, &tr->cal_raw0);
		trc_pair(CLOCK_REALTIME, &tr->cal_tsc, &tr->cal_real);
	}
	pthread_mutex_init(&tr->reg_mu, NULL);
	pthread_mutex_init(&tr->ex_mu, NULL);
	trc_cond_init(&tr->ex_cv);
	trc_cond_init(&tr->done_cv);
	tr->key_ok = pthread_key_create(&tr->key, trc_thread_exit) == 0;

	ksk_err rc = trc_export_resource(tr, &o, ei);
	if (rc == KSK_OK)
		rc = trc_export_setup(tr, &o, ei);
	if (rc == KSK_OK)
		rc = trc_export_start(tr, ei);
	if (rc != KSK_OK) {
		trc_destroy(tr);
		pthread_mutex_unlock(&g_life_mu);
		return rc;
	}
	__atomic_store_n(&g_tr, tr, __ATOMIC_RELEASE);
	__atomic_store_n(&ksk_trace_on_, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g_life_mu);
	return KSK_OK;
}

void ksk_trace_shutdown(void)
{
	pthread_mutex_lock(&g_life_mu);
	trc_tracer *tr = g_tr;
	if (!tr) {
		pthread_mutex_unlock(&g_life_mu);
		return;
	}
	__atomic_store_n(&ksk_trace_on_, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g_tr, NULL, __ATOMIC_RELEASE);
	trc_export_stop(tr);
	trc_destroy(tr);
	pthread_mutex_unlock(&g_life_mu);
}

ksk_err ksk_trace_flush(uint32_t timeout_ms)
{
	pthread_mutex_lock(&g_life_mu);
	trc_tracer *tr = g_tr;
	if (!tr) {
		pthread_mutex_unlock(&g_life_mu);
		return KSK_ESTATE;
	}
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	ksk_err rc = KSK_OK;
	pthread_mutex_lock(&tr->ex_mu);
	uint64_t want = ++tr->flush_req;
	pthread_cond_signal(&tr->ex_cv);
	while (tr->flush_done < want) {
		if (pthread_cond_timedwait(&tr->done_cv, &tr->ex_mu, &dl) == ETIMEDOUT &&
		    tr->flush_done < want) {
			rc = KSK_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&tr->ex_mu);
	pthread_mutex_unlock(&g_life_mu);
	return rc;
}

void ksk_trace_set_enabled(bool on)
{
	__atomic_store_n(&ksk_trace_on_, on ? 1 : 0, __ATOMIC_RELAXED);
}

static inline uint64_t trc_ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void ksk_trace_stats_get(ksk_trace_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&g_life_mu);
	trc_tracer *tr = g_tr;
	if (tr) {
		out->dropped_stale = trc_ld(&tr->drop_stale);
		out->dropped_nomem = trc_ld(&tr->drop_nomem);
		out->rate_limited = trc_ld(&tr->rate_limited);
		out->spans_exported = trc_ld(&tr->st_exported);
		out->dropped_encode = trc_ld(&tr->st_encode);
		out->agent_frames_sent = trc_ld(&tr->st_frames);
		out->agent_spans_sent = trc_ld(&tr->st_agent_sent);
		out->agent_spans_dropped = trc_ld(&tr->st_agent_drop);
		out->file_spans_written = trc_ld(&tr->st_file_written);
		out->file_spans_dropped = trc_ld(&tr->st_file_drop);
		pthread_mutex_lock(&tr->reg_mu);
		uint64_t full = tr->dead_dropped;
		for (trc_ring *r = tr->rings; r; r = r->next)
			full += trc_ld(&r->dropped);
		out->dropped_ring_full = full;
		out->threads = tr->n_rings;
		pthread_mutex_unlock(&tr->reg_mu);
	}
	pthread_mutex_unlock(&g_life_mu);
}

/* ---- fork --------------------------------------------------------------------- */

static void trc_fork_prepare(void)
{
	pthread_mutex_lock(&g_life_mu);
	trc_tracer *tr = g_tr;
	if (tr) {
		pthread_mutex_lock(&tr->ex_mu);
		pthread_mutex_lock(&tr->reg_mu);
	}
}

static void trc_fork_parent(void)
{
	trc_tracer *tr = g_tr;
	if (tr) {
		pthread_mutex_unlock(&tr->reg_mu);
		pthread_mutex_unlock(&tr->ex_mu);
	}
	pthread_mutex_unlock(&g_life_mu);
}

static void trc_fork_child(void)
{
	trc_tracer *tr = g_tr;
	if (tr) {
		pthread_mutex_unlock(&tr->reg_mu);
		pthread_mutex_unlock(&tr->ex_mu);
		/* waiters of the parent's condition variables are not here */
		trc_cond_init(&tr->ex_cv);
		trc_cond_init(&tr->done_cv);
		tr->gen = trc_next_gen();
		tr->seed = trc_seed_fresh();
		trc_free_rings(tr);
		/* this thread's key still names a freed ring: its exit destructor
		 * must not touch it (the thread registers a new ring lazily) */
		if (tr->key_ok)
			pthread_setspecific(tr->key, NULL);
		tr->dead_dropped = 0;
		tr->drop_stale = tr->drop_nomem = tr->rate_limited = 0;
		tr->st_exported = tr->st_encode = tr->st_frames = 0;
		tr->st_agent_sent = tr->st_agent_drop = 0;
		tr->st_file_written = tr->st_file_drop = 0;
		tr->flush_req = tr->flush_done = 0;
		tr->stop = false;
		trc_export_forked(tr);
	}
	pthread_mutex_unlock(&g_life_mu);
}
