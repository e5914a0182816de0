/*
 * agt_batch.c : records -> one frame per batch (agt_batch.h).
 *
 * Data in: spans and logs with their resources; tailer positions.
 * Data out: a sealed frame (ksk_frame_encode) plus the latest position per
 * file key; or, for a caller that compresses on another thread
 * (agt_spooler), the raw payload itself (agt_batch_take).
 * State: an open batch = a wire encoder payload (resources first seen are
 * appended as resource records), a table of resource content hashes ->
 * resource index, the positions table, the monotonic time of the first
 * record. Sealing encodes the frame and resets all of it; taking hands out
 * the payload and resets likewise. The zstd context is made at the first
 * seal, so a batcher whose batches are only taken never holds one.
 * Invariants: the payload never exceeds KSK_BATCH_HARD_CAP (well under the
 * collector's frame cap), so every sealed frame is accepted by size; a
 * rejected record leaves the batch exactly as it was (the encoder rolls
 * back, and a resource appended for it alone is only kept if the record
 * was appended).
 */
#include "agt_batch.h"

#include <stdlib.h>
#include <string.h>

#include "kiseki/wire.h"

#define KSK_BATCH_HARD_CAP (8u << 20)
#define AGT_RES_MAX 4096

typedef struct agt_res_slot {
	uint64_t hash;
	uint32_t index;
} agt_res_slot;

struct agt_batch {
	agt_batch_opts o;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	agt_res_slot *res;     /* resources in this batch */
	uint32_t n_res;
	uint8_t *pos;          /* n_pos entries of pos_size bytes */
	uint32_t n_pos, cap_pos;
	uint32_t records, spans, logs;
	uint64_t first_ns;     /* mono time of the first record or position */
};

void agt_batch_opts_default(agt_batch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_bytes = 256u << 10;
	o->max_records = 65536;
	o->max_age_ns = 200000000ull;
	o->zstd_level = 1;
}

ksk_err agt_batch_create(const agt_batch_opts *o, agt_batch **out)
{
	if (o->pos_size && (o->pos_key_len == 0 || o->pos_key_len > o->pos_size))
		return KSK_EINVAL;
	agt_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return KSK_ENOMEM;
	b->o = *o;
	if (!b->o.clock)
		b->o.clock = ksk_clock_system();
	if (!b->o.max_bytes || b->o.max_bytes > KSK_BATCH_HARD_CAP)
		b->o.max_bytes = b->o.max_bytes ? KSK_BATCH_HARD_CAP : 256u << 10;
	if (!b->o.max_records)
		b->o.max_records = 65536;
	b->res = calloc(AGT_RES_MAX, sizeof(*b->res));
	ksk_err rc = b->res ? KSK_OK : KSK_ENOMEM;
	if (rc == KSK_OK)
		rc = ksk_wire_enc_create(NULL, NULL, KSK_BATCH_HARD_CAP, &b->we);
	if (rc != KSK_OK) {
		agt_batch_destroy(b);
		return rc;
	}
	*out = b;
	return KSK_OK;
}

void agt_batch_destroy(agt_batch *b)
{
	if (!b)
		return;
	ksk_wire_enc_destroy(b->we);
	ksk_frame_enc_destroy(b->fe);
	free(b->res);
	free(b->pos);
	free(b);
}

/* FNV-1a over the resource's attributes, values included, in order. */
static uint64_t agt_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t agt_hash_value(uint64_t h, const ksk_value *v)
{
	uint8_t t = (uint8_t)v->type;
	h = agt_hash_bytes(h, &t, 1);
	switch (v->type) {
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		return agt_hash_bytes(h, v->u.s.ptr, v->u.s.len) ^ v->u.s.len;
	case KSK_VAL_BOOL:
		return agt_hash_bytes(h, &v->u.b, sizeof(v->u.b));
	case KSK_VAL_INT:
		return agt_hash_bytes(h, &v->u.i, sizeof(v->u.i));
	case KSK_VAL_DOUBLE:
		return agt_hash_bytes(h, &v->u.d, sizeof(v->u.d));
	case KSK_VAL_ARRAY:
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			h = agt_hash_value(h, &v->u.arr.items[i]);
		return agt_hash_bytes(h, &v->u.arr.n, sizeof(v->u.arr.n));
	case KSK_VAL_KVLIST:
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			h = agt_hash_bytes(h, v->u.kv.items[i].key.ptr, v->u.kv.items[i].key.len);
			h = agt_hash_value(h, &v->u.kv.items[i].value);
		}
		return agt_hash_bytes(h, &v->u.kv.n, sizeof(v->u.kv.n));
	case KSK_VAL_EMPTY:
		break;
	}
	return h;
}

uint64_t agt_batch_res_hash(const ksk_resource *r)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < r->n_attrs; i++) {
		h = agt_hash_bytes(h, r->attrs[i].key.ptr, r->attrs[i].key.len);
		h = agt_hash_bytes(h, "=", 1);
		h = agt_hash_value(h, &r->attrs[i].value);
	}
	return agt_hash_bytes(h, &r->dropped_attrs, sizeof(r->dropped_attrs));
}

/* Index of `res` (content hash h) in this batch, appending it when new
 * (*added = true). */
static ksk_err agt_res_index(agt_batch *b, const ksk_resource *res, uint64_t h,
                             uint32_t *idx, bool *added)
{
	*added = false;
	for (uint32_t i = 0; i < b->n_res; i++)
		if (b->res[i].hash == h) {
			*idx = b->res[i].index;
			return KSK_OK;
		}
	if (b->n_res == AGT_RES_MAX)
		return KSK_ELIMIT;
	KSK_TRY(ksk_wire_enc_resource(b->we, res, idx));
	b->res[b->n_res].hash = h;
	b->res[b->n_res].index = *idx;
	b->n_res++;
	*added = true;
	return KSK_OK;
}

static void agt_batch_touch(agt_batch *b)
{
	if (b->records == 0 && b->n_pos == 0)
		b->first_ns = ksk_clock_mono(b->o.clock);
}

/* The encoder rolls back a failed record itself; a resource appended only
 * for that record cannot be taken back from the payload, but it is kept in
 * the table, so it is simply reused by later records. */
ksk_err agt_batch_add_span(agt_batch *b, const ksk_resource *res, const ksk_span *s)
{
	if (b->records >= b->o.max_records)
		return KSK_ELIMIT;
	uint32_t idx;
	bool added;
	KSK_TRY(agt_res_index(b, res, agt_batch_res_hash(res), &idx, &added));
	ksk_span copy = *s;
	copy.resource = idx;
	agt_batch_touch(b);
	KSK_TRY(ksk_wire_enc_span(b->we, &copy));
	b->records++;
	b->spans++;
	return KSK_OK;
}

ksk_err agt_batch_add_log(agt_batch *b, const ksk_resource *res, const ksk_log *l)
{
	return agt_batch_add_log_h(b, res, agt_batch_res_hash(res), l);
}

ksk_err agt_batch_add_log_h(agt_batch *b, const ksk_resource *res, uint64_t res_hash,
                            const ksk_log *l)
{
	if (b->records >= b->o.max_records)
		return KSK_ELIMIT;
	uint32_t idx;
	bool added;
	KSK_TRY(agt_res_index(b, res, res_hash, &idx, &added));
	ksk_log copy = *l;
	copy.resource = idx;
	agt_batch_touch(b);
	KSK_TRY(ksk_wire_enc_log(b->we, &copy));
	b->records++;
	b->logs++;
	return KSK_OK;
}

ksk_err agt_batch_add_pos(agt_batch *b, const void *pos)
{
	if (!b->o.pos_size)
		return KSK_EINVAL;
	size_t ps = b->o.pos_size;
	for (uint32_t i = b->n_pos; i-- > 0;)
		if (memcmp(b->pos + (size_t)i * ps, pos, b->o.pos_key_len) == 0) {
			memcpy(b->pos + (size_t)i * ps, pos, ps);
			return KSK_OK;
		}
	if (b->n_pos == b->cap_pos) {
		uint32_t nc = b->cap_pos ? b->cap_pos * 2 : 16;
		uint8_t *np = realloc(b->pos, (size_t)nc * ps);
		if (!np)
			return KSK_ENOMEM;
		b->pos = np;
		b->cap_pos = nc;
	}
	agt_batch_touch(b);
	memcpy(b->pos + (size_t)b->n_pos * ps, pos, ps);
	b->n_pos++;
	return KSK_OK;
}

uint32_t agt_batch_count(const agt_batch *b)
{
	return b->records;
}

bool agt_batch_full(const agt_batch *b)
{
	size_t len;
	ksk_wire_enc_data(b->we, &len);
	return len >= b->o.max_bytes || b->records >= b->o.max_records;
}

uint64_t agt_batch_deadline(const agt_batch *b)
{
	if (b->records == 0 && b->n_pos == 0)
		return UINT64_MAX;
	return b->first_ns + b->o.max_age_ns;
}

bool agt_batch_due(const agt_batch *b)
{
	if (b->records == 0 && b->n_pos == 0)
		return false;
	return agt_batch_full(b) || ksk_clock_mono(b->o.clock) >= agt_batch_deadline(b);
}

/* Empties the batch for the next one. The payload and positions stay
 * readable until the next add: reset only moves lengths to 0 (positions
 * are overwritten from index 0). */
static void agt_batch_reset(agt_batch *b)
{
	ksk_wire_enc_reset(b->we);
	b->n_res = 0;
	b->n_pos = 0;
	b->records = b->spans = b->logs = 0;
}

ksk_err agt_batch_seal(agt_batch *b, const uint8_t agent_id[KSK_AGENT_ID_LEN],
                       uint64_t seq, agt_sealed *out, ksk_errinfo *ei)
{
	if (b->records == 0 && b->n_pos == 0)
		return ksk_errinfo_set(ei, KSK_ESTATE, "batch: nothing to seal");
	if (!b->fe &&
	    ksk_frame_enc_create(NULL, b->o.zstd_level ? b->o.zstd_level : 1, &b->fe) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "batch: no memory for the zstd context");
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(b->we, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	memcpy(m.agent_id, agent_id, KSK_AGENT_ID_LEN);
	m.seq = seq;
	m.created_ns = ksk_clock_wall(b->o.clock);
	m.record_count = ksk_wire_enc_count(b->we);
	m.compress = true;
	m.restore = ksk_wire_enc_restore(b->we);
	KSK_TRY(ksk_frame_encode(b->fe, &m, p, plen, &out->frame, &out->frame_len, ei));
	out->pos = b->pos;
	out->n_pos = b->n_pos;
	out->records = b->records;
	out->spans = b->spans;
	out->logs = b->logs;
	agt_batch_reset(b);
	return KSK_OK;
}

ksk_err agt_batch_take(agt_batch *b, agt_taken *out)
{
	KSK_TRY(agt_batch_view(b, out));
	agt_batch_reset(b);
	return KSK_OK;
}

ksk_err agt_batch_view(const agt_batch *b, agt_taken *out)
{
	if (b->records == 0 && b->n_pos == 0)
		return KSK_ESTATE;
	out->payload = ksk_wire_enc_data(b->we, &out->payload_len);
	out->record_count = ksk_wire_enc_count(b->we);
	out->restore = ksk_wire_enc_restore(b->we);
	out->pos = b->pos;
	out->n_pos = b->n_pos;
	out->records = b->records;
	out->spans = b->spans;
	out->logs = b->logs;
	return KSK_OK;
}
