/*
 * trc_export.c : the exporter thread and its sinks (trc_int.h).
 *
 * Data in: ended spans in the per-thread rings (raw clock ticks, pointers
 * to static names and keys, copied string values). Data out:
 *  - agent: batch frames (kiseki/frame.h around a kiseki/wire.h payload:
 *    one resource record, then spans), agent ID = 16 random bytes per
 *    process, sequence number +1 per frame, pushed to the agent's --intake
 *    (docs/WIRE.md section 4) with a non-blocking NNG send, or with the
 *    built-in SP client (trc_sp.c) when asked or in a forked child;
 *  - file: OTLP JSON lines (trc_otlp.c), at most file_max_line bytes each,
 *    appended with write(2) of whole lines (O_APPEND: lines of processes
 *    sharing the file never interleave); the path is opened again when it
 *    no longer names the open file (rename rotation);
 *  - callback: the converted spans, per chunk.
 *
 * Cycle (every flush_interval_ms, 1 ms while a ring was found half full,
 * at once on ksk_trace_flush()): refresh the TSC calibration, drain each
 * ring in chunks of TRC_CHUNK slots (convert to ksk_span, hand to every
 * sink, then release the slots), free the rings of exited threads once
 * drained, seal the open frame and write the pending lines.
 * Nothing blocks on the agent: a frame the agent cannot take right away is
 * dropped and its spans counted (agent_spans_dropped). The final cycle at
 * shutdown is the exception: it waits up to shutdown_timeout_ms for the
 * agent to take the last frames.
 * The exporter holds ex_mu for a whole cycle, so a fork (whose prepare
 * handler takes ex_mu) never copies a half-done cycle.
 */
#include "trc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/protocol/pipeline0/push.h>

#define TRC_JSON_WRITE_AT (256u << 10) /* write pending lines past this */

static uint64_t trc_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void trc_sleep_ms(uint32_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void trc_add(uint64_t *c, uint64_t n)
{
	if (n)
		__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/* ---- resource ------------------------------------------------------------------ */

static ksk_str trc_adup(ksk_arena *a, const char *s, size_t n)
{
	char *p = ksk_arena_memdup(a, s ? s : "", s ? n : 0);
	return (ksk_str){p, p ? (uint32_t)n : 0};
}

static bool trc_has_key(const ksk_attr *a, uint32_t n, const char *key)
{
	return ksk_attrs_find(a, n, ksk_str_c(key)) != NULL;
}

ksk_err trc_export_resource(trc_tracer *tr, const ksk_trace_opts *o, ksk_errinfo *ei)
{
	for (uint32_t i = 0; i < o->n_resource; i++) {
		const ksk_attr *a = &o->resource[i];
		ksk_val_type t = a->value.type;
		if (!a->key.len || (t != KSK_VAL_STR && t != KSK_VAL_INT &&
		                    t != KSK_VAL_DOUBLE && t != KSK_VAL_BOOL))
			return ksk_errinfo_set(ei, KSK_EINVAL,
			                       "trace: resource attribute %u: want a key and a "
			                       "string, int, double or bool value", i);
	}
	if (o->n_resource > 64)
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: more than 64 resource attributes");
	if (ksk_arena_create(tr->alloc, 0, 0, &tr->res_arena) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	ksk_arena *ar = tr->res_arena;
	uint32_t cap = o->n_resource + 6;
	ksk_attr *at = ksk_arena_calloc(ar, cap, sizeof(*at));
	if (!at)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	uint32_t n = 0;
	const char *svc = o->service_name;
	if (!svc || !*svc)
		svc = getenv("OTEL_SERVICE_NAME");
	bool user_svc = trc_has_key(o->resource, o->n_resource, "service.name");
	if ((svc && *svc) || !user_svc) {
		if (!svc || !*svc)
			svc = "unknown_service";
		at[n].key = KSK_STR("service.name");
		at[n++].value = ksk_val_str(trc_adup(ar, svc, strlen(svc)));
	}
	for (uint32_t i = 0; i < o->n_resource; i++) {
		const ksk_attr *a = &o->resource[i];
		if (svc && *svc && ksk_str_eq(a->key, KSK_STR("service.name")))
			continue;
		at[n].key = trc_adup(ar, a->key.ptr, a->key.len);
		at[n].value = a->value;
		if (a->value.type == KSK_VAL_STR)
			at[n].value.u.s = trc_adup(ar, a->value.u.s.ptr, a->value.u.s.len);
		n++;
	}
	char host[256];
	if (!trc_has_key(o->resource, o->n_resource, "host.name") &&
	    gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		at[n].key = KSK_STR("host.name");
		at[n++].value = ksk_val_str(trc_adup(ar, host, strlen(host)));
	}
	tr->pid_attr = -1;
	if (!trc_has_key(o->resource, o->n_resource, "process.pid")) {
		tr->pid_attr = (int)n;
		at[n].key = KSK_STR("process.pid");
		at[n++].value = ksk_val_int((int64_t)getpid());
	}
	if (!trc_has_key(o->resource, o->n_resource, "telemetry.sdk.name")) {
		at[n].key = KSK_STR("telemetry.sdk.name");
		at[n++].value = ksk_val_str(KSK_STR("kiseki-trace"));
		at[n].key = KSK_STR("telemetry.sdk.language");
		at[n++].value = ksk_val_str(KSK_STR("c"));
		at[n].key = KSK_STR("telemetry.sdk.version");
		at[n++].value = ksk_val_str(KSK_STR(KSK_TRACE_VERSION));
	}
	for (uint32_t i = 0; i < n; i++)
		if (!at[i].key.ptr || (at[i].value.type == KSK_VAL_STR && !at[i].value.u.s.ptr))
			return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	tr->res_attrs = at;
	tr->n_res_attrs = n;
	memset(&tr->resource, 0, sizeof(tr->resource));
	tr->resource.attrs = at;
	tr->resource.n_attrs = n;
	tr->resource.service = at[0].value.type == KSK_VAL_STR ? at[0].value.u.s : (ksk_str){0};
	const char *sn = o->scope_name ? o->scope_name : "kiseki-trace";
	const char *sv = o->scope_version ? o->scope_version : KSK_TRACE_VERSION;
	tr->scope_name = trc_adup(ar, sn, strlen(sn));
	tr->scope_version = trc_adup(ar, sv, strlen(sv));
	if (!tr->scope_name.ptr || !tr->scope_version.ptr)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	return KSK_OK;
}

/* ---- setup / teardown ----------------------------------------------------------- */

static ksk_err trc_nng_open(trc_tracer *tr, ksk_errinfo *ei)
{
	int rv = nng_push0_open(&tr->nng_sock);
	if (rv != 0)
		return ksk_errinfo_set(ei, KSK_ENET, "trace: nng push socket: %s", nng_strerror(rv));
	tr->nng_open = true;
	nng_socket_set_ms(tr->nng_sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(tr->nng_sock, NNG_OPT_RECONNMAXT, 5000);
	/* no send buffer: with the agent away a send fails at once (counted),
	 * instead of queueing frames that a shutdown would lose uncounted */
	rv = nng_dial(tr->nng_sock, tr->agent_url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		return ksk_errinfo_set(ei, KSK_ENET, "trace: dial %s: %s", tr->agent_url,
		                       nng_strerror(rv));
	return KSK_OK;
}

ksk_err trc_export_setup(trc_tracer *tr, const ksk_trace_opts *o, ksk_errinfo *ei)
{
	trc_rng_bytes(tr, tr->agent_id, KSK_AGENT_ID_LEN);
	tr->cv_spans = ksk_calloc(tr->alloc, TRC_CHUNK, sizeof(ksk_span));
	tr->cv_attrs = ksk_calloc(tr->alloc, (size_t)TRC_CHUNK * KSK_TRACE_MAX_ATTRS,
	                          sizeof(ksk_attr));
	tr->cv_events = ksk_calloc(tr->alloc, (size_t)TRC_CHUNK * KSK_TRACE_MAX_EVENTS,
	                           sizeof(ksk_event));
	if (!tr->cv_spans || !tr->cv_attrs || !tr->cv_events)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	tr->on_export = o->on_export;
	tr->on_export_ctx = o->on_export_ctx;

	/* agent */
	const char *url = o->agent_url;
	if (!url)
		url = getenv("KISEKI_TRACE_AGENT");
	if (!url)
		url = KSK_TRACE_DEFAULT_AGENT;
	if (*url && strcmp(url, "off") != 0) {
		ksk_str u = trc_adup(tr->res_arena, url, strlen(url));
		if (!u.ptr)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
		tr->agent_url = u.ptr;
		tr->use_builtin = o->agent_builtin;
		tr->max_frame = o->max_frame_bytes ? o->max_frame_bytes : (1u << 20);
		if (ksk_wire_enc_create(tr->alloc, NULL, tr->max_frame, &tr->we) != KSK_OK ||
		    ksk_frame_enc_create(tr->alloc, 1, &tr->fe) != KSK_OK)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
		if (tr->use_builtin)
			KSK_TRY(trc_sp_create(tr->alloc, tr->agent_url, &tr->sp, ei));
		else
			KSK_TRY(trc_nng_open(tr, ei));
	}

	/* file */
	const char *path = o->file_path;
	if (!path)
		path = getenv("KISEKI_TRACE_FILE");
	tr->file_fd = -1;
	ksk_buf_init(&tr->json, tr->alloc, 0);
	tr->file_max_line = o->file_max_line ? o->file_max_line : 65536;
	if (tr->file_max_line < 4096)
		return ksk_errinfo_set(ei, KSK_EINVAL, "trace: file_max_line %zu under 4096",
		                       tr->file_max_line);
	if (path && *path) {
		ksk_str pc = trc_adup(tr->res_arena, path, strlen(path));
		if (!pc.ptr)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
		tr->file_path = pc.ptr;
		tr->file_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (tr->file_fd < 0)
			return ksk_errinfo_sys(ei, KSK_EIO, errno, "trace: open %s", path);
	}
	return KSK_OK;
}

void trc_export_teardown(trc_tracer *tr)
{
	if (tr->nng_open)
		nng_close(tr->nng_sock);
	tr->nng_open = false;
	trc_sp_destroy(tr->sp);
	tr->sp = NULL;
	ksk_wire_enc_destroy(tr->we);
	ksk_frame_enc_destroy(tr->fe);
	tr->we = NULL;
	tr->fe = NULL;
	if (tr->file_fd >= 0)
		close(tr->file_fd);
	tr->file_fd = -1;
	ksk_buf_fini(&tr->json);
	ksk_free(tr->alloc, tr->cv_spans);
	ksk_free(tr->alloc, tr->cv_attrs);
	ksk_free(tr->alloc, tr->cv_events);
	tr->cv_spans = NULL;
	tr->cv_attrs = NULL;
	tr->cv_events = NULL;
	ksk_arena_destroy(tr->res_arena);
	tr->res_arena = NULL;
}

/* ---- conversion ------------------------------------------------------------------ */

static void trc_conv_attr(const ksk_trace_span *slot, const ksk_trace_attr_ *a, ksk_attr *out)
{
	out->key = (ksk_str){a->key, a->key_len};
	switch (a->type) {
	case KSK_VAL_STR:
		out->value = ksk_val_str((ksk_str){slot->str_ + a->s_off, a->s_len});
		break;
	case KSK_TRACE_VAL_STATIC_:
		out->value = ksk_val_str((ksk_str){a->v.p, a->s_len});
		break;
	case KSK_VAL_INT:
		out->value = ksk_val_int(a->v.i);
		break;
	case KSK_VAL_DOUBLE:
		out->value = ksk_val_double(a->v.d);
		break;
	default:
		out->value = ksk_val_bool(a->v.b);
		break;
	}
}

static void trc_convert(const trc_tracer *tr, const ksk_trace_span *slot, ksk_span *s,
                        ksk_attr *attrs, ksk_event *events)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->trace_id, slot->trace_id, KSK_TRACE_ID_LEN);
	memcpy(s->span_id, slot->span_id, KSK_SPAN_ID_LEN);
	memcpy(s->parent_id, slot->parent_id, KSK_SPAN_ID_LEN);
	s->has_parent = !ksk_id_is_zero(slot->parent_id, KSK_SPAN_ID_LEN);
	const ksk_trace_site *site = slot->site_;
	s->name = (ksk_str){site->name, site->name ? site->name_len : 0};
	s->kind = (unsigned)site->kind <= KSK_KIND_CONSUMER ? site->kind : KSK_KIND_INTERNAL;
	s->start_ns = trc_ticks_to_ns(tr, slot->start_);
	s->end_ns = trc_ticks_to_ns(tr, slot->end_);
	if (s->end_ns < s->start_ns)
		s->end_ns = s->start_ns;
	s->status = (ksk_status_code)slot->status_;
	if (slot->status_len_)
		s->status_msg = (ksk_str){slot->str_ + slot->status_off_, slot->status_len_};
	if (slot->tracestate_len_)
		s->trace_state = (ksk_str){slot->str_ + slot->ts_off_, slot->tracestate_len_};
	s->flags = slot->flags;
	s->scope_name = tr->scope_name;
	s->scope_version = tr->scope_version;
	uint32_t k = 0;
	for (uint32_t i = 0; i < slot->n_attrs_; i++)
		if (slot->attrs_[i].owner == 0)
			trc_conv_attr(slot, &slot->attrs_[i], &attrs[k++]);
	s->attrs = attrs;
	s->n_attrs = k;
	for (uint32_t e = 0; e < slot->n_events_; e++) {
		ksk_event *ev = &events[e];
		memset(ev, 0, sizeof(*ev));
		ev->time_ns = trc_ticks_to_ns(tr, slot->events_[e].ticks);
		ev->name = (ksk_str){slot->events_[e].name, slot->events_[e].name_len};
		ev->attrs = &attrs[k];
		for (uint32_t i = 0; i < slot->n_attrs_; i++)
			if (slot->attrs_[i].owner == e + 1)
				trc_conv_attr(slot, &slot->attrs_[i], &attrs[k++]);
		ev->n_attrs = (uint32_t)(&attrs[k] - ev->attrs);
	}
	s->events = events;
	s->n_events = slot->n_events_;
	s->dropped_attrs = slot->dropped_attrs_;
	s->dropped_events = slot->dropped_events_;
	s->resource = 0;
}

/* ---- agent sink ------------------------------------------------------------------ */

/* Hands one frame to the agent. In the final cycle, waits up to the
 * deadline (ms on the monotonic clock, 0 = do not wait). */
static bool trc_agent_deliver(trc_tracer *tr, const uint8_t *f, size_t n, uint32_t spans,
                              uint64_t deadline)
{
	if (tr->sp) {
		uint64_t now = trc_mono_ms();
		uint32_t wait = deadline > now ? (uint32_t)(deadline - now) : 0;
		if (!deadline)
			wait = 200; /* a handshake is quick; an absent agent costs
			             * at most this per cycle */
		if (!trc_sp_pump(tr->sp, wait))
			return false;
		return trc_sp_send(tr->sp, f, n, spans) == KSK_OK;
	}
	if (!tr->nng_open)
		return false;
	for (int tries = 0;; tries++) {
		int rv = nng_send(tr->nng_sock, (void *)f, n, NNG_FLAG_NONBLOCK);
		if (rv == 0)
			return true;
		if (rv != NNG_EAGAIN)
			return false;
		/* the previous frame may still be on its way down the pipe, or
		 * the pipe reconnecting: a grace of about 100 ms, then drop */
		if (deadline ? trc_mono_ms() >= deadline : tries >= 100)
			return false;
		trc_sleep_ms(1);
	}
}

static void trc_agent_seal(trc_tracer *tr, uint64_t deadline)
{
	if (!tr->frame_spans)
		return;
	uint32_t spans = tr->frame_spans;
	size_t len;
	const uint8_t *payload = ksk_wire_enc_data(tr->we, &len);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	memcpy(m.agent_id, tr->agent_id, KSK_AGENT_ID_LEN);
	m.seq = ++tr->seq;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	m.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	m.record_count = ksk_wire_enc_count(tr->we);
	m.compress = true;
	m.restore = ksk_wire_enc_restore(tr->we);
	const uint8_t *f;
	size_t flen;
	ksk_errinfo ei;
	bool ok = ksk_frame_encode(tr->fe, &m, payload, len, &f, &flen, &ei) == KSK_OK &&
	          trc_agent_deliver(tr, f, flen, spans, deadline);
	if (ok) {
		trc_add(&tr->st_frames, 1);
		trc_add(&tr->st_agent_sent, spans);
	} else {
		trc_add(&tr->st_agent_drop, spans);
	}
	ksk_wire_enc_reset(tr->we);
	tr->frame_spans = 0;
}

static void trc_agent_add(trc_tracer *tr, const ksk_span *s, uint64_t deadline)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (ksk_wire_enc_count(tr->we) == 0) {
			uint32_t idx;
			if (ksk_wire_enc_resource(tr->we, &tr->resource, &idx) != KSK_OK) {
				trc_add(&tr->st_encode, 1);
				return;
			}
		}
		ksk_err rc = ksk_wire_enc_span(tr->we, s);
		if (rc == KSK_OK) {
			tr->frame_spans++;
			return;
		}
		if (rc != KSK_ELIMIT || tr->frame_spans == 0)
			break;
		trc_agent_seal(tr, deadline); /* payload full: send it, retry */
	}
	trc_add(&tr->st_encode, 1);
}

/* ---- file sink ------------------------------------------------------------------- */

/* Rename rotation: when the path no longer names the open file, open the
 * path again (a failed open keeps the old descriptor). */
static void trc_file_follow(trc_tracer *tr)
{
	struct stat a, b;
	if (stat(tr->file_path, &a) == 0 && fstat(tr->file_fd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return;
	int fd = open(tr->file_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(tr->file_fd);
		tr->file_fd = fd;
	}
}

static void trc_file_write(trc_tracer *tr)
{
	if (tr->json_line_spans) {
		trc_json_end(&tr->json);
		tr->json_line_spans = 0;
	}
	if (tr->json.err != KSK_OK) {
		trc_add(&tr->st_file_drop, tr->json_spans);
	} else if (tr->json.len) {
		trc_file_follow(tr);
		size_t off = 0;
		while (off < tr->json.len) {
			ssize_t w = write(tr->file_fd, tr->json.data + off, tr->json.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (off == tr->json.len)
			trc_add(&tr->st_file_written, tr->json_spans);
		else
			trc_add(&tr->st_file_drop, tr->json_spans);
	}
	ksk_buf_clear(&tr->json);
	tr->json_spans = 0;
}

static void trc_file_add(trc_tracer *tr, const ksk_span *s)
{
	ksk_buf *b = &tr->json;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (tr->json_line_spans == 0) {
			tr->json_line_start = b->len;
			trc_json_begin(b, &tr->resource, tr->scope_name, tr->scope_version);
		}
		size_t mark = b->len;
		trc_json_span(b, s, tr->json_line_spans == 0);
		/* "]}]}]}\n" closes the line: 7 bytes */
		if (b->len - tr->json_line_start + 7 <= tr->file_max_line || b->err != KSK_OK) {
			tr->json_line_spans++;
			tr->json_spans++;
			return;
		}
		b->len = mark;
		if (tr->json_line_spans == 0) {
			/* alone over the cap (cannot happen with the span limits) */
			b->len = tr->json_line_start;
			trc_add(&tr->st_file_drop, 1);
			return;
		}
		trc_json_end(b);
		tr->json_line_spans = 0;
	}
}

/* ---- the cycle ------------------------------------------------------------------- */

static void trc_sinks(trc_tracer *tr, uint32_t n, uint64_t deadline)
{
	if (tr->on_export)
		tr->on_export(tr->on_export_ctx, &tr->resource, tr->cv_spans, n);
	for (uint32_t i = 0; i < n; i++) {
		if (tr->we)
			trc_agent_add(tr, &tr->cv_spans[i], deadline);
		if (tr->file_fd >= 0)
			trc_file_add(tr, &tr->cv_spans[i]);
	}
	if (tr->file_fd >= 0 && tr->json.len >= TRC_JSON_WRITE_AT)
		trc_file_write(tr);
	trc_add(&tr->st_exported, n);
}

/* Drains one ring; true when it was at least half full. */
static bool trc_drain(trc_tracer *tr, trc_ring *r, uint64_t deadline)
{
	uint64_t t = r->tail;
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	bool busy = h - t >= r->cap / 2;
	while (t < h) {
		uint32_t n = h - t > TRC_CHUNK ? TRC_CHUNK : (uint32_t)(h - t);
		for (uint32_t i = 0; i < n; i++)
			trc_convert(tr, &r->slots[(t + i) & r->mask], &tr->cv_spans[i],
			            &tr->cv_attrs[(size_t)i * KSK_TRACE_MAX_ATTRS],
			            &tr->cv_events[(size_t)i * KSK_TRACE_MAX_EVENTS]);
		trc_sinks(tr, n, deadline);
		t += n;
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	}
	return busy;
}

static bool trc_cycle(trc_tracer *tr, bool final)
{
	uint64_t deadline = final ? trc_mono_ms() + tr->shutdown_ms : 0;
	trc_calibrate(tr);
	if (tr->sp)
		trc_add(&tr->st_agent_drop, trc_sp_take_lost(tr->sp));
	bool busy = false;
	for (trc_ring *r = __atomic_load_n(&tr->rings, __ATOMIC_ACQUIRE); r; r = r->next) {
		bool dead = __atomic_load_n(&r->dead, __ATOMIC_ACQUIRE) != 0;
		busy |= trc_drain(tr, r, deadline);
		if (dead) /* drained after its thread's last span: free below */
			__atomic_store_n(&r->dead, 2, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&tr->reg_mu);
	for (trc_ring **pp = &tr->rings; *pp;) {
		trc_ring *r = *pp;
		if (__atomic_load_n(&r->dead, __ATOMIC_RELAXED) == 2) {
			*pp = r->next;
			tr->dead_dropped += __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
			tr->n_rings--;
			ksk_free(tr->alloc, r->raw);
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&tr->reg_mu);
	if (tr->we)
		trc_agent_seal(tr, deadline);
	if (tr->file_fd >= 0)
		trc_file_write(tr);
	if (final && tr->sp) {
		/* let the last frame be written whole */
		while (!trc_sp_idle(tr->sp) && trc_mono_ms() < deadline)
			trc_sp_pump(tr->sp, (uint32_t)(deadline - trc_mono_ms()));
		trc_add(&tr->st_agent_drop, trc_sp_take_lost(tr->sp));
	} else if (final && tr->nng_open && tr->st_frames) {
		/* NNG has no linger: give the pipe time to write the last frame */
		uint64_t now = trc_mono_ms();
		trc_sleep_ms(deadline > now + 100 ? 100 : (uint32_t)(deadline > now ? deadline - now : 0));
	} else if (!final && tr->sp && !trc_sp_idle(tr->sp)) {
		trc_sp_pump(tr->sp, 0);
	}
	return busy;
}

static void *trc_export_main(void *arg)
{
	trc_tracer *tr = arg;
	pthread_setname_np(pthread_self(), "ksk-trace"); /* top -H, /proc */
	pthread_mutex_lock(&tr->ex_mu);
	bool busy = false;
	for (;;) {
		if (!tr->stop && tr->flush_req == tr->flush_done) {
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			uint64_t ms = busy ? 1 : tr->interval_ms;
			dl.tv_sec += (time_t)(ms / 1000);
			dl.tv_nsec += (long)(ms % 1000) * 1000000L;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
			while (!tr->stop && tr->flush_req == tr->flush_done)
				if (pthread_cond_timedwait(&tr->ex_cv, &tr->ex_mu, &dl) == ETIMEDOUT)
					break;
		}
		bool final = tr->stop;
		uint64_t req = tr->flush_req;
		busy = trc_cycle(tr, final);
		tr->flush_done = req;
		pthread_cond_broadcast(&tr->done_cv);
		if (final)
			break;
	}
	pthread_mutex_unlock(&tr->ex_mu);
	return NULL;
}

ksk_err trc_export_start(trc_tracer *tr, ksk_errinfo *ei)
{
	if (pthread_create(&tr->ex_thread, NULL, trc_export_main, tr) != 0) {
		tr->ex_running = false;
		return ksk_errinfo_set(ei, KSK_ESYS, "trace: cannot start the exporter thread");
	}
	tr->ex_running = true;
	return KSK_OK;
}

void trc_export_stop(trc_tracer *tr)
{
	pthread_mutex_lock(&tr->ex_mu);
	tr->stop = true;
	pthread_cond_signal(&tr->ex_cv);
	pthread_mutex_unlock(&tr->ex_mu);
	if (tr->ex_running) {
		pthread_join(tr->ex_thread, NULL);
		tr->ex_running = false;
	} else {
		pthread_mutex_lock(&tr->ex_mu);
		trc_cycle(tr, true);
		pthread_mutex_unlock(&tr->ex_mu);
	}
}

void trc_export_forked(trc_tracer *tr)
{
	/* the parent's state: its frames, lines and connection are its own */
	if (tr->we)
		ksk_wire_enc_reset(tr->we);
	tr->frame_spans = 0;
	ksk_buf_clear(&tr->json);
	tr->json_spans = 0;
	tr->json_line_spans = 0;
	tr->seq = 0;
	trc_rng_bytes(tr, tr->agent_id, KSK_AGENT_ID_LEN);
	if (tr->pid_attr >= 0)
		tr->res_attrs[tr->pid_attr].value.u.i = (int64_t)getpid();
	if (tr->nng_open) {
		/* libnng cannot run here (its threads stayed in the parent):
		 * abandon its socket untouched and speak SP directly */
		tr->nng_open = false;
		if (trc_sp_create(tr->alloc, tr->agent_url, &tr->sp, NULL) != KSK_OK)
			tr->sp = NULL; /* e.g. inproc://: no agent sink in the child */
	} else if (tr->sp) {
		trc_sp_forked(tr->sp);
	}
	tr->use_builtin = true;
	tr->ex_running = false;
	trc_export_start(tr, NULL);
}
