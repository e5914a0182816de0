/*
 * test_intake.c : the native span intake (NNG PULL): good frames reach the
 * callback, bad ones are counted by reason, a full spool drops and counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "agt_intake.h"
#include "gen.h"
#include "kiseki/frame.h"

typedef struct sink {
	pthread_mutex_t mu;
	uint32_t spans;
	int busy; /* answer KSK_EBUSY */
} sink;

static ksk_err on_batch(void *ctx, const ksk_batch *b)
{
	sink *s = ctx;
	pthread_mutex_lock(&s->mu);
	ksk_err rc = s->busy ? KSK_EBUSY : KSK_OK;
	if (rc == KSK_OK)
		s->spans += b->n_spans;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void wait_frames(agt_intake *in, uint64_t want)
{
	for (int i = 0; i < 500; i++) {
		agt_intake_stats st;
		agt_intake_stats_get(in, &st);
		if (st.frames >= want)
			return;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	fail_msg("intake did not count %llu frames", (unsigned long long)want);
}

static void test_good_bad_busy(void **state)
{
	(void)state;
	char dir[] = "/tmp/kiseki-intake-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char url[128];
	snprintf(url, sizeof(url), "ipc://%s/intake.sock", dir);
	sink s;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	agt_intake_opts o = {.url = url, .on_batch = on_batch, .ctx = &s};
	agt_intake *in;
	ksk_errinfo ei;
	assert_int_equal(agt_intake_start(&o, &in, &ei), KSK_OK);
	assert_string_equal(agt_intake_url(in), url);

	nng_socket push;
	assert_int_equal(nng_push0_open(&push), 0);
	assert_int_equal(nng_dial(push, url, NULL, 0), 0);
	/* a good frame */
	ksk_gen *g;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	assert_int_equal(ksk_gen_create(3, 2, &g), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &we), KSK_OK);
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	assert_int_equal(ksk_gen_batch(g, we, 30, 0, 1764000000000000000ull), KSK_OK);
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(we, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.seq = 1;
	m.record_count = ksk_wire_enc_count(we);
	m.compress = true;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(fe, &m, p, plen, &f, &flen, NULL), KSK_OK);
	assert_int_equal(nng_send(push, (void *)f, flen, 0), 0);
	wait_frames(in, 1);
	assert_int_equal(s.spans, 30);
	/* garbage */
	assert_int_equal(nng_send(push, "not a frame at all", 18, 0), 0);
	wait_frames(in, 2);
	/* spool full */
	pthread_mutex_lock(&s.mu);
	s.busy = 1;
	pthread_mutex_unlock(&s.mu);
	assert_int_equal(nng_send(push, (void *)f, flen, 0), 0);
	wait_frames(in, 3);
	agt_intake_stats st;
	agt_intake_stats_get(in, &st);
	assert_int_equal(st.spans, 30);
	assert_int_equal(st.rejected_by_code[KSK_ETRUNC] + st.rejected_by_code[KSK_EMAGIC], 1);
	assert_int_equal(st.dropped_busy, 1);
	nng_close(push);
	agt_intake_stop(in);
	agt_intake_stop(NULL);
	ksk_gen_destroy(g);
	ksk_wire_enc_destroy(we);
	ksk_frame_enc_destroy(fe);
	pthread_mutex_destroy(&s.mu);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_bad_busy),
	};
	return cmocka_run_group_tests_name("agt_intake", tests, NULL, NULL);
}
