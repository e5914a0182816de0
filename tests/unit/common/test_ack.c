/*
 * test_ack.c : the collector's ack message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kiseki/ack.h"

static void test_roundtrip_and_errors(void **state)
{
	(void)state;
	ksk_ack a, b;
	memset(&a, 0, sizeof(a));
	a.outcome = KSK_ACK_REJECTED;
	a.code = KSK_ERECORD;
	a.seq = 0x0102030405060708ull;
	for (int i = 0; i < 16; i++)
		a.agent_id[i] = (uint8_t)i;
	strcpy(a.msg, "record 3 (span): end_ns 5 < start_ns 9");
	uint8_t buf[KSK_ACK_MAX];
	size_t n = ksk_ack_encode(&a, buf, sizeof(buf));
	assert_int_equal(n, KSK_ACK_HDR_LEN + strlen(a.msg));
	assert_int_equal(ksk_ack_decode(buf, n, &b), KSK_OK);
	assert_int_equal(b.outcome, KSK_ACK_REJECTED);
	assert_int_equal(b.code, KSK_ERECORD);
	assert_int_equal(b.seq, a.seq);
	assert_memory_equal(b.agent_id, a.agent_id, 16);
	assert_string_equal(b.msg, a.msg);
	assert_string_equal(ksk_ack_outcome_name(b.outcome), "rejected");
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(ksk_ack_decode(buf, cut, &b), KSK_OK);
	buf[0] = 'X';
	assert_int_equal(ksk_ack_decode(buf, n, &b), KSK_EMAGIC);
	buf[0] = 'K';
	buf[4] = 9;
	assert_int_equal(ksk_ack_decode(buf, n, &b), KSK_EVERSION);
	buf[4] = 1;
	buf[5] = 7;
	assert_int_equal(ksk_ack_decode(buf, n, &b), KSK_ERECORD);
	assert_int_equal(ksk_ack_encode(&a, buf, 10), 0);
}

static void test_long_message_cut_on_utf8_boundary(void **state)
{
	(void)state;
	ksk_ack a, b;
	memset(&a, 0, sizeof(a));
	/* 2-byte characters straddling the limit */
	for (int i = 0; i + 1 < KSK_ACK_MSG_MAX + 1; i += 2) {
		a.msg[i] = (char)0xc3;
		a.msg[i + 1] = (char)0xa9;
	}
	a.msg[KSK_ACK_MSG_MAX - 1] = (char)0xc3;
	a.msg[KSK_ACK_MSG_MAX] = (char)0xa9;
	uint8_t buf[KSK_ACK_MAX];
	size_t n = ksk_ack_encode(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(ksk_ack_decode(buf, n, &b), KSK_OK);
	assert_int_equal(strlen(b.msg), KSK_ACK_MSG_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_errors),
		cmocka_unit_test(test_long_message_cut_on_utf8_boundary),
	};
	return cmocka_run_group_tests_name("ack", tests, NULL, NULL);
}
