/*
 * bigtrace.c : `ksk-ui-bigtrace` sends ONE trace of N spans (10,000 or
 * 50,000 for the web UI's large-trace tests) and its logs to a collector's
 * intake, and prints `trace <32 hex>` on stdout. kiseki-gen makes traces of
 * at most 20 spans, so the UI tests need this.
 *
 * Data in: options. Data out: frames sent with col_client (one per 10,000
 * records, each with its own resources, sequence numbers from 1), acks
 * checked (stored or duplicate), the trace ID on stdout.
 *
 * Shape (deterministic for a seed): a random recursive tree (span i's
 * parent is uniform among spans 0..i-1: depth ~ 2.7 ln N), a child in the
 * parent's service as INTERNAL (70%) or in another service as SERVER;
 * each child lies inside its parent's time; one span in 97 is an error;
 * in a trace of 100 spans or more the shipping service's clock is 30 ms
 * behind (clock skew) and one span names a parent that does not exist (an
 * orphan);
 * `--logs` logs point at random spans and lie inside them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_client.h"
#include "gen.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#define BT_FRAME_RECORDS 10000u
#define BT_MAX_SPANS 1000000u

static const char *const bt_services[] = {"frontend", "cart",     "checkout", "payments",
                                          "inventory", "shipping", "auth",     "search"};
#define BT_N_SERVICES (sizeof(bt_services) / sizeof(bt_services[0]))

static const char *const bt_ops[] = {
	"GET /api/cart",   "POST /api/checkout", "SELECT items",   "INSERT orders",
	"redis GET",       "redis SET",          "POST /charge",   "GET /stock/{sku}",
	"kafka publish",   "render page",        "auth.verify",    "search.query",
	"compute tax",     "serialize response", "http client GET", "validate cart",
};
#define BT_N_OPS (sizeof(bt_ops) / sizeof(bt_ops[0]))
#define BT_SKEWED 5 /* "shipping": its clock runs behind */

static const char *const bt_msgs[] = {
	"cache miss for key", "retrying upstream call", "payment authorised",
	"inventory reserved", "slow query detected",    "connection reset by peer",
};

typedef struct bt_span {
	uint32_t parent;   /* index; UINT32_MAX for the root */
	uint32_t service;
	uint32_t op;
	uint64_t start, dur;
	uint8_t id[KSK_SPAN_ID_LEN];
	int error;
	int kind;
} bt_span;

static void usage(FILE *f)
{
	fputs("usage: ksk-ui-bigtrace --send URL [--spans N] [--logs N] [--seed N]\n"
	      "                       [--time NS]\n"
	      "Sends one trace of --spans spans (default 10000) and --logs logs\n"
	      "(default 300) linked to its spans to a collector's intake URL, then\n"
	      "prints 'trace <id>'. --time is the root's start in ns since the\n"
	      "epoch (default: now - 60 s).\n",
	      f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* the tree and its times; spans[0] is the root */
static void bt_build(ksk_gen *r, bt_span *sp, uint32_t n, uint64_t t0)
{
	sp[0] = (bt_span){.parent = UINT32_MAX, .service = 0, .op = 1, .start = t0,
	                  .dur = 4000000000ull, .kind = KSK_KIND_SERVER};
	ksk_gen_id(r, sp[0].id, KSK_SPAN_ID_LEN);
	for (uint32_t i = 1; i < n; i++) {
		bt_span *s = &sp[i];
		s->parent = ksk_gen_below(r, i);
		const bt_span *p = &sp[s->parent];
		if (ksk_gen_below(r, 10) < 7) {
			s->service = p->service;
			s->kind = KSK_KIND_INTERNAL;
		} else {
			s->service = (p->service + 1 + ksk_gen_below(r, BT_N_SERVICES - 1)) % BT_N_SERVICES;
			s->kind = KSK_KIND_SERVER;
		}
		s->op = ksk_gen_below(r, BT_N_OPS);
		/* inside the parent: start in its first 80%, end before its end */
		uint64_t off = p->dur / 1000 * ksk_gen_below(r, 800);
		uint64_t room = p->dur - off;
		s->start = p->start + off;
		s->dur = room / 1000 * (100 + ksk_gen_below(r, 800)) + 1000;
		if (s->dur > room)
			s->dur = room;
		s->error = ksk_gen_below(r, 97) == 0;
		ksk_gen_id(r, s->id, KSK_SPAN_ID_LEN);
	}
	if (n >= 100) {
		/* clock skew: the clock of the shipping hosts is 30 ms behind */
		for (uint32_t i = 1; i < n; i++)
			if (sp[i].service == BT_SKEWED)
				sp[i].start -= 30000000ull;
	}
}

typedef struct bt_sender {
	col_client *cl;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_frame_meta m;
	uint32_t in_frame;
} bt_sender;

static ksk_err bt_resources(bt_sender *s)
{
	for (uint32_t i = 0; i < BT_N_SERVICES; i++) {
		char host[32];
		snprintf(host, sizeof(host), "%s-host-%u", bt_services[i], i);
		ksk_attr a[3];
		a[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(ksk_str_c(bt_services[i]))};
		a[1] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(ksk_str_c(host))};
		a[2] = (ksk_attr){KSK_STR("service.version"), ksk_val_str(KSK_STR("2.1.0"))};
		ksk_resource res;
		memset(&res, 0, sizeof(res));
		res.attrs = a;
		res.n_attrs = 3;
		uint32_t idx;
		KSK_TRY(ksk_wire_enc_resource(s->we, &res, &idx));
	}
	return KSK_OK;
}

static ksk_err bt_flush(bt_sender *s, ksk_errinfo *ei)
{
	if (s->in_frame == 0)
		return KSK_OK;
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(s->we, &plen);
	s->m.seq++;
	s->m.record_count = ksk_wire_enc_count(s->we);
	const uint8_t *out;
	size_t olen;
	KSK_TRY(ksk_frame_encode(s->fe, &s->m, p, plen, &out, &olen, ei));
	ksk_ack ack;
	KSK_TRY(col_client_send_frame(s->cl, out, olen, &ack, ei));
	if (ack.outcome != KSK_ACK_STORED && ack.outcome != KSK_ACK_DUPLICATE)
		return ksk_errinfo_set(ei, ack.code, "frame seq %llu not stored: %s",
		                       (unsigned long long)s->m.seq, ack.msg);
	s->in_frame = 0;
	ksk_wire_enc_reset(s->we);
	return bt_resources(s);
}

static ksk_err bt_span_out(bt_sender *s, const uint8_t *trace, const bt_span *sp,
                           const bt_span *all, uint32_t i, bool orphan, ksk_errinfo *ei)
{
	ksk_span x;
	memset(&x, 0, sizeof(x));
	memcpy(x.trace_id, trace, KSK_TRACE_ID_LEN);
	memcpy(x.span_id, sp->id, KSK_SPAN_ID_LEN);
	if (orphan)
		memset(x.parent_id, 0xee, KSK_SPAN_ID_LEN); /* a span never sent */
	else if (sp->parent != UINT32_MAX)
		memcpy(x.parent_id, all[sp->parent].id, KSK_SPAN_ID_LEN);
	x.name = ksk_str_c(bt_ops[sp->op]);
	x.kind = (ksk_span_kind)sp->kind;
	x.start_ns = sp->start;
	x.end_ns = sp->start + sp->dur;
	x.flags = 0x101;
	x.resource = sp->service;
	if (sp->error) {
		x.status = KSK_STATUS_ERROR;
		x.status_msg = KSK_STR("upstream returned 503");
	}
	ksk_attr a[3];
	a[0] = (ksk_attr){KSK_STR("span.index"), ksk_val_int(i)};
	a[1] = (ksk_attr){KSK_STR("http.response.status_code"), ksk_val_int(sp->error ? 503 : 200)};
	a[2] = (ksk_attr){KSK_STR("app.shard"), ksk_val_int(i % 7)};
	x.attrs = a;
	x.n_attrs = 3;
	KSK_TRY(ksk_wire_enc_span(s->we, &x));
	if (++s->in_frame >= BT_FRAME_RECORDS)
		return bt_flush(s, ei);
	return KSK_OK;
}

static ksk_err bt_log_out(bt_sender *s, ksk_gen *r, const uint8_t *trace, const bt_span *sp,
                          ksk_errinfo *ei)
{
	char body[160];
	uint32_t m = ksk_gen_below(r, sizeof(bt_msgs) / sizeof(bt_msgs[0]));
	int n = snprintf(body, sizeof(body), "%s: attempt=%u latency_ms=%u", bt_msgs[m],
	                 1 + ksk_gen_below(r, 3), ksk_gen_below(r, 900));
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = sp->start + (sp->dur ? ksk_gen_u64(r) % sp->dur : 0);
	l.observed_ns = l.time_ns + 1000;
	l.severity = sp->error ? 17 : (ksk_gen_below(r, 10) == 0 ? 13 : 9);
	l.severity_text = ksk_str_c(ksk_severity_name(l.severity));
	l.body = ksk_val_str((ksk_str){body, (uint32_t)n});
	memcpy(l.trace_id, trace, KSK_TRACE_ID_LEN);
	memcpy(l.span_id, sp->id, KSK_SPAN_ID_LEN);
	l.flags = 1;
	l.resource = sp->service;
	KSK_TRY(ksk_wire_enc_log(s->we, &l));
	if (++s->in_frame >= BT_FRAME_RECORDS)
		return bt_flush(s, ei);
	return KSK_OK;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	uint64_t spans = 10000, logs = 300, seed = 7;
	uint64_t t0 = ksk_clock_wall(ksk_clock_system()) - 60000000000ull;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *dst = NULL;
		if (strcmp(a, "--send") == 0 && i + 1 < argc) {
			url = argv[++i];
			continue;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--spans") == 0)
			dst = &spans;
		else if (strcmp(a, "--logs") == 0)
			dst = &logs;
		else if (strcmp(a, "--seed") == 0)
			dst = &seed;
		else if (strcmp(a, "--time") == 0)
			dst = &t0;
		if (!dst || i + 1 >= argc || parse_u64(argv[++i], dst) != 0) {
			fprintf(stderr, "ksk-ui-bigtrace: bad argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!url || spans < 1 || spans > BT_MAX_SPANS || logs > BT_MAX_SPANS || seed == 0) {
		usage(stderr);
		return 2;
	}
	ksk_gen *r;
	bt_span *sp = calloc(spans, sizeof(*sp));
	if (!sp || ksk_gen_create(seed * 0x9e3779b97f4a7c15ull | 1, 1, &r) != KSK_OK) {
		free(sp);
		fprintf(stderr, "ksk-ui-bigtrace: out of memory\n");
		return 1;
	}
	uint8_t trace[KSK_TRACE_ID_LEN];
	ksk_gen_id(r, trace, KSK_TRACE_ID_LEN);
	bt_build(r, sp, (uint32_t)spans, t0);

	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	bt_sender s;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < KSK_AGENT_ID_LEN; i++)
		s.m.agent_id[i] = (uint8_t)(seed >> (8 * (i % 8))) ^ (uint8_t)(0xb1 + i);
	s.m.compress = true;
	s.m.created_ns = t0;
	ksk_err rc = col_client_open(url, 30000, &s.cl, &ei);
	if (rc == KSK_OK)
		rc = ksk_wire_enc_create(NULL, NULL, 0, &s.we);
	if (rc == KSK_OK)
		rc = ksk_frame_enc_create(NULL, 1, &s.fe);
	if (rc == KSK_OK)
		rc = bt_resources(&s);
	/* the orphan: a span in the middle of the array, when there are many */
	uint32_t orphan = spans >= 100 ? (uint32_t)(spans / 2) : UINT32_MAX;
	for (uint32_t i = 0; rc == KSK_OK && i < spans; i++)
		rc = bt_span_out(&s, trace, &sp[i], sp, i, i == orphan, &ei);
	/* logs: the root first, then error spans (up to half), then random spans */
	uint64_t k = 0;
	if (rc == KSK_OK && k < logs) {
		rc = bt_log_out(&s, r, trace, &sp[0], &ei);
		k++;
	}
	for (uint32_t i = 0; rc == KSK_OK && i < spans && k < logs / 2; i++)
		if (sp[i].error) {
			rc = bt_log_out(&s, r, trace, &sp[i], &ei);
			k++;
		}
	for (; rc == KSK_OK && k < logs; k++)
		rc = bt_log_out(&s, r, trace, &sp[ksk_gen_below(r, (uint32_t)spans)], &ei);
	if (rc == KSK_OK)
		rc = bt_flush(&s, &ei);
	col_client_close(s.cl);
	ksk_gen_destroy(r);
	ksk_frame_enc_destroy(s.fe);
	ksk_wire_enc_destroy(s.we);
	if (rc != KSK_OK) {
		free(sp);
		fprintf(stderr, "ksk-ui-bigtrace: %s: %s\n", ksk_errname(rc),
		        ei.msg[0] ? ei.msg : ksk_strerror(rc));
		return 1;
	}
	char hex[2 * KSK_TRACE_ID_LEN + 1];
	ksk_hex_encode(trace, KSK_TRACE_ID_LEN, hex);
	printf("trace %s\n", hex);
	fflush(stdout);
	free(sp);
	return 0;
}
