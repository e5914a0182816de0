/*
 * test_config.c : kiseki-collector's options and the metrics address
 * parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "col_config.h"

static ksk_err parse(col_config *c, ksk_errinfo *ei, const char *const *args)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)"kiseki-collector";
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return col_config_parse(n, argv, c, ei);
}

static void test_defaults_and_every_option(void **state)
{
	(void)state;
	col_config c;
	ksk_errinfo ei;
	const char *a1[] = {"--data-dir", "/tmp/x", NULL};
	assert_int_equal(parse(&c, &ei, a1), KSK_OK);
	assert_string_equal(c.data_dir, "/tmp/x");
	assert_string_equal(c.listen, "tcp://127.0.0.1:14250");
	assert_string_equal(c.query_listen, "tcp://127.0.0.1:14251");
	assert_null(c.metrics_listen);
	assert_int_equal(c.fsync_mode, COL_FSYNC_ALWAYS);
	assert_int_equal(c.segment_max_bytes, 64u << 20);
	assert_int_equal(c.segment_max_records, 0); /* the store's default */
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.seal_threads, 2);
	const char *a2[] = {"--data-dir=/d", "--listen", "ipc:///tmp/k.sock", "--query-listen",
	                    "tcp://127.0.0.1:0", "--metrics-listen", "127.0.0.1:9464",
	                    "--fsync", "interval", "--fsync-interval", "50ms",
	                    "--segment-max-bytes", "1MiB", "--segment-max-age", "30s",
	                    "--segment-max-records", "5000",
	                    "--retention", "7d", "--max-disk", "10GiB", "--max-frame", "4MiB",
	                    "--workers", "16", "--seal-threads", "3", NULL};
	assert_int_equal(parse(&c, &ei, a2), KSK_OK);
	assert_string_equal(c.data_dir, "/d");
	assert_string_equal(c.listen, "ipc:///tmp/k.sock");
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(c.fsync_mode, COL_FSYNC_INTERVAL);
	assert_int_equal(c.fsync_interval_ns, 50000000);
	assert_int_equal(c.segment_max_bytes, 1u << 20);
	assert_int_equal(c.segment_max_age_ns, 30000000000ull);
	assert_int_equal(c.segment_max_records, 5000);
	assert_int_equal(c.retention_ns, 7ull * 86400 * 1000000000ull);
	assert_int_equal(c.max_disk_bytes, 10ull << 30);
	assert_int_equal(c.max_frame_bytes, 4u << 20);
	assert_int_equal(c.workers, 16);
	assert_int_equal(c.seal_threads, 3);
	const char *a3[] = {"--help", NULL};
	assert_int_equal(parse(&c, &ei, a3), KSK_OK);
	assert_true(c.help);
	assert_non_null(strstr(col_config_usage(), "--data-dir"));
}

static void test_errors_name_the_option(void **state)
{
	(void)state;
	col_config c;
	ksk_errinfo ei;
	const char *a1[] = {NULL};
	assert_int_equal(parse(&c, &ei, a1), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--data-dir"));
	const char *a2[] = {"--data-dir", "/d", "--fsync", "sometimes", NULL};
	assert_int_equal(parse(&c, &ei, a2), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--fsync"));
	const char *a3[] = {"--data-dir", "/d", "--retention", "forever", NULL};
	assert_int_equal(parse(&c, &ei, a3), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--retention"));
	const char *a4[] = {"--data-dir", "/d", "--bogus", "1", NULL};
	assert_int_equal(parse(&c, &ei, a4), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--bogus"));
	const char *a5[] = {"--data-dir", NULL};
	assert_int_equal(parse(&c, &ei, a5), KSK_EINVAL);
	const char *a6[] = {"--data-dir", "/d", "--workers", "0", NULL};
	assert_int_equal(parse(&c, &ei, a6), KSK_EINVAL);
	const char *a7[] = {"--data-dir", "/d", "--max-frame", "100", NULL};
	assert_int_equal(parse(&c, &ei, a7), KSK_EINVAL);
	const char *a8[] = {"--data-dir", "/d", "stray", NULL};
	assert_int_equal(parse(&c, &ei, a8), KSK_EINVAL);
	const char *a9[] = {"--data-dir", "/d", "--seal-threads", "0", NULL};
	assert_int_equal(parse(&c, &ei, a9), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--seal-threads"));
	const char *a10[] = {"--data-dir", "/d", "--seal-threads", "17", NULL};
	assert_int_equal(parse(&c, &ei, a10), KSK_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_every_option),
		cmocka_unit_test(test_errors_name_the_option),
	};
	return cmocka_run_group_tests_name("col_config", tests, NULL, NULL);
}
