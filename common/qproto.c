/*
 * qproto.c : query-protocol requests to and from msgpack (kiseki/qproto.h).
 *
 * Data in: a ksk_qreq, or request bytes from the network.
 * Data out: msgpack appended to a ksk_buf, or a filled ksk_qreq.
 * The encoder writes only the keys that are set. The decoder runs the
 * structural guard (ksk_wire_guard) before msgpack-c sees the bytes, then
 * reads one map with string keys; every value's type and range is checked
 * and a wrong one is reported by key name. Strings are borrowed from the
 * input buffer (the guard made sure they lie inside it).
 */
#include "kiseki/qproto.h"

#include <msgpack.h>
#include <string.h>

#include "kiseki/wire.h"

static const char *const ksk_qop_names[] = {
	NULL, "trace", "search", "services", "operations", "edges", "logs", "log_stats"};

const char *ksk_qop_name(ksk_qop op)
{
	if (op < KSK_Q_TRACE || op > KSK_Q_LOG_STATS)
		return "unknown";
	return ksk_qop_names[op];
}

void ksk_qreq_init(ksk_qreq *r, ksk_qop op)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->kind = -1;
}

static int ksk_q_write(void *data, const char *buf, size_t len)
{
	return ksk_buf_append(data, buf, len) == KSK_OK ? 0 : -1;
}

static void ksk_q_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void ksk_q_str(msgpack_packer *pk, const char *k, ksk_str v)
{
	ksk_q_key(pk, k);
	msgpack_pack_str_with_body(pk, v.ptr ? v.ptr : "", v.len);
}

static void ksk_q_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	ksk_q_key(pk, k);
	msgpack_pack_uint64(pk, v);
}

ksk_err ksk_qreq_encode(const ksk_qreq *r, ksk_buf *out)
{
	if (r->op < KSK_Q_TRACE || r->op > KSK_Q_LOG_STATS || r->n_attrs > KSK_Q_MAX_ATTRS)
		return KSK_EINVAL;
	uint32_t n = 2; /* v, op */
	n += r->has_trace_id + (r->start_ns != 0) + (r->end_ns != 0) + (r->cursor != 0) +
	     (r->result != 0) +
	     (r->limit != 0) + (r->service.len != 0) + (r->operation.len != 0) +
	     (r->kind >= 0) + (r->n_attrs != 0) + (r->min_duration_ns != 0) +
	     (r->max_duration_ns != 0) + (r->min_spans != 0) + (r->max_spans != 0) +
	     r->errors_only + (r->host.len != 0) + (r->regex.len != 0) +
	     (r->severity_min != 0) + (r->severity_max != 0);
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, ksk_q_write);
	msgpack_pack_map(&pk, n);
	ksk_q_u64(&pk, "v", KSK_QPROTO_VERSION);
	ksk_q_str(&pk, "op", ksk_str_c(ksk_qop_name(r->op)));
	if (r->has_trace_id) {
		ksk_q_key(&pk, "trace_id");
		msgpack_pack_bin_with_body(&pk, r->trace_id, KSK_TRACE_ID_LEN);
	}
	if (r->start_ns)
		ksk_q_u64(&pk, "start", r->start_ns);
	if (r->end_ns)
		ksk_q_u64(&pk, "end", r->end_ns);
	if (r->cursor)
		ksk_q_u64(&pk, "cursor", r->cursor);
	if (r->result)
		ksk_q_u64(&pk, "result", r->result);
	if (r->limit)
		ksk_q_u64(&pk, "limit", r->limit);
	if (r->service.len)
		ksk_q_str(&pk, "service", r->service);
	if (r->operation.len)
		ksk_q_str(&pk, "operation", r->operation);
	if (r->kind >= 0)
		ksk_q_u64(&pk, "kind", (uint64_t)r->kind);
	if (r->n_attrs) {
		ksk_q_key(&pk, "attrs");
		msgpack_pack_array(&pk, r->n_attrs);
		for (uint32_t i = 0; i < r->n_attrs; i++) {
			msgpack_pack_array(&pk, 2);
			msgpack_pack_str_with_body(&pk, r->attrs[i].key.ptr, r->attrs[i].key.len);
			msgpack_pack_str_with_body(&pk, r->attrs[i].value.ptr ? r->attrs[i].value.ptr : "",
			                           r->attrs[i].value.len);
		}
	}
	if (r->min_duration_ns)
		ksk_q_u64(&pk, "min_duration", r->min_duration_ns);
	if (r->max_duration_ns)
		ksk_q_u64(&pk, "max_duration", r->max_duration_ns);
	if (r->min_spans)
		ksk_q_u64(&pk, "min_spans", r->min_spans);
	if (r->max_spans)
		ksk_q_u64(&pk, "max_spans", r->max_spans);
	if (r->errors_only) {
		ksk_q_key(&pk, "errors_only");
		msgpack_pack_true(&pk);
	}
	if (r->host.len)
		ksk_q_str(&pk, "host", r->host);
	if (r->regex.len)
		ksk_q_str(&pk, "regex", r->regex);
	if (r->severity_min)
		ksk_q_u64(&pk, "severity_min", r->severity_min);
	if (r->severity_max)
		ksk_q_u64(&pk, "severity_max", r->severity_max);
	return out->err;
}

static bool ksk_q_keyis(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);
	return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

static ksk_err ksk_q_get_u64(const msgpack_object *v, const char *key, uint64_t max,
                             uint64_t *out, ksk_errinfo *ei)
{
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ksk_errinfo_set(ei, KSK_EINVAL, "request key '%s' must be a non-negative integer", key);
	if (v->via.u64 > max)
		return ksk_errinfo_set(ei, KSK_EINVAL, "request key '%s' is %llu, at most %llu", key,
		                       (unsigned long long)v->via.u64, (unsigned long long)max);
	*out = v->via.u64;
	return KSK_OK;
}

static ksk_err ksk_q_get_str(const msgpack_object *v, const char *key, ksk_str *out,
                             ksk_errinfo *ei)
{
	if (v->type != MSGPACK_OBJECT_STR)
		return ksk_errinfo_set(ei, KSK_EINVAL, "request key '%s' must be a string", key);
	if (!ksk_utf8_valid(v->via.str.ptr, v->via.str.size))
		return ksk_errinfo_set(ei, KSK_EINVAL, "request key '%s' is not valid UTF-8", key);
	out->ptr = v->via.str.ptr;
	out->len = v->via.str.size;
	return KSK_OK;
}

static ksk_err ksk_q_field(ksk_qreq *r, const msgpack_object *k, const msgpack_object *v,
                           ksk_errinfo *ei)
{
	uint64_t u = 0;
	ksk_err rc = KSK_OK;
#define KSK_Q_U(name, max, field)                                              \
	if (ksk_q_keyis(k, name)) {                                            \
		rc = ksk_q_get_u64(v, name, max, &u, ei);                      \
		if (rc == KSK_OK)                                              \
			field = u;                                             \
		return rc;                                                     \
	}
#define KSK_Q_S(name, field)                                                   \
	if (ksk_q_keyis(k, name))                                              \
		return ksk_q_get_str(v, name, &field, ei);
	KSK_Q_U("start", UINT64_MAX, r->start_ns)
	KSK_Q_U("end", UINT64_MAX, r->end_ns)
	KSK_Q_U("cursor", UINT32_MAX, r->cursor)
	KSK_Q_U("result", UINT64_MAX, r->result)
	KSK_Q_U("limit", UINT32_MAX, r->limit)
	KSK_Q_U("kind", 5, r->kind)
	KSK_Q_U("min_duration", UINT64_MAX, r->min_duration_ns)
	KSK_Q_U("max_duration", UINT64_MAX, r->max_duration_ns)
	KSK_Q_U("min_spans", UINT32_MAX, r->min_spans)
	KSK_Q_U("max_spans", UINT32_MAX, r->max_spans)
	KSK_Q_U("severity_min", 24, r->severity_min)
	KSK_Q_U("severity_max", 24, r->severity_max)
	KSK_Q_S("service", r->service)
	KSK_Q_S("operation", r->operation)
	KSK_Q_S("host", r->host)
	KSK_Q_S("regex", r->regex)
#undef KSK_Q_U
#undef KSK_Q_S
	if (ksk_q_keyis(k, "trace_id")) {
		if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != KSK_TRACE_ID_LEN)
			return ksk_errinfo_set(ei, KSK_EINVAL, "request key 'trace_id' must be 16 bytes (bin)");
		memcpy(r->trace_id, v->via.bin.ptr, KSK_TRACE_ID_LEN);
		r->has_trace_id = true;
		return KSK_OK;
	}
	if (ksk_q_keyis(k, "errors_only")) {
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return ksk_errinfo_set(ei, KSK_EINVAL, "request key 'errors_only' must be a boolean");
		r->errors_only = v->via.boolean;
		return KSK_OK;
	}
	if (ksk_q_keyis(k, "attrs")) {
		if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > KSK_Q_MAX_ATTRS)
			return ksk_errinfo_set(ei, KSK_EINVAL,
			                       "request key 'attrs' must be an array of at most %d [key, value] pairs",
			                       KSK_Q_MAX_ATTRS);
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			const msgpack_object *p = &v->via.array.ptr[i];
			if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size != 2)
				return ksk_errinfo_set(ei, KSK_EINVAL, "request 'attrs'[%u] must be [key, value]", i);
			KSK_TRY(ksk_q_get_str(&p->via.array.ptr[0], "attrs key", &r->attrs[i].key, ei));
			KSK_TRY(ksk_q_get_str(&p->via.array.ptr[1], "attrs value", &r->attrs[i].value, ei));
			if (r->attrs[i].key.len == 0)
				return ksk_errinfo_set(ei, KSK_EINVAL, "request 'attrs'[%u] has an empty key", i);
		}
		r->n_attrs = v->via.array.size;
		return KSK_OK;
	}
	return KSK_OK; /* unknown keys are ignored */
}

ksk_err ksk_qreq_decode(const uint8_t *buf, size_t len, ksk_qreq *out,
                        ksk_errinfo *ei)
{
	if (len > KSK_Q_MAX_REQUEST)
		return ksk_errinfo_set(ei, KSK_ETOOBIG, "request of %zu bytes, at most %d", len,
		                       KSK_Q_MAX_REQUEST);
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_depth = 4;
	lim.max_container = 64;
	long g = ksk_wire_guard(buf, len, &lim, NULL);
	if (g <= 0 || (size_t)g != len)
		return ksk_errinfo_set(ei, KSK_EMSGPACK, "request is not one well-formed msgpack map");
	msgpack_zone zone;
	if (!msgpack_zone_init(&zone, 2048))
		return ksk_errinfo_set(ei, KSK_ENOMEM, "request: no memory");
	msgpack_object obj;
	size_t off = 0;
	ksk_err rc = KSK_OK;
	msgpack_unpack_return ur = msgpack_unpack((const char *)buf, len, &off, &zone, &obj);
	if (ur != MSGPACK_UNPACK_SUCCESS || obj.type != MSGPACK_OBJECT_MAP) {
		rc = ksk_errinfo_set(ei, KSK_EMSGPACK, "request must be a msgpack map");
		goto done;
	}
	ksk_qreq_init(out, 0);
	out->op = 0;
	uint64_t version = 0;
	for (uint32_t i = 0; i < obj.via.map.size && rc == KSK_OK; i++) {
		const msgpack_object *k = &obj.via.map.ptr[i].key;
		const msgpack_object *v = &obj.via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR) {
			rc = ksk_errinfo_set(ei, KSK_EINVAL, "request keys must be strings");
		} else if (ksk_q_keyis(k, "v")) {
			rc = ksk_q_get_u64(v, "v", UINT32_MAX, &version, ei);
		} else if (ksk_q_keyis(k, "op")) {
			ksk_str op;
			rc = ksk_q_get_str(v, "op", &op, ei);
			for (int o = KSK_Q_TRACE; rc == KSK_OK && o <= KSK_Q_LOG_STATS; o++)
				if (ksk_str_eq(op, ksk_str_c(ksk_qop_names[o])))
					out->op = (ksk_qop)o;
			if (rc == KSK_OK && out->op == 0)
				rc = ksk_errinfo_set(ei, KSK_EINVAL, "unknown op '%.*s'", (int)op.len, op.ptr);
		} else {
			rc = ksk_q_field(out, k, v, ei);
		}
	}
	if (rc == KSK_OK && version != KSK_QPROTO_VERSION)
		rc = ksk_errinfo_set(ei, KSK_EVERSION, "request version %llu, this collector speaks %d",
		                     (unsigned long long)version, KSK_QPROTO_VERSION);
	if (rc == KSK_OK && out->op == 0)
		rc = ksk_errinfo_set(ei, KSK_EINVAL, "request has no 'op'");
	if (rc == KSK_OK && out->op == KSK_Q_TRACE && !out->has_trace_id)
		rc = ksk_errinfo_set(ei, KSK_EINVAL, "op 'trace' needs 'trace_id'");
done:
	msgpack_zone_destroy(&zone);
	return rc;
}
