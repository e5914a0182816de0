/*
 * agt_spooler.c : compress + spool + fsync on a thread of its own, positions
 * back to the producer (agt_spooler.h).
 *
 * Role: lets the agent use its second core for the tail pipe. The tail
 * thread parses lines and packs records (agt_batch); this thread does the
 * zstd compression, the spool append and its fsync, which used to run on
 * the tail thread between two batches.
 * Data in: full batches (raw msgpack payload + positions), copied into a
 * ring of slots. Data out: frames in the spool; per frame, its seq and
 * positions back to the producer (reclaim), in push order.
 *
 * Ring: three counters, each only growing, all under `mu`:
 *   reclaimed <= spooled <= pushed <= reclaimed + n
 *   [reclaimed, spooled)  done by this thread (appended, or dropped):
 *                         the producer hands their positions to the tailer
 *   [spooled, pushed)     waiting here, the oldest being worked on
 * Only the producer moves `pushed` and `reclaimed`; only this thread moves
 * `spooled`. A slot's bytes are written by the producer before `pushed`
 * moves past it and read by it again only after `spooled` has, so the slot
 * contents themselves need no lock.
 *
 * Invariants:
 *  - slots are spooled strictly in push order; a slot whose append fails
 *    (spool full, I/O error, no memory) is retried 50 ms later, never
 *    skipped, so no later frame's positions can overtake it;
 *  - a slot's positions are handed back only when agt_spool_append()
 *    returned KSK_OK for its frame (durable per the spool's fsync policy);
 *  - dropping (drain timeout, stop) happens only to the slots still
 *    waiting, and `cancel` is cleared again before drain returns, so the
 *    spooler goes on working for later pushes (reload).
 *
 * Compression on several threads (`compressors` > 1): helper threads
 * compress waiting slots ahead of the one being appended, each with its
 * own zstd context, into the slot's own frame buffer. A slot's `state`
 * (under `mu`) says who may touch its frame: RAW (nobody yet), BUSY (one
 * thread is compressing it: it claimed it under `mu`), FRAMED (ready to
 * append). Only this (the appender) thread appends, so the spool still
 * sees frames in push order; when the slot at the head is BUSY it
 * compresses a later RAW slot itself, and only when there is none it waits
 * on `framed`. A slot is never marked done (spooled) while BUSY, so the
 * producer never refills a slot that a helper still reads. A helper that
 * fails to frame a slot puts it back to RAW with `no_help` set: the
 * appender frames it (retrying and logging as for one thread).
 * Waits use CLOCK_MONOTONIC condition variables (real time: retries and
 * drain deadlines); the injected clock only stamps frame creation times.
 */
#include "agt_spooler.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGT_SQ_RETRY_NS 50000000ull
#define AGT_SQ_LOG_EVERY_NS 1000000000ull

#define AGT_SQ_MAX_COMPRESSORS 16

enum { AGT_SQ_RAW = 0, AGT_SQ_BUSY = 1, AGT_SQ_FRAMED = 2 };

typedef struct agt_slot {
	uint8_t *payload;        /* raw msgpack payload */
	size_t len, cap;
	uint8_t *pos;            /* positions blob (n entries of pos_size) */
	size_t pos_len, pos_cap;
	uint8_t *frame;          /* the frame, once FRAMED (the spool stamps it) */
	size_t flen, fcap;
	int state;               /* AGT_SQ_*, under mu */
	bool no_help;            /* a helper failed on it: the appender frames it */
	uint32_t record_count;   /* for the frame header */
	bool restore;            /* for the frame header (KSK_FRAME_FLAG_RESTORE) */
	uint64_t created_ns;     /* wall time of the push */
	uint64_t seq;            /* given by the spool (done slots) */
	bool dropped;            /* done without being spooled */
} agt_slot;

typedef struct agt_sq_helper {
	struct agt_spooler *q;
	ksk_frame_enc *fe;
	pthread_t thread;
	bool running;
} agt_sq_helper;

struct agt_spooler {
	agt_spooler_opts o;
	agt_slot *slots;
	uint32_t n;
	pthread_mutex_t mu;
	pthread_cond_t work;     /* producer -> threads: pushed, cancel, stop */
	pthread_cond_t done;     /* thread -> producer: spooled moved */
	pthread_cond_t framed;   /* compressor -> appender: a BUSY slot ended */
	uint64_t pushed, spooled, reclaimed;
	bool stop, cancel;
	pthread_t thread;
	bool running;
	agt_sq_helper *helpers;  /* compressors - 1 */
	uint32_t n_helpers;
	/* the appender thread's own */
	ksk_frame_enc *fe;
	uint64_t last_log_ns;
	atomic_ullong frames, spool_full, errors, dropped, helper_frames;
};

static uint64_t agt_sq_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* waits on `cv` until the monotonic time `until_ns` at the latest */
static void agt_sq_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t until_ns)
{
	struct timespec ts = {(time_t)(until_ns / 1000000000ull),
	                      (long)(until_ns % 1000000000ull)};
	(void)pthread_cond_timedwait(cv, mu, &ts);
}

static bool agt_sq_grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	return ksk_grow(ksk_alloc_default(), (void **)buf, cap, need, 1, 4096);
}

static void agt_sq_log(agt_spooler *q, const char *what, const char *msg)
{
	uint64_t now = agt_sq_now();
	if (!q->o.log || (q->last_log_ns && now - q->last_log_ns < AGT_SQ_LOG_EVERY_NS))
		return;
	q->last_log_ns = now;
	char m[600];
	snprintf(m, sizeof(m), "spooler: %s: %s (retrying)", what, msg);
	q->o.log(q->o.log_ctx, 2, m);
}

/* Compresses `sl` (BUSY, claimed by the caller) into its frame buffer
 * with `fe`. @return : false on failure (message in ei). */
static bool agt_sq_frame(ksk_frame_enc *fe, agt_slot *sl, ksk_errinfo *ei)
{
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m)); /* agent ID and seq: stamped by the spool */
	m.created_ns = sl->created_ns;
	m.record_count = sl->record_count;
	m.compress = true;
	m.restore = sl->restore;
	const uint8_t *f;
	size_t flen = 0;
	ksk_err rc = ksk_frame_encode(fe, &m, sl->payload, sl->len, &f, &flen, ei);
	if (rc == KSK_OK && !agt_sq_grow(&sl->frame, &sl->fcap, flen))
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "no memory for a frame");
	if (rc != KSK_OK)
		return false;
	memcpy(sl->frame, f, flen);
	sl->flen = flen;
	return true;
}

/* Under mu: the oldest waiting slot that a compressor may take, or NULL. */
static agt_slot *agt_sq_claimable(agt_spooler *q)
{
	if (q->cancel || q->stop)
		return NULL;
	for (uint64_t i = q->spooled; i < q->pushed; i++) {
		agt_slot *sl = &q->slots[i % q->n];
		if (sl->state == AGT_SQ_RAW && !sl->no_help)
			return sl;
	}
	return NULL;
}

/* Called with mu held and `sl` just claimed (BUSY); compresses it with
 * `fe` outside the lock and publishes the result. Returns with mu held. */
static void agt_sq_frame_claimed(agt_spooler *q, ksk_frame_enc *fe, agt_slot *sl)
{
	pthread_mutex_unlock(&q->mu);
	ksk_errinfo ei;
	ei.msg[0] = '\0';
	bool ok = agt_sq_frame(fe, sl, &ei);
	pthread_mutex_lock(&q->mu);
	sl->state = ok ? AGT_SQ_FRAMED : AGT_SQ_RAW;
	if (!ok)
		sl->no_help = true; /* the appender retries it and logs */
	pthread_cond_broadcast(&q->framed);
}

static void *agt_sq_helper_main(void *arg)
{
	agt_sq_helper *h = arg;
	agt_spooler *q = h->q;
	(void)pthread_setname_np(pthread_self(), "agt-compress");
	pthread_mutex_lock(&q->mu);
	while (!q->stop) {
		agt_slot *sl = agt_sq_claimable(q);
		if (!sl) {
			pthread_cond_wait(&q->work, &q->mu);
			continue;
		}
		sl->state = AGT_SQ_BUSY;
		agt_sq_frame_claimed(q, h->fe, sl);
		if (sl->state == AGT_SQ_FRAMED)
			atomic_fetch_add(&q->helper_frames, 1);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Frames (unless a helper did) and appends one slot, retrying until it is
 * in the spool or the slot must be dropped. @return : false when dropped. */
static bool agt_sq_spool_one(agt_spooler *q, agt_slot *sl)
{
	for (;;) {
		pthread_mutex_lock(&q->mu);
		/* a helper has it: compress a later slot meanwhile, or wait
		 * (also when giving up: a BUSY slot must not be marked done) */
		while (sl->state == AGT_SQ_BUSY) {
			agt_slot *other = agt_sq_claimable(q);
			if (other) {
				other->state = AGT_SQ_BUSY;
				agt_sq_frame_claimed(q, q->fe, other);
			} else {
				pthread_cond_wait(&q->framed, &q->mu);
			}
		}
		bool give_up = q->cancel || q->stop;
		bool mine = !give_up && sl->state == AGT_SQ_RAW;
		if (mine)
			sl->state = AGT_SQ_BUSY;
		pthread_mutex_unlock(&q->mu);
		if (give_up) {
			atomic_fetch_add(&q->dropped, 1);
			return false;
		}
		ksk_errinfo ei;
		ei.msg[0] = '\0';
		bool framed = !mine;
		if (mine) {
			framed = agt_sq_frame(q->fe, sl, &ei);
			pthread_mutex_lock(&q->mu);
			sl->state = framed ? AGT_SQ_FRAMED : AGT_SQ_RAW;
			pthread_mutex_unlock(&q->mu);
			if (!framed) {
				atomic_fetch_add(&q->errors, 1);
				agt_sq_log(q, "frame", ei.msg);
			}
		}
		if (framed) {
			uint64_t seq = 0;
			ksk_err rc = agt_spool_append(q->o.spool, sl->frame, sl->flen, sl->pos,
			                              sl->pos_len, 0, &seq, &ei);
			if (rc == KSK_OK) {
				sl->seq = seq;
				atomic_fetch_add(&q->frames, 1);
				return true;
			}
			if (rc == KSK_EBUSY) {
				atomic_fetch_add(&q->spool_full, 1);
			} else {
				atomic_fetch_add(&q->errors, 1);
				agt_sq_log(q, "spool append", ei.msg);
			}
		}
		pthread_mutex_lock(&q->mu);
		if (!q->cancel && !q->stop)
			agt_sq_wait_until(&q->work, &q->mu, agt_sq_now() + AGT_SQ_RETRY_NS);
		pthread_mutex_unlock(&q->mu);
	}
}

static void *agt_sq_main(void *arg)
{
	agt_spooler *q = arg;
	(void)pthread_setname_np(pthread_self(), "agt-spooler");
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->spooled == q->pushed && !q->stop)
			pthread_cond_wait(&q->work, &q->mu);
		if (q->spooled == q->pushed)
			break; /* stopping, nothing left */
		agt_slot *sl = &q->slots[q->spooled % q->n];
		pthread_mutex_unlock(&q->mu);
		bool ok = agt_sq_spool_one(q, sl);
		pthread_mutex_lock(&q->mu);
		sl->dropped = !ok;
		q->spooled++;
		pthread_cond_broadcast(&q->done);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void agt_sq_free(agt_spooler *q)
{
	for (uint32_t i = 0; q->slots && i < q->n; i++) {
		free(q->slots[i].payload);
		free(q->slots[i].pos);
		free(q->slots[i].frame);
	}
	free(q->slots);
	for (uint32_t i = 0; q->helpers && i < q->n_helpers; i++)
		ksk_frame_enc_destroy(q->helpers[i].fe);
	free(q->helpers);
	ksk_frame_enc_destroy(q->fe);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->done);
	pthread_cond_destroy(&q->framed);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

ksk_err agt_spooler_start(const agt_spooler_opts *o, agt_spooler **out, ksk_errinfo *ei)
{
	if (!o || !o->spool || !out)
		return ksk_errinfo_set(ei, KSK_EINVAL, "spooler: no spool");
	agt_spooler *q = calloc(1, sizeof(*q));
	if (!q)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spooler: no memory");
	q->o = *o;
	if (!q->o.clock)
		q->o.clock = ksk_clock_system();
	q->n = o->slots ? o->slots : 2;
	if (q->n > 64)
		q->n = 64;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->work, &ca);
	pthread_cond_init(&q->done, &ca);
	pthread_cond_init(&q->framed, &ca);
	pthread_condattr_destroy(&ca);
	uint32_t nc = o->compressors ? o->compressors : 1;
	if (nc > AGT_SQ_MAX_COMPRESSORS)
		nc = AGT_SQ_MAX_COMPRESSORS;
	int level = o->zstd_level ? o->zstd_level : 1;
	q->n_helpers = nc - 1;
	q->slots = calloc(q->n, sizeof(*q->slots));
	q->helpers = q->n_helpers ? calloc(q->n_helpers, sizeof(*q->helpers)) : NULL;
	bool ok = q->slots && (q->helpers || !q->n_helpers) &&
	          ksk_frame_enc_create(NULL, level, &q->fe) == KSK_OK;
	for (uint32_t i = 0; ok && i < q->n_helpers; i++) {
		q->helpers[i].q = q;
		ok = ksk_frame_enc_create(NULL, level, &q->helpers[i].fe) == KSK_OK;
	}
	if (!ok) {
		agt_sq_free(q);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spooler: no memory");
	}
	if (pthread_create(&q->thread, NULL, agt_sq_main, q) != 0) {
		agt_sq_free(q);
		return ksk_errinfo_set(ei, KSK_ESYS, "spooler: cannot start its thread");
	}
	q->running = true;
	for (uint32_t i = 0; i < q->n_helpers; i++) {
		if (pthread_create(&q->helpers[i].thread, NULL, agt_sq_helper_main, &q->helpers[i]) != 0) {
			agt_spooler_stop(q);
			return ksk_errinfo_set(ei, KSK_ESYS, "spooler: cannot start a compressor thread");
		}
		q->helpers[i].running = true;
	}
	*out = q;
	return KSK_OK;
}

bool agt_spooler_room(agt_spooler *q)
{
	pthread_mutex_lock(&q->mu);
	bool room = q->pushed - q->reclaimed < q->n;
	pthread_mutex_unlock(&q->mu);
	return room;
}

ksk_err agt_spooler_push(agt_spooler *q, agt_batch *b)
{
	if (!agt_spooler_room(q))
		return KSK_EBUSY;
	agt_taken t;
	KSK_TRY(agt_batch_view(b, &t));
	/* pushed - reclaimed < n: slot `pushed % n` is free and only ours */
	agt_slot *sl = &q->slots[q->pushed % q->n];
	size_t pos_len = (size_t)t.n_pos * q->o.pos_size;
	if (!agt_sq_grow(&sl->payload, &sl->cap, t.payload_len ? t.payload_len : 1) ||
	    !agt_sq_grow(&sl->pos, &sl->pos_cap, pos_len ? pos_len : 1))
		return KSK_ENOMEM;
	if (t.payload_len)
		memcpy(sl->payload, t.payload, t.payload_len);
	sl->len = t.payload_len;
	if (pos_len)
		memcpy(sl->pos, t.pos, pos_len);
	sl->pos_len = pos_len;
	sl->record_count = t.record_count;
	sl->restore = t.restore;
	sl->created_ns = ksk_clock_wall(q->o.clock);
	sl->seq = 0;
	sl->dropped = false;
	sl->no_help = false;
	(void)agt_batch_take(b, &t); /* empties the batch */
	pthread_mutex_lock(&q->mu);
	sl->state = AGT_SQ_RAW;
	q->pushed++;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
	return KSK_OK;
}

size_t agt_spooler_reclaim(agt_spooler *q, agt_spooler_pos_fn fn, void *ctx)
{
	pthread_mutex_lock(&q->mu);
	uint64_t from = q->reclaimed, to = q->spooled;
	pthread_mutex_unlock(&q->mu);
	for (uint64_t i = from; i < to; i++) {
		const agt_slot *sl = &q->slots[i % q->n];
		if (!sl->dropped && fn)
			fn(ctx, sl->seq, sl->pos, q->o.pos_size ? sl->pos_len / q->o.pos_size : 0);
	}
	if (to != from) {
		pthread_mutex_lock(&q->mu);
		q->reclaimed = to;
		pthread_mutex_unlock(&q->mu);
	}
	return (size_t)(to - from);
}

bool agt_spooler_wait_room(agt_spooler *q, uint64_t max_ns)
{
	pthread_mutex_lock(&q->mu);
	bool ok = q->pushed - q->reclaimed < q->n || q->spooled > q->reclaimed;
	if (!ok && max_ns) {
		agt_sq_wait_until(&q->done, &q->mu, agt_sq_now() + max_ns);
		ok = q->pushed - q->reclaimed < q->n || q->spooled > q->reclaimed;
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

bool agt_spooler_idle(agt_spooler *q)
{
	pthread_mutex_lock(&q->mu);
	bool idle = q->spooled == q->pushed;
	pthread_mutex_unlock(&q->mu);
	return idle;
}

bool agt_spooler_drain(agt_spooler *q, uint64_t max_ns)
{
	uint64_t until = agt_sq_now() + max_ns;
	pthread_mutex_lock(&q->mu);
	while (q->spooled != q->pushed && agt_sq_now() < until)
		agt_sq_wait_until(&q->done, &q->mu, until);
	bool all = q->spooled == q->pushed;
	if (!all) {
		/* out of time: drop what waits (the append in progress, if
		 * any, finishes first), then work normally again */
		q->cancel = true;
		pthread_cond_broadcast(&q->work);
		while (q->spooled != q->pushed)
			pthread_cond_wait(&q->done, &q->mu);
		q->cancel = false;
	}
	pthread_mutex_unlock(&q->mu);
	return all;
}

void agt_spooler_stop(agt_spooler *q)
{
	if (!q)
		return;
	if (q->running) {
		pthread_mutex_lock(&q->mu);
		q->stop = true;
		pthread_cond_broadcast(&q->work);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->thread, NULL);
	}
	for (uint32_t i = 0; q->helpers && i < q->n_helpers; i++)
		if (q->helpers[i].running)
			pthread_join(q->helpers[i].thread, NULL);
	agt_sq_free(q);
}

void agt_spooler_get_stats(agt_spooler *q, agt_spooler_stats *out)
{
	out->frames = atomic_load(&q->frames);
	out->spool_full = atomic_load(&q->spool_full);
	out->errors = atomic_load(&q->errors);
	out->dropped = atomic_load(&q->dropped);
	out->helper_frames = atomic_load(&q->helper_frames);
}
