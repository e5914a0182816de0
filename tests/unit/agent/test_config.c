/*
 * test_config.c : kiseki-agent's options and INI config file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agt_config.h"

static ksk_err load(agt_config *c, ksk_errinfo *ei, const char *const *args)
{
	char *argv[40];
	int n = 0;
	argv[n++] = (char *)"kiseki-agent";
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return agt_config_load(n, argv, c, ei);
}

static const char *const example =
	"# a full example\n"
	"[agent]\n"
	"collector = tcp://10.0.0.5:14250\n"
	"spool_dir = /var/lib/kiseki-agent\n"
	"spool_max = 2GiB\n"
	"metrics_listen = 127.0.0.1:9464\n"
	"batch_max_age = 100ms\n"
	"compress_threads = 3\n"
	"host = web-1\n"
	"\n"
	"[input checkout]\n"
	"path = /var/log/checkout/*.log\n"
	"path = /var/log/checkout/*.txt\n"
	"exclude = *.gz\n"
	"service = checkout\n"
	"parser = regex\n"
	"regex = \"^(?<time>\\\\S+) (?<level>\\\\w+) (?<msg>.*)$\"\n"
	"time_format = %Y-%m-%dT%H:%M:%S\n"
	"multiline_start = ^\\d{4}-\n"
	"multiline_timeout = 3s\n"
	"start_at = tail\n"
	"max_line = 128KiB\n"
	"rate_limit = 5000 lines/s\n"
	"attr.deployment.environment = prod\n"
	"\n"
	"[spans otel]\n"
	"path = /var/log/otel/spans-*.jsonl\n"
	"rate_limit = 10MiB/s\n";

static void test_file_and_options(void **state)
{
	(void)state;
	char path[] = "/tmp/kiseki-agt-cfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, example, strlen(example)), (ssize_t)strlen(example));
	close(fd);
	agt_config c;
	ksk_errinfo ei;
	const char *args[] = {"--config", path, "--tail", "/srv/app/*.log=app", "--span-file",
	                      "/srv/spans/*.jsonl", "--batch-max-age", "50ms", NULL};
	assert_int_equal(load(&c, &ei, args), KSK_OK);
	assert_int_equal(c.n_collectors, 1);
	assert_string_equal(c.collectors[0], "tcp://10.0.0.5:14250");
	assert_string_equal(c.spool_dir, "/var/lib/kiseki-agent");
	assert_int_equal(c.spool_max, 2ull << 30);
	assert_int_equal(c.batch_max_age_ns, 50000000); /* the option wins */
	assert_int_equal(c.compress_threads, 3);
	assert_string_equal(c.host, "web-1");
	assert_string_equal(c.otlp_listen, "127.0.0.1:4318");
	assert_int_equal(c.n_inputs, 4);
	const agt_input_cfg *in = &c.inputs[0];
	assert_string_equal(in->name, "checkout");
	assert_int_equal(in->kind, AGT_INPUT_LOGS);
	assert_int_equal(in->n_globs, 2);
	assert_string_equal(in->excludes[0], "*.gz");
	assert_string_equal(in->parser, "regex");
	assert_string_equal(in->regex, "^(?<time>\\S+) (?<level>\\w+) (?<msg>.*)$");
	assert_string_equal(in->multiline_start, "^\\d{4}-");
	assert_int_equal(in->multiline_timeout_ns, 3000000000ull);
	assert_false(in->start_at_head);
	assert_int_equal(in->max_line, 128u << 10);
	assert_int_equal(in->rate_lines, 5000);
	assert_int_equal(in->n_attrs, 1);
	assert_string_equal(in->attrs[0].key, "deployment.environment");
	assert_string_equal(in->attrs[0].value, "prod");
	assert_int_equal(c.inputs[1].kind, AGT_INPUT_SPANS);
	assert_int_equal(c.inputs[1].rate_bytes, 10u << 20);
	assert_string_equal(c.inputs[2].globs[0], "/srv/app/*.log");
	assert_string_equal(c.inputs[2].service, "app");
	assert_string_equal(c.inputs[2].parser, "auto");
	assert_int_equal(c.inputs[3].kind, AGT_INPUT_SPANS);
	agt_config_free(&c);
	/* collectors on the command line replace the file's */
	const char *args2[] = {"--config", path, "--collector", "ipc:///tmp/a", "--collector",
	                       "ipc:///tmp/b", NULL};
	assert_int_equal(load(&c, &ei, args2), KSK_OK);
	assert_int_equal(c.n_collectors, 2);
	assert_string_equal(c.collectors[1], "ipc:///tmp/b");
	agt_config_free(&c);
	/* defaults, and the option form */
	const char *args3[] = {"--spool-dir", "/s", "--collector", "tcp://x:1", NULL};
	assert_int_equal(load(&c, &ei, args3), KSK_OK);
	assert_int_equal(c.compress_threads, 2);
	assert_int_equal(c.batch_max_bytes, 1u << 20);
	agt_config_free(&c);
	const char *args4[] = {"--spool-dir", "/s", "--collector", "tcp://x:1",
	                       "--compress-threads", "1", NULL};
	assert_int_equal(load(&c, &ei, args4), KSK_OK);
	assert_int_equal(c.compress_threads, 1);
	agt_config_free(&c);
	unlink(path);
}

static void test_errors_name_line_or_option(void **state)
{
	(void)state;
	agt_config c;
	ksk_errinfo ei;
	struct {
		const char *text;
		const char *needle;
	} bad[] = {
		{"[agent]\nspool_dri = /x\n", "t.ini:2: unknown key 'spool_dri'"},
		{"[inputs x]\npath=/a\n", "t.ini:1: unknown section"},
		{"path = /a\n", "t.ini:1: 'path' outside a section"},
		{"[input a]\nparser = yaml\n", "t.ini:2: bad value 'yaml'"},
		{"[input a]\nrate_limit = fast\n", "bad value 'fast'"},
		{"[input a]\nregex = \"unterminated\n", "bad quoting"},
		{"[agent]\nno equals sign\n", "t.ini:2: expected key = value"},
		{"[spans s]\nparser = json\n", "unknown key 'parser'"},
		{"[agent]\ncompress_threads = 0\n", "t.ini:2: bad value '0'"},
		{"[agent]\ncompress_threads = 17\n", "bad value '17'"},
		{"[agent]\ncompress_threads = 2x\n", "bad value '2x'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(agt_config_init(&c), KSK_OK);
		assert_int_equal(agt_config_parse_text(&c, "t.ini", bad[i].text, &ei), KSK_EINVAL);
		if (!strstr(ei.msg, bad[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, ei.msg, bad[i].needle);
		agt_config_free(&c);
	}
	const char *a1[] = {"--collector", "tcp://x:1", NULL};
	assert_int_equal(load(&c, &ei, a1), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--spool-dir"));
	agt_config_free(&c);
	const char *a2[] = {"--spool-dir", "/s", NULL};
	assert_int_equal(load(&c, &ei, a2), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--collector"));
	agt_config_free(&c);
	const char *a3[] = {"--spool-dir", "/s", "--collector", "tcp://x:1", "--tail", "nosvc", NULL};
	assert_int_equal(load(&c, &ei, a3), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "GLOB=SERVICE"));
	agt_config_free(&c);
	const char *a4[] = {"--spool-dir", "/s", "--collector", "tcp://x:1", "--bogus", "1", NULL};
	assert_int_equal(load(&c, &ei, a4), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "--bogus"));
	agt_config_free(&c);
	const char *a5[] = {"--config", "/nonexistent/kiseki.ini", NULL};
	assert_int_equal(load(&c, &ei, a5), KSK_EIO);
	agt_config_free(&c);
	const char *a6[] = {"--help", NULL};
	assert_int_equal(load(&c, &ei, a6), KSK_OK);
	assert_true(c.help);
	assert_non_null(strstr(agt_config_usage(), "--tail GLOB=SERVICE"));
	agt_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_and_options),
		cmocka_unit_test(test_errors_name_line_or_option),
	};
	return cmocka_run_group_tests_name("agt_config", tests, NULL, NULL);
}
