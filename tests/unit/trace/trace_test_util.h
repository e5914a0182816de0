/*
 * trace_test_util.h : helpers for the libkiseki-trace tests: a capture
 * sink (the callback sink copying every exported span into test memory),
 * span lookup by name, hex helpers, temp dirs.
 * Header-only (static functions); include after cmocka.h.
 */
#ifndef TRACE_TEST_UTIL_H
#define TRACE_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiseki/trace.h"

#define TT_MAX_SPANS 4096

typedef struct tt_attr {
	char key[64];
	ksk_val_type type;
	char s[256];
	int64_t i;
	double d;
	bool b;
} tt_attr;

typedef struct tt_event {
	char name[64];
	uint64_t time_ns;
	uint32_t n_attrs;
	tt_attr attrs[KSK_TRACE_MAX_ATTRS];
} tt_event;

typedef struct tt_span {
	uint8_t trace_id[16], span_id[8], parent_id[8];
	bool has_parent;
	char name[128];
	ksk_span_kind kind;
	uint64_t start_ns, end_ns;
	ksk_status_code status;
	char status_msg[256];
	char trace_state[KSK_TRACE_STATE_MAX + 1];
	uint32_t flags;
	char scope[64];
	uint32_t n_attrs, dropped_attrs, n_events, dropped_events;
	tt_attr attrs[KSK_TRACE_MAX_ATTRS];
	tt_event events[KSK_TRACE_MAX_EVENTS];
} tt_span;

typedef struct tt_cap {
	pthread_mutex_t mu;
	uint32_t n;
	uint32_t calls;
	char service[128];
	int64_t pid;
	tt_span spans[TT_MAX_SPANS];
} tt_cap;

static inline void tt_str(char *dst, size_t cap, ksk_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

static inline void tt_copy_attr(tt_attr *d, const ksk_attr *a)
{
	memset(d, 0, sizeof(*d));
	tt_str(d->key, sizeof(d->key), a->key);
	d->type = a->value.type;
	switch (a->value.type) {
	case KSK_VAL_STR:
		tt_str(d->s, sizeof(d->s), a->value.u.s);
		break;
	case KSK_VAL_INT:
		d->i = a->value.u.i;
		break;
	case KSK_VAL_DOUBLE:
		d->d = a->value.u.d;
		break;
	case KSK_VAL_BOOL:
		d->b = a->value.u.b;
		break;
	default:
		break;
	}
}

static inline void tt_copy_span(tt_span *d, const ksk_span *s)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->trace_id, s->trace_id, 16);
	memcpy(d->span_id, s->span_id, 8);
	memcpy(d->parent_id, s->parent_id, 8);
	d->has_parent = !ksk_id_is_zero(s->parent_id, 8);
	tt_str(d->name, sizeof(d->name), s->name);
	d->kind = s->kind;
	d->start_ns = s->start_ns;
	d->end_ns = s->end_ns;
	d->status = s->status;
	tt_str(d->status_msg, sizeof(d->status_msg), s->status_msg);
	tt_str(d->trace_state, sizeof(d->trace_state), s->trace_state);
	tt_str(d->scope, sizeof(d->scope), s->scope_name);
	d->flags = s->flags;
	d->n_attrs = s->n_attrs < KSK_TRACE_MAX_ATTRS ? s->n_attrs : KSK_TRACE_MAX_ATTRS;
	for (uint32_t i = 0; i < d->n_attrs; i++)
		tt_copy_attr(&d->attrs[i], &s->attrs[i]);
	d->dropped_attrs = s->dropped_attrs;
	d->n_events = s->n_events < KSK_TRACE_MAX_EVENTS ? s->n_events : KSK_TRACE_MAX_EVENTS;
	for (uint32_t e = 0; e < d->n_events; e++) {
		tt_event *ev = &d->events[e];
		tt_str(ev->name, sizeof(ev->name), s->events[e].name);
		ev->time_ns = s->events[e].time_ns;
		ev->n_attrs = s->events[e].n_attrs < KSK_TRACE_MAX_ATTRS ? s->events[e].n_attrs
		                                                         : KSK_TRACE_MAX_ATTRS;
		for (uint32_t i = 0; i < ev->n_attrs; i++)
			tt_copy_attr(&ev->attrs[i], &s->events[e].attrs[i]);
	}
	d->dropped_events = s->dropped_events;
}

static inline void tt_on_export(void *ctx, const ksk_resource *res, const ksk_span *spans, uint32_t n)
{
	tt_cap *c = ctx;
	pthread_mutex_lock(&c->mu);
	c->calls++;
	for (uint32_t i = 0; i < res->n_attrs; i++) {
		if (ksk_str_eq(res->attrs[i].key, KSK_STR("service.name")))
			tt_str(c->service, sizeof(c->service), res->attrs[i].value.u.s);
		if (ksk_str_eq(res->attrs[i].key, KSK_STR("process.pid")))
			c->pid = res->attrs[i].value.u.i;
	}
	for (uint32_t i = 0; i < n && c->n < TT_MAX_SPANS; i++)
		tt_copy_span(&c->spans[c->n++], &spans[i]);
	pthread_mutex_unlock(&c->mu);
}

static inline tt_cap *tt_cap_new(void)
{
	tt_cap *c = calloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static inline void tt_cap_free(tt_cap *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static inline void tt_cap_reset(tt_cap *c)
{
	pthread_mutex_lock(&c->mu);
	c->n = 0;
	pthread_mutex_unlock(&c->mu);
}

/* the first captured span called `name`, or NULL */
static inline const tt_span *tt_find(tt_cap *c, const char *name)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (strcmp(c->spans[i].name, name) == 0)
			return &c->spans[i];
	return NULL;
}

static inline uint32_t tt_count(tt_cap *c, const char *name)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (strcmp(c->spans[i].name, name) == 0)
			k++;
	return k;
}

static inline const tt_attr *tt_attr_find(const tt_attr *a, uint32_t n, const char *key)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(a[i].key, key) == 0)
			return &a[i];
	return NULL;
}

/* options for a test tracer: the capture sink only, no agent, no file */
static inline void tt_opts(ksk_trace_opts *o, tt_cap *c)
{
	ksk_trace_opts_init(o);
	o->service_name = "trace-test";
	o->agent_url = "off";
	o->file_path = "";
	o->on_export = c ? tt_on_export : NULL;
	o->on_export_ctx = c;
	o->flush_interval_ms = 50;
}

static inline uint64_t tt_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void tt_sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

#endif /* TRACE_TEST_UTIL_H */
