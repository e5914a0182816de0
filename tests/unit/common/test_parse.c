/*
 * test_parse.c : durations and sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kiseki/parse.h"

static void test_durations(void **state)
{
	(void)state;
	uint64_t v;
	struct {
		const char *s;
		uint64_t ns;
	} ok[] = {{"500ms", 500000000ull},   {"30s", 30000000000ull},
	          {"10m", 600000000000ull},  {"24h", 86400000000000ull},
	          {"7d", 604800000000000ull}, {"1h30m", 5400000000000ull},
	          {"1.5s", 1500000000ull},   {"45", 45000000000ull},
	          {"250us", 250000},         {"3ns", 3},
	          {"0s", 0}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ksk_parse_duration(ok[i].s, &v), KSK_OK);
		assert_int_equal(v, ok[i].ns);
	}
	const char *bad[] = {"", "s", "10x", "1.s", "-5s", "5 s", "1h30",
	                     "99999999999999999999d", NULL};
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(ksk_parse_duration(bad[i], &v), KSK_EINVAL);
	assert_int_equal(ksk_parse_duration(NULL, &v), KSK_EINVAL);
}

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	struct {
		const char *s;
		uint64_t b;
	} ok[] = {{"4096", 4096},          {"64KiB", 65536},
	          {"256MiB", 268435456},   {"10GB", 10000000000ull},
	          {"1G", 1000000000},      {"1.5GiB", 1610612736ull},
	          {"2 mib", 2097152},      {"1TiB", 1099511627776ull}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ksk_parse_size(ok[i].s, &v), KSK_OK);
		assert_int_equal(v, ok[i].b);
	}
	const char *bad[] = {"", "MiB", "12XB", "1.5", "-1", "18446744073709551616TiB", NULL};
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(ksk_parse_size(bad[i], &v), KSK_EINVAL);
}

static void test_hostport(void **state)
{
	(void)state;
	uint32_t ip;
	uint16_t port;
	assert_int_equal(ksk_parse_hostport("127.0.0.1:9464", &ip, &port), KSK_OK);
	assert_int_equal(port, 9464);
	assert_int_equal(ksk_parse_hostport(":0", &ip, &port), KSK_OK);
	assert_int_equal(port, 0);
	assert_int_equal(ksk_parse_hostport("localhost:80", &ip, &port), KSK_OK);
	assert_int_equal(ksk_parse_hostport("9464", &ip, &port), KSK_EINVAL);
	assert_int_equal(ksk_parse_hostport("host.example:1", &ip, &port), KSK_EINVAL);
	assert_int_equal(ksk_parse_hostport("127.0.0.1:70000", &ip, &port), KSK_EINVAL);
	assert_int_equal(ksk_parse_hostport("127.0.0.1:", &ip, &port), KSK_EINVAL);
	assert_int_equal(ksk_parse_hostport("127.0.0.1:-1", &ip, &port), KSK_EINVAL);
	assert_int_equal(ksk_parse_hostport(NULL, &ip, &port), KSK_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
