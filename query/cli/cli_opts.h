/*
 * cli_opts.h : the command line of `kiseki` (the CLI client of kiseki-query).
 *
 * Exports cli_args (everything the command line and the environment say),
 * cli_args_parse() (pure: argv + the environment's values + "now" in, a
 * cli_args or a usage error naming the bad option out), cli_usage(), and the
 * value parsers the CLI shares (durations, points in time, trace IDs).
 *
 * Grammar: `kiseki [OPTIONS] COMMAND [ARGS] [OPTIONS]`. Options may come
 * before or after the command; `--opt=value` and `--opt value` both work;
 * `--` ends the options. An option that does not apply to the command is a
 * usage error (exit 2), as is an unknown one.
 *
 * Ownership: every string in cli_args is borrowed from argv (or from the
 * environment string given to cli_args_parse) and lives as long as they do.
 * No allocation, no globals; thread-safe.
 */
#ifndef CLI_OPTS_H
#define CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/err.h"

#define CLI_DEFAULT_SERVER "http://127.0.0.1:16686"
#define CLI_MAX_TAGS 16 /* the server's limit (KSK_Q_MAX_ATTRS) */

/* Exit codes (documented in cli_usage() and the README). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_NOTFOUND = 1, /* unknown trace */
	CLI_EXIT_USAGE = 2,    /* bad option or argument */
	CLI_EXIT_SERVER = 3,   /* server unreachable, or an HTTP error */
};

typedef enum cli_cmd {
	CLI_CMD_NONE = 0,
	CLI_CMD_TRACE,
	CLI_CMD_SEARCH,
	CLI_CMD_LOGS,
	CLI_CMD_SERVICES,
	CLI_CMD_DEPS,
} cli_cmd;

typedef enum cli_color {
	CLI_COLOR_AUTO = 0, /* when stdout is a terminal and NO_COLOR is not set */
	CLI_COLOR_ALWAYS,
	CLI_COLOR_NEVER,
} cli_color;

typedef struct cli_args {
	cli_cmd cmd;
	bool help;                  /* --help, -h or `kiseki help`: print usage, exit 0 */
	/* global */
	const char *server;         /* --server, else KISEKI_SERVER, else the default */
	const char *token_file;     /* --token-file: "Authorization: Bearer <contents>" */
	cli_color color;            /* --color=always|never|auto */
	unsigned width;             /* --width N; 0 = detect (COLUMNS, the terminal, 100) */
	bool ascii;                 /* --ascii: no box-drawing glyphs */
	bool utc;                   /* --utc: show and read times in UTC */
	bool json;                  /* --json: the server's JSON instead of text */
	uint64_t timeout_ms;        /* --timeout DURATION (default 30 s) */
	/* trace */
	const char *trace_id;       /* trace: the ID; logs: --trace */
	bool raw;                   /* --raw: no clock-skew adjustment */
	bool no_logs;               /* --no-logs */
	bool wide;                  /* --wide: never truncate log bodies or cells */
	/* search */
	const char *service;        /* --service (search, logs) */
	const char *operation;      /* --operation */
	const char *tags[CLI_MAX_TAGS]; /* --tag k=v, as given (validated: has '=') */
	size_t n_tags;
	uint64_t min_dur_ns, max_dur_ns; /* --min-duration / --max-duration; 0 = none */
	bool errors;                /* --errors: traces with an error span only */
	/* time range, µs since the epoch (search, logs, deps) */
	bool has_since, has_until;
	uint64_t since_us, until_us;
	/* limits */
	bool has_limit;
	uint64_t limit;             /* --limit / -n */
	/* logs */
	const char *host;           /* --host */
	const char *level;          /* --level: minimum severity (name or 1..24) */
	const char *grep;           /* --grep REGEX (the server's q=) */
	bool follow;                /* -f / --follow */
} cli_args;

/*! cli_args_parse() : reads the command line.
 *  @env_server : the value of KISEKI_SERVER, or NULL.
 *  @now_us : the current time in µs since the epoch (relative times such as
 *            `--since 1h` are resolved against it).
 *  @out : filled on success (and partly on error).
 *  @ei : on error, a message naming the option or argument (without the
 *        "kiseki: " prefix).
 *  @return : KSK_OK; KSK_EINVAL (a usage error: exit 2). With --help,
 *            KSK_OK with out->help set (the command may be CLI_CMD_NONE). */
ksk_err cli_args_parse(int argc, char *const *argv, const char *env_server, uint64_t now_us,
                       cli_args *out, ksk_errinfo *ei);

/*! cli_usage() : the full help text (commands, options, exit codes). Static. */
const char *cli_usage(void);

/*! cli_parse_dur() : a duration: ksk_parse_duration's forms ("1h30m", "250ms",
 *  "7d"; a bare number is seconds) or a decimal with one unit ("1.5s").
 *  @return : KSK_OK; KSK_EINVAL. */
ksk_err cli_parse_dur(const char *s, uint64_t *ns);

/*! cli_parse_time() : a point in time, as µs since the epoch: a duration
 *  meaning that long before `now_us` ("15m"), or an ISO 8601 date-time
 *  "YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][Z|(+|-)HH[:]MM]"; without a zone the
 *  local zone (TZ) is used, or UTC when `utc`.
 *  @return : KSK_OK; KSK_EINVAL. */
ksk_err cli_parse_time(const char *s, uint64_t now_us, bool utc, uint64_t *out_us);

/*! cli_trace_id_ok() : true for 1 to 32 hex digits, not all zero (what the
 *  server accepts). */
bool cli_trace_id_ok(const char *s);

#endif /* CLI_OPTS_H */
