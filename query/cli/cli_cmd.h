/*
 * cli_cmd.h : the commands of `kiseki` (trace, search, logs, services,
 * deps): build the request from cli_args, fetch it with cli_http, check the
 * answer (status, envelope errors), and print it with cli_format (or as
 * JSON). Maps every outcome to the exit codes of cli_opts.h.
 *
 * Ownership: cli_env is the caller's; every handle in it is borrowed.
 * Threading: one thread.
 */
#ifndef CLI_CMD_H
#define CLI_CMD_H

#include <signal.h>
#include <stdio.h>

#include "cli_format.h"
#include "cli_http.h"
#include "cli_opts.h"
#include "kiseki/clock.h"

/* How far back `logs -f` looks again on every poll for records that
 * arrived late (their own time is older than the newest seen). */
#define CLI_FOLLOW_OVERLAP_US 3000000ull
/* Records per request while following (older pages follow when full). */
#define CLI_FOLLOW_PAGE 1000u

typedef struct cli_env {
	FILE *out;                         /* results */
	FILE *err;                         /* messages ("kiseki: ...") */
	cli_http *http;                    /* borrowed */
	cli_fmt_opts fmt;                  /* width, colour, glyphs, zone */
	const ksk_clock *clock;            /* wall time for ranges and polling */
	volatile sig_atomic_t *stop;       /* non-zero: `logs -f` returns (SIGINT) */
	unsigned poll_ms;                  /* `logs -f` interval; 0 = 1000 */
} cli_env;

/*! cli_run() : runs a->cmd (not CLI_CMD_NONE).
 *  @return : an exit code (CLI_EXIT_*); failures are explained on e->err. */
int cli_run(const cli_args *a, cli_env *e);

/*! cli_read_token() : the first line of `path` without surrounding
 *  whitespace, into buf (cap bytes).
 *  @return : KSK_OK; KSK_EIO (unreadable, empty or too long: message in ei). */
ksk_err cli_read_token(const char *path, char *buf, size_t cap, ksk_errinfo *ei);

#endif /* CLI_CMD_H */
