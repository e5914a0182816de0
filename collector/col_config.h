/*
 * col_config.h : kiseki-collector's settings and their command line.
 *
 * Every setting is a long option (BRIEF.md fixes --data-dir, --listen,
 * --query-listen, --metrics-listen); `kiseki-collector --help` prints them
 * all with defaults. Parsing is a pure function so tests can check it.
 */
#ifndef COL_CONFIG_H
#define COL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "col_store.h"
#include "kiseki/err.h"

typedef struct col_config {
	const char *data_dir;          /* required */
	const char *listen;            /* batch intake URL */
	const char *query_listen;      /* query protocol URL */
	const char *metrics_listen;    /* HOST:PORT, NULL = off */
	col_fsync_mode fsync_mode;
	uint64_t fsync_interval_ns;
	uint64_t segment_max_bytes;
	uint64_t segment_max_records;  /* 0 = the store's default (1M) */
	uint64_t segment_max_age_ns;
	uint64_t retention_ns;         /* 0 = keep forever */
	uint64_t max_disk_bytes;       /* 0 = no cap */
	uint64_t max_frame_bytes;      /* NNG receive cap and frame cap */
	uint32_t workers;              /* ingest contexts */
	uint32_t seal_threads;         /* segments sealed at once (default 2) */
	bool help;                     /* --help was given */
} col_config;

/*! col_config_parse() : defaults, then argv (argv[0] is skipped). Strings
 *  point into argv.
 *  @return : KSK_OK; KSK_EINVAL with a message naming the option. */
ksk_err col_config_parse(int argc, char **argv, col_config *cfg,
                         ksk_errinfo *ei);

/*! col_config_usage() : the --help text. Static string. */
const char *col_config_usage(void);

#endif /* COL_CONFIG_H */
