/*
 * agt_config.h : kiseki-agent's settings: long options plus a config file
 * in INI form (sections, `key = value`, `#` comments), every key
 * documented with an example in docs/AGENT.md.
 *
 *   [agent]                 global settings, same names as the options
 *   [input NAME]            a tailed log input (repeatable section)
 *   [spans NAME]            a tailed span record file input (OTLP JSON lines)
 *
 * Options given on the command line win over the file's [agent] keys;
 * --tail GLOB=SERVICE and --span-file GLOB add inputs to the file's.
 * Ownership: the config owns every string (an arena); agt_config_free()
 * releases it. Pure code (reads the file, nothing else); testable.
 */
#ifndef AGT_CONFIG_H
#define AGT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "kiseki/arena.h"
#include "kiseki/err.h"

#define AGT_MAX_COLLECTORS 16
#define AGT_MAX_INPUTS 256
#define AGT_MAX_GLOBS 32
#define AGT_MAX_STATIC_ATTRS 32

typedef enum agt_input_kind {
	AGT_INPUT_LOGS = 0,    /* log lines -> log records */
	AGT_INPUT_SPANS = 1,   /* OTLP JSON lines -> spans */
} agt_input_kind;

typedef struct agt_kv {
	const char *key;
	const char *value;
} agt_kv;

typedef struct agt_input_cfg {
	const char *name;
	agt_input_kind kind;
	const char *globs[AGT_MAX_GLOBS];      /* `path` (repeatable) */
	uint32_t n_globs;
	const char *excludes[AGT_MAX_GLOBS];   /* `exclude` (repeatable) */
	uint32_t n_excludes;
	const char *service;                   /* `service`: service.name of the records */
	const char *parser;                    /* `parser`: auto (default), json,
	                                          logfmt, regex, text */
	const char *regex;                     /* `regex` (parser = regex) */
	const char *time_format;               /* `time_format` (strptime form) */
	const char *trace_group;               /* `trace_group`: regex group holding a trace ID */
	const char *multiline_start;           /* `multiline_start` regex */
	const char *multiline_continue;        /* `multiline_continue` regex */
	uint64_t multiline_timeout_ns;         /* `multiline_timeout` (default 2s) */
	bool start_at_head;                    /* `start_at = head|tail` (default head) */
	uint64_t max_line;                     /* `max_line` (default 64KiB) */
	uint64_t rate_lines;                   /* `rate_limit = N lines/s` (0 = none) */
	uint64_t rate_bytes;                   /* `rate_limit = SIZE/s` (0 = none) */
	agt_kv attrs[AGT_MAX_STATIC_ATTRS];    /* `attr.KEY = VALUE` resource attributes */
	uint32_t n_attrs;
} agt_input_cfg;

typedef struct agt_config {
	const char *collectors[AGT_MAX_COLLECTORS]; /* --collector (repeatable) */
	uint32_t n_collectors;
	const char *spool_dir;        /* --spool-dir (required) */
	uint64_t spool_max;           /* --spool-max (default 1GiB) */
	const char *config_file;      /* --config */
	const char *intake;           /* --intake URL (default ipc://<spool-dir>/intake.sock) */
	const char *otlp_listen;      /* --otlp-listen HOST:PORT (default 127.0.0.1:4318; "off") */
	const char *zipkin_listen;    /* --zipkin-listen HOST:PORT (default 127.0.0.1:9411; "off") */
	const char *metrics_listen;   /* --metrics-listen HOST:PORT (default off) */
	const char *host;             /* --host: host.name (default gethostname) */
	uint64_t batch_max_bytes;     /* --batch-max-bytes (default 1MiB) */
	uint64_t batch_max_age_ns;    /* --batch-max-age (default 200ms) */
	uint32_t compress_threads;    /* --compress-threads (default 2, 1..16) */
	uint64_t flush_timeout_ns;    /* --flush-timeout: partial last line (default 5s) */
	uint64_t scan_interval_ns;    /* --scan-interval (default 1s) */
	agt_input_cfg inputs[AGT_MAX_INPUTS];
	uint32_t n_inputs;
	bool help;
	ksk_arena *arena;             /* owns the strings */
} agt_config;

/*! agt_config_load() : defaults, then the config file (if --config is
 *  given), then the other options (argv[0] skipped).
 *  @return : KSK_OK; KSK_EINVAL with "FILE:LINE: ..." or the option name;
 *            KSK_EIO when the file cannot be read. On error the config is
 *            still freed with agt_config_free(). */
ksk_err agt_config_load(int argc, char **argv, agt_config *cfg, ksk_errinfo *ei);

/*! agt_config_parse_text() : parses config text (for tests and SIGHUP
 *  reload) into `cfg`, which must have been initialised by
 *  agt_config_load() or agt_config_init(). `name` is used in messages. */
ksk_err agt_config_parse_text(agt_config *cfg, const char *name, const char *text,
                              ksk_errinfo *ei);

/*! agt_config_init() : defaults only. */
ksk_err agt_config_init(agt_config *cfg);

/*! agt_config_free() : releases the strings. */
void agt_config_free(agt_config *cfg);

/*! agt_config_usage() : the --help text. */
const char *agt_config_usage(void);

#endif /* AGT_CONFIG_H */
