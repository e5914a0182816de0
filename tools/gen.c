/*
 * gen.c : deterministic synthetic spans, logs and log lines (tools/gen.h).
 *
 * Data in: a seed and sizes. Data out: records appended to a wire encoder,
 * or text lines in a caller's buffer.
 * Invariants: same seed and call sequence => same bytes (xorshift64*
 * PRNG, no clock reads); every span it emits passes the wire validation
 * (non-zero IDs, end >= start, parent set for non-roots); trace IDs are
 * random 128-bit values, so traces never collide across batches.
 */
#include "gen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kiseki/arena.h"

#define GEN_MAX_SERVICES 64
#define GEN_TRACE_MAX 50

struct ksk_gen {
	uint64_t s;                   /* PRNG state, never 0 */
	uint32_t services;            /* how many services exist */
	char names[GEN_MAX_SERVICES][24]; /* service names */
	char hosts[GEN_MAX_SERVICES][24]; /* host names */
	ksk_arena *arena;             /* per-batch strings */
	uint8_t last_trace[16];       /* recent span for log correlation */
	uint8_t last_span[8];
	uint32_t last_service;
	int have_last;
};

static const char *const gen_ops[] = {
	"GET /api/orders/{id}", "POST /api/orders",   "GET /api/users/{id}",
	"SELECT orders",        "INSERT payments",    "redis GET",
	"POST /charge",         "GET /inventory/{sku}", "kafka publish",
	"render checkout",      "auth.verify",        "GET /health",
};
static const char *const gen_regions[] = {"eu-west-1", "us-east-1", "ap-south-1"};
static const char *const gen_msgs[] = {
	"request handled", "cache miss for key", "retrying upstream call",
	"payment authorised", "inventory reserved", "slow query detected",
	"connection reset by peer", "user session refreshed",
};

static uint64_t gen_next(ksk_gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 2685821657736338717ull;
}

static uint32_t gen_below(ksk_gen *g, uint32_t n)
{
	return (uint32_t)((gen_next(g) >> 32) % n);
}

static void gen_id(ksk_gen *g, uint8_t *id, size_t n)
{
	do {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = gen_next(g);
			size_t k = n - i < 8 ? n - i : 8;
			memcpy(id + i, &v, k);
		}
	} while (ksk_id_is_zero(id, n));
}

uint64_t ksk_gen_u64(ksk_gen *g)
{
	return gen_next(g);
}

uint32_t ksk_gen_below(ksk_gen *g, uint32_t n)
{
	return gen_below(g, n);
}

void ksk_gen_id(ksk_gen *g, uint8_t *id, size_t n)
{
	gen_id(g, id, n);
}

ksk_err ksk_gen_create(uint64_t seed, uint32_t services, ksk_gen **out)
{
	if (services == 0 || services > GEN_MAX_SERVICES)
		return KSK_EINVAL;
	ksk_gen *g = ksk_calloc(ksk_alloc_default(), 1, sizeof(*g));
	if (!g)
		return KSK_ENOMEM;
	if (ksk_arena_create(NULL, 0, 0, &g->arena) != KSK_OK) {
		ksk_free(ksk_alloc_default(), g);
		return KSK_ENOMEM;
	}
	g->s = seed ? seed : 0x9e3779b97f4a7c15ull;
	g->services = services;
	static const char *const stems[] = {"gateway", "orders", "payments",
	                                    "inventory", "users", "shipping",
	                                    "search", "auth"};
	for (uint32_t i = 0; i < services; i++) {
		if (i < 8)
			snprintf(g->names[i], sizeof(g->names[i]), "%s", stems[i]);
		else
			snprintf(g->names[i], sizeof(g->names[i]), "%s-%u",
			         stems[i % 8], i / 8);
		snprintf(g->hosts[i], sizeof(g->hosts[i]), "node-%02u", i % 16);
	}
	*out = g;
	return KSK_OK;
}

void ksk_gen_destroy(ksk_gen *g)
{
	if (!g)
		return;
	ksk_arena_destroy(g->arena);
	ksk_free(ksk_alloc_default(), g);
}

static ksk_err gen_resources(ksk_gen *g, ksk_wire_enc *enc)
{
	for (uint32_t i = 0; i < g->services; i++) {
		ksk_attr *a = ksk_arena_calloc(g->arena, 4, sizeof(*a));
		if (!a)
			return KSK_ENOMEM;
		a[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(ksk_str_c(g->names[i]))};
		a[1] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(ksk_str_c(g->hosts[i]))};
		a[2] = (ksk_attr){KSK_STR("service.version"), ksk_val_str(KSK_STR("1.4.2"))};
		a[3] = (ksk_attr){KSK_STR("deployment.environment.name"), ksk_val_str(KSK_STR("prod"))};
		ksk_resource r;
		memset(&r, 0, sizeof(r));
		r.attrs = a;
		r.n_attrs = 4;
		uint32_t idx;
		KSK_TRY(ksk_wire_enc_resource(enc, &r, &idx));
	}
	return KSK_OK;
}

/* one span with 10 attributes and 2 events */
static ksk_err gen_span(ksk_gen *g, ksk_wire_enc *enc, const uint8_t *trace,
                        const uint8_t *parent, uint8_t *span_out,
                        uint32_t service, ksk_span_kind kind, uint64_t start,
                        uint64_t dur)
{
	ksk_span s;
	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, trace, 16);
	gen_id(g, s.span_id, 8);
	memcpy(span_out, s.span_id, 8);
	if (parent)
		memcpy(s.parent_id, parent, 8);
	s.name = ksk_str_c(gen_ops[gen_below(g, sizeof(gen_ops) / sizeof(gen_ops[0]))]);
	s.kind = kind;
	s.start_ns = start;
	s.end_ns = start + dur;
	s.flags = 0x101;
	s.scope_name = KSK_STR("kiseki-gen");
	s.resource = service;
	int err = gen_below(g, 50) == 0;
	if (err) {
		s.status = KSK_STATUS_ERROR;
		s.status_msg = KSK_STR("upstream returned 503");
	}
	ksk_attr *a = ksk_arena_calloc(g->arena, 10, sizeof(*a));
	ksk_event *ev = ksk_arena_calloc(g->arena, 2, sizeof(*ev));
	ksk_attr *ea = ksk_arena_calloc(g->arena, 2, sizeof(*ea));
	char *user = ksk_arena_alloc(g->arena, 24);
	if (!a || !ev || !ea || !user)
		return KSK_ENOMEM;
	snprintf(user, 24, "user-%u", gen_below(g, 100000));
	a[0] = (ksk_attr){KSK_STR("http.request.method"), ksk_val_str(KSK_STR("GET"))};
	a[1] = (ksk_attr){KSK_STR("http.route"), ksk_val_str(s.name)};
	a[2] = (ksk_attr){KSK_STR("http.response.status_code"), ksk_val_int(err ? 503 : 200)};
	a[3] = (ksk_attr){KSK_STR("server.address"), ksk_val_str(ksk_str_c(g->hosts[service]))};
	a[4] = (ksk_attr){KSK_STR("server.port"), ksk_val_int(8080)};
	a[5] = (ksk_attr){KSK_STR("enduser.id"), ksk_val_str(ksk_str_c(user))};
	a[6] = (ksk_attr){KSK_STR("cloud.region"), ksk_val_str(ksk_str_c(gen_regions[gen_below(g, 3)]))};
	a[7] = (ksk_attr){KSK_STR("db.system"), ksk_val_str(KSK_STR("postgresql"))};
	a[8] = (ksk_attr){KSK_STR("app.cache_hit"), ksk_val_bool(gen_below(g, 2))};
	a[9] = (ksk_attr){KSK_STR("app.queue_ms"), ksk_val_double((double)gen_below(g, 10000) / 100.0)};
	s.attrs = a;
	s.n_attrs = 10;
	ea[0] = (ksk_attr){KSK_STR("cache.key"), ksk_val_str(ksk_str_c(user))};
	ea[1] = (ksk_attr){KSK_STR("retry.attempt"), ksk_val_int(1)};
	ev[0] = (ksk_event){.time_ns = start + dur / 4, .name = KSK_STR("cache.miss"),
	                    .attrs = &ea[0], .n_attrs = 1};
	ev[1] = (ksk_event){.time_ns = start + dur / 2, .name = KSK_STR("retry"),
	                    .attrs = &ea[1], .n_attrs = 1};
	s.events = ev;
	s.n_events = 2;
	KSK_TRY(ksk_wire_enc_span(enc, &s));
	memcpy(g->last_trace, trace, 16);
	memcpy(g->last_span, s.span_id, 8);
	g->last_service = service;
	g->have_last = 1;
	return KSK_OK;
}

/* A trace of `n` spans: a root SERVER span on a random service; then
 * CLIENT->SERVER pairs walking down to other services, nested in time. */
static ksk_err gen_trace(ksk_gen *g, ksk_wire_enc *enc, uint32_t n, uint64_t t0)
{
	uint8_t trace[16], ids[GEN_TRACE_MAX][8];
	uint32_t svc[GEN_TRACE_MAX];
	uint64_t st[GEN_TRACE_MAX], du[GEN_TRACE_MAX];
	gen_id(g, trace, 16);
	svc[0] = gen_below(g, g->services);
	st[0] = t0;
	du[0] = 2000000 + (uint64_t)gen_below(g, 200) * 1000000; /* 2..200 ms */
	KSK_TRY(gen_span(g, enc, trace, NULL, ids[0], svc[0], KSK_KIND_SERVER, st[0], du[0]));
	for (uint32_t i = 1; i < n; i++) {
		uint32_t p = i == 1 ? 0 : gen_below(g, i);
		uint64_t off = du[p] / 10 + gen_below(g, 1000) * (du[p] / 4000);
		st[i] = st[p] + off;
		du[i] = (du[p] - off) / 2 + 1;
		int client = (i % 2 == 1) && i + 1 < n;
		svc[i] = svc[p];
		KSK_TRY(gen_span(g, enc, trace, ids[p], ids[i], svc[i],
		                 client ? KSK_KIND_CLIENT : KSK_KIND_INTERNAL, st[i], du[i]));
		if (client) {
			/* the server side, in another service */
			i++;
			svc[i] = (svc[p] + 1 + gen_below(g, g->services)) % g->services;
			st[i] = st[i - 1] + 100000;
			du[i] = du[i - 1] > 200000 ? du[i - 1] - 200000 : 1;
			KSK_TRY(gen_span(g, enc, trace, ids[i - 1], ids[i], svc[i],
			                 KSK_KIND_SERVER, st[i], du[i]));
		}
	}
	return KSK_OK;
}

static ksk_err gen_log(ksk_gen *g, ksk_wire_enc *enc, uint64_t t)
{
	char *body = ksk_arena_alloc(g->arena, 256);
	ksk_attr *a = ksk_arena_calloc(g->arena, 3, sizeof(*a));
	if (!body || !a)
		return KSK_ENOMEM;
	uint32_t m = gen_below(g, sizeof(gen_msgs) / sizeof(gen_msgs[0]));
	int n = snprintf(body, 256,
	                 "%s: order=%u user=user-%u latency_ms=%u path=/api/orders/%u "
	                 "upstream=http://inventory.internal:8080/v1/reserve attempt=%u",
	                 gen_msgs[m], gen_below(g, 1000000), gen_below(g, 100000),
	                 gen_below(g, 900), gen_below(g, 1000000), 1 + gen_below(g, 3));
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = t;
	l.observed_ns = t + 1000;
	uint32_t r = gen_below(g, 100);
	l.severity = r < 3 ? 17 : r < 10 ? 13 : r < 30 ? 5 : 9;
	l.severity_text = ksk_str_c(ksk_severity_name(l.severity));
	l.body = ksk_val_str((ksk_str){body, (uint32_t)n});
	a[0] = (ksk_attr){KSK_STR("log.file.name"), ksk_val_str(KSK_STR("app.log"))};
	a[1] = (ksk_attr){KSK_STR("thread.id"), ksk_val_int(gen_below(g, 64))};
	a[2] = (ksk_attr){KSK_STR("code.function"), ksk_val_str(KSK_STR("handle_request"))};
	l.attrs = a;
	l.n_attrs = 3;
	l.resource = gen_below(g, g->services);
	if (g->have_last && gen_below(g, 10) < 8) {
		memcpy(l.trace_id, g->last_trace, 16);
		memcpy(l.span_id, g->last_span, 8);
		l.resource = g->last_service;
		l.flags = 1;
	}
	return ksk_wire_enc_log(enc, &l);
}

ksk_err ksk_gen_batch(ksk_gen *g, ksk_wire_enc *enc, uint32_t n_spans,
                      uint32_t n_logs, uint64_t base_ns)
{
	ksk_wire_enc_reset(enc);
	ksk_arena_reset(g->arena);
	KSK_TRY(gen_resources(g, enc));
	uint32_t done = 0, logs = 0;
	uint64_t t = base_ns;
	while (done < n_spans) {
		uint32_t n = 5 + gen_below(g, 16); /* 5..20 spans per trace */
		if (n > n_spans - done)
			n = n_spans - done;
		KSK_TRY(gen_trace(g, enc, n, t));
		done += n;
		t += 1000000;
		/* interleave logs so they can point at recent spans */
		uint64_t want = (uint64_t)n_logs * done / (n_spans ? n_spans : 1);
		while (logs < want) {
			KSK_TRY(gen_log(g, enc, t));
			logs++;
		}
	}
	while (logs < n_logs) {
		KSK_TRY(gen_log(g, enc, t));
		logs++;
	}
	return KSK_OK;
}

#define GEN_WIDE_MAX 2 * GEN_MAX_SERVICES

/* A trace over `nsvc` distinct services, at most `max_spans` spans. */
static ksk_err gen_trace_wide(ksk_gen *g, ksk_wire_enc *enc, uint32_t nsvc,
                              uint32_t max_spans, uint64_t t0, uint32_t *emitted)
{
	uint8_t trace[16], ids[GEN_WIDE_MAX][8];
	uint32_t svc[GEN_WIDE_MAX], order[GEN_MAX_SERVICES], servers[GEN_WIDE_MAX];
	uint64_t st[GEN_WIDE_MAX], du[GEN_WIDE_MAX];
	gen_id(g, trace, 16);
	for (uint32_t i = 0; i < g->services; i++)
		order[i] = i;
	for (uint32_t i = 0; i < nsvc; i++) {
		uint32_t j = i + gen_below(g, g->services - i);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	svc[0] = order[0];
	st[0] = t0;
	du[0] = 10000000 + (uint64_t)gen_below(g, 400) * 1000000; /* 10..410 ms */
	KSK_TRY(gen_span(g, enc, trace, NULL, ids[0], svc[0], KSK_KIND_SERVER, st[0], du[0]));
	uint32_t n = 1, ns = 1;
	servers[0] = 0;
	for (uint32_t k = 1; k < nsvc && n + 2 <= max_spans; k++) {
		uint32_t p = servers[gen_below(g, ns)];
		uint64_t off = du[p] / 10 + gen_below(g, 1000) * (du[p] / 4000);
		uint32_t c = n, s = n + 1;
		svc[c] = svc[p];
		st[c] = st[p] + off;
		du[c] = (du[p] - off) / 2 + 1;
		KSK_TRY(gen_span(g, enc, trace, ids[p], ids[c], svc[c], KSK_KIND_CLIENT, st[c], du[c]));
		svc[s] = order[k];
		st[s] = st[c] + 100000;
		du[s] = du[c] > 200000 ? du[c] - 200000 : 1;
		KSK_TRY(gen_span(g, enc, trace, ids[c], ids[s], svc[s], KSK_KIND_SERVER, st[s], du[s]));
		servers[ns++] = s;
		n += 2;
	}
	*emitted = n;
	return KSK_OK;
}

ksk_err ksk_gen_batch_wide(ksk_gen *g, ksk_wire_enc *enc, uint32_t n_spans,
                           uint32_t n_logs, uint64_t base_ns, uint32_t min_svcs,
                           uint32_t max_svcs)
{
	if (min_svcs == 0 || min_svcs > max_svcs)
		return KSK_EINVAL;
	if (max_svcs > g->services)
		max_svcs = g->services;
	if (min_svcs > max_svcs)
		min_svcs = max_svcs;
	ksk_wire_enc_reset(enc);
	ksk_arena_reset(g->arena);
	KSK_TRY(gen_resources(g, enc));
	uint32_t done = 0, logs = 0;
	uint64_t t = base_ns;
	while (done < n_spans) {
		uint32_t nsvc = min_svcs + gen_below(g, max_svcs - min_svcs + 1);
		uint32_t n;
		KSK_TRY(gen_trace_wide(g, enc, nsvc, n_spans - done, t, &n));
		done += n;
		t += 1000000;
		uint64_t want = (uint64_t)n_logs * done / (n_spans ? n_spans : 1);
		while (logs < want) {
			KSK_TRY(gen_log(g, enc, t));
			logs++;
		}
	}
	while (logs < n_logs) {
		KSK_TRY(gen_log(g, enc, t));
		logs++;
	}
	return KSK_OK;
}

size_t ksk_gen_log_line(ksk_gen *g, uint64_t time_ns, char *buf, size_t cap)
{
	time_t sec = (time_t)(time_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char ts[40];
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	uint32_t r = gen_below(g, 100);
	const char *lvl = r < 3 ? "ERROR" : r < 10 ? "WARN" : r < 30 ? "DEBUG" : "INFO";
	uint32_t svc = gen_below(g, g->services);
	uint8_t tid[16], sid[8];
	char th[33], sh[17];
	gen_id(g, tid, 16);
	gen_id(g, sid, 8);
	ksk_hex_encode(tid, 16, th);
	ksk_hex_encode(sid, 8, sh);
	int n;
	if (gen_below(g, 10) < 9)
		n = snprintf(buf, cap,
		             "%s.%06uZ %s [%s] %s order=%u user=user-%u latency_ms=%u "
		             "trace_id=%s span_id=%s",
		             ts, (unsigned)((time_ns / 1000) % 1000000), lvl,
		             g->names[svc], gen_msgs[gen_below(g, 8)],
		             gen_below(g, 1000000), gen_below(g, 100000),
		             gen_below(g, 900), th, sh);
	else
		n = snprintf(buf, cap,
		             "%s.%06uZ %s [%s] %s order=%u user=user-%u latency_ms=%u "
		             "path=/api/orders/%u upstream=inventory.internal:8080",
		             ts, (unsigned)((time_ns / 1000) % 1000000), lvl,
		             g->names[svc], gen_msgs[gen_below(g, 8)],
		             gen_below(g, 1000000), gen_below(g, 100000),
		             gen_below(g, 900), gen_below(g, 1000000));
	if (n < 0)
		n = 0;
	if ((size_t)n >= cap)
		n = cap ? (int)cap - 1 : 0;
	return (size_t)n;
}
