/*
 * test_wire.c : the record payload codec (common/wire.c) and its structural
 * guard (common/wire_guard.c).
 *
 * Round trips of every field and value type; every validation error with
 * its code and message; truncation at every offset; every single-bit flip;
 * hostile headers; allocation failure injection; batch growth past the
 * first arena slots. With KSK_WRITE_SEEDS=<dir> in the environment, one
 * test writes the fuzz seeds for tests/fuzz/fuzz_wire.c (byte 0 = record
 * count in the low 7 bits, small limits when the high bit is set; then the
 * payload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiseki/record.h"
#include "kiseki/wire.h"

/* ---- small helpers ------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t hexb(const char *h, uint8_t *out)
{
	size_t n = 0;
	while (*h) {
		if (*h == ' ') {
			h++;
			continue;
		}
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static void id_fill(uint8_t *id, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		id[i] = (uint8_t)(v + i);
}

/* ---- raw record builder (for records the encoder would refuse) ---------- */

enum { F_UINT, F_INT, F_STR, F_BIN, F_NIL, F_RAW, F_FLOAT32 };

typedef struct fld {
	uint64_t key;
	int kind;
	uint64_t u;
	int64_t i;
	const char *s; /* STR: text; RAW: msgpack bytes as hex */
	size_t n;      /* BIN: byte count */
	uint8_t fill;  /* BIN: first byte (later bytes count up) */
} fld;

#define FU(k, v) ((fld){.key = (k), .kind = F_UINT, .u = (v)})
#define FI(k, v) ((fld){.key = (k), .kind = F_INT, .i = (v)})
#define FS(k, v) ((fld){.key = (k), .kind = F_STR, .s = (v)})
#define FB(k, len, f) ((fld){.key = (k), .kind = F_BIN, .n = (len), .fill = (f)})
#define FN(k) ((fld){.key = (k), .kind = F_NIL})
#define FR(k, hex) ((fld){.key = (k), .kind = F_RAW, .s = (hex)})

typedef struct rec {
	fld f[40];
	size_t n;
} rec;

static void rec_add(rec *r, fld f)
{
	assert_true(r->n < 40);
	r->f[r->n++] = f;
}

static void rec_set(rec *r, fld f)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].key == f.key) {
			r->f[i] = f;
			return;
		}
	rec_add(r, f);
}

static void rec_del(rec *r, uint64_t key)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].key == key) {
			memmove(&r->f[i], &r->f[i + 1], (r->n - i - 1) * sizeof(fld));
			r->n--;
			return;
		}
}

static void span_base(rec *r)
{
	r->n = 0;
	rec_add(r, FU(0, 2));
	rec_add(r, FB(1, 16, 0x11));
	rec_add(r, FB(2, 8, 0x22));
	rec_add(r, FS(4, "op"));
	rec_add(r, FU(6, 9));
	rec_add(r, FU(7, 10));
	rec_add(r, FU(13, 0));
}

static void log_base(rec *r)
{
	r->n = 0;
	rec_add(r, FU(0, 3));
	rec_add(r, FU(1, 100));
	rec_add(r, FU(10, 0));
}

static void res_base(rec *r)
{
	r->n = 0;
	rec_add(r, FU(0, 1));
}

typedef struct pl {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t count;
} pl;

static void pl_init(pl *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
	p->count = 0;
}

static void pl_free(pl *p)
{
	msgpack_sbuffer_destroy(&p->sb);
}

static void pl_hex(pl *p, const char *hex, uint32_t records)
{
	size_t cap = strlen(hex) / 2 + 1;
	uint8_t *b = malloc(cap);
	size_t n = hexb(hex, b);
	msgpack_sbuffer_write(&p->sb, (const char *)b, n);
	free(b);
	p->count += records;
}

static void pl_rec(pl *p, const rec *r)
{
	msgpack_pack_map(&p->pk, r->n);
	for (size_t i = 0; i < r->n; i++) {
		const fld *f = &r->f[i];
		msgpack_pack_uint64(&p->pk, f->key);
		switch (f->kind) {
		case F_UINT:
			msgpack_pack_uint64(&p->pk, f->u);
			break;
		case F_INT:
			msgpack_pack_int64(&p->pk, f->i);
			break;
		case F_STR:
			msgpack_pack_str_with_body(&p->pk, f->s, strlen(f->s));
			break;
		case F_BIN: {
			uint8_t b[64];
			assert_true(f->n <= sizeof(b));
			id_fill(b, f->n, f->fill);
			msgpack_pack_bin_with_body(&p->pk, b, f->n);
			break;
		}
		case F_NIL:
			msgpack_pack_nil(&p->pk);
			break;
		case F_FLOAT32:
			msgpack_pack_float(&p->pk, (float)f->i);
			break;
		case F_RAW:
			pl_hex(p, f->s, 0);
			break;
		}
	}
	p->count++;
}

/* a resource record (index 0 for what follows) then `r` */
static void pl_with_res(pl *p, const rec *r)
{
	rec res;
	res_base(&res);
	pl_init(p);
	pl_rec(p, &res);
	pl_rec(p, r);
}

static void assert_log_eq(const ksk_log *x, const ksk_log *y);

/* Two decodes of one payload gave the same answer: code, message, batch. */
static void assert_same_decode(ksk_err ra, const ksk_errinfo *ea, const ksk_batch *a,
                               ksk_err rb, const ksk_errinfo *eb, const ksk_batch *b)
{
	assert_int_equal(ra, rb);
	if (ra != KSK_OK) {
		assert_string_equal(ea->msg, eb->msg);
		return;
	}
	assert_int_equal(a->n_resources, b->n_resources);
	assert_int_equal(a->n_spans, b->n_spans);
	assert_int_equal(a->n_logs, b->n_logs);
	for (uint32_t i = 0; i < a->n_resources; i++) {
		const ksk_resource *x = &a->resources[i], *y = &b->resources[i];
		assert_int_equal(x->n_attrs, y->n_attrs);
		for (uint32_t j = 0; j < x->n_attrs; j++) {
			assert_true(ksk_str_eq(x->attrs[j].key, y->attrs[j].key));
			assert_true(ksk_value_eq(&x->attrs[j].value, &y->attrs[j].value));
		}
		assert_true(ksk_str_eq(x->service, y->service));
		assert_true(ksk_str_eq(x->host, y->host));
		assert_int_equal(x->dropped_attrs, y->dropped_attrs);
	}
	for (uint32_t i = 0; i < a->n_logs; i++) {
		assert_log_eq(&a->logs[i], &b->logs[i]);
		assert_true(a->logs[i].observed_ns == b->logs[i].observed_ns);
		assert_int_equal(a->logs[i].trace_hex_end, b->logs[i].trace_hex_end);
		assert_int_equal(a->logs[i].span_hex_end, b->logs[i].span_hex_end);
	}
}

/* Decodes with the direct log path and again through msgpack-c only;
 * both must agree. Returns the first decoder's answer (*b valid until
 * the decoder is destroyed: the caller gets a copy of the counts only). */
static ksk_err decode_both(const uint8_t *data, size_t len, uint32_t count,
                           const ksk_wire_limits *lim, ksk_errinfo *ei,
                           uint64_t *direct)
{
	ksk_wire_dec *d, *ds;
	assert_int_equal(ksk_wire_dec_create(NULL, lim, &d), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, lim, &ds), KSK_OK);
	ksk_wire_dec_set_slow_only(ds, true);
	const ksk_batch *b = NULL, *bs = NULL;
	ksk_errinfo eis;
	ksk_err rc = ksk_wire_decode(d, data, len, count, &b, ei);
	ksk_err rcs = ksk_wire_decode(ds, data, len, count, &bs, &eis);
	if (rc == KSK_OK)
		assert_non_null(b);
	else
		assert_null(b);
	assert_same_decode(rc, ei, b, rcs, &eis, bs);
	assert_int_equal(ksk_wire_dec_direct_records(ds), 0);
	if (direct)
		*direct = ksk_wire_dec_direct_records(d);
	ksk_wire_dec_destroy(d);
	ksk_wire_dec_destroy(ds);
	return rc;
}

static ksk_err decode_pl(const pl *p, const ksk_wire_limits *lim,
                         ksk_errinfo *ei)
{
	return decode_both((const uint8_t *)p->sb.data, p->sb.size, p->count, lim, ei, NULL);
}

/* Decodes `p` and checks the error code and that the message holds `want`. */
static void expect_err_lim(const pl *p, const ksk_wire_limits *lim, ksk_err code,
                           const char *want)
{
	ksk_errinfo ei;
	ksk_err rc = decode_pl(p, lim, &ei);
	if (rc != code || (want && !strstr(ei.msg, want)))
		print_error("got %s \"%s\", want %s \"%s\"\n", ksk_errname(rc),
		            ei.msg, ksk_errname(code), want ? want : "");
	assert_int_equal(rc, code);
	assert_int_equal(ei.code, code);
	if (want)
		assert_non_null(strstr(ei.msg, want));
}

static void expect_err(const pl *p, ksk_err code, const char *want)
{
	expect_err_lim(p, NULL, code, want);
}

/* One raw record after a resource; frees the payload. */
static void rec_expect(const rec *r, ksk_err code, const char *want)
{
	pl p;
	pl_with_res(&p, r);
	expect_err(&p, code, want);
	pl_free(&p);
}

static void rec_expect_lim(const rec *r, const ksk_wire_limits *lim,
                           ksk_err code, const char *want)
{
	pl p;
	pl_with_res(&p, r);
	expect_err_lim(&p, lim, code, want);
	pl_free(&p);
}

/* ---- a realistic batch with every field and value type ----------------- */

typedef struct fixture {
	uint8_t bytes[4];
	ksk_value inner_arr[2];
	ksk_attr inner_kv[1];
	ksk_value arr[4];
	ksk_attr kv[2];
	ksk_attr res_attrs[3];
	ksk_attr res2_attrs[1];
	ksk_resource res[2];
	ksk_attr span_attrs[14];
	ksk_attr ev_attrs[2];
	ksk_event events[2];
	ksk_attr link_attrs[1];
	ksk_link links[2];
	ksk_span spans[3];
	ksk_attr log_attrs[2];
	ksk_log logs[2];
} fixture;

static ksk_value val_bytes(const uint8_t *p, uint32_t n)
{
	ksk_value v;
	v.type = KSK_VAL_BYTES;
	v.u.s.ptr = (const char *)p;
	v.u.s.len = n;
	return v;
}

static ksk_value val_empty(void)
{
	ksk_value v;
	memset(&v, 0, sizeof(v));
	v.type = KSK_VAL_EMPTY;
	return v;
}

static ksk_value val_arr(ksk_value *items, uint32_t n)
{
	ksk_value v;
	v.type = KSK_VAL_ARRAY;
	v.u.arr.items = items;
	v.u.arr.n = n;
	return v;
}

static ksk_value val_kv(ksk_attr *items, uint32_t n)
{
	ksk_value v;
	v.type = KSK_VAL_KVLIST;
	v.u.kv.items = items;
	v.u.kv.n = n;
	return v;
}

static double nan_bits(void)
{
	uint64_t bits = 0x7ff8000000000123ull;
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

static void fixture_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->bytes[0] = 0;
	f->bytes[1] = 0xff;
	f->bytes[2] = 0x80;
	f->bytes[3] = 7;
	f->inner_arr[0] = ksk_val_bool(true);
	f->inner_arr[1] = val_kv(NULL, 0);
	f->inner_kv[0] = (ksk_attr){KSK_STR("c"), val_empty()};
	f->arr[0] = ksk_val_int(1);
	f->arr[1] = ksk_val_str(KSK_STR("x"));
	f->arr[2] = val_arr(f->inner_arr, 2);
	f->arr[3] = ksk_val_double(-0.0);
	f->kv[0] = (ksk_attr){KSK_STR("a"), val_arr(f->arr, 4)};
	f->kv[1] = (ksk_attr){KSK_STR("b"), val_kv(f->inner_kv, 1)};

	f->res_attrs[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(KSK_STR("checkout"))};
	f->res_attrs[1] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(KSK_STR("web-1"))};
	f->res_attrs[2] = (ksk_attr){KSK_STR("pid"), ksk_val_int(4242)};
	f->res[0].attrs = f->res_attrs;
	f->res[0].n_attrs = 3;
	f->res[0].dropped_attrs = 2;
	f->res2_attrs[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_int(5)};
	f->res[1].attrs = f->res2_attrs;
	f->res[1].n_attrs = 1;

	ksk_attr *a = f->span_attrs;
	a[0] = (ksk_attr){KSK_STR("str"), ksk_val_str(KSK_STR("héllo wörld"))};
	a[1] = (ksk_attr){KSK_STR("empty.str"), ksk_val_str(KSK_STR(""))};
	a[2] = (ksk_attr){KSK_STR("true"), ksk_val_bool(true)};
	a[3] = (ksk_attr){KSK_STR("false"), ksk_val_bool(false)};
	a[4] = (ksk_attr){KSK_STR("neg"), ksk_val_int(-5)};
	a[5] = (ksk_attr){KSK_STR("min"), ksk_val_int(INT64_MIN)};
	a[6] = (ksk_attr){KSK_STR("max"), ksk_val_int(INT64_MAX)};
	a[7] = (ksk_attr){KSK_STR("pi"), ksk_val_double(3.14159)};
	a[8] = (ksk_attr){KSK_STR("nan"), ksk_val_double(nan_bits())};
	a[9] = (ksk_attr){KSK_STR("inf"), ksk_val_double(-INFINITY)};
	a[10] = (ksk_attr){KSK_STR("bytes"), val_bytes(f->bytes, 4)};
	a[11] = (ksk_attr){KSK_STR("nothing"), val_empty()};
	a[12] = (ksk_attr){KSK_STR("list"), val_arr(f->arr, 4)};
	a[13] = (ksk_attr){KSK_STR("map"), val_kv(f->kv, 2)};

	f->ev_attrs[0] = (ksk_attr){KSK_STR("exception.type"), ksk_val_str(KSK_STR("IOError"))};
	f->ev_attrs[1] = (ksk_attr){KSK_STR("n"), ksk_val_int(3)};
	f->events[0] = (ksk_event){1000000123, KSK_STR("exception"), f->ev_attrs, 2, 1};
	f->events[1] = (ksk_event){0, KSK_STR(""), NULL, 0, 0};

	id_fill(f->links[0].trace_id, 16, 0xa0);
	id_fill(f->links[0].span_id, 8, 0xb0);
	f->links[0].trace_state = KSK_STR("k=v");
	f->links[0].flags = 0x301;
	f->link_attrs[0] = (ksk_attr){KSK_STR("link.kind"), ksk_val_str(KSK_STR("follows"))};
	f->links[0].attrs = f->link_attrs;
	f->links[0].n_attrs = 1;
	f->links[0].dropped_attrs = 4;
	id_fill(f->links[1].trace_id, 16, 0xc0);
	id_fill(f->links[1].span_id, 8, 0xd0);

	ksk_span *s = &f->spans[0];
	id_fill(s->trace_id, 16, 1);
	id_fill(s->span_id, 8, 0x21);
	id_fill(s->parent_id, 8, 0x31);
	s->name = KSK_STR("GET /cart");
	s->kind = KSK_KIND_SERVER;
	s->start_ns = 1700000000000000000ull;
	s->end_ns = 1700000000123456789ull;
	s->status = KSK_STATUS_ERROR;
	s->status_msg = KSK_STR("boom");
	s->trace_state = KSK_STR("rojo=00f067aa0ba902b7");
	s->flags = 0x101;
	s->scope_name = KSK_STR("io.opentelemetry.http");
	s->scope_version = KSK_STR("1.2.3");
	s->attrs = f->span_attrs;
	s->n_attrs = 14;
	s->events = f->events;
	s->n_events = 2;
	s->links = f->links;
	s->n_links = 2;
	s->dropped_attrs = 7;
	s->dropped_events = 8;
	s->dropped_links = 9;
	s->resource = 0;

	s = &f->spans[1]; /* only what is required */
	id_fill(s->trace_id, 16, 2);
	id_fill(s->span_id, 8, 0x42);
	s->name = KSK_STR("");
	s->start_ns = 0;
	s->end_ns = 0;
	s->resource = 1;

	s = &f->spans[2];
	id_fill(s->trace_id, 16, 3);
	id_fill(s->span_id, 8, 0x43);
	s->name = KSK_STR("db.query");
	s->kind = KSK_KIND_CLIENT;
	s->start_ns = 5;
	s->end_ns = UINT64_MAX;
	s->attrs = f->span_attrs;
	s->n_attrs = 3;
	s->resource = 1;

	ksk_log *l = &f->logs[0];
	l->time_ns = 1700000000000000001ull;
	l->observed_ns = 1700000000000000002ull;
	l->severity = 17;
	l->severity_text = KSK_STR("ERROR");
	l->body = ksk_val_str(KSK_STR("disk full"));
	f->log_attrs[0] = (ksk_attr){KSK_STR("code.lineno"), ksk_val_int(42)};
	f->log_attrs[1] = (ksk_attr){KSK_STR("payload"), val_kv(f->kv, 2)};
	l->attrs = f->log_attrs;
	l->n_attrs = 2;
	l->dropped_attrs = 3;
	id_fill(l->trace_id, 16, 1);
	id_fill(l->span_id, 8, 0x21);
	l->flags = 1;
	l->event_name = KSK_STR("app.disk");
	l->scope_name = KSK_STR("logger");
	l->scope_version = KSK_STR("0.1");
	l->resource = 0;

	l = &f->logs[1]; /* minimal: only time_ns; body is a map */
	l->time_ns = 77;
	l->body = val_kv(f->kv, 2);
	l->resource = 1;
}

/* Encodes the fixture interleaved: r0 s0 l0 r1 s1 s2 l1. */
static void fixture_encode(const fixture *f, ksk_wire_enc *e)
{
	uint32_t idx = 99;
	assert_int_equal(ksk_wire_enc_resource(e, &f->res[0], &idx), KSK_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(ksk_wire_enc_span(e, &f->spans[0]), KSK_OK);
	assert_int_equal(ksk_wire_enc_log(e, &f->logs[0]), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(e, &f->res[1], &idx), KSK_OK);
	assert_int_equal(idx, 1);
	assert_int_equal(ksk_wire_enc_span(e, &f->spans[1]), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &f->spans[2]), KSK_OK);
	assert_int_equal(ksk_wire_enc_log(e, &f->logs[1]), KSK_OK);
	assert_int_equal(ksk_wire_enc_count(e), 7);
	assert_int_equal(ksk_wire_enc_resources(e), 2);
}

static void assert_str_eq(ksk_str a, ksk_str b)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_memory_equal(a.ptr, b.ptr, a.len);
}

static void assert_attrs_eq(const ksk_attr *a, uint32_t na, const ksk_attr *b,
                            uint32_t nb)
{
	assert_int_equal(na, nb);
	for (uint32_t i = 0; i < na; i++) {
		assert_str_eq(a[i].key, b[i].key);
		assert_true(ksk_value_eq(&a[i].value, &b[i].value));
	}
}

static void assert_span_eq(const ksk_span *x, const ksk_span *y)
{
	assert_memory_equal(x->trace_id, y->trace_id, 16);
	assert_memory_equal(x->span_id, y->span_id, 8);
	assert_memory_equal(x->parent_id, y->parent_id, 8);
	assert_int_equal(y->has_parent, !ksk_id_is_zero(x->parent_id, 8));
	assert_str_eq(x->name, y->name);
	assert_int_equal(x->kind, y->kind);
	assert_true(x->start_ns == y->start_ns);
	assert_true(x->end_ns == y->end_ns);
	assert_int_equal(x->status, y->status);
	assert_str_eq(x->status_msg, y->status_msg);
	assert_str_eq(x->trace_state, y->trace_state);
	assert_int_equal(x->flags, y->flags);
	assert_str_eq(x->scope_name, y->scope_name);
	assert_str_eq(x->scope_version, y->scope_version);
	assert_attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs);
	assert_int_equal(x->n_events, y->n_events);
	for (uint32_t i = 0; i < x->n_events; i++) {
		const ksk_event *a = &x->events[i], *b = &y->events[i];
		assert_true(a->time_ns == b->time_ns);
		assert_str_eq(a->name, b->name);
		assert_attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs);
		assert_int_equal(a->dropped_attrs, b->dropped_attrs);
	}
	assert_int_equal(x->n_links, y->n_links);
	for (uint32_t i = 0; i < x->n_links; i++) {
		const ksk_link *a = &x->links[i], *b = &y->links[i];
		assert_memory_equal(a->trace_id, b->trace_id, 16);
		assert_memory_equal(a->span_id, b->span_id, 8);
		assert_str_eq(a->trace_state, b->trace_state);
		assert_int_equal(a->flags, b->flags);
		assert_attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs);
		assert_int_equal(a->dropped_attrs, b->dropped_attrs);
	}
	assert_int_equal(x->dropped_attrs, y->dropped_attrs);
	assert_int_equal(x->dropped_events, y->dropped_events);
	assert_int_equal(x->dropped_links, y->dropped_links);
	assert_int_equal(x->resource, y->resource);
}

static void assert_log_eq(const ksk_log *x, const ksk_log *y)
{
	assert_true(x->time_ns == y->time_ns);
	assert_true(y->observed_ns == (x->observed_ns ? x->observed_ns : x->time_ns));
	assert_int_equal(x->severity, y->severity);
	assert_str_eq(x->severity_text, y->severity_text);
	assert_true(ksk_value_eq(&x->body, &y->body));
	assert_attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs);
	assert_int_equal(x->dropped_attrs, y->dropped_attrs);
	assert_memory_equal(x->trace_id, y->trace_id, 16);
	assert_memory_equal(x->span_id, y->span_id, 8);
	assert_int_equal(y->has_trace, !ksk_id_is_zero(x->trace_id, 16));
	assert_int_equal(y->has_span, !ksk_id_is_zero(x->span_id, 8));
	assert_int_equal(x->flags, y->flags);
	assert_str_eq(x->event_name, y->event_name);
	assert_str_eq(x->scope_name, y->scope_name);
	assert_str_eq(x->scope_version, y->scope_version);
	assert_int_equal(x->resource, y->resource);
}

static void assert_fixture_batch(const fixture *f, const ksk_batch *b)
{
	assert_int_equal(b->n_resources, 2);
	assert_int_equal(b->n_spans, 3);
	assert_int_equal(b->n_logs, 2);
	for (int i = 0; i < 2; i++) {
		assert_attrs_eq(f->res[i].attrs, f->res[i].n_attrs, b->resources[i].attrs,
		                b->resources[i].n_attrs);
		assert_int_equal(f->res[i].dropped_attrs, b->resources[i].dropped_attrs);
	}
	assert_true(ksk_str_eq(b->resources[0].service, KSK_STR("checkout")));
	assert_true(ksk_str_eq(b->resources[0].host, KSK_STR("web-1")));
	/* a non-string service.name does not count */
	assert_int_equal(b->resources[1].service.len, 0);
	assert_int_equal(b->resources[1].host.len, 0);
	for (int i = 0; i < 3; i++)
		assert_span_eq(&f->spans[i], &b->spans[i]);
	for (int i = 0; i < 2; i++)
		assert_log_eq(&f->logs[i], &b->logs[i]);
}

/* Invariants every decoded batch must satisfy, whatever the input. */
static void assert_value_sane(const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_STR:
		assert_true(ksk_utf8_valid(v->u.s.ptr, v->u.s.len));
		break;
	case KSK_VAL_ARRAY:
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			assert_value_sane(&v->u.arr.items[i]);
		break;
	case KSK_VAL_KVLIST:
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			assert_true(v->u.kv.items[i].key.len > 0);
			assert_value_sane(&v->u.kv.items[i].value);
		}
		break;
	default:
		assert_true(v->type <= KSK_VAL_KVLIST);
		break;
	}
}

static void assert_attrs_sane(const ksk_attr *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		assert_true(a[i].key.len > 0);
		assert_true(ksk_utf8_valid(a[i].key.ptr, a[i].key.len));
		assert_value_sane(&a[i].value);
	}
}

static void assert_batch_sane(const ksk_batch *b)
{
	for (uint32_t i = 0; i < b->n_resources; i++)
		assert_attrs_sane(b->resources[i].attrs, b->resources[i].n_attrs);
	for (uint32_t i = 0; i < b->n_spans; i++) {
		const ksk_span *s = &b->spans[i];
		assert_false(ksk_id_is_zero(s->trace_id, 16));
		assert_false(ksk_id_is_zero(s->span_id, 8));
		assert_true(s->end_ns >= s->start_ns);
		assert_true((unsigned)s->kind <= 5);
		assert_true((unsigned)s->status <= 2);
		assert_true(s->resource < b->n_resources);
		assert_true(ksk_utf8_valid(s->name.ptr, s->name.len));
		assert_attrs_sane(s->attrs, s->n_attrs);
		for (uint32_t j = 0; j < s->n_events; j++)
			assert_attrs_sane(s->events[j].attrs, s->events[j].n_attrs);
		for (uint32_t j = 0; j < s->n_links; j++)
			assert_false(ksk_id_is_zero(s->links[j].span_id, 8));
	}
	for (uint32_t i = 0; i < b->n_logs; i++) {
		const ksk_log *l = &b->logs[i];
		assert_true(l->observed_ns != 0);
		assert_true(l->severity <= 24);
		assert_true(l->resource < b->n_resources);
		assert_value_sane(&l->body);
		assert_attrs_sane(l->attrs, l->n_attrs);
	}
}

/* ---- round trips -------------------------------------------------------- */

static void test_limits_default(void **state)
{
	(void)state;
	ksk_wire_limits l;
	ksk_wire_limits_default(&l);
	assert_int_equal(l.max_records, 1u << 20);
	assert_int_equal(l.max_attrs, 1024);
	assert_int_equal(l.max_events, 1024);
	assert_int_equal(l.max_links, 1024);
	assert_int_equal(l.max_str, 1u << 20);
	assert_int_equal(l.max_depth, 16);
	assert_int_equal(l.max_container, 65536);
	assert_true(l.max_arena == (size_t)512 << 20);
}

static void test_roundtrip_full(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	fixture_encode(&f, e);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	assert_true(len > 100);

	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	assert_int_equal(ksk_wire_decode(d, p, len, 7, &b, &ei), KSK_OK);
	assert_int_equal(ei.code, KSK_OK);
	assert_fixture_batch(&f, b);

	/* valid strings are not copied: they point into the payload */
	const ksk_span *s = &b->spans[0];
	assert_true((const uint8_t *)s->name.ptr >= p &&
	            (const uint8_t *)s->name.ptr < p + len);
	assert_true((const uint8_t *)s->attrs[0].key.ptr >= p &&
	            (const uint8_t *)s->attrs[0].key.ptr < p + len);
	/* the NaN payload bits survive */
	uint64_t bits;
	memcpy(&bits, &s->attrs[8].value.u.d, 8);
	assert_true(bits == 0x7ff8000000000123ull);
	assert_int_equal(s->attrs[5].value.u.i, INT64_MIN);
	assert_int_equal(s->attrs[6].value.u.i, INT64_MAX);
	assert_true(s->has_parent);
	assert_false(b->spans[1].has_parent);
	assert_true(b->logs[0].has_trace && b->logs[0].has_span);
	assert_false(b->logs[1].has_trace || b->logs[1].has_span);
	assert_true(b->logs[1].observed_ns == 77);

	/* the decoder is reusable, and an empty payload is an empty batch */
	assert_int_equal(ksk_wire_decode(d, p, len, 7, &b, NULL), KSK_OK);
	assert_fixture_batch(&f, b);
	assert_int_equal(ksk_wire_decode(d, NULL, 0, 0, &b, &ei), KSK_OK);
	assert_int_equal(b->n_spans + b->n_logs + b->n_resources, 0);

	/* reset empties the encoder */
	ksk_wire_enc_reset(e);
	ksk_wire_enc_data(e, &len);
	assert_int_equal(len, 0);
	assert_int_equal(ksk_wire_enc_count(e), 0);
	assert_int_equal(ksk_wire_enc_resources(e), 0);
	assert_int_equal(ksk_wire_enc_span(e, &f.spans[0]), KSK_EINVAL); /* no resource */
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
	ksk_wire_enc_destroy(NULL);
	ksk_wire_dec_destroy(NULL);
}

/* logs whose values are all strings, bytes and booleans take the encoder's
 * direct writer (no msgpack-c packer): across every msgpack size class of
 * maps, strings, binaries and unsigned ints, crossed at its boundaries, it
 * must write the very bytes the packer writes (the canonical encoding,
 * WIRE.md 2.9), and they must decode to the same record. */
static void test_direct_log_writer(void **state)
{
	(void)state;
	static const uint32_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
	static const uint64_t nums[] = {1, 127, 128, 255, 256, 65535, 65536, 4294967295ull,
	                                4294967296ull, UINT64_MAX};
	char *big = malloc(70001);
	assert_non_null(big);
	for (uint32_t i = 0; i < 70000; i++)
		big[i] = (char)('a' + i % 26);
	ksk_wire_enc *e, *ref;
	ksk_wire_dec *d;
	ksk_wire_limits po;
	ksk_wire_limits_default(&po);
	po.enc_packer_only = true;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, &po, 0, &ref), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	unsigned seed = 7;
	for (int round = 0; round < 400; round++) {
		ksk_wire_enc_reset(e);
		ksk_wire_enc_reset(ref);
		ksk_resource r;
		memset(&r, 0, sizeof(r));
		uint32_t ri;
		assert_int_equal(ksk_wire_enc_resource(e, &r, &ri), KSK_OK);
		assert_int_equal(ksk_wire_enc_resource(ref, &r, &ri), KSK_OK);
		ksk_attr at[20];
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.resource = ri;
		l.time_ns = nums[rand_r(&seed) % 10];
		l.observed_ns = rand_r(&seed) % 2 ? l.time_ns : nums[rand_r(&seed) % 10];
		l.severity = (uint8_t)(rand_r(&seed) % 25);
		uint32_t sl = lens[rand_r(&seed) % 6];
		l.severity_text = (ksk_str){big, sl};
		uint32_t bl = lens[rand_r(&seed) % 9];
		int bt = rand_r(&seed) % 4;
		l.body = bt == 0 ? ksk_val_str((ksk_str){big, bl})
		       : bt == 1 ? ksk_val_bool(rand_r(&seed) % 2)
		                 : (ksk_value){.type = bt == 2 ? KSK_VAL_BYTES : KSK_VAL_EMPTY};
		if (bt == 2)
			l.body.u.s = (ksk_str){big + 1, bl};
		/* 0, 1, 15, 16 or 17 attributes: fixmap and map16 */
		static const uint32_t na[] = {0, 1, 15, 16, 17};
		l.n_attrs = na[rand_r(&seed) % 5];
		for (uint32_t k = 0; k < l.n_attrs; k++) {
			at[k].key = (ksk_str){big + k, 1 + k % 40};
			uint32_t vl = lens[rand_r(&seed) % 7];
			switch (rand_r(&seed) % 3) {
			case 0: at[k].value = ksk_val_str((ksk_str){big + 2, vl}); break;
			case 1: at[k].value = ksk_val_bool(k % 2); break;
			default:
				at[k].value.type = KSK_VAL_BYTES;
				at[k].value.u.s = (ksk_str){big + 3, vl};
			}
		}
		l.attrs = at;
		if (rand_r(&seed) % 2)
			memset(l.trace_id, 0xab, 16);
		if (rand_r(&seed) % 2)
			memset(l.span_id, 0xcd, 8);
		l.flags = rand_r(&seed) % 2;
		if (rand_r(&seed) % 3 == 0)
			l.event_name = KSK_STR("evt");
		if (rand_r(&seed) % 3 == 0)
			l.scope_name = KSK_STR("scope");
		l.dropped_attrs = rand_r(&seed) % 2 ? 0 : (uint32_t)nums[rand_r(&seed) % 8];
		if (l.time_ns == 0 && l.observed_ns == 0)
			l.observed_ns = 1;
		assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
		assert_int_equal(ksk_wire_enc_log(ref, &l), KSK_OK);
		size_t len, rlen;
		const uint8_t *payload = ksk_wire_enc_data(e, &len);
		const uint8_t *rp = ksk_wire_enc_data(ref, &rlen);
		assert_int_equal(len, rlen);
		assert_memory_equal(payload, rp, len);
		const ksk_batch *b;
		ksk_errinfo ei;
		ksk_err rc = ksk_wire_decode(d, payload, len, 2, &b, &ei);
		if (rc != KSK_OK)
			fprintf(stderr, "round %d: %s\n", round, ei.msg);
		assert_int_equal(rc, KSK_OK);
		assert_int_equal(b->n_logs, 1);
		assert_log_eq(&l, &b->logs[0]);
		/* the collector's direct path takes every such record */
		uint64_t direct = 0;
		assert_int_equal(decode_both(payload, len, 2, NULL, &ei, &direct), KSK_OK);
		assert_int_equal(direct, 1);
	}
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
	ksk_wire_enc_destroy(ref);
	free(big);
}

/* The decoder's direct path for plain log records gives what msgpack-c's
 * object tree gives, for every scalar type and encoding, and leaves the
 * rest (nested values, invalid UTF-8, signed encodings of uint fields) to
 * the slow path. */
static void test_direct_log_decode(void **state)
{
	(void)state;
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	r.service = KSK_STR("svc");
	uint32_t ri;
	assert_int_equal(ksk_wire_enc_resource(e, &r, &ri), KSK_OK);
	static const int64_t ints[] = {0, 1, -1, -32, -33, 127, 128, -128, -129, 32767, -32768,
	                               -32769, 65535, 65536, INT32_MIN, (int64_t)INT32_MIN - 1,
	                               INT64_MAX, INT64_MIN};
	ksk_value items[2] = {ksk_val_int(1), ksk_val_str(KSK_STR("x"))};
	uint32_t want_direct = 0;
	for (uint32_t i = 0; i < 40; i++) {
		ksk_attr at[4];
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.resource = ri;
		l.time_ns = 1000 + i;
		l.severity = (uint8_t)(i % 25);
		at[0] = (ksk_attr){KSK_STR("n"), ksk_val_int(ints[i % 18])};
		at[1] = (ksk_attr){KSK_STR("d"), ksk_val_double(i % 2 ? 0.5 * i : -1e300)};
		at[2] = (ksk_attr){KSK_STR("caf\xc3\xa9"), ksk_val_str(KSK_STR("\xe2\x82\xac"))};
		at[3] = (ksk_attr){KSK_STR("e"), (ksk_value){.type = KSK_VAL_EMPTY}};
		l.attrs = at;
		l.n_attrs = 4;
		bool direct = true;
		switch (i % 5) {
		case 0:
			l.body = ksk_val_str(KSK_STR("plain line"));
			break;
		case 1:
			l.body = ksk_val_int(ints[(i * 7) % 18]);
			break;
		case 2: /* nested: slow path */
			l.body.type = KSK_VAL_ARRAY;
			l.body.u.arr.items = items;
			l.body.u.arr.n = 2;
			direct = false;
			break;
		case 3:
			l.body = ksk_val_double(3.25);
			break;
		case 4: /* invalid UTF-8 is repaired by the slow path */
			l.body = ksk_val_str(KSK_STR("bad \xff byte"));
			direct = false;
			break;
		}
		assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
		want_direct += direct;
	}
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	ksk_errinfo ei;
	uint64_t got = 0;
	assert_int_equal(decode_both(p, len, ksk_wire_enc_count(e), NULL, &ei, &got), KSK_OK);
	assert_int_equal(got, want_direct);

	/* hand-made encodings msgpack-c reads but the direct path leaves alone,
	 * or takes: each must decode the same either way */
	static const char *const recs[] = {
		/* time as int64 (signed form of a uint field) */
		"83 00 03 01 d3 0000000000000005 0a 00",
		/* float32 body, uint16 severity */
		"84 00 03 01 05 03 cd 0009 05 ca 3fc00000",
		/* keys out of order, duplicate key, unknown key */
		"83 00 03 0a 00 01 05",
		"84 00 03 01 05 01 06 0a 00",
		"84 00 03 01 05 0a 00 14 01",
		/* record type not first */
		"83 01 05 00 03 0a 00",
		/* severity out of range, trace ID of 15 bytes, resource undefined */
		"84 00 03 01 05 03 19 0a 00",
		"84 00 03 01 05 07 c4 0f 000102030405060708090a0b0c0d0e 0a 00",
		"83 00 03 01 05 0a 01",
		/* both times zero; no resource key */
		"83 00 03 01 00 0a 00",
		"82 00 03 01 05",
		/* empty attribute key; nested attribute; str8 body, bin16 body */
		"84 00 03 01 05 06 81 a0 01 0a 00",
		"84 00 03 01 05 06 81 a1 6b 91 01 0a 00",
		"84 00 03 01 05 05 d9 03 616263 0a 00",
		"84 00 03 01 05 05 c5 0002 0102 0a 00",
		/* map16 record */
		"de 0003 00 03 01 05 0a 00",
	};
	for (size_t k = 0; k < sizeof(recs) / sizeof(recs[0]); k++) {
		pl q;
		rec res;
		res_base(&res);
		pl_init(&q);
		pl_rec(&q, &res);
		char hex[256];
		size_t o = 0;
		for (const char *c = recs[k]; *c && o + 1 < sizeof(hex); c++)
			if (*c != ' ')
				hex[o++] = *c;
		hex[o] = 0;
		pl_hex(&q, hex, 1);
		(void)decode_both((const uint8_t *)q.sb.data, q.sb.size, q.count, NULL, &ei, NULL);
		pl_free(&q);
	}
	ksk_wire_enc_destroy(e);
}

/* One log with `body` and both IDs, hinted at trace_end / span_end, is
 * encoded; it must decode (both paths, the direct one taking it) to the
 * same body. @return : the payload bytes; *trace_cut, *span_cut : the
 * ID's digits are in the body but not in the payload. */
static size_t cut_roundtrip(const char *body, const uint8_t tid[16], const uint8_t sid[8],
                            uint32_t trace_end, uint32_t span_end, bool *trace_cut,
                            bool *span_cut)
{
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = 7;
	l.body = ksk_val_str(ksk_str_c(body));
	memcpy(l.trace_id, tid, 16);
	memcpy(l.span_id, sid, 8);
	l.trace_hex_end = trace_end;
	l.span_hex_end = span_end;
	assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	char th[33], sh[17];
	ksk_hex_encode(tid, 16, th);
	ksk_hex_encode(sid, 8, sh);
	/* cut = in the body, not in the payload */
	*trace_cut = strstr(body, th) && memmem(p, len, th, 32) == NULL;
	*span_cut = strstr(body, sh) && memmem(p, len, sh, 16) == NULL;
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	assert_int_equal(ksk_wire_decode(d, p, len, 2, &b, &ei), KSK_OK);
	assert_int_equal(b->logs[0].body.type, KSK_VAL_STR);
	assert_int_equal(b->logs[0].body.u.s.len, strlen(body));
	assert_memory_equal(b->logs[0].body.u.s.ptr, body, strlen(body));
	/* the decoder's hints say where it put digits back (a span ID whose
	 * digits sit inside the trace digits is absent from the payload too,
	 * but was not cut) */
	const ksk_log *dl = &b->logs[0];
	assert_true(*trace_cut == (dl->trace_hex_end != 0));
	if (dl->trace_hex_end)
		assert_memory_equal(dl->body.u.s.ptr + dl->trace_hex_end - 32, th, 32);
	if (dl->span_hex_end)
		assert_memory_equal(dl->body.u.s.ptr + dl->span_hex_end - 16, sh, 16);
	else
		assert_true(!*span_cut || strstr(th, sh));
	assert_int_equal(ksk_wire_dec_direct_records(d), 1);
	uint64_t direct = 0;
	assert_int_equal(decode_both(p, len, 2, NULL, &ei, &direct), KSK_OK);
	assert_int_equal(direct, 1);
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
	return len;
}

/* Log bodies sent without the hex digits of their IDs (log keys 15 and
 * 16): every hinted position gives the same body back on both decode
 * paths and the payload shrinks; a wrong hint sends the body whole; and
 * hostile cut keys get a clear error, or the same answer on both paths. */
static void test_id_digits_cut(void **state)
{
	(void)state;
	uint8_t tid[16], sid[8];
	for (int i = 0; i < 16; i++)
		tid[i] = (uint8_t)(0x4b + 13 * i);
	for (int i = 0; i < 8; i++)
		sid[i] = (uint8_t)(0xa1 + 7 * i);
	char th[33], sh[17], up[33], b[256];
	ksk_hex_encode(tid, 16, th);
	ksk_hex_encode(sid, 8, sh);
	bool tc, sc;
	/* key form, the usual line: both cut, 48 bytes fewer less the keys */
	int n = snprintf(b, sizeof(b), "GET /a trace_id=%s span_id=%s done", th, sh);
	uint32_t te = 16 + 32, se = (uint32_t)n - 5;
	size_t whole = cut_roundtrip(b, tid, sid, 0, 0, &tc, &sc);
	assert_false(tc || sc);
	size_t cut = cut_roundtrip(b, tid, sid, te, se, &tc, &sc);
	assert_true(tc && sc);
	/* the encoder says when its frame needs KSK_FRAME_FLAG_RESTORE */
	{
		ksk_wire_enc *fe;
		assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &fe), KSK_OK);
		ksk_resource r0;
		memset(&r0, 0, sizeof(r0));
		assert_int_equal(ksk_wire_enc_resource(fe, &r0, NULL), KSK_OK);
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.time_ns = 1;
		l.body = ksk_val_str(ksk_str_c(b));
		memcpy(l.trace_id, tid, 16);
		assert_int_equal(ksk_wire_enc_log(fe, &l), KSK_OK);
		assert_false(ksk_wire_enc_restore(fe)); /* no hint: whole */
		l.trace_hex_end = te;
		assert_int_equal(ksk_wire_enc_log(fe, &l), KSK_OK);
		assert_true(ksk_wire_enc_restore(fe));
		ksk_wire_enc_reset(fe);
		assert_false(ksk_wire_enc_restore(fe));
		ksk_wire_enc_destroy(fe);
	}
	/* 48 digits out, the str header one byte shorter (str8 -> fixstr), two
	 * keys of 2 bytes in */
	assert_true(cut + 48 + 1 - 4 == whole);
	/* span before trace, adjacent, at the very start and end */
	snprintf(b, sizeof(b), "%s%s", sh, th);
	(void)cut_roundtrip(b, tid, sid, 48, 16, &tc, &sc);
	assert_true(tc && sc);
	snprintf(b, sizeof(b), "%s", th);
	(void)cut_roundtrip(b, tid, sid, 32, 0, &tc, &sc);
	assert_true(tc && !sc);
	/* multi-byte characters around the digits */
	snprintf(b, sizeof(b), "\xc3\xa9%s\xe2\x82\xac %s\xf0\x9f\x98\x80", th, sh);
	(void)cut_roundtrip(b, tid, sid, 2 + 32, 2 + 32 + 3 + 1 + 16, &tc, &sc);
	assert_true(tc && sc);
	/* wrong hints: the body goes whole */
	for (int i = 0; i < 32; i++)
		up[i] = (char)toupper((unsigned char)th[i]);
	up[32] = 0;
	snprintf(b, sizeof(b), "trace_id=%s", up);
	(void)cut_roundtrip(b, tid, sid, 9 + 32, 0, &tc, &sc);
	snprintf(b, sizeof(b), "x trace_id=%s", th);
	(void)cut_roundtrip(b, tid, sid, 11 + 31, 0, &tc, &sc); /* one short */
	assert_false(tc);
	(void)cut_roundtrip(b, tid, sid, 1000, 5, &tc, &sc);   /* past the end */
	assert_false(tc || sc);
	(void)cut_roundtrip(b, tid, sid, 31, 0, &tc, &sc);     /* before 32 */
	assert_false(tc);
	/* a span ID whose digits are the trace digits' first 16: overlapping
	 * hints cut the trace only */
	uint8_t sid2[8];
	memcpy(sid2, tid, 8);
	snprintf(b, sizeof(b), "id %s", th);
	(void)cut_roundtrip(b, tid, sid2, 3 + 32, 3 + 16, &tc, &sc);
	assert_true(tc);

	/* hand-made cut keys: errors, or the same answer on both paths */
	static const char tidhex[] = "07 c4 10 000102030405060708090a0b0c0d0e0f";
	static const char sidhex[] = "08 c4 08 1112131415161718";
	struct {
		const char *rec;
		ksk_err code;
		const char *msg;
	} cases[] = {
		/* no body, a non-string body, no trace ID */
		{"85 00 03 01 05 %T 0a 00 0f 00", KSK_ERECORD, "key 15 (trace_id_at) needs a string body"},
		{"86 00 03 01 05 05 01 %T 0a 00 0f 00", KSK_ERECORD, "needs a string body"},
		{"85 00 03 01 05 05 a2 6869 0a 00 0f 00", KSK_ERECORD, "key 15 (trace_id_at) needs a trace_id"},
		{"86 00 03 01 05 05 a2 6869 %T 0a 00 10 00", KSK_ERECORD, "key 16 (span_id_at) needs a span_id"},
		/* past the body; overlapping; a signed offset */
		{"86 00 03 01 05 05 a2 6869 %T 0a 00 0f 03", KSK_ERECORD, "key 15 (trace_id_at) does not fit"},
		{"88 00 03 01 05 05 a2 6869 %T %S 0a 00 0f 00 10 0a", KSK_ERECORD, "key 16 (span_id_at) does not fit"},
		{"86 00 03 01 05 05 a2 6869 %T 0a 00 0f d0 ff", KSK_ERECORD, "key 15 (trace_id_at) must be uint"},
		/* good: at the end, at the start, both, keys in any order */
		{"86 00 03 01 05 05 a2 6869 %T 0a 00 0f 02", KSK_OK, NULL},
		{"86 00 03 01 05 05 a2 6869 %T 0a 00 0f 00", KSK_OK, NULL},
		{"88 00 03 01 05 05 a2 6869 %T %S 0a 00 0f 11 10 01", KSK_OK, NULL},
		{"88 00 03 10 01 01 05 0f 11 05 a2 6869 %T %S 0a 00", KSK_OK, NULL},
		/* inside a two-byte character: the slow path repairs it */
		{"86 00 03 01 05 05 a2 c3a9 %T 0a 00 0f 01", KSK_OK, NULL},
		/* an invalid body repaired after the digits are back */
		{"86 00 03 01 05 05 a3 ff6869 %T 0a 00 0f 03", KSK_OK, NULL},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char hex[512];
		size_t o = 0;
		for (const char *c = cases[k].rec; *c && o + 64 < sizeof(hex); c++) {
			const char *ins = NULL;
			if (c[0] == '%' && (c[1] == 'T' || c[1] == 'S'))
				ins = c[1] == 'T' ? tidhex : sidhex, c++;
			for (const char *x = ins ? ins : c; *x && (ins || x == c); x++)
				if (*x != ' ')
					hex[o++] = *x;
		}
		hex[o] = 0;
		pl q;
		rec res;
		res_base(&res);
		pl_init(&q);
		pl_rec(&q, &res);
		pl_hex(&q, hex, 1);
		ksk_errinfo ei;
		ksk_err rc = decode_pl(&q, NULL, &ei);
		if (rc != cases[k].code || (cases[k].msg && !strstr(ei.msg, cases[k].msg)))
			fail_msg("case %zu: got %s \"%s\"", k, ksk_errname(rc), ei.msg);
		pl_free(&q);
	}
	/* max_str counts the restored body */
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_str = 40;
	pl q;
	rec res;
	res_base(&res);
	pl_init(&q);
	pl_rec(&q, &res);
	pl_hex(&q, "880003010505a26869"
	           "07c410000102030405060708090a0b0c0d0e0f"
	           "08c4081112131415161718"
	           "0a000f00102200", 1);
	expect_err_lim(&q, &lim, KSK_ELIMIT, "key 5 (body): 50 bytes with its ID digits put back");
	pl_free(&q);
}

/* Logs whose attributes are byte for byte the previous log's go with
 * key 17 (attrs_prev) instead: both writers write the same bytes, both
 * decode paths give every log its attributes back (shared), and a hostile
 * key 17 gets a clear error. */
static void test_attrs_prev(void **state)
{
	(void)state;
	ksk_wire_limits po;
	ksk_wire_limits_default(&po);
	po.enc_packer_only = true;
	ksk_wire_enc *e, *ref;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, &po, 0, &ref), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(ref, &r, NULL), KSK_OK);
	ksk_attr pa[1] = {{KSK_STR("log.file.path"), ksk_val_str(KSK_STR("/var/log/app/a.log"))}};
	ksk_attr pb[2] = {{KSK_STR("log.file.path"), ksk_val_str(KSK_STR("/var/log/app/b.log"))},
	                  {KSK_STR("n"), ksk_val_int(7)}};
	/* which attributes each log has: a, a, a, b, b, none, a, none, none, b */
	static const char plan[] = "aaabb-a--b";
	enum { N = sizeof(plan) - 1 };
	ksk_log logs[N];
	int want_prev = 0;
	for (int i = 0; i < N; i++) {
		ksk_log *l = &logs[i];
		memset(l, 0, sizeof(*l));
		l->time_ns = 100 + (uint64_t)i;
		l->body = ksk_val_str(KSK_STR("line"));
		if (plan[i] == 'a')
			l->attrs = pa, l->n_attrs = 1;
		else if (plan[i] == 'b')
			l->attrs = pb, l->n_attrs = 2;
		want_prev += i > 0 && plan[i] != '-' && plan[i] == plan[i - 1];
		assert_int_equal(ksk_wire_enc_log(e, l), KSK_OK);
		assert_int_equal(ksk_wire_enc_log(ref, l), KSK_OK);
	}
	size_t len, rlen;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	const uint8_t *rp = ksk_wire_enc_data(ref, &rlen);
	assert_int_equal(len, rlen);
	assert_memory_equal(p, rp, len);
	int got_prev = 0;
	for (size_t i = 0; i + 1 < len; i++)
		got_prev += p[i] == 0x11 && p[i + 1] == 0xc3;
	assert_int_equal(got_prev, want_prev);
	assert_int_equal(want_prev, 3);
	assert_true(ksk_wire_enc_restore(e));
	ksk_errinfo ei;
	uint64_t direct = 0;
	assert_int_equal(decode_both(p, len, N + 1, NULL, &ei, &direct), KSK_OK);
	assert_int_equal(direct, N);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	assert_int_equal(ksk_wire_decode(d, p, len, N + 1, &b, &ei), KSK_OK);
	for (int i = 0; i < N; i++)
		assert_log_eq(&logs[i], &b->logs[i]);
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
	ksk_wire_enc_destroy(ref);

	struct {
		const char *hex;
		uint32_t records;
		ksk_err code;
		const char *msg;
	} cases[] = {
		/* the first log */
		{"84000301050a0011c3", 1, KSK_ERECORD, "key 17 (attrs_prev): no log record before this one"},
		/* with key 6, also an empty map */
		{"840003010505a1780a00" "85000301050681a178010a0011c3", 2, KSK_ERECORD, "and key 6 (attrs) together"},
		{"840003010505a1780a00" "850003010506800a0011c3", 2, KSK_ERECORD, "and key 6 (attrs) together"},
		/* not true */
		{"840003010505a1780a00" "84000301050a0011c2", 2, KSK_ERECORD, "key 17 (attrs_prev) must be true"},
		{"840003010505a1780a00" "84000301050a001101", 2, KSK_ERECORD, "must be true"},
		/* good, keys out of order (slow path) */
		{"84000301050681a178010a00" "8400030a0011c30105", 2, KSK_OK, NULL},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		pl q;
		rec res;
		res_base(&res);
		pl_init(&q);
		pl_rec(&q, &res);
		pl_hex(&q, cases[k].hex, cases[k].records);
		ksk_err rc = decode_pl(&q, NULL, &ei);
		if (rc != cases[k].code || (cases[k].msg && !strstr(ei.msg, cases[k].msg)))
			fail_msg("case %zu: got %s \"%s\"", k, ksk_errname(rc), ei.msg);
		pl_free(&q);
	}
}

static void test_encoder_layout(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	ksk_span s = f.spans[1];
	s.resource = 0;
	assert_int_equal(ksk_wire_enc_span(e, &s), KSK_OK);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	/* {0:1} then the minimal span: 7 pairs, key 0 first, ascending keys */
	uint8_t want[128];
	size_t n = hexb("81 00 01"
	                "87 00 02"
	                "01 c4 10 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11"
	                "02 c4 08 42 43 44 45 46 47 48 49"
	                "04 a0"
	                "06 00"
	                "07 00"
	                "0d 00",
	                want);
	assert_int_equal(len, n);
	assert_memory_equal(p, want, n);
	ksk_wire_enc_destroy(e);
}

static void test_raw_forms_accepted(void **state)
{
	(void)state;
	/* float32, ints written with signed or wide encodings, unknown keys
	 * (also in events and links), keys in any order, and key 0 last */
	rec r;
	span_base(&r);
	rec_set(&r, FR(6, "d0 05"));             /* int8 5 */
	rec_set(&r, FR(7, "cf 00 00 00 00 00 00 00 06")); /* uint64 6 */
	rec_add(&r, FR(10, "82 a1 66 ca 3f c0 00 00 a1 6e d3 80 00 00 00 00 00 00 00"));
	rec_add(&r, FR(11, "91 83 01 05 63 c0 00 c0")); /* event {1:5, 99:nil, 0:nil} */
	rec_add(&r, FR(12, "91 83 01 c4 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"
	                   " 02 c4 08 01 02 03 04 05 06 07 08 07 a1 7a"));
	rec_add(&r, FU(99, 1));
	rec_add(&r, FR(200, "92 c0 c0"));
	/* move the type to the end */
	rec_del(&r, 0);
	rec_add(&r, FU(0, 2));
	pl p;
	pl_with_res(&p, &r);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	ksk_err rc = ksk_wire_decode(d, (const uint8_t *)p.sb.data, p.sb.size,
	                             p.count, &b, &ei);
	if (rc)
		print_error("%s\n", ei.msg);
	assert_int_equal(rc, KSK_OK);
	const ksk_span *s = &b->spans[0];
	assert_true(s->start_ns == 5 && s->end_ns == 6);
	assert_int_equal(s->n_attrs, 2);
	assert_int_equal(s->attrs[0].value.type, KSK_VAL_DOUBLE);
	assert_true(s->attrs[0].value.u.d == 1.5);
	assert_int_equal(s->attrs[1].value.type, KSK_VAL_INT);
	assert_int_equal(s->attrs[1].value.u.i, INT64_MIN);
	assert_int_equal(s->n_events, 1);
	assert_true(s->events[0].time_ns == 5);
	assert_int_equal(s->n_links, 1);
	assert_int_equal(s->links[0].span_id[7], 8);
	ksk_wire_dec_destroy(d);
	pl_free(&p);
}

static void test_utf8_repair(void **state)
{
	(void)state;
	rec r;
	span_base(&r);
	rec_set(&r, FS(4, "a\xff" "b"));
	rec_add(&r, FS(9, "\xc3"));                    /* truncated sequence */
	rec_add(&r, FR(10, "81 a3 6b ed a0 a1 76"));  /* key "k\xed\xa0": "v" */
	pl p;
	pl_with_res(&p, &r);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	assert_int_equal(ksk_wire_decode(d, (const uint8_t *)p.sb.data, p.sb.size,
	                                 p.count, &b, NULL), KSK_OK);
	const ksk_span *s = &b->spans[0];
	assert_int_equal(s->name.len, 5);
	assert_memory_equal(s->name.ptr, "a\xEF\xBF\xBD" "b", 5);
	assert_int_equal(s->status_msg.len, 3);
	assert_memory_equal(s->status_msg.ptr, "\xEF\xBF\xBD", 3);
	assert_true(ksk_utf8_valid(s->attrs[0].key.ptr, s->attrs[0].key.len));
	assert_non_null(memmem(s->attrs[0].key.ptr, s->attrs[0].key.len,
	                       "\xEF\xBF\xBD", 3));
	/* bytes values stay as they are */
	ksk_wire_dec_destroy(d);
	pl_free(&p);

	/* a repaired string must still fit max_str */
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_str = 16;
	span_base(&r);
	rec_set(&r, FS(4, "\xff\xff\xff\xff\xff\xff"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "max_str");
}

/* ---- decoder validation -------------------------------------------------- */

static void test_decode_span_errors(void **state)
{
	(void)state;
	rec r;

	span_base(&r);
	rec_set(&r, FI(4, 7));
	rec_expect(&r, KSK_ERECORD, "record 1 (span): key 4 (name) must be str, got int");

	span_base(&r);
	rec_set(&r, FB(1, 15, 1));
	rec_expect(&r, KSK_ERECORD, "record 1 (span): trace_id must be 16 bytes, got 15");
	span_base(&r);
	rec_set(&r, FS(1, "0123456789abcdef"));
	rec_expect(&r, KSK_ERECORD, "key 1 (trace_id) must be bin, got str");
	span_base(&r);
	rec_set(&r, FB(2, 9, 1));
	rec_expect(&r, KSK_ERECORD, "span_id must be 8 bytes, got 9");
	span_base(&r);
	rec_set(&r, FR(1, "c4 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "trace_id is all zero");
	span_base(&r);
	rec_set(&r, FR(2, "c4 08 00 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "span_id is all zero");
	span_base(&r);
	rec_add(&r, FB(3, 4, 1));
	rec_expect(&r, KSK_ERECORD, "parent_id must be 8 bytes, got 4");

	/* a zero parent is "no parent" */
	span_base(&r);
	rec_add(&r, FR(3, "c4 08 00 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_OK, NULL);

	/* required keys */
	static const struct {
		uint64_t key;
		const char *msg;
	} req[] = {{1, "missing key 1 (trace_id)"}, {2, "missing key 2 (span_id)"},
	           {4, "missing key 4 (name)"},     {6, "missing key 6 (start_ns)"},
	           {7, "missing key 7 (end_ns)"},   {13, "missing key 13 (resource)"}};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		span_base(&r);
		rec_del(&r, req[i].key);
		rec_expect(&r, KSK_ERECORD, req[i].msg);
	}

	/* end before start, at record 3 */
	{
		pl p;
		rec ok, bad, res;
		res_base(&res);
		span_base(&ok);
		span_base(&bad);
		rec_set(&bad, FU(6, 9));
		rec_set(&bad, FU(7, 5));
		pl_init(&p);
		pl_rec(&p, &res);
		pl_rec(&p, &ok);
		pl_rec(&p, &ok);
		pl_rec(&p, &bad);
		expect_err(&p, KSK_ERECORD, "record 3 (span): end_ns 5 < start_ns 9");
		pl_free(&p);
	}

	span_base(&r);
	rec_add(&r, FU(5, 6));
	rec_expect(&r, KSK_ERECORD, "key 5 (kind) = 6 out of range 0..5");
	span_base(&r);
	rec_add(&r, FU(8, 3));
	rec_expect(&r, KSK_ERECORD, "key 8 (status) = 3 out of range 0..2");
	span_base(&r);
	rec_add(&r, FU(15, 1ull << 32));
	rec_expect(&r, KSK_ERECORD, "key 15 (flags) = 4294967296 out of range");
	span_base(&r);
	rec_set(&r, FI(6, -1));
	rec_expect(&r, KSK_ERECORD, "key 6 (start_ns) must be uint, got int");
	span_base(&r);
	rec_set(&r, FS(13, "0"));
	rec_expect(&r, KSK_ERECORD, "key 13 (resource) must be uint, got str");
	span_base(&r);
	rec_set(&r, FU(13, 1));
	rec_expect(&r, KSK_ERECORD, "resource 1 not defined (1 resources so far)");
	span_base(&r);
	rec_add(&r, FU(6, 9));
	rec_expect(&r, KSK_ERECORD, "duplicate key 6");
	span_base(&r);
	rec_add(&r, FU(0, 2));
	rec_expect(&r, KSK_ERECORD, "duplicate key 0");
	span_base(&r);
	rec_add(&r, FS(16, "scope"));
	rec_add(&r, FS(16, "scope"));
	rec_expect(&r, KSK_ERECORD, "duplicate key 16 (scope_name)");
	span_base(&r);
	rec_add(&r, FU(9, 1));
	rec_expect(&r, KSK_ERECORD, "key 9 (status_msg) must be str");
	span_base(&r);
	rec_add(&r, FU(14, 1));
	rec_expect(&r, KSK_ERECORD, "key 14 (trace_state) must be str");
	span_base(&r);
	rec_add(&r, FN(17));
	rec_expect(&r, KSK_ERECORD, "key 17 (scope_version) must be str, got nil");
	span_base(&r);
	rec_add(&r, FI(18, -3));
	rec_expect(&r, KSK_ERECORD, "key 18 (dropped_attrs) must be uint");
	span_base(&r);
	rec_add(&r, FS(19, "x"));
	rec_expect(&r, KSK_ERECORD, "key 19 (dropped_events) must be uint");
	span_base(&r);
	rec_add(&r, FR(20, "cf 00 00 00 01 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "key 20 (dropped_links) = 4294967296");

	/* events and links */
	span_base(&r);
	rec_add(&r, FR(11, "81 01 02"));
	rec_expect(&r, KSK_ERECORD, "key 11 (events) must be array, got map");
	span_base(&r);
	rec_add(&r, FR(11, "92 80 05"));
	rec_expect(&r, KSK_ERECORD, "event 1: must be map, got int");
	span_base(&r);
	rec_add(&r, FR(11, "92 80 81 02 05"));
	rec_expect(&r, KSK_ERECORD, "record 1 (span): event 1: key 2 (name) must be str, got int");
	span_base(&r);
	rec_add(&r, FR(11, "91 82 01 01 01 02"));
	rec_expect(&r, KSK_ERECORD, "event 0: duplicate key 1 (time_ns)");
	span_base(&r);
	rec_add(&r, FR(11, "91 81 a1 61 01"));
	rec_expect(&r, KSK_ERECORD, "event 0: map key at position 0 must be uint, got str");
	span_base(&r);
	rec_add(&r, FR(11, "91 81 03 90"));
	rec_expect(&r, KSK_ERECORD, "event 0: key 3 (attrs) must be map, got array");
	span_base(&r);
	rec_add(&r, FR(11, "91 81 04 ff"));
	rec_expect(&r, KSK_ERECORD, "event 0: key 4 (dropped_attrs) must be uint, got int");
	span_base(&r);
	rec_add(&r, FR(12, "91 81 01 c4 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"));
	rec_expect(&r, KSK_ERECORD, "link 0: missing key 2 (span_id)");
	span_base(&r);
	rec_add(&r, FR(12, "91 81 02 c4 08 01 02 03 04 05 06 07 08"));
	rec_expect(&r, KSK_ERECORD, "link 0: missing key 1 (trace_id)");
	span_base(&r);
	rec_add(&r, FR(12, "91 82 01 c4 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	                   " 02 c4 08 01 02 03 04 05 06 07 08"));
	rec_expect(&r, KSK_ERECORD, "link 0: trace_id is all zero");
	span_base(&r);
	rec_add(&r, FR(12, "91 82 01 c4 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"
	                   " 02 c4 08 00 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "link 0: span_id is all zero");
	span_base(&r);
	rec_add(&r, FR(12, "91 83 01 c4 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"
	                   " 02 c4 08 01 02 03 04 05 06 07 08 04 cf 01 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "link 0: key 4 (flags) = 72057594037927936 out of range");
	span_base(&r);
	rec_add(&r, FR(12, "a1 78"));
	rec_expect(&r, KSK_ERECORD, "key 12 (links) must be array, got str");
	span_base(&r);
	rec_add(&r, FR(12, "91 c0"));
	rec_expect(&r, KSK_ERECORD, "link 0: must be map, got nil");
}

static void test_decode_value_errors(void **state)
{
	(void)state;
	rec r;
	span_base(&r);
	rec_add(&r, FR(10, "92 01 02"));
	rec_expect(&r, KSK_ERECORD, "key 10 (attrs) must be map, got array");
	span_base(&r);
	rec_add(&r, FR(10, "81 01 02"));
	rec_expect(&r, KSK_ERECORD, "key 10 (attrs): attribute 0 key must be str, got int");
	span_base(&r);
	rec_add(&r, FR(10, "82 a1 61 01 a0 02"));
	rec_expect(&r, KSK_ERECORD, "key 10 (attrs): attribute 1 key is empty");
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 cf 80 00 00 00 00 00 00 00"));
	rec_expect(&r, KSK_ERECORD, "integer 9223372036854775808 over INT64_MAX");
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 d4 01 00"));
	rec_expect(&r, KSK_ERECORD, "msgpack type ext is not a value type");
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 81 05 c0")); /* kvlist with int key */
	rec_expect(&r, KSK_ERECORD, "attribute 0 key must be str, got int");
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 81 a0 c0")); /* kvlist with empty key */
	rec_expect(&r, KSK_ERECORD, "attribute 0 key is empty");
	/* INT64_MAX itself is fine */
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 cf 7f ff ff ff ff ff ff ff"));
	rec_expect(&r, KSK_OK, NULL);

	/* nesting: max_depth containers are fine, one more is ELIMIT */
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	char hex[512];
	for (int depth = 15; depth <= 17; depth++) {
		strcpy(hex, "81 a1 61");
		for (int i = 0; i < depth; i++)
			strcat(hex, " 91");
		strcat(hex, " c0");
		span_base(&r);
		rec_add(&r, FR(10, hex));
		if (depth <= 16)
			rec_expect(&r, KSK_OK, NULL);
		else
			rec_expect(&r, KSK_ELIMIT, "value nested deeper than max_depth 16");
	}
	/* the same inside an event's attributes (4 record levels above) */
	strcpy(hex, "91 81 03 81 a1 61");
	for (int i = 0; i < 17; i++)
		strcat(hex, " 91");
	strcat(hex, " c0");
	span_base(&r);
	rec_add(&r, FR(11, hex));
	rec_expect(&r, KSK_ELIMIT, "max_depth");
	/* far deeper than any limit: the guard refuses it */
	strcpy(hex, "81 a1 61");
	for (int i = 0; i < 40; i++)
		strcat(hex, " 91");
	strcat(hex, " c0");
	span_base(&r);
	rec_add(&r, FR(10, hex));
	rec_expect(&r, KSK_EMSGPACK, "malformed or hostile msgpack at offset 3");

	/* attribute, event, link, string and container limits */
	lim.max_attrs = 2;
	lim.max_events = 1;
	lim.max_links = 1;
	lim.max_str = 16; /* IDs are 16-byte bins */
	lim.max_container = 24;
	span_base(&r);
	rec_add(&r, FR(10, "83 a1 61 01 a1 62 02 a1 63 03"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "key 10 (attrs): 3 attributes over max_attrs 2");
	span_base(&r);
	rec_add(&r, FR(11, "92 80 80"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "key 11 (events): 2 events over max_events 1");
	span_base(&r);
	rec_add(&r, FR(11, "91 81 03 83 a1 61 01 a1 62 02 a1 63 03"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "event 0: key 3 (attrs): 3 attributes over max_attrs 2");
	span_base(&r);
	rec_add(&r, FR(12, "92 80 80"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "key 12 (links): 2 links over max_links 1");
	span_base(&r);
	rec_set(&r, FS(4, "12345678901234567"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "over max_str 16");
	span_base(&r);
	rec_set(&r, FS(4, "1234567890123456"));
	rec_expect_lim(&r, &lim, KSK_OK, NULL);
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 c4 11 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "over max_str 16");
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 dc 00 19 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	                   " 00 00 00 00 00 00 00 00"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "over max_container 24");
	lim.max_depth = 1;
	span_base(&r);
	rec_add(&r, FR(10, "81 a1 61 91 91 c0"));
	rec_expect_lim(&r, &lim, KSK_ELIMIT, "max_depth 1");
}

static void test_decode_log_and_record_errors(void **state)
{
	(void)state;
	rec r;
	log_base(&r);
	rec_expect(&r, KSK_OK, NULL);
	log_base(&r);
	rec_del(&r, 1);
	rec_expect(&r, KSK_ERECORD, "time_ns and observed_ns are both 0 or absent");
	log_base(&r);
	rec_set(&r, FU(1, 0));
	rec_add(&r, FU(2, 0));
	rec_expect(&r, KSK_ERECORD, "record 1 (log): time_ns and observed_ns");
	log_base(&r);
	rec_del(&r, 1);
	rec_add(&r, FU(2, 5)); /* observed only is fine */
	rec_expect(&r, KSK_OK, NULL);
	log_base(&r);
	rec_add(&r, FU(3, 25));
	rec_expect(&r, KSK_ERECORD, "key 3 (severity) = 25 out of range 0..24");
	log_base(&r);
	rec_add(&r, FU(4, 25));
	rec_expect(&r, KSK_ERECORD, "key 4 (severity_text) must be str");
	log_base(&r);
	rec_add(&r, FB(7, 8, 1));
	rec_expect(&r, KSK_ERECORD, "record 1 (log): trace_id must be 16 bytes, got 8");
	log_base(&r);
	rec_add(&r, FB(8, 16, 1));
	rec_expect(&r, KSK_ERECORD, "span_id must be 8 bytes, got 16");
	log_base(&r);
	rec_add(&r, FI(9, -1));
	rec_expect(&r, KSK_ERECORD, "key 9 (flags) must be uint");
	log_base(&r);
	rec_del(&r, 10);
	rec_expect(&r, KSK_ERECORD, "missing key 10 (resource)");
	log_base(&r);
	rec_add(&r, FR(5, "c7 01 05 00")); /* ext body */
	rec_expect(&r, KSK_ERECORD, "key 5 (body): msgpack type ext");
	log_base(&r);
	rec_add(&r, FR(6, "c0"));
	rec_expect(&r, KSK_ERECORD, "key 6 (attrs) must be map, got nil");
	log_base(&r);
	rec_add(&r, FU(11, 1));
	rec_expect(&r, KSK_ERECORD, "key 11 (event_name) must be str");
	log_base(&r);
	rec_add(&r, FU(12, 1));
	rec_expect(&r, KSK_ERECORD, "key 12 (scope_name) must be str");
	log_base(&r);
	rec_add(&r, FU(13, 1));
	rec_expect(&r, KSK_ERECORD, "key 13 (scope_version) must be str");
	log_base(&r);
	rec_add(&r, FS(14, "1"));
	rec_expect(&r, KSK_ERECORD, "key 14 (dropped_attrs) must be uint");
	log_base(&r);
	rec_add(&r, FU(1, 5));
	rec_expect(&r, KSK_ERECORD, "duplicate key 1 (time_ns)");

	/* resource 4 of 2, at record 2 */
	{
		pl p;
		rec res, lg;
		res_base(&res);
		log_base(&lg);
		rec_set(&lg, FU(10, 4));
		pl_init(&p);
		pl_rec(&p, &res);
		pl_rec(&p, &res);
		pl_rec(&p, &lg);
		expect_err(&p, KSK_ERECORD, "record 2 (log): resource 4 not defined (2 resources so far)");
		pl_free(&p);
	}
	/* a log may refer to a resource only after it */
	{
		pl p;
		rec res, lg;
		res_base(&res);
		log_base(&lg);
		pl_init(&p);
		pl_rec(&p, &lg);
		pl_rec(&p, &res);
		expect_err(&p, KSK_ERECORD, "record 0 (log): resource 0 not defined (0 resources so far)");
		pl_free(&p);
	}

	/* resources */
	res_base(&r);
	rec_add(&r, FR(1, "90"));
	rec_expect(&r, KSK_ERECORD, "record 1 (resource): key 1 (attrs) must be map, got array");
	res_base(&r);
	rec_add(&r, FI(2, -2));
	rec_expect(&r, KSK_ERECORD, "key 2 (dropped_attrs) must be uint");
	res_base(&r);
	rec_add(&r, FR(1, "80"));
	rec_add(&r, FR(1, "80"));
	rec_expect(&r, KSK_ERECORD, "duplicate key 1 (attrs)");
	res_base(&r);
	rec_add(&r, FU(3, 1)); /* unknown key */
	rec_expect(&r, KSK_OK, NULL);

	/* record level */
	r.n = 0;
	rec_add(&r, FU(0, 7));
	rec_expect(&r, KSK_ERECORD, "record 1: unknown record type 7");
	r.n = 0;
	rec_add(&r, FU(0, 0));
	rec_expect(&r, KSK_ERECORD, "unknown record type 0");
	r.n = 0;
	rec_add(&r, FU(1, 1));
	rec_expect(&r, KSK_ERECORD, "record 1: missing key 0 (record type)");
	r.n = 0;
	rec_add(&r, FS(0, "span"));
	rec_expect(&r, KSK_ERECORD, "key 0 (type) must be uint, got str");
	r.n = 0;
	rec_add(&r, FI(0, -2));
	rec_expect(&r, KSK_ERECORD, "key 0 (type) must be uint, got int");
	span_base(&r);
	{
		pl p;
		pl_with_res(&p, &r);
		/* patch: a str key "x" in place of key 13 (last pair: 0d 00) */
		p.sb.data[p.sb.size - 2] = (char)0xa1;
		p.sb.data[p.sb.size - 1] = 'x';
		msgpack_sbuffer_write(&p.sb, "\x00", 1);
		expect_err(&p, KSK_ERECORD, "map key at position 6 must be uint, got str");
		pl_free(&p);
	}
	{
		pl p;
		pl_init(&p);
		pl_hex(&p, "93 01 02 03", 1);
		expect_err(&p, KSK_ERECORD, "record 0: must be a map, got array");
		pl_free(&p);
	}
}

static void test_decode_count_errors(void **state)
{
	(void)state;
	rec r;
	span_base(&r);
	pl p;
	pl_with_res(&p, &r);
	const uint8_t *data = (const uint8_t *)p.sb.data;
	size_t len = p.sb.size;
	ksk_wire_dec *d;
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_records = 3;
	assert_int_equal(ksk_wire_dec_create(NULL, &lim, &d), KSK_OK);
	ksk_batch sentinel;
	const ksk_batch *b = &sentinel; /* must be cleared on error */
	ksk_errinfo ei;
	assert_int_equal(ksk_wire_decode(d, data, len, 2, &b, &ei), KSK_OK);
	assert_true(b != &sentinel);
	b = &sentinel;
	assert_int_equal(ksk_wire_decode(d, data, len, 1, &b, &ei), KSK_ECOUNT);
	assert_null(b);
	assert_non_null(strstr(ei.msg, "bytes left after the 1 records"));
	assert_int_equal(ksk_wire_decode(d, data, len, 3, &b, &ei), KSK_ECOUNT);
	assert_non_null(strstr(ei.msg, "payload ends after 2 records, count is 3"));
	assert_int_equal(ksk_wire_decode(d, data, len, 4, &b, &ei), KSK_ELIMIT);
	assert_non_null(strstr(ei.msg, "max_records 3"));
	assert_int_equal(ksk_wire_decode(d, data, 2, 3, &b, &ei), KSK_ECOUNT);
	assert_non_null(strstr(ei.msg, "only 2 bytes"));
	assert_int_equal(ksk_wire_decode(d, data, len, 0, &b, &ei), KSK_ECOUNT);
	assert_int_equal(ksk_wire_decode(d, data, len - 1, 2, &b, &ei), KSK_EMSGPACK);
	assert_non_null(strstr(ei.msg, "record 1: truncated"));
	assert_int_equal(ksk_wire_decode(d, NULL, 5, 0, &b, &ei), KSK_EINVAL);
	/* after errors the decoder still works */
	assert_int_equal(ksk_wire_decode(d, data, len, 2, &b, &ei), KSK_OK);
	assert_int_equal(b->n_spans, 1);
	ksk_wire_dec_destroy(d);

	/* a tiny arena cap */
	lim.max_records = 100;
	lim.max_arena = 64;
	expect_err_lim(&p, &lim, KSK_ELIMIT, "max_arena");
	pl_free(&p);
}

/* ---- encoder validation ------------------------------------------------- */

static void expect_enc_rejects(ksk_wire_enc *e, const ksk_span *s,
                               const ksk_log *l, ksk_err code)
{
	size_t before;
	const uint8_t *p = ksk_wire_enc_data(e, &before);
	uint8_t *copy = malloc(before + 1);
	memcpy(copy, p, before);
	uint32_t count = ksk_wire_enc_count(e);
	if (s)
		assert_int_equal(ksk_wire_enc_span(e, s), code);
	if (l)
		assert_int_equal(ksk_wire_enc_log(e, l), code);
	size_t after;
	p = ksk_wire_enc_data(e, &after);
	assert_int_equal(after, before);
	assert_memory_equal(p, copy, before);
	assert_int_equal(ksk_wire_enc_count(e), count);
	free(copy);
}

static void test_encoder_rejects(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_attrs = 14;
	lim.max_events = 2;
	lim.max_links = 2;
	lim.max_str = 64;
	lim.max_depth = 4;
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, &lim, 0, &e), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[0], NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[1], NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &f.spans[0]), KSK_OK);
	assert_int_equal(ksk_wire_enc_log(e, &f.logs[0]), KSK_OK);

	ksk_span s = f.spans[0];
	memset(s.trace_id, 0, 16);
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	memset(s.span_id, 0, 8);
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.end_ns = s.start_ns - 1;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.kind = (ksk_span_kind)6;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.status = (ksk_status_code)3;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.resource = 2;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.n_attrs = 15; /* over max_attrs (and past the array, never read) */
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.n_events = 3;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.n_links = 3;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.name = (ksk_str){NULL, 3};
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s = f.spans[0];
	s.name = KSK_STR("0123456789012345678901234567890123456789012345678901234567890123456789");
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	/* a long invalid string could pass max_str once repaired */
	s = f.spans[0];
	s.name = KSK_STR("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	s.name = KSK_STR("\xff\xff\xff");
	assert_int_equal(ksk_wire_enc_span(e, &s), KSK_OK);

	ksk_attr bad_attr[1];
	s = f.spans[0];
	bad_attr[0] = (ksk_attr){KSK_STR(""), ksk_val_int(1)};
	s.attrs = bad_attr;
	s.n_attrs = 1;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	/* depth: the fixture's "map" attribute is 4 containers deep, which
	 * max_depth 4 allows; one more level is refused */
	ksk_value deep[1], deeper[1];
	deep[0] = val_arr(f.arr, 4);
	deeper[0] = val_arr(deep, 1);
	bad_attr[0] = (ksk_attr){KSK_STR("d"), val_arr(deeper, 1)};
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	bad_attr[0].value.type = (ksk_val_type)9;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	ksk_link lk = f.links[0];
	memset(lk.span_id, 0, 8);
	s = f.spans[0];
	s.links = &lk;
	s.n_links = 1;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);
	ksk_event ev = f.events[0];
	ev.name = (ksk_str){NULL, 1};
	s = f.spans[0];
	s.events = &ev;
	s.n_events = 1;
	expect_enc_rejects(e, &s, NULL, KSK_EINVAL);

	ksk_log l = f.logs[0];
	l.time_ns = l.observed_ns = 0;
	expect_enc_rejects(e, NULL, &l, KSK_EINVAL);
	l = f.logs[0];
	l.severity = 25;
	expect_enc_rejects(e, NULL, &l, KSK_EINVAL);
	l = f.logs[0];
	l.resource = 9;
	expect_enc_rejects(e, NULL, &l, KSK_EINVAL);
	l = f.logs[0];
	l.body = val_bytes(NULL, 2);
	expect_enc_rejects(e, NULL, &l, KSK_EINVAL);

	ksk_resource res = f.res[0];
	res.n_attrs = 15;
	assert_int_equal(ksk_wire_enc_resource(e, &res, NULL), KSK_EINVAL);
	assert_int_equal(ksk_wire_enc_resource(NULL, &res, NULL), KSK_EINVAL);
	assert_int_equal(ksk_wire_enc_span(e, NULL), KSK_EINVAL);

	/* what is in the payload still decodes */
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, &lim, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	assert_int_equal(ksk_wire_decode(d, p, len, ksk_wire_enc_count(e), &b, &ei),
	                 KSK_OK);
	assert_int_equal(b->n_spans, 2);
	assert_span_eq(&f.spans[0], &b->spans[0]);
	assert_int_equal(b->spans[1].name.len, 9); /* three U+FFFD */
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
}

/* Size of one record appended alone after an attribute-less resource. */
static size_t span_size(const ksk_span *s)
{
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	ksk_span c = *s;
	c.resource = 0;
	assert_int_equal(ksk_wire_enc_span(e, &c), KSK_OK);
	size_t len;
	ksk_wire_enc_data(e, &len);
	ksk_wire_enc_destroy(e);
	return len - 3;
}

static void test_encoder_caps(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	ksk_span big = f.spans[0], small = f.spans[1];
	small.resource = 0;
	size_t bs = span_size(&big), ss = span_size(&small);
	assert_true(ss < bs / 2);
	/* room for the resource, one big span, one small span and a bit */
	size_t cap = 3 + bs + ss + bs / 2;
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, cap, &e), KSK_OK);
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &big), KSK_OK);
	size_t before, after;
	const uint8_t *p = ksk_wire_enc_data(e, &before);
	assert_int_equal(before, 3 + bs);
	assert_int_equal(ksk_wire_enc_span(e, &big), KSK_ELIMIT);
	p = ksk_wire_enc_data(e, &after);
	assert_int_equal(after, before);
	assert_int_equal(ksk_wire_enc_count(e), 2);
	/* a smaller record still fits: the failed one left no trace */
	assert_int_equal(ksk_wire_enc_span(e, &small), KSK_OK);
	p = ksk_wire_enc_data(e, &after);
	assert_int_equal(after, 3 + bs + ss);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	assert_int_equal(ksk_wire_decode(d, p, after, 3, &b, NULL), KSK_OK);
	assert_int_equal(b->n_spans, 2);
	assert_span_eq(&big, &b->spans[0]);
	assert_span_eq(&small, &b->spans[1]);
	ksk_wire_enc_destroy(e);

	/* max_records */
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_records = 3;
	assert_int_equal(ksk_wire_enc_create(NULL, &lim, 0, &e), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &small), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &small), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &small), KSK_ELIMIT);
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_ELIMIT);
	p = ksk_wire_enc_data(e, &after);
	assert_int_equal(ksk_wire_decode(d, p, after, 3, &b, NULL), KSK_OK);
	ksk_wire_dec_destroy(d);
	ksk_wire_enc_destroy(e);
}

/* ---- the guard ---------------------------------------------------------- */

static long guard_hex(const char *hex, const ksk_wire_limits *l, uint64_t *objs)
{
	uint8_t b[256];
	size_t n = hexb(hex, b);
	return ksk_wire_guard(b, n, l, objs);
}

static void test_guard(void **state)
{
	(void)state;
	ksk_wire_limits l;
	ksk_wire_limits_default(&l);
	uint64_t objs = 0;
	assert_int_equal(guard_hex("c0", &l, &objs), 1);
	assert_int_equal(objs, 1);
	assert_int_equal(guard_hex("81 01 92 01 02", &l, &objs), 5);
	assert_int_equal(objs, 5);
	assert_int_equal(guard_hex("01 02", &l, NULL), 1);
	assert_int_equal(guard_hex("", &l, NULL), 0);
	assert_int_equal(guard_hex("a5 61 62", &l, NULL), 0);
	assert_int_equal(guard_hex("cd 01", &l, NULL), 0);
	assert_int_equal(guard_hex("dc 00", &l, NULL), 0);
	assert_int_equal(guard_hex("92 01", &l, NULL), -1); /* 2 elements, 1 byte */
	assert_int_equal(guard_hex("c1", &l, NULL), -1);
	assert_int_equal(guard_hex("91 c1", &l, NULL), -1);
	assert_int_equal(guard_hex("d4 01 00", &l, NULL), 3);
	assert_int_equal(guard_hex("c7 00 05", &l, NULL), 3);
	assert_int_equal(guard_hex("cb 00 00 00 00 00 00 00", &l, NULL), 0);
	assert_int_equal(guard_hex("c4 02 00 00 c0", &l, NULL), 4);
	assert_int_equal(guard_hex("90", &l, &objs), 1);
	assert_int_equal(guard_hex("de 00 01 a1 61 80", &l, &objs), 6);
	assert_int_equal(objs, 3);
	assert_int_equal(guard_hex("c3", NULL, NULL), 1);
	assert_int_equal(ksk_wire_guard(NULL, 0, &l, NULL), 0);

	l.max_depth = 2;
	assert_int_equal(guard_hex("91 91 c0", &l, NULL), 3);
	assert_int_equal(guard_hex("91 91 91 c0", &l, NULL), -1);
	assert_int_equal(guard_hex("91 90", &l, NULL), 2);
	assert_int_equal(guard_hex("91 91 90", &l, NULL), -1); /* empty counts */
	l.max_depth = 100; /* capped at msgpack-c's 32 */
	char hex[256] = "";
	for (int i = 0; i < 33; i++)
		strcat(hex, "91 ");
	strcat(hex, "c0");
	assert_int_equal(guard_hex(hex, &l, NULL), -1);
	hex[3 * 32] = '\0';
	strcat(hex, "c0");
	assert_int_equal(guard_hex(hex, &l, NULL), 33);

	ksk_wire_limits_default(&l);
	l.max_container = 2;
	assert_int_equal(guard_hex("92 01 02", &l, NULL), 3);
	assert_int_equal(guard_hex("93 01 02 03", &l, NULL), -1);
	assert_int_equal(guard_hex("83 01 01 02 02 03 03", &l, NULL), -1);
	l.max_str = 2;
	assert_int_equal(guard_hex("a2 61 62", &l, NULL), 3);
	assert_int_equal(guard_hex("a3 61 62 63", &l, NULL), -1);
	assert_int_equal(guard_hex("c4 03 61 62 63", &l, NULL), -1);
	assert_int_equal(guard_hex("c7 03 01 61 62 63", &l, NULL), -1);
}

static void test_hostile_headers(void **state)
{
	(void)state;
	static const char *const hostile[] = {
		"dd ff ff ff ff",                /* array32 of 2^32-1 */
		"df ff ff ff ff",                /* map32 of 2^32-1 */
		"db ff ff ff ff 41",             /* str32 of 4 GiB */
		"c6 ff ff ff ff 41",             /* bin32 of 4 GiB */
		"c9 ff ff ff ff 01 41",          /* ext32 of 4 GiB */
		"c1",
		"81 00 c1",
		"82 00 02 01 c1",
		"dd 08 00 00 00 c0",             /* array32 of 134M */
	};
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		uint8_t buf[64];
		size_t n = hexb(hostile[i], buf);
		double t0 = now_s();
		ksk_err rc = ksk_wire_decode(d, buf, n, 1, &b, &ei);
		assert_true(rc == KSK_EMSGPACK || rc == KSK_ELIMIT || rc == KSK_ECOUNT);
		assert_true(now_s() - t0 < 0.5);
	}
	/* 100000-deep nesting */
	size_t n = 100001;
	uint8_t *deep = malloc(n);
	memset(deep, 0x91, n - 1);
	deep[n - 1] = 0xc0;
	double t0 = now_s();
	assert_int_equal(ksk_wire_decode(d, deep, n, 1, &b, &ei), KSK_EMSGPACK);
	assert_non_null(strstr(ei.msg, "malformed or hostile msgpack at offset 0"));
	assert_int_equal(ksk_wire_guard(deep, n, NULL, NULL), -1);
	/* also as the value of a span attribute */
	deep[0] = 0x81;
	deep[1] = 0x00;
	assert_int_equal(ksk_wire_decode(d, deep, n, 1, &b, &ei), KSK_EMSGPACK);
	assert_true(now_s() - t0 < 0.5);
	free(deep);
	/* a big count over few bytes: refused before anything is allocated */
	uint8_t one[3] = {0x81, 0x00, 0x01};
	assert_int_equal(ksk_wire_decode(d, one, 3, 0xffffffffu, &b, &ei), KSK_ELIMIT);
	ksk_wire_dec_destroy(d);
}

/* ---- robustness over a realistic payload -------------------------------- */

typedef struct payload {
	uint8_t *data;
	size_t len;
	uint32_t count;
} payload;

static void payload_from_enc(payload *p, const ksk_wire_enc *e)
{
	const uint8_t *d = ksk_wire_enc_data(e, &p->len);
	p->data = malloc(p->len ? p->len : 1);
	memcpy(p->data, d, p->len);
	p->count = ksk_wire_enc_count(e);
}

static void fixture_payload(payload *p)
{
	fixture f;
	fixture_init(&f);
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	fixture_encode(&f, e);
	payload_from_enc(p, e);
	ksk_wire_enc_destroy(e);
}

/* a resource, a span with one attribute and one event, a log */
static void small_payload(payload *p)
{
	fixture f;
	fixture_init(&f);
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	ksk_resource r = f.res[0];
	r.n_attrs = 1;
	assert_int_equal(ksk_wire_enc_resource(e, &r, NULL), KSK_OK);
	ksk_span s = f.spans[2];
	s.resource = 0;
	s.n_attrs = 1;
	s.events = f.events;
	s.n_events = 1;
	f.events[0].n_attrs = 1;
	s.end_ns = 9;
	assert_int_equal(ksk_wire_enc_span(e, &s), KSK_OK);
	ksk_log l = f.logs[1];
	l.resource = 0;
	l.body = ksk_val_str(KSK_STR("hi"));
	assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
	payload_from_enc(p, e);
	ksk_wire_enc_destroy(e);
}

static void test_truncation_every_offset(void **state)
{
	(void)state;
	payload p;
	fixture_payload(&p);
	ksk_failalloc fa;
	ksk_failalloc_init(&fa, 0, 0);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(&fa.table, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	for (size_t cut = 0; cut < p.len; cut++) {
		/* exact-size copy so ASan sees any read past the end */
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, p.data, cut);
		ksk_err rc = ksk_wire_decode(d, t, cut, p.count, &b, &ei);
		assert_int_not_equal(rc, KSK_OK);
		assert_true(rc == KSK_EMSGPACK || rc == KSK_ECOUNT);
		assert_null(b);
		free(t);
	}
	assert_int_equal(ksk_wire_decode(d, p.data, p.len, p.count, &b, &ei), KSK_OK);
	ksk_wire_dec_destroy(d);
	assert_int_equal(fa.live, 0);
	free(p.data);
}

static void test_bitflip_every_bit(void **state)
{
	(void)state;
	payload p;
	small_payload(&p);
	assert_true(p.len < 300);
	ksk_failalloc fa;
	ksk_failalloc_init(&fa, 0, 0);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(&fa.table, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	uint8_t *t = malloc(p.len);
	unsigned ok = 0, bad = 0;
	for (size_t bit = 0; bit < p.len * 8; bit++) {
		memcpy(t, p.data, p.len);
		t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ksk_err rc = ksk_wire_decode(d, t, p.len, p.count, &b, &ei);
		if (rc == KSK_OK) {
			ok++;
			assert_batch_sane(b);
		} else {
			bad++;
			assert_null(b);
			assert_int_equal(ei.code, rc);
			assert_true(ei.msg[0] != '\0');
		}
	}
	assert_true(ok > 0 && bad > 0);
	free(t);
	ksk_wire_dec_destroy(d);
	assert_int_equal(fa.live, 0);
	free(p.data);
}

/* 3000 spans and 1500 logs over 3 resources: past the first 1024 slots */
static void big_payload(payload *p, fixture *f)
{
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	for (int r = 0; r < 3; r++)
		assert_int_equal(ksk_wire_enc_resource(e, &f->res[0], NULL), KSK_OK);
	for (uint32_t i = 0; i < 3000; i++) {
		ksk_span s = f->spans[0];
		s.start_ns = i;
		s.end_ns = i + 10;
		s.resource = i % 3;
		assert_int_equal(ksk_wire_enc_span(e, &s), KSK_OK);
		if (i % 2 == 0) {
			ksk_log l = f->logs[0];
			l.time_ns = i + 1;
			l.resource = i % 3;
			assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
		}
	}
	payload_from_enc(p, e);
	ksk_wire_enc_destroy(e);
}

static void test_batch_growth(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	payload p;
	big_payload(&p, &f);
	assert_int_equal(p.count, 4503);
	ksk_wire_dec *d;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
	const ksk_batch *b;
	ksk_errinfo ei;
	/* the first decode spills over several arena chunks; the second one
	 * runs in a bigger arena sized from the first */
	assert_int_equal(ksk_wire_decode(d, p.data, p.len, p.count, &b, &ei), KSK_OK);
	assert_int_equal(b->n_spans, 3000);
	assert_int_equal(ksk_wire_decode(d, p.data, p.len, p.count, &b, &ei), KSK_OK);
	assert_int_equal(b->n_resources, 3);
	assert_int_equal(b->n_spans, 3000);
	assert_int_equal(b->n_logs, 1500);
	for (uint32_t i = 0; i < 3000; i++) {
		ksk_span s = f.spans[0];
		s.start_ns = i;
		s.end_ns = i + 10;
		s.resource = i % 3;
		assert_span_eq(&s, &b->spans[i]);
	}
	for (uint32_t i = 0; i < 1500; i++)
		assert_true(b->logs[i].time_ns == 2 * i + 1);
	assert_true(ksk_str_eq(b->resources[2].service, KSK_STR("checkout")));
	ksk_wire_dec_destroy(d);
	free(p.data);
}

static void run_failalloc_decode(const payload *p)
{
	int injected_runs = 0;
	for (unsigned long fail_at = 1; fail_at < 10000; fail_at++) {
		for (int after = 0; after <= 1; after++) {
			ksk_failalloc fa;
			ksk_failalloc_init(&fa, fail_at, after);
			ksk_wire_dec *d = NULL;
			ksk_err rc = ksk_wire_dec_create(&fa.table, NULL, &d);
			if (rc == KSK_OK) {
				const ksk_batch *b;
				ksk_errinfo ei;
				rc = ksk_wire_decode(d, p->data, p->len, p->count, &b, &ei);
				if (rc == KSK_OK)
					assert_int_equal(b->n_resources + b->n_spans + b->n_logs,
					                 p->count);
				else
					assert_int_equal(ei.code, KSK_ENOMEM);
				/* a second decode after the failure */
				if (rc != KSK_OK && !after) {
					rc = ksk_wire_decode(d, p->data, p->len, p->count, &b, &ei);
					assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
					rc = KSK_ENOMEM;
				}
				ksk_wire_dec_destroy(d);
			} else {
				assert_null(d);
			}
			assert_int_equal(fa.live, 0);
			if (fa.calls < fail_at) {
				/* nothing was failed: done */
				assert_int_equal(rc, KSK_OK);
				assert_true(injected_runs > 0);
				return;
			}
			assert_int_equal(rc, KSK_ENOMEM);
			injected_runs++;
		}
	}
	fail();
}

static void test_failalloc_decode(void **state)
{
	(void)state;
	payload p;
	fixture_payload(&p);
	run_failalloc_decode(&p);
	free(p.data);
	fixture f;
	fixture_init(&f);
	big_payload(&p, &f);
	run_failalloc_decode(&p);
	free(p.data);
}

static void test_failalloc_encode(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	for (unsigned long fail_at = 1; fail_at < 1000; fail_at++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, fail_at, 0);
		ksk_wire_enc *e = NULL;
		ksk_err rc = ksk_wire_enc_create(&fa.table, NULL, 0, &e);
		uint32_t ok = 0;
		if (rc == KSK_OK) {
			rc = ksk_wire_enc_resource(e, &f.res[0], NULL);
			assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			ok = rc == KSK_OK;
			for (int i = 0; ok && i < 40; i++) {
				ksk_err r2 = ksk_wire_enc_span(e, &f.spans[0]);
				assert_true(r2 == KSK_OK || r2 == KSK_ENOMEM);
				if (r2 == KSK_OK)
					ok++;
				else
					rc = r2;
			}
			assert_int_equal(ksk_wire_enc_count(e), ok);
			/* whatever got in decodes */
			size_t len;
			const uint8_t *p = ksk_wire_enc_data(e, &len);
			ksk_wire_dec *d;
			assert_int_equal(ksk_wire_dec_create(NULL, NULL, &d), KSK_OK);
			const ksk_batch *b;
			assert_int_equal(ksk_wire_decode(d, p, len, ok, &b, NULL), KSK_OK);
			ksk_wire_dec_destroy(d);
			ksk_wire_enc_destroy(e);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
		}
		assert_int_equal(fa.live, 0);
		if (fa.calls < fail_at) {
			assert_int_equal(rc, KSK_OK);
			assert_int_equal(ok, 41);
			return;
		}
		assert_int_equal(rc, KSK_ENOMEM);
	}
	fail();
}

/* ---- fuzz seeds ---------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, uint32_t count,
                       const uint8_t *p, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	uint8_t c = (uint8_t)count;
	assert_true(count < 256);
	fwrite(&c, 1, 1, fp);
	if (len)
		fwrite(p, 1, len, fp);
	fclose(fp);
}

static void test_write_seeds(void **state)
{
	(void)state;
	const char *dir = getenv("KSK_WRITE_SEEDS");
	if (!dir || !*dir) {
		skip();
		return;
	}
	payload p;
	fixture_payload(&p);
	write_seed(dir, "fixture", p.count, p.data, p.len);
	free(p.data);
	small_payload(&p);
	write_seed(dir, "small", p.count, p.data, p.len);
	/* the same under the fuzzer's small limits (high bit of byte 0) */
	write_seed(dir, "small_limits", 0x80 | p.count, p.data, p.len);
	free(p.data);

	fixture f;
	fixture_init(&f);
	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[0], NULL), KSK_OK);
	assert_int_equal(ksk_wire_enc_span(e, &f.spans[0]), KSK_OK);
	payload_from_enc(&p, e);
	write_seed(dir, "one_span", p.count, p.data, p.len);
	free(p.data);
	ksk_wire_enc_reset(e);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[1], NULL), KSK_OK);
	ksk_log l1 = f.logs[1];
	l1.resource = 0;
	assert_int_equal(ksk_wire_enc_log(e, &l1), KSK_OK);
	ksk_log l = f.logs[0];
	l.resource = 0;
	assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
	payload_from_enc(&p, e);
	write_seed(dir, "logs", p.count, p.data, p.len);
	free(p.data);
	/* a log whose body went without its ID digits (keys 15 and 16) */
	ksk_wire_enc_reset(e);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[1], NULL), KSK_OK);
	char th[33], sh[17], body[160];
	memset(&l, 0, sizeof(l));
	l.time_ns = 5;
	for (int i = 0; i < 16; i++)
		l.trace_id[i] = (uint8_t)(0x11 * (i + 1));
	for (int i = 0; i < 8; i++)
		l.span_id[i] = (uint8_t)(0x21 + i);
	ksk_hex_encode(l.trace_id, 16, th);
	ksk_hex_encode(l.span_id, 8, sh);
	snprintf(body, sizeof(body), "GET /x \xc3\xa9 trace_id=%s span_id=%s ok", th, sh);
	l.body = ksk_val_str(ksk_str_c(body));
	l.trace_hex_end = (uint32_t)(strstr(body, th) - body) + 32;
	l.span_hex_end = (uint32_t)(strstr(body, sh) - body) + 16;
	assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
	payload_from_enc(&p, e);
	write_seed(dir, "cut_ids", p.count, p.data, p.len);
	free(p.data);
	/* three logs of one file: the second and third say key 17 (attrs_prev) */
	ksk_wire_enc_reset(e);
	assert_int_equal(ksk_wire_enc_resource(e, &f.res[1], NULL), KSK_OK);
	ksk_attr fa[1] = {{KSK_STR("log.file.path"), ksk_val_str(KSK_STR("/var/log/a.log"))}};
	for (int i = 0; i < 3; i++) {
		memset(&l, 0, sizeof(l));
		l.time_ns = 9 + (uint64_t)i;
		l.body = ksk_val_str(KSK_STR("GET /x"));
		l.attrs = fa;
		l.n_attrs = 1;
		assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
	}
	payload_from_enc(&p, e);
	write_seed(dir, "attrs_prev", p.count, p.data, p.len);
	free(p.data);
	ksk_wire_enc_destroy(e);

	/* hand-made: unknown keys, float32, bad UTF-8, an error case */
	rec r;
	pl q;
	span_base(&r);
	rec_set(&r, FS(4, "a\xff" "b"));
	rec_add(&r, FU(99, 1));
	rec_add(&r, FR(10, "82 a1 66 ca 3f c0 00 00 a1 6e d3 80 00 00 00 00 00 00 00"));
	pl_with_res(&q, &r);
	write_seed(dir, "raw_forms", q.count, (const uint8_t *)q.sb.data, q.sb.size);
	pl_free(&q);
	span_base(&r);
	rec_set(&r, FU(7, 5));
	pl_with_res(&q, &r);
	write_seed(dir, "end_before_start", q.count, (const uint8_t *)q.sb.data,
	           q.sb.size);
	pl_free(&q);
	uint8_t h[16];
	size_t n = hexb("dd ff ff ff ff", h);
	write_seed(dir, "hostile_array32", 1, h, n);
	write_seed(dir, "empty", 0, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_roundtrip_full),
		cmocka_unit_test(test_direct_log_writer),
		cmocka_unit_test(test_encoder_layout),
		cmocka_unit_test(test_raw_forms_accepted),
		cmocka_unit_test(test_utf8_repair),
		cmocka_unit_test(test_decode_span_errors),
		cmocka_unit_test(test_decode_value_errors),
		cmocka_unit_test(test_decode_log_and_record_errors),
		cmocka_unit_test(test_decode_count_errors),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_encoder_caps),
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_truncation_every_offset),
		cmocka_unit_test(test_bitflip_every_bit),
		cmocka_unit_test(test_batch_growth),
		cmocka_unit_test(test_failalloc_decode),
		cmocka_unit_test(test_failalloc_encode),
		cmocka_unit_test(test_write_seeds),
		cmocka_unit_test(test_direct_log_decode),
		cmocka_unit_test(test_id_digits_cut),
		cmocka_unit_test(test_attrs_prev),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
