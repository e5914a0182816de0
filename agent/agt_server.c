/*
 * agt_server.c : kiseki-agent wiring (agt_server.h).
 *
 * Data in: tailed lines, native intake frames, OTLP/HTTP and Zipkin
 * bodies. Data out: frames in the spool, shipped by agt_ship.
 *
 * Two pipes feed the spool:
 *   tail pipe : the tail thread reads, parses and packs records into its
 *               agt_batch (no lock); a full (or 200 ms old) batch is handed
 *               to the spooler (agt_spooler.h), whose own thread compresses
 *               it, appends it to the spool (fsync) and hands the frame's
 *               positions back. So the two costly halves of a line, parse +
 *               msgpack and zstd + fsync, run on two cores (zstd on
 *               --compress-threads threads). Up to AGT_SPOOLER_SLOTS (plus
 *               one per extra compressor) batches wait there; when they are all
 *               taken the line callback says stop and the tail thread waits
 *               for a slot (the files are the buffer).
 *   net pipe  : an agt_batch plus at most one sealed frame waiting for
 *               spool space, shared by the intake thread and the HTTP
 *               threads (mutex); sealed and appended by whoever fills it,
 *               or by the tail thread on age.
 * Checkpoint protocol (agt_spool.h): positions ride in the spool record of
 * their frame. The tail thread commits them to the tailer (agt_tail_commit,
 * on the tail thread only) when it reclaims the frame from the spooler,
 * which happens only after agt_spool_append() returned OK for it (durable)
 * and in push order; so a file's checkpoint never passes a line whose frame
 * is not in the spool. About once a second the tailer state is saved and
 * agt_spool_checkpoint_saved(seq of the last reclaimed frame) lets the
 * spool delete acked segments.
 * Multiline: per file (dev, ino) a state with the position of the last
 * line fed; a record closed by a new line commits the previous line's
 * position (exact, with its marker), never the pending line's.
 * Metrics: lines/records totals are published by the tail thread after
 * every read run (atomics); the rest of the tail-side text, per-file lag
 * included (one fstat per open file), is rebuilt once a second by the tail
 * thread, and only when --metrics-listen is on.
 * Invariants: a line's position is added to a batch only after the record
 * holding it (or its drop) is in that batch; the tailer is only called
 * from the tail thread (or by the stopper once that thread is joined);
 * shutdown and reload hand everything to the spooler, wait for it, commit
 * and save before the tailer goes away.
 */
#include "agt_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agt_batch.h"
#include "agt_http.h"
#include "agt_intake.h"
#include "agt_otlp.h"
#include "agt_parse.h"
#include "agt_ship.h"
#include "agt_spool.h"
#include "agt_spooler.h"
#include "agt_tail.h"
#include "ksk_httpd.h"

#define AGT_POS_KEY_LEN (3 * sizeof(uint64_t)) /* dev, ino, fp */
#define AGT_SPOOLER_SLOTS 3 /* tail batches queued for the spooler thread */

/* ---- per input ------------------------------------------------------------ */

typedef struct agt_src {
	const agt_input_cfg *cfg;
	ksk_resource res;        /* service.name, host.name, static attrs */
	ksk_attr attrs[AGT_MAX_STATIC_ATTRS + 2];
	uint64_t res_hash;       /* agt_batch_res_hash(&res), computed once */
	agt_parser *parser;      /* LOGS */
	agt_ml_rule *ml_rule;    /* LOGS with multiline, else NULL */
	uint64_t lines, records, parse_errors, truncated, bad_span_lines, rejected_spans;
} agt_src;

typedef struct agt_mlfile {
	uint64_t dev, ino;
	agt_src *src;
	agt_ml *ml;
	agt_file_pos prev;       /* position of the last line fed */
	char path[256];
	uint64_t last_ns;        /* mono time of the last line */
} agt_mlfile;

typedef struct agt_pipe {
	pthread_mutex_t mu;      /* net pipe only */
	agt_batch *b;
	uint8_t *pending;        /* a sealed frame waiting for spool space */
	size_t pending_len, pending_cap;
	uint8_t *pending_pos;    /* its positions */
	size_t pending_pos_len, pending_pos_cap;
	int has_pending;
	uint64_t frames, spool_full;
} agt_pipe;

struct agt_server {
	const agt_config *cfg;
	const ksk_clock *clock;
	char host[256];
	char intake_url[512];
	agt_spool *spool;
	agt_ship *ship;
	agt_intake *intake;
	agt_http *otlp, *zipkin;
	ksk_httpd *metrics;
	/* tail side (tail thread only, except when the thread is stopped) */
	agt_tail *tail;
	agt_src *srcs;
	uint32_t n_srcs;
	agt_mlfile *mls;
	uint32_t n_mls;
	size_t cap_mls;
	agt_pipe tp;             /* its batch only: full batches go to sq */
	agt_spooler *sq;         /* compresses + spools tail batches (own thread) */
	int tail_full;           /* the last line was refused: sq had no room */
	uint64_t wall_ns;        /* observed time: read at the first line of a
	                          * read run and every 64 lines in it */
	uint32_t wall_age;       /* lines since wall_ns was read; 0 = read it */
	ksk_arena *scratch;
	uint64_t last_spooled_seq;
	int ckpt_dirty;
	uint64_t last_save_ns;
	agt_file_pos *restore;   /* positions replayed from the spool */
	size_t n_restore, cap_restore;
	int restore_failed;      /* no memory while replaying */
	pthread_t thread;
	int thread_running;
	atomic_int stop;
	/* net side */
	agt_pipe np;
	ksk_arena *net_scratch;  /* under np.mu */
	ksk_resource net_res;    /* host.name only, for intake/receivers */
	ksk_attr net_attrs[1];
	/* tail-side metrics text, rebuilt by the tail thread each second
	 * (the tailer and the input counters belong to that thread) */
	pthread_mutex_t snap_mu;
	ksk_buf snap;            /* other tail-side metrics, as text */
	uint64_t snap_trunc, snap_badspan, snap_rejspan; /* drop counts */
	uint64_t last_snap_ns;
	/* counters shared across threads */
	atomic_ullong http_requests, http_errors, http_busy, http_spans, http_logs;
	atomic_ullong log_lines_dropped;
	atomic_ullong pub_lines, pub_records; /* tail counters, published by the
	                                       * tail thread after every read run */
};

static void agt_snapshot(agt_server *s);

static void agt_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	static const char *const names[] = {"info", "warning", "error"};
	fprintf(stderr, "kiseki-agent: %s: %s\n", names[level < 0 ? 0 : level > 2 ? 2 : level], msg);
}

/* ---- pipes ------------------------------------------------------------------ */

static ksk_err agt_pipe_init(agt_pipe *p, const agt_config *cfg, const ksk_clock *clock,
                             int with_pos)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	agt_batch_opts bo;
	agt_batch_opts_default(&bo);
	bo.max_bytes = cfg->batch_max_bytes;
	bo.max_age_ns = cfg->batch_max_age_ns;
	bo.clock = clock;
	if (with_pos) {
		bo.pos_size = sizeof(agt_file_pos);
		bo.pos_key_len = AGT_POS_KEY_LEN;
	}
	return agt_batch_create(&bo, &p->b);
}

static void agt_pipe_fini(agt_pipe *p)
{
	agt_batch_destroy(p->b);
	free(p->pending);
	free(p->pending_pos);
	pthread_mutex_destroy(&p->mu);
}

static int agt_grow(uint8_t **buf, size_t *cap, size_t need)
{
	return ksk_grow(ksk_alloc_default(), (void **)buf, cap, need, 1, 4096) ? 0 : -1;
}

/* Net pipe: seals the open batch (unless a sealed frame already waits) and
 * appends it to the spool on the calling thread. On KSK_EBUSY the frame
 * stays pending. (The tail pipe goes through the spooler instead.) */
static ksk_err agt_pipe_spool(agt_server *s, agt_pipe *p)
{
	ksk_errinfo ei;
	if (!p->has_pending) {
		if (agt_batch_count(p->b) == 0 && agt_batch_deadline(p->b) == UINT64_MAX)
			return KSK_OK;
		static const uint8_t zero_id[KSK_AGENT_ID_LEN];
		agt_sealed sd;
		ksk_err rc = agt_batch_seal(p->b, zero_id, 0, &sd, &ei);
		if (rc == KSK_ESTATE)
			return KSK_OK;
		if (rc != KSK_OK) {
			agt_log(NULL, 2, ei.msg);
			return rc;
		}
		size_t pos_len = (size_t)sd.n_pos * sizeof(agt_file_pos);
		if (agt_grow(&p->pending, &p->pending_cap, sd.frame_len) ||
		    agt_grow(&p->pending_pos, &p->pending_pos_cap, pos_len + 1))
			return KSK_ENOMEM;
		memcpy(p->pending, sd.frame, sd.frame_len);
		p->pending_len = sd.frame_len;
		if (pos_len)
			memcpy(p->pending_pos, sd.pos, pos_len);
		p->pending_pos_len = pos_len;
		p->has_pending = 1;
	}
	uint64_t seq = 0;
	ksk_err rc = agt_spool_append(s->spool, p->pending, p->pending_len, p->pending_pos,
	                              p->pending_pos_len, 0, &seq, &ei);
	if (rc == KSK_EBUSY) {
		p->spool_full++;
		return rc;
	}
	if (rc != KSK_OK) {
		agt_log(NULL, 2, ei.msg);
		return rc;
	}
	p->has_pending = 0;
	p->frames++;
	return KSK_OK;
}

/* ---- tail pipe: batches to the spooler, durable positions back ------------- */

/* A tail frame is in the spool (durable): its positions may move the
 * checkpoints now (tail thread, or the stopper when it is stopped). */
static void agt_on_spooled(void *ctx, uint64_t seq, const uint8_t *pos, size_t n)
{
	agt_server *s = ctx;
	if (s->tail)
		for (size_t i = 0; i < n; i++) {
			agt_file_pos fp;
			memcpy(&fp, pos + i * sizeof(fp), sizeof(fp));
			agt_tail_commit(s->tail, &fp);
		}
	if (seq > s->last_spooled_seq)
		s->last_spooled_seq = seq;
	s->ckpt_dirty = 1;
}

static void agt_tail_reclaim(agt_server *s)
{
	agt_spooler_reclaim(s->sq, agt_on_spooled, s);
}

/* Hands the open tail batch to the spooler. @return : KSK_OK (also when
 * empty); KSK_EBUSY (no free slot: the batch stays); KSK_ENOMEM. */
static ksk_err agt_tail_push(agt_server *s)
{
	agt_tail_reclaim(s);
	ksk_err rc = agt_spooler_push(s->sq, s->tp.b);
	return rc == KSK_ESTATE ? KSK_OK : rc;
}

/* ---- records from lines ------------------------------------------------------- */

/* Adds `path` as the log.file.path attribute (copying the attrs array). */
static ksk_err agt_add_file_attr(ksk_arena *a, ksk_log *l, const char *path, int truncated)
{
	uint32_t extra = 1 + (truncated ? 1 : 0);
	ksk_attr *na = ksk_arena_alloc(a, sizeof(ksk_attr) * (l->n_attrs + extra));
	if (!na)
		return KSK_ENOMEM;
	if (l->n_attrs)
		memcpy(na, l->attrs, sizeof(ksk_attr) * l->n_attrs);
	na[l->n_attrs] = (ksk_attr){KSK_STR("log.file.path"), ksk_val_str(ksk_str_c(path))};
	if (truncated)
		na[l->n_attrs + 1] = (ksk_attr){KSK_STR("log.record.truncated"), ksk_val_bool(true)};
	l->attrs = na;
	l->n_attrs += extra;
	return KSK_OK;
}

/* Parses one log text into the tail batch. */
static ksk_err agt_emit_log(agt_server *s, agt_src *src, const char *text, size_t len,
                            const char *path, int truncated)
{
	ksk_log l;
	ksk_errinfo ei;
	ksk_arena_reset(s->scratch);
	/* the observed time: one clock read per 64 lines of a read run (its
	 * lines come from the same few reads), and a fresh one per run */
	if (s->wall_age++ % 64 == 0)
		s->wall_ns = ksk_clock_wall(s->clock);
	ksk_err rc = agt_parser_parse(src->parser, text, len, s->wall_ns, s->scratch, &l, &ei);
	if (rc == KSK_EPARSE)
		src->parse_errors++; /* l is the fallback record: body = the line */
	else if (rc != KSK_OK)
		return rc;
	if (truncated)
		src->truncated++;
	KSK_TRY(agt_add_file_attr(s->scratch, &l, path, truncated));
	rc = agt_batch_add_log_h(s->tp.b, &src->res, src->res_hash, &l);
	if (rc == KSK_EINVAL) {
		atomic_fetch_add(&s->log_lines_dropped, 1);
		return KSK_OK; /* counted; the position still advances */
	}
	if (rc == KSK_OK)
		src->records++;
	return rc;
}

static ksk_err agt_emit_spans(agt_server *s, agt_src *src, const agt_line *line)
{
	agt_otlp_out out;
	ksk_errinfo ei;
	ksk_arena_reset(s->scratch);
	ksk_err rc = agt_otlp_traces_json(line->data, line->len, s->scratch, &out, &ei);
	if (rc == KSK_EPARSE) {
		src->bad_span_lines++;
		char msg[600];
		snprintf(msg, sizeof(msg), "%s:%llu: span line not decoded: %s", line->path,
		         (unsigned long long)line->start, ei.msg);
		agt_log(NULL, 1, msg);
		return KSK_OK;
	}
	if (rc != KSK_OK)
		return rc;
	src->rejected_spans += out.n_rejected;
	for (uint32_t i = 0; i < out.n_spans; i++) {
		rc = agt_batch_add_span(s->tp.b, &out.resources[out.spans[i].resource], &out.spans[i]);
		if (rc == KSK_OK)
			src->records++;
		else if (rc == KSK_EINVAL)
			src->rejected_spans++;
		else
			return rc;
	}
	return KSK_OK;
}

static agt_mlfile *agt_mlfile_get(agt_server *s, agt_src *src, const agt_line *line)
{
	for (uint32_t i = 0; i < s->n_mls; i++)
		if (s->mls[i].dev == line->pos.dev && s->mls[i].ino == line->pos.ino &&
		    s->mls[i].src == src)
			return &s->mls[i];
	if (!ksk_grow(ksk_alloc_default(), (void **)&s->mls, &s->cap_mls, s->n_mls + 1,
	              sizeof(*s->mls), 16))
		return NULL;
	agt_mlfile *m = &s->mls[s->n_mls];
	memset(m, 0, sizeof(*m));
	if (agt_ml_create(NULL, src->ml_rule, &m->ml) != KSK_OK)
		return NULL;
	m->dev = line->pos.dev;
	m->ino = line->pos.ino;
	m->src = src;
	s->n_mls++;
	return m;
}

static ksk_err agt_ml_emit(agt_server *s, agt_mlfile *m, const agt_ml_rec *rec)
{
	KSK_TRY(agt_emit_log(s, m->src, rec->text, rec->len, m->path, rec->dropped != 0));
	return agt_batch_add_pos(s->tp.b, &m->prev);
}

/* The tailer's line callback (tail thread). */
static int agt_on_line(void *ctx, const agt_line *line)
{
	agt_server *s = ctx;
	if (agt_batch_full(s->tp.b)) {
		ksk_err prc = agt_tail_push(s);
		if (prc != KSK_OK) {
			s->tail_full = prc == KSK_EBUSY;
			return AGT_TAIL_STOP;
		}
	}
	agt_src *src = line->user;
	src->lines++;
	ksk_err rc;
	if (src->cfg->kind == AGT_INPUT_SPANS) {
		rc = agt_emit_spans(s, src, line);
		if (rc == KSK_OK)
			rc = agt_batch_add_pos(s->tp.b, &line->pos);
	} else if (src->ml_rule) {
		agt_mlfile *m = agt_mlfile_get(s, src, line);
		if (!m)
			return AGT_TAIL_STOP;
		snprintf(m->path, sizeof(m->path), "%s", line->path);
		agt_ml_rec rec;
		bool emitted = false;
		uint64_t now = ksk_clock_mono(s->clock);
		rc = agt_ml_feed(m->ml, line->data, line->len, line->start, line->pos.offset,
		                 now, &rec, &emitted);
		if (rc == KSK_OK && emitted)
			rc = agt_ml_emit(s, m, &rec);
		m->prev = line->pos;
		m->last_ns = now;
	} else {
		rc = agt_emit_log(s, src, line->data, line->len, line->path,
		                  (line->flags & AGT_LINE_TRUNCATED) != 0);
		if (rc == KSK_OK)
			rc = agt_batch_add_pos(s->tp.b, &line->pos);
	}
	if (rc == KSK_ELIMIT && agt_batch_count(s->tp.b) > 0) {
		/* the batch is at its hard cap: hand it over and retry once */
		src->lines--;
		ksk_err prc = agt_tail_push(s);
		if (prc != KSK_OK) {
			s->tail_full = prc == KSK_EBUSY;
			return AGT_TAIL_STOP;
		}
		return agt_on_line(ctx, line);
	}
	if (rc != KSK_OK) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s: line at offset %llu not taken: %s", line->path,
		         (unsigned long long)line->start, ksk_strerror(rc));
		agt_log(NULL, 2, msg);
		return AGT_TAIL_STOP;
	}
	return AGT_TAIL_TAKEN;
}

/* Flushes multiline records whose timeout passed (or all, at shutdown). */
static void agt_ml_sweep(agt_server *s, int all)
{
	uint64_t now = ksk_clock_mono(s->clock);
	for (uint32_t i = 0; i < s->n_mls; i++) {
		agt_mlfile *m = &s->mls[i];
		agt_ml_rec rec;
		bool got = all ? agt_ml_flush(m->ml, &rec) : agt_ml_flush_if_older(m->ml, now, &rec);
		if (got && agt_ml_emit(s, m, &rec) != KSK_OK)
			agt_log(NULL, 2, "multiline record not taken");
	}
	/* forget idle files with nothing pending (rotated away) */
	for (uint32_t i = 0; i < s->n_mls;) {
		agt_mlfile *m = &s->mls[i];
		if (!agt_ml_pending(m->ml, NULL) && now - m->last_ns > 600000000000ull) {
			agt_ml_destroy(m->ml);
			s->mls[i] = s->mls[--s->n_mls];
		} else {
			i++;
		}
	}
}

static void agt_save_checkpoint(agt_server *s)
{
	if (!s->ckpt_dirty || !s->tail)
		return;
	ksk_errinfo ei;
	if (agt_tail_save(s->tail, &ei) != KSK_OK) {
		agt_log(NULL, 2, ei.msg);
		return;
	}
	agt_spool_checkpoint_saved(s->spool, s->last_spooled_seq);
	s->ckpt_dirty = 0;
	s->last_save_ns = ksk_clock_mono(s->clock);
}

/* Seals the net pipe when due (tail thread). */
static void agt_net_tick(agt_server *s, int force)
{
	pthread_mutex_lock(&s->np.mu);
	if (s->np.has_pending || (force ? agt_batch_count(s->np.b) > 0 : agt_batch_due(s->np.b)))
		agt_pipe_spool(s, &s->np);
	pthread_mutex_unlock(&s->np.mu);
}

/* One read run of the tailer. After a run stopped for lack of spooler room
 * the next one waits for a slot (not for inotify: the data is there). */
static void agt_tail_step(agt_server *s, int wait_ms)
{
	if (!s->tail) {
		struct timespec ts = {0, (long)wait_ms * 1000000L};
		nanosleep(&ts, NULL);
		return;
	}
	ksk_err rc;
	if (s->tail_full) {
		if (!agt_spooler_wait_room(s->sq, (uint64_t)wait_ms * 1000000ull))
			return;
		agt_tail_reclaim(s);
		s->tail_full = 0;
		rc = agt_tail_run(s->tail);
	} else {
		s->tail_full = 0;
		rc = agt_tail_wait(s->tail, wait_ms);
	}
	if (rc != KSK_EBUSY)
		s->tail_full = 0; /* (an error stop is retried after a poll wait) */
}

/* Tail thread: the line and record totals for /metrics, current to the
 * last read run (the rest of the tail metrics is rebuilt once a second). */
static void agt_publish(agt_server *s)
{
	uint64_t lines = 0, records = 0;
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		lines += s->srcs[i].lines;
		records += s->srcs[i].records;
	}
	atomic_store(&s->pub_lines, lines);
	atomic_store(&s->pub_records, records);
}

static void *agt_srv_tail_main(void *arg)
{
	agt_server *s = arg;
	(void)pthread_setname_np(pthread_self(), "agt-tail");
	while (!atomic_load(&s->stop)) {
		agt_tail_reclaim(s);
		s->wall_age = 0; /* a new read run: a fresh observed time */
		int wait_ms = 100;
		uint64_t dl = agt_batch_deadline(s->tp.b);
		uint64_t now = ksk_clock_mono(s->clock);
		if (dl != UINT64_MAX)
			wait_ms = dl <= now ? 0 : (int)((dl - now) / 1000000 + 1);
		if (wait_ms > 100)
			wait_ms = 100;
		agt_tail_step(s, wait_ms);
		agt_ml_sweep(s, 0);
		agt_publish(s);
		if (agt_batch_due(s->tp.b) && agt_tail_push(s) == KSK_EBUSY)
			s->tail_full = 1;
		agt_net_tick(s, 0);
		now = ksk_clock_mono(s->clock);
		if (now - s->last_save_ns >= 1000000000ull) {
			/* (not every loop: the spool's lock is held across the
			 * spooler's fsync; the shipper ticks it too) */
			agt_spool_tick(s->spool);
			agt_tail_reclaim(s);
			agt_save_checkpoint(s);
		}
		if (s->metrics && now - s->last_snap_ns >= 1000000000ull) {
			agt_snapshot(s);
			s->last_snap_ns = now;
		}
	}
	agt_publish(s);
	if (s->metrics)
		agt_snapshot(s);
	return NULL;
}

/* Drains the tail side (thread stopped): partial lines, multiline
 * records, the batch go to the spooler, which is waited for; the durable
 * positions are committed and the checkpoint saved. Waits up to `wait_ns`
 * for spool space; batches not spooled by then are dropped (not
 * checkpointed: read again after a restart or by the reloaded tailer). */
static void agt_srv_drain(agt_server *s, uint64_t wait_ns)
{
	uint64_t until = ksk_clock_mono(s->clock) + wait_ns;
	s->wall_age = 0;
	/* one run with partial lines due: it stops at the first batch that
	 * finds no room (what it did not take is read again after a restart:
	 * no checkpoint covers it) */
	if (s->tail) {
		agt_tail_flush(s->tail);
		agt_ml_sweep(s, 1);
	}
	s->tail_full = 0;
	while (agt_tail_push(s) == KSK_EBUSY && ksk_clock_mono(s->clock) < until)
		agt_spooler_wait_room(s->sq, 50000000ull);
	uint64_t now = ksk_clock_mono(s->clock);
	agt_spooler_drain(s->sq, now < until ? until - now : 0);
	agt_tail_reclaim(s);
	s->ckpt_dirty = 1;
	agt_save_checkpoint(s);
}

/* ---- inputs ---------------------------------------------------------------------- */

static void agt_srcs_free(agt_src *srcs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		agt_parser_destroy(srcs[i].parser);
		agt_ml_rule_destroy(srcs[i].ml_rule);
	}
	free(srcs);
}

static ksk_err agt_srcs_make(agt_server *s, const agt_config *cfg, agt_src **out,
                             ksk_errinfo *ei)
{
	agt_src *srcs = calloc(cfg->n_inputs ? cfg->n_inputs : 1, sizeof(*srcs));
	if (!srcs)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "no memory");
	for (uint32_t i = 0; i < cfg->n_inputs; i++) {
		const agt_input_cfg *ic = &cfg->inputs[i];
		agt_src *src = &srcs[i];
		src->cfg = ic;
		uint32_t n = 0;
		src->attrs[n++] = (ksk_attr){KSK_STR("service.name"),
		                             ksk_val_str(ksk_str_c(ic->service ? ic->service
		                                                               : "unknown_service"))};
		src->attrs[n++] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(ksk_str_c(s->host))};
		for (uint32_t k = 0; k < ic->n_attrs; k++)
			src->attrs[n++] = (ksk_attr){ksk_str_c(ic->attrs[k].key),
			                             ksk_val_str(ksk_str_c(ic->attrs[k].value))};
		src->res.attrs = src->attrs;
		src->res.n_attrs = n;
		src->res_hash = agt_batch_res_hash(&src->res);
		if (ic->kind != AGT_INPUT_LOGS)
			continue;
		agt_parser_opts po;
		memset(&po, 0, sizeof(po));
		if (!agt_parser_kind_from_name(ic->parser, &po.kind)) {
			agt_srcs_free(srcs, cfg->n_inputs);
			return ksk_errinfo_set(ei, KSK_EINVAL, "input '%s': unknown parser '%s'", ic->name,
			                       ic->parser);
		}
		po.pattern = ic->regex;
		po.time_format = ic->time_format;
		po.borrow = true; /* each record is packed before the next line */
		ksk_errinfo pe;
		if (agt_parser_create(NULL, &po, &src->parser, &pe) != KSK_OK) {
			agt_srcs_free(srcs, cfg->n_inputs);
			return ksk_errinfo_set(ei, KSK_EINVAL, "input '%s': %s", ic->name, pe.msg);
		}
		if (ic->multiline_start || ic->multiline_continue) {
			agt_ml_opts mo;
			memset(&mo, 0, sizeof(mo));
			mo.start = ic->multiline_start;
			mo.continuation = ic->multiline_start ? NULL : ic->multiline_continue;
			mo.timeout_ns = ic->multiline_timeout_ns;
			if (agt_ml_rule_create(NULL, &mo, &src->ml_rule, &pe) != KSK_OK) {
				agt_srcs_free(srcs, cfg->n_inputs);
				return ksk_errinfo_set(ei, KSK_EINVAL, "input '%s': multiline: %s", ic->name,
				                       pe.msg);
			}
		}
	}
	*out = srcs;
	return KSK_OK;
}

static ksk_err agt_srv_make_tail(agt_server *s, const agt_config *cfg, agt_src *srcs,
                             agt_tail **out, ksk_errinfo *ei)
{
	*out = NULL;
	if (cfg->n_inputs == 0)
		return KSK_OK;
	agt_tail_input *ti = calloc(cfg->n_inputs, sizeof(*ti));
	if (!ti)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "no memory");
	for (uint32_t i = 0; i < cfg->n_inputs; i++) {
		const agt_input_cfg *ic = &cfg->inputs[i];
		ti[i].name = ic->name;
		ti[i].globs = ic->globs;
		ti[i].n_globs = ic->n_globs;
		ti[i].excludes = ic->excludes;
		ti[i].n_excludes = ic->n_excludes;
		ti[i].start = ic->start_at_head ? AGT_TAIL_START_HEAD : AGT_TAIL_START_TAIL;
		ti[i].max_line = ic->max_line;
		ti[i].flush_ms = (uint32_t)(cfg->flush_timeout_ns / 1000000);
		if (ic->rate_lines) {
			ti[i].rate_unit = AGT_TAIL_RATE_LINES;
			ti[i].rate = ic->rate_lines;
		} else if (ic->rate_bytes) {
			ti[i].rate_unit = AGT_TAIL_RATE_BYTES;
			ti[i].rate = ic->rate_bytes;
		}
		ti[i].user = &srcs[i];
	}
	char state[1024];
	snprintf(state, sizeof(state), "%s/tail.state", cfg->spool_dir);
	agt_tail_config tc;
	memset(&tc, 0, sizeof(tc));
	tc.inputs = ti;
	tc.n_inputs = cfg->n_inputs;
	tc.state_path = state;
	tc.on_line = agt_on_line;
	tc.on_line_ctx = s;
	tc.log = agt_log;
	tc.clock = s->clock;
	tc.scan_ms = (uint32_t)(cfg->scan_interval_ns / 1000000);
	ksk_err rc = agt_tail_create(&tc, out, ei);
	free(ti);
	if (rc == KSK_OK && s->n_restore)
		rc = agt_tail_restore(*out, s->restore, s->n_restore);
	if (rc != KSK_OK) {
		agt_tail_destroy(*out);
		*out = NULL;
	}
	return rc;
}

/* Spool replay: every positions blob still in the spool. */
static void agt_on_positions(void *ctx, uint64_t seq, bool done, const uint8_t *pos, size_t len)
{
	(void)seq;
	(void)done;
	agt_server *s = ctx;
	size_t n = len / sizeof(agt_file_pos);
	if (!ksk_grow(ksk_alloc_default(), (void **)&s->restore, &s->cap_restore,
	              s->n_restore + n, sizeof(*s->restore), 64)) {
		s->restore_failed = 1;
		return;
	}
	memcpy(s->restore + s->n_restore, pos, n * sizeof(agt_file_pos));
	s->n_restore += n;
}

/* ---- net side: intake and HTTP receivers ------------------------------------------ */

/* Adds decoded records to the net pipe (caller holds np.mu). */
static ksk_err agt_net_add(agt_server *s, const ksk_resource *res, uint32_t n_res,
                           const ksk_span *spans, uint32_t n_spans, const ksk_log *logs,
                           uint32_t n_logs, uint32_t *rejected)
{
	for (uint32_t pass = 0; pass < 2; pass++) {
		uint32_t n = pass ? n_logs : n_spans;
		for (uint32_t i = 0; i < n; i++) {
			if (s->np.has_pending || agt_batch_full(s->np.b)) {
				ksk_err rc = agt_pipe_spool(s, &s->np);
				if (rc != KSK_OK)
					return rc;
			}
			uint32_t ri = pass ? logs[i].resource : spans[i].resource;
			if (ri >= n_res)
				return KSK_EINVAL;
			ksk_err rc = pass ? agt_batch_add_log(s->np.b, &res[ri], &logs[i])
			                  : agt_batch_add_span(s->np.b, &res[ri], &spans[i]);
			if (rc == KSK_ELIMIT) {
				KSK_TRY(agt_pipe_spool(s, &s->np));
				rc = pass ? agt_batch_add_log(s->np.b, &res[ri], &logs[i])
				          : agt_batch_add_span(s->np.b, &res[ri], &spans[i]);
			}
			if (rc == KSK_EINVAL)
				(*rejected)++;
			else if (rc != KSK_OK)
				return rc;
		}
	}
	return KSK_OK;
}

static ksk_err agt_on_intake(void *ctx, const ksk_batch *b)
{
	agt_server *s = ctx;
	uint32_t rejected = 0;
	pthread_mutex_lock(&s->np.mu);
	ksk_err rc = s->np.has_pending ? agt_pipe_spool(s, &s->np) : KSK_OK;
	if (rc == KSK_OK)
		rc = agt_net_add(s, b->resources, b->n_resources, b->spans, b->n_spans, b->logs,
		                 b->n_logs, &rejected);
	pthread_mutex_unlock(&s->np.mu);
	return rc;
}

static int agt_is_pb(const char *ctype)
{
	return strncmp(ctype, "application/x-protobuf", 22) == 0 ||
	       strncmp(ctype, "application/protobuf", 20) == 0;
}

static void agt_json_error(agt_http_resp *resp, int status, const char *msg)
{
	resp->status = status;
	resp->content_type = "application/json";
	ksk_buf_append(resp->body, "{\"code\":", 8);
	char num[16];
	int n = snprintf(num, sizeof(num), "%d", status == 400 ? 3 : status == 503 ? 14 : 13);
	ksk_buf_append(resp->body, num, (size_t)n);
	ksk_buf_append(resp->body, ",\"message\":\"", 12);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			ksk_buf_append(resp->body, "\\", 1);
		if ((unsigned char)*p >= 0x20)
			ksk_buf_append(resp->body, p, 1);
	}
	ksk_buf_append(resp->body, "\"}", 2);
}

/* OTLP partial success, protobuf: field 1 (rejected count), field 2 (message). */
static void agt_pb_partial(ksk_buf *b, uint64_t rejected, const char *msg)
{
	uint8_t tmp[16];
	size_t n = 0;
	uint8_t inner[1100];
	size_t in = 0;
	inner[in++] = 0x08;
	for (uint64_t v = rejected; n == 0 || v; v >>= 7)
		tmp[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
	memcpy(inner + in, tmp, n);
	in += n;
	size_t ml = strnlen(msg, 1000);
	inner[in++] = 0x12;
	inner[in++] = (uint8_t)(ml & 0x7f) | (ml > 127 ? 0x80 : 0);
	if (ml > 127)
		inner[in++] = (uint8_t)(ml >> 7);
	memcpy(inner + in, msg, ml);
	in += ml;
	uint8_t hdr[4] = {0x0a, (uint8_t)((in & 0x7f) | (in > 127 ? 0x80 : 0)), 0, 0};
	size_t hl = 2;
	if (in > 127)
		hdr[hl++] = (uint8_t)(in >> 7);
	ksk_buf_append(b, hdr, hl);
	ksk_buf_append(b, inner, in);
}

static void agt_on_http(void *ctx, const agt_http_req *req, agt_http_resp *resp)
{
	agt_server *s = ctx;
	atomic_fetch_add(&s->http_requests, 1);
	int zipkin = strcmp(req->path, "/api/v2/spans") == 0;
	int logs = strcmp(req->path, "/v1/logs") == 0;
	int pb = !zipkin && agt_is_pb(req->content_type);
	if (!zipkin && !pb && strncmp(req->content_type, "application/json", 16) != 0) {
		atomic_fetch_add(&s->http_errors, 1);
		agt_json_error(resp, 415, "Content-Type must be application/json or application/x-protobuf");
		return;
	}
	agt_otlp_out out;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	pthread_mutex_lock(&s->np.mu);
	ksk_arena_reset(s->net_scratch);
	uint64_t now = ksk_clock_wall(s->clock);
	ksk_err rc;
	if (zipkin)
		rc = agt_zipkin_json((const char *)req->body, req->len, s->net_scratch, &out, &ei);
	else if (logs)
		rc = pb ? agt_otlp_logs_pb(req->body, req->len, now, s->net_scratch, &out, &ei)
		        : agt_otlp_logs_json((const char *)req->body, req->len, now, s->net_scratch, &out, &ei);
	else
		rc = pb ? agt_otlp_traces_pb(req->body, req->len, s->net_scratch, &out, &ei)
		        : agt_otlp_traces_json((const char *)req->body, req->len, s->net_scratch, &out, &ei);
	uint32_t rejected = 0;
	if (rc == KSK_OK) {
		rc = agt_net_add(s, out.resources, out.n_resources, out.spans, out.n_spans, out.logs,
		                 out.n_logs, &rejected);
		rejected += out.n_rejected;
		if (rc == KSK_OK) {
			atomic_fetch_add(&s->http_spans, out.n_spans);
			atomic_fetch_add(&s->http_logs, out.n_logs);
		}
	}
	pthread_mutex_unlock(&s->np.mu);
	if (rc == KSK_EBUSY) {
		atomic_fetch_add(&s->http_busy, 1);
		agt_json_error(resp, 503, "agent spool full, retry later");
		return;
	}
	if (rc != KSK_OK) {
		atomic_fetch_add(&s->http_errors, 1);
		agt_json_error(resp, rc == KSK_EPARSE || rc == KSK_EINVAL ? 400 : 500,
		               ei.msg[0] ? ei.msg : ksk_strerror(rc));
		return;
	}
	if (zipkin) {
		resp->status = 202;
		return;
	}
	const char *msg = out.n_rejected ? out.reject.msg : "invalid records dropped";
	if (pb) {
		resp->content_type = "application/x-protobuf";
		if (rejected)
			agt_pb_partial(resp->body, rejected, msg);
	} else if (rejected) {
		char buf[1400];
		int n = snprintf(buf, sizeof(buf),
		                 "{\"partialSuccess\":{\"%s\":\"%u\",\"errorMessage\":\"",
		                 logs ? "rejectedLogRecords" : "rejectedSpans", rejected);
		ksk_buf_append(resp->body, buf, (size_t)n);
		for (const char *p = msg; *p; p++) {
			if (*p == '"' || *p == '\\')
				ksk_buf_append(resp->body, "\\", 1);
			if ((unsigned char)*p >= 0x20)
				ksk_buf_append(resp->body, p, 1);
		}
		ksk_buf_append(resp->body, "\"}}", 3);
	} else {
		ksk_buf_append(resp->body, "{}", 2);
	}
}

/* ---- metrics -------------------------------------------------------------------------- */

static void agt_metric_file(void *ctx, const agt_tail_file_stat *f)
{
	ksk_buf *out = ctx;
	uint64_t lag = f->size > f->commit_off ? f->size - f->commit_off : 0;
	ksk_prom_printf(out, "kiseki_agent_file_lag_bytes{path=\"%s\"} %llu\n", f->path,
	                (unsigned long long)lag);
	ksk_prom_printf(out, "kiseki_agent_file_lines_total{path=\"%s\"} %llu\n", f->path,
	                (unsigned long long)f->lines);
	ksk_prom_printf(out, "kiseki_agent_file_bytes_total{path=\"%s\"} %llu\n", f->path,
	                (unsigned long long)f->bytes);
}

/* Tail thread: rebuilds the tail-side metrics text. */
static void agt_snapshot(agt_server *s)
{
	ksk_buf b;
	ksk_buf_init(&b, NULL, 32u << 20);
	uint64_t perr = 0, trunc = 0, badspan = 0, rejspan = 0;
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		perr += s->srcs[i].parse_errors;
		trunc += s->srcs[i].truncated;
		badspan += s->srcs[i].bad_span_lines;
		rejspan += s->srcs[i].rejected_spans;
	}
	ksk_prom_counter(&b, "kiseki_agent_parse_errors_total", "Lines that did not fit their parser (kept as plain text).", perr);
	agt_spooler_stats qs;
	agt_spooler_get_stats(s->sq, &qs);
	ksk_prom_counter(&b, "kiseki_agent_tail_frames_total", "Frames built from tailed files.", qs.frames);
	if (s->tail) {
		agt_tail_counters tc;
		agt_tail_get_counters(s->tail, &tc);
		ksk_prom_counter(&b, "kiseki_agent_tail_rotations_total", "File rotations and deletions seen.", tc.rotations);
		ksk_prom_counter(&b, "kiseki_agent_tail_truncations_total", "Files truncated or copytruncated.", tc.truncations);
		ksk_prom_gauge(&b, "kiseki_agent_tail_files", "Files tracked.", tc.files);
		ksk_prom_printf(&b, "# HELP kiseki_agent_file_lag_bytes File size minus the delivered (spooled) offset.\n"
		                    "# TYPE kiseki_agent_file_lag_bytes gauge\n");
		agt_tail_stat_files(s->tail); /* at most once a second */
		agt_tail_foreach_file(s->tail, agt_metric_file, &b);
	}
	pthread_mutex_lock(&s->snap_mu);
	ksk_buf old = s->snap;
	s->snap = b;
	s->snap_trunc = trunc;
	s->snap_badspan = badspan;
	s->snap_rejspan = rejspan;
	pthread_mutex_unlock(&s->snap_mu);
	ksk_buf_fini(&old);
}

static int agt_render(void *ctx, const char *path, ksk_buf *out)
{
	agt_server *s = ctx;
	agt_ship_stats st;
	agt_ship_get_stats(s->ship, &st);
	if (strcmp(path, "/health") == 0) {
		double lag = (double)st.oldest_unacked_age_ns / 1e9;
		int ok = lag < 60.0;
		ksk_prom_printf(out,
		                "{\"status\":\"%s\",\"delivery_lag_seconds\":%.3f,"
		                "\"frames_pending\":%llu,\"spool_bytes\":%llu,\"spool_max_bytes\":%llu}\n",
		                ok ? "ok" : "lagging", lag, (unsigned long long)st.spool.frames_pending,
		                (unsigned long long)st.spool.bytes, (unsigned long long)st.spool.max_bytes);
		return ok ? 200 : 503;
	}
	ksk_prom_counter(out, "kiseki_agent_frames_sent_total", "Frame sends (first tries and retries).", st.sent_frames);
	ksk_prom_counter(out, "kiseki_agent_frames_acked_total", "Frames acked stored.", st.acked);
	ksk_prom_counter(out, "kiseki_agent_frames_duplicate_total", "Frames acked duplicate (resends).", st.duplicate);
	ksk_prom_counter(out, "kiseki_agent_frames_retried_total", "Failed sends scheduled for retry.", st.retried);
	ksk_prom_counter(out, "kiseki_agent_frames_rejected_total", "Frames rejected by a collector.", st.rejected);
	ksk_prom_counter(out, "kiseki_agent_frames_dead_lettered_total", "Frames moved to the dead-letter folder.", st.dead_lettered);
	ksk_prom_gauge(out, "kiseki_agent_frames_in_flight", "Frames sent and not yet acked.", st.in_flight);
	ksk_prom_gauge(out, "kiseki_agent_spool_bytes", "Bytes in the spool.", st.spool.bytes);
	ksk_prom_gauge(out, "kiseki_agent_spool_frames_pending", "Frames in the spool not yet acked.", st.spool.frames_pending);
	ksk_prom_counter(out, "kiseki_agent_spool_full_total", "Appends refused because the spool was full.", st.spool.full_events);
	ksk_prom_printf(out, "# HELP kiseki_agent_delivery_lag_seconds Age of the oldest unacked frame.\n"
	                     "# TYPE kiseki_agent_delivery_lag_seconds gauge\n"
	                     "kiseki_agent_delivery_lag_seconds %.3f\n",
	                (double)st.oldest_unacked_age_ns / 1e9);
	ksk_prom_printf(out, "# HELP kiseki_agent_dropped_total Records or lines dropped, by reason.\n"
	                     "# TYPE kiseki_agent_dropped_total counter\n");
	ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"log_invalid\"} %llu\n",
	                (unsigned long long)atomic_load(&s->log_lines_dropped));
	pthread_mutex_lock(&s->snap_mu);
	ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"line_truncated\"} %llu\n",
	                (unsigned long long)s->snap_trunc);
	ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"span_line_undecodable\"} %llu\n",
	                (unsigned long long)s->snap_badspan);
	ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"span_invalid\"} %llu\n",
	                (unsigned long long)s->snap_rejspan);
	pthread_mutex_unlock(&s->snap_mu);
	if (s->intake) {
		agt_intake_stats is;
		agt_intake_stats_get(s->intake, &is);
		uint64_t bad = 0;
		for (int c = 0; c < KSK_ERR_COUNT_; c++)
			bad += is.rejected_by_code[c];
		ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"intake_spool_full\"} %llu\n",
		                (unsigned long long)is.dropped_busy);
		ksk_prom_printf(out, "kiseki_agent_dropped_total{reason=\"intake_bad_frame\"} %llu\n",
		                (unsigned long long)bad);
		ksk_prom_counter(out, "kiseki_agent_intake_spans_total", "Spans received on the native intake.", is.spans);
	}

	ksk_prom_counter(out, "kiseki_agent_lines_total", "Lines read from tailed files.", atomic_load(&s->pub_lines));
	ksk_prom_counter(out, "kiseki_agent_records_total", "Records made from tailed files.", atomic_load(&s->pub_records));
	pthread_mutex_lock(&s->snap_mu);
	if (s->snap.len)
		ksk_buf_append(out, s->snap.data, s->snap.len);
	pthread_mutex_unlock(&s->snap_mu);
	ksk_prom_counter(out, "kiseki_agent_http_requests_total", "OTLP/HTTP and Zipkin requests.", atomic_load(&s->http_requests));
	ksk_prom_counter(out, "kiseki_agent_http_errors_total", "OTLP/HTTP and Zipkin requests refused as bad.", atomic_load(&s->http_errors));
	ksk_prom_counter(out, "kiseki_agent_http_busy_total", "OTLP/HTTP and Zipkin requests answered 503 (spool full).", atomic_load(&s->http_busy));
	ksk_prom_counter(out, "kiseki_agent_http_spans_total", "Spans received over OTLP/HTTP and Zipkin.", atomic_load(&s->http_spans));
	ksk_prom_counter(out, "kiseki_agent_http_logs_total", "Logs received over OTLP/HTTP.", atomic_load(&s->http_logs));
	return 200;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static ksk_err agt_thread_start(agt_server *s, ksk_errinfo *ei)
{
	atomic_store(&s->stop, 0);
	if (pthread_create(&s->thread, NULL, agt_srv_tail_main, s) != 0)
		return ksk_errinfo_set(ei, KSK_ESYS, "cannot start the tail thread");
	s->thread_running = 1;
	return KSK_OK;
}

static void agt_thread_stop(agt_server *s)
{
	if (!s->thread_running)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	s->thread_running = 0;
}

static void agt_mls_free(agt_server *s)
{
	for (uint32_t i = 0; i < s->n_mls; i++)
		agt_ml_destroy(s->mls[i].ml);
	free(s->mls);
	s->mls = NULL;
	s->n_mls = s->cap_mls = 0;
}

ksk_err agt_server_start(const agt_config *cfg, agt_server **out, ksk_errinfo *ei)
{
	agt_server *s = calloc(1, sizeof(*s));
	if (!s)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "no memory");
	s->cfg = cfg;
	s->clock = ksk_clock_system();
	if (cfg->host)
		snprintf(s->host, sizeof(s->host), "%s", cfg->host);
	else if (gethostname(s->host, sizeof(s->host) - 1) != 0)
		snprintf(s->host, sizeof(s->host), "unknown");
	pthread_mutex_init(&s->snap_mu, NULL);
	ksk_buf_init(&s->snap, NULL, 32u << 20);
	s->net_attrs[0] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(ksk_str_c(s->host))};
	s->net_res.attrs = s->net_attrs;
	s->net_res.n_attrs = 1;
	ksk_err rc = agt_pipe_init(&s->tp, cfg, s->clock, 1);
	if (rc == KSK_OK)
		rc = agt_pipe_init(&s->np, cfg, s->clock, 0);
	if (rc == KSK_OK)
		rc = ksk_arena_create(NULL, 1 << 16, 256u << 20, &s->scratch);
	if (rc == KSK_OK)
		rc = ksk_arena_create(NULL, 1 << 16, 512u << 20, &s->net_scratch);
	if (rc != KSK_OK) {
		agt_server_stop(s, 0);
		return ksk_errinfo_set(ei, rc, "no memory");
	}
	agt_spool_opts so;
	agt_spool_opts_default(&so);
	so.dir = cfg->spool_dir;
	so.max_bytes = cfg->spool_max;
	so.log = agt_log;
	rc = agt_spool_open(&so, agt_on_positions, s, &s->spool, ei);
	if (rc == KSK_OK) {
		agt_spooler_opts qo;
		memset(&qo, 0, sizeof(qo));
		qo.spool = s->spool;
		/* one slot more per compressor past the first, so every
		 * compressor can have one while the tail thread fills the next */
		qo.slots = AGT_SPOOLER_SLOTS + cfg->compress_threads - (cfg->compress_threads > 0);
		qo.compressors = cfg->compress_threads;
		qo.pos_size = sizeof(agt_file_pos);
		qo.clock = s->clock;
		qo.log = agt_log;
		rc = agt_spooler_start(&qo, &s->sq, ei);
	}
	if (rc == KSK_OK) {
		agt_ship_opts ho;
		agt_ship_opts_default(&ho);
		ho.collectors = cfg->collectors;
		ho.n_collectors = cfg->n_collectors;
		ho.log = agt_log;
		rc = agt_ship_start(&ho, s->spool, &s->ship, ei);
	}
	if (rc == KSK_OK && s->restore_failed)
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "no memory for the spool's positions");
	if (rc == KSK_OK)
		rc = agt_srcs_make(s, cfg, &s->srcs, ei);
	if (rc == KSK_OK) {
		s->n_srcs = cfg->n_inputs;
		rc = agt_srv_make_tail(s, cfg, s->srcs, &s->tail, ei);
	}
	if (rc == KSK_OK) {
		if (cfg->intake)
			snprintf(s->intake_url, sizeof(s->intake_url), "%s", cfg->intake);
		else
			snprintf(s->intake_url, sizeof(s->intake_url), "ipc://%s/intake.sock", cfg->spool_dir);
		agt_intake_opts io = {.url = s->intake_url, .on_batch = agt_on_intake, .ctx = s};
		rc = agt_intake_start(&io, &s->intake, ei);
	}
	static const char *const otlp_paths[] = {"/v1/traces", "/v1/logs", NULL};
	static const char *const zipkin_paths[] = {"/api/v2/spans", NULL};
	if (rc == KSK_OK && cfg->otlp_listen && strcmp(cfg->otlp_listen, "off") != 0) {
		agt_http_opts ho = {.hostport = cfg->otlp_listen, .paths = otlp_paths,
		                    .handle = agt_on_http, .ctx = s, .what = "otlp"};
		rc = agt_http_start(&ho, &s->otlp, ei);
	}
	if (rc == KSK_OK && cfg->zipkin_listen && strcmp(cfg->zipkin_listen, "off") != 0) {
		agt_http_opts ho = {.hostport = cfg->zipkin_listen, .paths = zipkin_paths,
		                    .handle = agt_on_http, .ctx = s, .what = "zipkin"};
		rc = agt_http_start(&ho, &s->zipkin, ei);
	}
	if (rc == KSK_OK && cfg->metrics_listen)
		rc = ksk_httpd_start(cfg->metrics_listen, agt_render, s, &s->metrics, ei);
	if (rc == KSK_OK) {
		/* the restored positions go into the state file now, so the
		 * spool may delete what was acked before the restart */
		s->last_spooled_seq = agt_spool_last_seq(s->spool);
		if (s->tail) {
			s->ckpt_dirty = 1;
			agt_save_checkpoint(s);
		} else {
			agt_spool_checkpoint_saved(s->spool, s->last_spooled_seq);
		}
		s->last_save_ns = ksk_clock_mono(s->clock);
		/* watches in place before the ready line: a file created and
		 * rotated away right after it is still followed */
		if (s->tail)
			(void)agt_tail_prime(s->tail);
		rc = agt_thread_start(s, ei);
	}
	if (rc != KSK_OK) {
		agt_server_stop(s, 0);
		return rc;
	}
	*out = s;
	return KSK_OK;
}

const char *agt_server_intake_url(const agt_server *s)
{
	return agt_intake_url(s->intake);
}

uint16_t agt_server_otlp_port(const agt_server *s)
{
	return s->otlp ? agt_http_port(s->otlp) : 0;
}

uint16_t agt_server_zipkin_port(const agt_server *s)
{
	return s->zipkin ? agt_http_port(s->zipkin) : 0;
}

uint16_t agt_server_metrics_port(const agt_server *s)
{
	return s->metrics ? ksk_httpd_port(s->metrics) : 0;
}

ksk_err agt_server_reload(agt_server *s, const agt_config *cfg, ksk_errinfo *ei)
{
	agt_src *srcs = NULL;
	KSK_TRY(agt_srcs_make(s, cfg, &srcs, ei));
	agt_thread_stop(s);
	agt_srv_drain(s, 10000000000ull);
	/* what could not be spooled in time is not checkpointed: the new
	 * tailer reads it again from the files, so drop it here */
	agt_taken left;
	(void)agt_batch_take(s->tp.b, &left);
	agt_tail *nt = NULL;
	/* positions now live in the saved state file; no spool replay needed */
	s->n_restore = 0;
	ksk_err rc = agt_srv_make_tail(s, cfg, srcs, &nt, ei);
	if (rc != KSK_OK) {
		agt_srcs_free(srcs, cfg->n_inputs);
		agt_thread_start(s, NULL);
		return rc;
	}
	agt_tail_destroy(s->tail);
	agt_mls_free(s);
	agt_srcs_free(s->srcs, s->n_srcs);
	s->tail = nt;
	s->srcs = srcs;
	s->n_srcs = cfg->n_inputs;
	s->cfg = cfg;
	if (s->tail)
		(void)agt_tail_prime(s->tail);
	return agt_thread_start(s, ei);
}

void agt_server_stop(agt_server *s, uint64_t flush_ns)
{
	if (!s)
		return;
	/* no new input */
	agt_http_stop(s->otlp);
	agt_http_stop(s->zipkin);
	agt_intake_stop(s->intake);
	s->otlp = s->zipkin = NULL;
	s->intake = NULL;
	agt_thread_stop(s);
	/* everything read goes to the spool, then the checkpoint is saved */
	if (s->spool && s->sq)
		agt_srv_drain(s, flush_ns);
	agt_spooler_stop(s->sq);
	s->sq = NULL;
	if (s->spool) {
		pthread_mutex_lock(&s->np.mu);
		agt_pipe_spool(s, &s->np);
		pthread_mutex_unlock(&s->np.mu);
	}
	agt_ship_stop(s->ship, flush_ns);
	ksk_httpd_stop(s->metrics);
	agt_tail_destroy(s->tail);
	agt_mls_free(s);
	agt_srcs_free(s->srcs, s->n_srcs);
	agt_spool_close(s->spool);
	agt_pipe_fini(&s->tp);
	agt_pipe_fini(&s->np);
	ksk_arena_destroy(s->scratch);
	ksk_arena_destroy(s->net_scratch);
	free(s->restore);
	ksk_buf_fini(&s->snap);
	pthread_mutex_destroy(&s->snap_mu);
	free(s);
}
