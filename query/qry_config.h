/*
 * qry_config.h : kiseki-query's options (long options only; see --help and
 * README.md). Parsed into a struct so tests can check every option without
 * starting anything.
 *
 * Ownership: strings point into argv or into the struct's own storage
 * (the auth token read from --auth-token-file); qry_config_free() frees
 * what the struct owns.
 */
#ifndef QRY_CONFIG_H
#define QRY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "kiseki/err.h"
#include "qry_fetch.h"

typedef struct qry_config {
	const char *collectors[QRY_MAX_COLLECTORS]; /* query addresses */
	unsigned n_collectors;      /* default: one, tcp://127.0.0.1:14251 */
	const char *listen;         /* default 127.0.0.1:16686 */
	const char *ui_dir;         /* NULL = API only */
	char *auth_token;           /* owned; NULL = no auth */
	uint64_t timeout_ns;        /* per collector call; default 10 s */
	uint64_t max_skew_ns;       /* default 1 s */
	unsigned threads;           /* HTTP worker threads; default 4 */
	bool help;
} qry_config;

/*! qry_config_parse() : fills `c` from argv (program name at argv[0]).
 *  @return : KSK_OK; KSK_EINVAL with a message naming the option; KSK_EIO
 *            when --auth-token-file cannot be read or is empty. */
ksk_err qry_config_parse(int argc, char **argv, qry_config *c, ksk_errinfo *ei);

void qry_config_free(qry_config *c);

/*! qry_config_usage() : the --help text. */
const char *qry_config_usage(void);

#endif /* QRY_CONFIG_H */
