/*
 * col_config.c : defaults and long options of kiseki-collector.
 *
 * Data in: argv. Data out: a col_config whose strings point into argv.
 * Invariants: every option takes exactly one value ("--opt VALUE" or
 * "--opt=VALUE"); unknown options and bad values are errors naming the
 * option; --data-dir is required unless --help.
 */
#include "col_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/parse.h"

const char *col_config_usage(void)
{
	return "usage: kiseki-collector --data-dir DIR [options]\n"
	       "\n"
	       "Stores batches from kiseki-agent durably and answers kiseki-query.\n"
	       "Prints 'ready kiseki-collector <listen URL>' on stdout when serving;\n"
	       "logs to stderr; SIGTERM/SIGINT: stop intake, flush, exit 0.\n"
	       "\n"
	       "  --data-dir DIR            where segments live (required)\n"
	       "  --listen URL              batch intake, NNG REP (default tcp://127.0.0.1:14250)\n"
	       "  --query-listen URL        query protocol, NNG REP (default tcp://127.0.0.1:14251)\n"
	       "  --metrics-listen HOST:PORT  Prometheus /metrics and /health (default off)\n"
	       "  --fsync always|interval   ack after fsync (default), or after write with\n"
	       "                            fsync every --fsync-interval (loss window on power\n"
	       "                            failure: that interval; none on process crash)\n"
	       "  --fsync-interval DUR      default 200ms\n"
	       "  --segment-max-bytes SIZE  seal the open segment past this (default 64MiB),\n"
	       "                            or once its batches hold 8x this decompressed\n"
	       "  --segment-max-records N   ... or once it holds N spans and logs (default 1048576)\n"
	       "  --segment-max-age DUR     seal the open segment after this (default 10m)\n"
	       "  --retention DUR           drop sealed segments older than this (default: keep)\n"
	       "  --max-disk SIZE           drop the oldest segments past this (default: no cap)\n"
	       "  --max-frame SIZE          largest accepted frame (default 16MiB)\n"
	       "  --workers N               batches handled at once (default 8)\n"
	       "  --seal-threads N          segments sealed at once (default 2); as many\n"
	       "                            full segments may wait to be sealed\n"
	       "  --help                    this text\n"
	       "\n"
	       "DUR: 500ms, 30s, 10m, 24h, 7d. SIZE: 4096, 64KiB, 256MiB, 10GB.\n";
}

ksk_err col_config_parse(int argc, char **argv, col_config *cfg, ksk_errinfo *ei)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "tcp://127.0.0.1:14250";
	cfg->query_listen = "tcp://127.0.0.1:14251";
	cfg->fsync_mode = COL_FSYNC_ALWAYS;
	cfg->fsync_interval_ns = 200000000ull;
	cfg->segment_max_bytes = 64ull << 20;
	cfg->segment_max_age_ns = 600000000000ull;
	cfg->max_frame_bytes = 16ull << 20;
	cfg->workers = 8;
	cfg->seal_threads = 2;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			cfg->help = true;
			return KSK_OK;
		}
		if (strncmp(arg, "--", 2) != 0)
			return ksk_errinfo_set(ei, KSK_EINVAL, "unexpected argument '%s'", arg);
		char name[64];
		const char *val;
		const char *eq = strchr(arg, '=');
		if (eq) {
			size_t n = (size_t)(eq - arg);
			if (n >= sizeof(name))
				return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s'", arg);
			memcpy(name, arg, n);
			name[n] = '\0';
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", arg);
			if (i + 1 >= argc)
				return ksk_errinfo_set(ei, KSK_EINVAL, "%s needs a value", arg);
			val = argv[++i];
		}
		ksk_err rc = KSK_OK;
		uint64_t v = 0;
		if (strcmp(name, "--data-dir") == 0)
			cfg->data_dir = val;
		else if (strcmp(name, "--listen") == 0)
			cfg->listen = val;
		else if (strcmp(name, "--query-listen") == 0)
			cfg->query_listen = val;
		else if (strcmp(name, "--metrics-listen") == 0)
			cfg->metrics_listen = val;
		else if (strcmp(name, "--fsync") == 0) {
			if (strcmp(val, "always") == 0)
				cfg->fsync_mode = COL_FSYNC_ALWAYS;
			else if (strcmp(val, "interval") == 0)
				cfg->fsync_mode = COL_FSYNC_INTERVAL;
			else
				rc = KSK_EINVAL;
		} else if (strcmp(name, "--fsync-interval") == 0)
			rc = ksk_parse_duration(val, &cfg->fsync_interval_ns);
		else if (strcmp(name, "--segment-max-bytes") == 0)
			rc = ksk_parse_size(val, &cfg->segment_max_bytes);
		else if (strcmp(name, "--segment-max-records") == 0) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(val, &end, 10);
			if (errno || end == val || *end || val[0] == '-' || n == 0)
				rc = KSK_EINVAL;
			else
				cfg->segment_max_records = n;
		} else if (strcmp(name, "--segment-max-age") == 0)
			rc = ksk_parse_duration(val, &cfg->segment_max_age_ns);
		else if (strcmp(name, "--retention") == 0)
			rc = ksk_parse_duration(val, &cfg->retention_ns);
		else if (strcmp(name, "--max-disk") == 0)
			rc = ksk_parse_size(val, &cfg->max_disk_bytes);
		else if (strcmp(name, "--max-frame") == 0) {
			rc = ksk_parse_size(val, &cfg->max_frame_bytes);
			if (rc == KSK_OK && (cfg->max_frame_bytes < 4096 ||
			                     cfg->max_frame_bytes > (1ull << 30)))
				rc = KSK_EINVAL;
		} else if (strcmp(name, "--workers") == 0 || strcmp(name, "--seal-threads") == 0) {
			char *end;
			bool seal = name[2] == 's';
			v = strtoull(val, &end, 10);
			if (*end || end == val || v == 0 || v > (seal ? 16u : 256u))
				rc = KSK_EINVAL;
			else if (seal)
				cfg->seal_threads = (uint32_t)v;
			else
				cfg->workers = (uint32_t)v;
		} else
			return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s'", name);
		if (rc != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "bad value '%s' for %s", val, name);
	}
	if (!cfg->data_dir)
		return ksk_errinfo_set(ei, KSK_EINVAL, "--data-dir is required");
	return KSK_OK;
}
