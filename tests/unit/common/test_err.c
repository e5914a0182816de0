/*
 * test_err.c : the error enum's tables and ksk_errinfo helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "kiseki/err.h"

static void test_every_code_has_distinct_name_and_message(void **state)
{
	(void)state;
	for (int i = 0; i < KSK_ERR_COUNT_; i++) {
		const char *n = ksk_errname((ksk_err)i);
		const char *m = ksk_strerror((ksk_err)i);
		assert_string_not_equal(n, "KSK_UNKNOWN");
		assert_string_not_equal(m, "unknown error");
		assert_true(strncmp(n, "KSK_", 4) == 0);
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(n, ksk_errname((ksk_err)j));
			assert_string_not_equal(m, ksk_strerror((ksk_err)j));
		}
	}
	assert_string_equal(ksk_errname(KSK_OK), "KSK_OK");
	assert_string_equal(ksk_errname(KSK_ECHECKSUM), "KSK_ECHECKSUM");
	assert_string_equal(ksk_strerror((ksk_err)9999), "unknown error");
	assert_string_equal(ksk_errname((ksk_err)-1), "KSK_UNKNOWN");
}

static void test_values_are_pinned(void **state)
{
	(void)state;
	/* values are on the wire: changing one breaks old agents */
	assert_int_equal(KSK_OK, 0);
	assert_int_equal(KSK_ENOMEM, 1);
	assert_int_equal(KSK_ECHECKSUM, 8);
	assert_int_equal(KSK_ERECORD, 12);
	assert_int_equal(KSK_EBUSY, 18);
}

static void test_errinfo_set_and_sys(void **state)
{
	(void)state;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	assert_int_equal(ei.code, KSK_OK);
	assert_string_equal(ei.msg, "");
	assert_int_equal(ksk_errinfo_set(&ei, KSK_ERECORD, "record %d bad", 3),
	                 KSK_ERECORD);
	assert_string_equal(ei.msg, "record 3 bad");
	assert_int_equal(ksk_errinfo_sys(&ei, KSK_ESYS, ENOENT, "open %s", "x"),
	                 KSK_ESYS);
	assert_int_equal(ei.sys_errno, ENOENT);
	assert_string_equal(ei.msg, "open x: No such file or directory");
	/* NULL info: only the code comes back */
	assert_int_equal(ksk_errinfo_set(NULL, KSK_EIO, "x"), KSK_EIO);
	ksk_errinfo_clear(NULL);
	/* long messages are truncated, always terminated */
	char big[1000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ksk_errinfo_set(&ei, KSK_EINVAL, "%s", big);
	assert_int_equal(strlen(ei.msg), KSK_ERRINFO_MSG - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_distinct_name_and_message),
		cmocka_unit_test(test_values_are_pinned),
		cmocka_unit_test(test_errinfo_set_and_sys),
	};
	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
