/*
 * qry_config.c : kiseki-query's option parser (qry_config.h).
 *
 * Data in: argv. Data out: a qry_config. Invariants: every option value is
 * checked here (addresses, durations, counts), so the daemon starts with a
 * valid configuration or exits 2 with a message naming the option.
 */
#include "qry_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/parse.h"

const char *qry_config_usage(void)
{
	return "usage: kiseki-query [options]\n"
	       "  --collector URL        a collector's query address (repeatable;\n"
	       "                         default tcp://127.0.0.1:14251)\n"
	       "  --listen HOST:PORT     HTTP API and UI (default 127.0.0.1:16686)\n"
	       "  --ui-dir DIR           serve the web UI from DIR (ui-static/)\n"
	       "  --auth-token-file FILE require 'Authorization: Bearer <token>'\n"
	       "  --timeout DURATION     per collector call (default 10s)\n"
	       "  --max-clock-skew DUR   bound for clock-skew adjustment (default 1s)\n"
	       "  --threads N            HTTP worker threads (default 4)\n"
	       "  --help                 this text\n"
	       "Prints 'ready kiseki-query http://HOST:PORT' when serving; SIGTERM stops.\n";
}

static ksk_err qry_read_token(const char *path, qry_config *c, ksk_errinfo *ei)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return ksk_errinfo_set(ei, KSK_EIO, "--auth-token-file %s: %s", path,
		                       strerror(errno));
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n == 0)
		return ksk_errinfo_set(ei, KSK_EIO, "--auth-token-file %s: empty", path);
	free(c->auth_token);
	c->auth_token = strdup(buf);
	return c->auth_token ? KSK_OK : ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
}

ksk_err qry_config_parse(int argc, char **argv, qry_config *c, ksk_errinfo *ei)
{
	memset(c, 0, sizeof(*c));
	c->listen = "127.0.0.1:16686";
	c->timeout_ns = 10000000000ull;
	c->max_skew_ns = 1000000000ull;
	c->threads = 4;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			c->help = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0)
			return ksk_errinfo_set(ei, KSK_EINVAL, "unexpected argument '%s'", a);
		/* --opt=value or --opt value */
		char name[64];
		const char *val = strchr(a, '=');
		size_t nl = val ? (size_t)(val - a) : strlen(a);
		if (nl >= sizeof(name))
			return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s'", a);
		memcpy(name, a, nl);
		name[nl] = '\0';
		if (val)
			val++;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s needs a value", name);
		uint64_t ns;
		uint32_t ip;
		uint16_t port;
		if (strcmp(name, "--collector") == 0) {
			if (c->n_collectors >= QRY_MAX_COLLECTORS)
				return ksk_errinfo_set(ei, KSK_EINVAL, "--collector: at most %d",
				                       QRY_MAX_COLLECTORS);
			if (strncmp(val, "tcp://", 6) != 0 && strncmp(val, "ipc://", 6) != 0 &&
			    strncmp(val, "inproc://", 9) != 0)
				return ksk_errinfo_set(ei, KSK_EINVAL,
				                       "--collector '%s': not a tcp://, ipc:// or "
				                       "inproc:// URL", val);
			c->collectors[c->n_collectors++] = val;
		} else if (strcmp(name, "--listen") == 0) {
			if (ksk_parse_hostport(val, &ip, &port) != KSK_OK)
				return ksk_errinfo_set(ei, KSK_EINVAL, "--listen '%s': not HOST:PORT",
				                       val);
			c->listen = val;
		} else if (strcmp(name, "--ui-dir") == 0) {
			c->ui_dir = val;
		} else if (strcmp(name, "--auth-token-file") == 0) {
			KSK_TRY(qry_read_token(val, c, ei));
		} else if (strcmp(name, "--timeout") == 0) {
			if (ksk_parse_duration(val, &ns) != KSK_OK || ns < 1000000ull)
				return ksk_errinfo_set(ei, KSK_EINVAL,
				                       "--timeout '%s': a duration of at least 1ms", val);
			c->timeout_ns = ns;
		} else if (strcmp(name, "--max-clock-skew") == 0) {
			if (ksk_parse_duration(val, &ns) != KSK_OK)
				return ksk_errinfo_set(ei, KSK_EINVAL, "--max-clock-skew '%s': not a "
				                       "duration", val);
			c->max_skew_ns = ns;
		} else if (strcmp(name, "--threads") == 0) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (*end || v == 0 || v > 256)
				return ksk_errinfo_set(ei, KSK_EINVAL, "--threads '%s': 1..256", val);
			c->threads = (unsigned)v;
		} else {
			return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s'", name);
		}
	}
	if (c->n_collectors == 0)
		c->collectors[c->n_collectors++] = "tcp://127.0.0.1:14251";
	return KSK_OK;
}

void qry_config_free(qry_config *c)
{
	free(c->auth_token);
	c->auth_token = NULL;
}
