/*
 * col_test_rec.h : handmade records for the collector's unit tests
 * (test_mem.c, test_store.c): a resource with service, host and region,
 * and a log record whose trace and span IDs repeat one byte. Header-only;
 * include after cmocka.h.
 */
#ifndef COL_TEST_REC_H
#define COL_TEST_REC_H

#include <string.h>

#include "kiseki/wire.h"

static inline uint32_t ctr_res(ksk_wire_enc *enc, const char *svc, const char *host)
{
	ksk_attr at[3];
	at[0].key = KSK_STR("service.name");
	at[0].value = ksk_val_str(ksk_str_c(svc));
	at[1].key = KSK_STR("host.name");
	at[1].value = ksk_val_str(ksk_str_c(host));
	at[2].key = KSK_STR("region");
	at[2].value = ksk_val_str(KSK_STR("eu-west-1"));
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	r.attrs = at;
	r.n_attrs = 3;
	uint32_t idx;
	assert_int_equal(ksk_wire_enc_resource(enc, &r, &idx), KSK_OK);
	return idx;
}

/* a log at `t` (ns since the epoch); trace 0 = no trace */
static inline void ctr_log(ksk_wire_enc *enc, uint32_t r, uint64_t t, uint8_t sev,
                           uint8_t trace, const char *body)
{
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = t;
	l.observed_ns = t;
	l.severity = sev;
	l.body = ksk_val_str(ksk_str_c(body));
	if (trace) {
		memset(l.trace_id, trace, 16);
		memset(l.span_id, trace, 8);
	}
	l.resource = r;
	assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
}

#endif /* COL_TEST_REC_H */
