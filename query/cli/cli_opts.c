/*
 * cli_opts.c : the command line of `kiseki` (cli_opts.h).
 *
 * Data in: argv, KISEKI_SERVER's value, the current time. Data out: a
 * cli_args, or KSK_EINVAL with a message naming the bad option.
 *
 * Two passes: the first splits argv into (option, value) pairs and
 * positional words (so options may stand before or after the command and
 * the command is known before any option is judged); the second checks each
 * option against the command (a table says which commands take which
 * option) and converts values. Times are converted last, once --utc is
 * known.
 * Invariants: nothing is allocated; every string kept is a pointer into argv
 * or the environment string.
 */
#include "cli_opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiseki/parse.h"
#include "kiseki/record.h"

#define CLI_MAX_SEARCH 1500
#define CLI_MAX_LOGS 100000

enum {
	O_SERVER, O_TOKEN, O_COLOR, O_WIDTH, O_ASCII, O_UTC, O_JSON, O_TIMEOUT, O_HELP,
	O_RAW, O_NOLOGS, O_WIDE, O_SERVICE, O_OPERATION, O_TAG, O_MINDUR, O_MAXDUR,
	O_ERRORS, O_SINCE, O_UNTIL, O_LIMIT, O_HOST, O_LEVEL, O_GREP, O_TRACE, O_FOLLOW,
};

#define C_(c) (1u << (c))
#define C_ALL (C_(CLI_CMD_TRACE) | C_(CLI_CMD_SEARCH) | C_(CLI_CMD_LOGS) | \
               C_(CLI_CMD_SERVICES) | C_(CLI_CMD_DEPS))

typedef struct cli_optdef {
	const char *name;  /* long name without "--" */
	char short_name;   /* 0 = none */
	int arg;           /* 0 none, 1 required, 2 optional (only as --name=value) */
	unsigned cmds;     /* commands that take it */
	int id;
} cli_optdef;

static const cli_optdef cli_optdefs[] = {
	{"server", 0, 1, C_ALL, O_SERVER},
	{"token-file", 0, 1, C_ALL, O_TOKEN},
	{"color", 0, 2, C_ALL, O_COLOR},
	{"colour", 0, 2, C_ALL, O_COLOR},
	{"width", 0, 1, C_ALL, O_WIDTH},
	{"ascii", 0, 0, C_ALL, O_ASCII},
	{"utc", 0, 0, C_ALL, O_UTC},
	{"json", 0, 0, C_ALL, O_JSON},
	{"timeout", 0, 1, C_ALL, O_TIMEOUT},
	{"help", 'h', 0, C_ALL, O_HELP},
	{"raw", 0, 0, C_(CLI_CMD_TRACE), O_RAW},
	{"no-logs", 0, 0, C_(CLI_CMD_TRACE), O_NOLOGS},
	{"wide", 0, 0, C_(CLI_CMD_TRACE) | C_(CLI_CMD_SEARCH), O_WIDE},
	{"service", 0, 1, C_(CLI_CMD_SEARCH) | C_(CLI_CMD_LOGS), O_SERVICE},
	{"operation", 0, 1, C_(CLI_CMD_SEARCH), O_OPERATION},
	{"tag", 0, 1, C_(CLI_CMD_SEARCH), O_TAG},
	{"min-duration", 0, 1, C_(CLI_CMD_SEARCH), O_MINDUR},
	{"max-duration", 0, 1, C_(CLI_CMD_SEARCH), O_MAXDUR},
	{"errors", 0, 0, C_(CLI_CMD_SEARCH), O_ERRORS},
	{"since", 0, 1, C_(CLI_CMD_SEARCH) | C_(CLI_CMD_LOGS) | C_(CLI_CMD_DEPS), O_SINCE},
	{"until", 0, 1, C_(CLI_CMD_SEARCH) | C_(CLI_CMD_LOGS), O_UNTIL},
	{"limit", 'n', 1, C_(CLI_CMD_SEARCH) | C_(CLI_CMD_LOGS), O_LIMIT},
	{"host", 0, 1, C_(CLI_CMD_LOGS), O_HOST},
	{"level", 0, 1, C_(CLI_CMD_LOGS), O_LEVEL},
	{"grep", 0, 1, C_(CLI_CMD_LOGS), O_GREP},
	{"trace", 0, 1, C_(CLI_CMD_LOGS), O_TRACE},
	{"follow", 'f', 0, C_(CLI_CMD_LOGS), O_FOLLOW},
};
#define CLI_N_OPTDEFS (sizeof(cli_optdefs) / sizeof(cli_optdefs[0]))

static const char *const cli_cmd_names[] = {"", "trace", "search", "logs", "services", "deps"};

const char *cli_usage(void)
{
	return "usage: kiseki [--server URL] COMMAND [OPTIONS]\n"
	       "\n"
	       "Commands:\n"
	       "  trace ID            a trace as a terminal waterfall, its logs under their spans\n"
	       "  search              find traces (newest first)\n"
	       "  logs                search logs (printed oldest first); -f follows new ones\n"
	       "  services            the services that sent spans\n"
	       "  deps                service dependencies: each caller with its callees\n"
	       "  help                this text\n"
	       "\n"
	       "Global options (before or after the command):\n"
	       "  --server URL        kiseki-query's address (default $KISEKI_SERVER, else\n"
	       "                      " CLI_DEFAULT_SERVER ")\n"
	       "  --token-file FILE   send 'Authorization: Bearer <first line of FILE>'\n"
	       "  --json              print the server's JSON answers instead of text\n"
	       "  --color[=WHEN]      always, never or auto (default auto: when stdout is a\n"
	       "                      terminal and NO_COLOR is not set)\n"
	       "  --width N           columns (default $COLUMNS, the terminal's, or 100)\n"
	       "  --ascii             no box-drawing or block characters (default when the\n"
	       "                      locale is not UTF-8)\n"
	       "  --utc               show and read times in UTC (default: local time, TZ)\n"
	       "  --timeout DURATION  per HTTP request (default 30s)\n"
	       "  -h, --help          this text\n"
	       "\n"
	       "trace ID:\n"
	       "  --raw               times as recorded (no clock-skew adjustment)\n"
	       "  --no-logs           do not fetch the trace's logs\n"
	       "  --wide              do not cut log bodies at the width\n"
	       "  --json              {\"trace\": <compact trace answer>, \"logs\": <logs answer>}\n"
	       "  Marks: '*' critical path (bold), '!' error (red); warnings (clock skew,\n"
	       "  missing parent) are shown under their span.\n"
	       "\n"
	       "search:\n"
	       "  --service NAME      traces with a span of this service\n"
	       "  --operation NAME    ... with this operation (span name)\n"
	       "  --tag KEY=VALUE     a span attribute (repeatable, at most 16)\n"
	       "  --min-duration D    trace duration at least D (e.g. 150ms, 1.5s)\n"
	       "  --max-duration D    trace duration at most D\n"
	       "  --errors            only traces with an error span\n"
	       "  --since TIME        start of the time range (default 1h)\n"
	       "  --until TIME        end of the time range (default now)\n"
	       "  -n, --limit N       at most N traces (1..1500, default 20)\n"
	       "  --wide              do not cut the root column at the width\n"
	       "\n"
	       "logs:\n"
	       "  --service NAME      logs of this service\n"
	       "  --host NAME         logs of this host\n"
	       "  --level LEVEL       at least this severity: trace, debug, info, warn,\n"
	       "                      error, fatal, or a number 1..24\n"
	       "  --grep REGEX        the body matches REGEX (PCRE2, run by the server)\n"
	       "  --trace ID          logs linked to this trace\n"
	       "  --since TIME        start of the time range (default: no bound)\n"
	       "  --until TIME        end of the time range (default: no bound)\n"
	       "  -n, --limit N       the newest N logs (1..100000, default 100)\n"
	       "  -f, --follow        then poll every second and print new logs, each once,\n"
	       "                      until interrupted (^C)\n"
	       "  Lines: TIME LEVEL SERVICE HOST BODY [trace=ID]\n"
	       "\n"
	       "deps:\n"
	       "  --since TIME        look back to TIME (default 24h)\n"
	       "\n"
	       "TIME is a duration before now (15m, 2h, 1h30m, 7d) or a date-time\n"
	       "(2026-11-29T10:00:00Z, '2026-11-29 10:00' in the local zone).\n"
	       "\n"
	       "Exit status:\n"
	       "  0  success (a search or log query without results too)\n"
	       "  1  not found (unknown trace)\n"
	       "  2  usage error (the message names the option)\n"
	       "  3  server unreachable, or an HTTP error (the message gives the status\n"
	       "     and the server's error message)\n";
}

ksk_err cli_parse_dur(const char *s, uint64_t *ns)
{
	if (!s || !*s || strlen(s) > 64)
		return KSK_EINVAL;
	/* "µs" is accepted as "us" */
	char tmp[80];
	size_t o = 0;
	for (const char *p = s; *p && o < sizeof(tmp) - 1; p++) {
		if ((unsigned char)p[0] == 0xc2 && (unsigned char)p[1] == 0xb5) {
			tmp[o++] = 'u';
			p++;
		} else {
			tmp[o++] = *p;
		}
	}
	tmp[o] = '\0';
	return ksk_parse_duration(tmp, ns);
}

/* reads exactly `n` digits */
static bool cli_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t cli_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static ksk_err cli_parse_datetime(const char *s, bool utc, uint64_t *out_us)
{
	const char *p = s;
	int Y, M, D, h = 0, mi = 0, sec = 0;
	uint64_t frac_us = 0;
	if (!cli_digits(&p, 4, &Y) || *p++ != '-' || !cli_digits(&p, 2, &M) || *p++ != '-' ||
	    !cli_digits(&p, 2, &D))
		return KSK_EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!cli_digits(&p, 2, &h) || *p++ != ':' || !cli_digits(&p, 2, &mi))
			return KSK_EINVAL;
		if (*p == ':') {
			p++;
			if (!cli_digits(&p, 2, &sec))
				return KSK_EINVAL;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return KSK_EINVAL;
				uint64_t scale = 100000;
				while (isdigit((unsigned char)*p)) {
					frac_us += (uint64_t)(*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
	}
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
		return KSK_EINVAL;
	bool zone = false;
	int64_t off_s = 0;
	if (*p == 'Z' || *p == 'z') {
		zone = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;
		p++;
		if (!cli_digits(&p, 2, &oh))
			return KSK_EINVAL;
		if (*p == ':')
			p++;
		if (*p && !cli_digits(&p, 2, &om))
			return KSK_EINVAL;
		if (oh > 23 || om > 59)
			return KSK_EINVAL;
		zone = true;
		off_s = sign * (oh * 3600 + om * 60);
	}
	if (*p)
		return KSK_EINVAL;
	int64_t secs;
	if (zone || utc) {
		secs = cli_days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off_s;
	} else {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = Y - 1900;
		tm.tm_mon = M - 1;
		tm.tm_mday = D;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t t = mktime(&tm);
		if (t == (time_t)-1)
			return KSK_EINVAL;
		secs = (int64_t)t;
	}
	if (secs < 0)
		return KSK_EINVAL;
	*out_us = (uint64_t)secs * 1000000u + frac_us;
	return KSK_OK;
}

ksk_err cli_parse_time(const char *s, uint64_t now_us, bool utc, uint64_t *out_us)
{
	if (!s || !*s)
		return KSK_EINVAL;
	uint64_t ns;
	if (cli_parse_dur(s, &ns) == KSK_OK) {
		uint64_t us = ns / 1000u;
		*out_us = us < now_us ? now_us - us : 0;
		return KSK_OK;
	}
	return cli_parse_datetime(s, utc, out_us);
}

bool cli_trace_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 32)
		return false;
	bool nonzero = false;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		nonzero |= s[i] != '0';
	}
	return nonzero;
}

static const cli_optdef *cli_find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < CLI_N_OPTDEFS; i++)
		if (strlen(cli_optdefs[i].name) == len && memcmp(cli_optdefs[i].name, name, len) == 0)
			return &cli_optdefs[i];
	return NULL;
}

static const cli_optdef *cli_find_short(char c)
{
	for (size_t i = 0; i < CLI_N_OPTDEFS; i++)
		if (cli_optdefs[i].short_name == c)
			return &cli_optdefs[i];
	return NULL;
}

static bool cli_u64(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

typedef struct cli_item {
	const cli_optdef *d;
	const char *spelled; /* as written, for messages ("--limit", "-n") */
	const char *value;
} cli_item;

/* applies one option; the command is known */
static ksk_err cli_apply(const cli_item *it, cli_args *a, const char **since, const char **until,
                         ksk_errinfo *ei)
{
	const char *v = it->value;
	const char *nm = it->spelled;
	uint64_t n;
	switch (it->d->id) {
	case O_SERVER: a->server = v; break;
	case O_TOKEN: a->token_file = v; break;
	case O_COLOR:
		if (!v || strcmp(v, "always") == 0)
			a->color = CLI_COLOR_ALWAYS;
		else if (strcmp(v, "never") == 0)
			a->color = CLI_COLOR_NEVER;
		else if (strcmp(v, "auto") == 0)
			a->color = CLI_COLOR_AUTO;
		else
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not always, never or auto", nm,
			                       v);
		break;
	case O_WIDTH:
		if (!cli_u64(v, &n) || n < 20 || n > 10000)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a number of columns in "
			                                       "20..10000", nm, v);
		a->width = (unsigned)n;
		break;
	case O_ASCII: a->ascii = true; break;
	case O_UTC: a->utc = true; break;
	case O_JSON: a->json = true; break;
	case O_TIMEOUT:
		if (cli_parse_dur(v, &n) != KSK_OK || n < 1000000u || n / 1000000u > 86400000u)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a duration from 1ms to "
			                                       "1d (e.g. 10s)", nm, v);
		a->timeout_ms = n / 1000000u;
		break;
	case O_HELP: a->help = true; break;
	case O_RAW: a->raw = true; break;
	case O_NOLOGS: a->no_logs = true; break;
	case O_WIDE: a->wide = true; break;
	case O_SERVICE: a->service = v; break;
	case O_OPERATION: a->operation = v; break;
	case O_HOST: a->host = v; break;
	case O_GREP: a->grep = v; break;
	case O_ERRORS: a->errors = true; break;
	case O_FOLLOW: a->follow = true; break;
	case O_TAG: {
		const char *eq = strchr(v, '=');
		if (!eq || eq == v)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not KEY=VALUE", nm, v);
		if (a->n_tags >= CLI_MAX_TAGS)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s: at most %d tags", nm, CLI_MAX_TAGS);
		a->tags[a->n_tags++] = v;
		break;
	}
	case O_MINDUR:
	case O_MAXDUR:
		if (cli_parse_dur(v, &n) != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a duration (e.g. 150ms, "
			                                       "1.5s, 2m)", nm, v);
		if (it->d->id == O_MINDUR)
			a->min_dur_ns = n;
		else
			a->max_dur_ns = n;
		break;
	case O_SINCE: *since = v; break;
	case O_UNTIL: *until = v; break;
	case O_LIMIT: {
		uint64_t max = a->cmd == CLI_CMD_SEARCH ? CLI_MAX_SEARCH : CLI_MAX_LOGS;
		if (!cli_u64(v, &n) || n < 1 || n > max)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a number in 1..%llu", nm, v,
			                       (unsigned long long)max);
		a->limit = n;
		a->has_limit = true;
		break;
	}
	case O_LEVEL: {
		bool ok = cli_u64(v, &n) ? (n >= 1 && n <= 24)
		                         : ksk_severity_from_text(v, strlen(v)) != 0;
		if (!ok)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a level (trace, debug, info, "
			                                       "warn, error, fatal or 1..24)", nm, v);
		a->level = v;
		break;
	}
	case O_TRACE:
		if (!cli_trace_id_ok(v))
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s '%s': not a trace ID (1 to 32 hex "
			                                       "digits)", nm, v);
		a->trace_id = v;
		break;
	default: break;
	}
	return KSK_OK;
}

ksk_err cli_args_parse(int argc, char *const *argv, const char *env_server, uint64_t now_us,
                       cli_args *a, ksk_errinfo *ei)
{
	memset(a, 0, sizeof(*a));
	a->server = env_server && *env_server ? env_server : CLI_DEFAULT_SERVER;
	a->timeout_ms = 30000;
	cli_item items[256];
	size_t n_items = 0;
	const char *pos[8];
	size_t n_pos = 0;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (dashdash || s[0] != '-' || s[1] == '\0') {
			if (n_pos >= sizeof(pos) / sizeof(pos[0]))
				return ksk_errinfo_set(ei, KSK_EINVAL, "unexpected argument '%s'", s);
			pos[n_pos++] = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (n_items >= sizeof(items) / sizeof(items[0]))
			return ksk_errinfo_set(ei, KSK_EINVAL, "too many options");
		cli_item *it = &items[n_items];
		it->spelled = s;
		it->value = NULL;
		if (s[1] == '-') {
			const char *name = s + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			it->d = cli_find_long(name, len);
			if (!it->d)
				return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%.*s' (see kiseki "
				                                       "--help)", (int)(len + 2), s);
			if (eq) {
				if (it->d->arg == 0)
					return ksk_errinfo_set(ei, KSK_EINVAL, "option '--%s' takes no value",
					                       it->d->name);
				it->value = eq + 1;
			} else if (it->d->arg == 1) {
				if (i + 1 >= argc)
					return ksk_errinfo_set(ei, KSK_EINVAL, "option '%s' needs a value", s);
				it->value = argv[++i];
			} else if (it->d->arg == 2 && i + 1 < argc &&
			           (strcmp(argv[i + 1], "always") == 0 ||
			            strcmp(argv[i + 1], "never") == 0 || strcmp(argv[i + 1], "auto") == 0)) {
				it->value = argv[++i];
			}
		} else {
			it->d = cli_find_short(s[1]);
			if (!it->d)
				return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s' (see kiseki "
				                                       "--help)", s);
			if (it->d->arg == 1) {
				if (s[2])
					it->value = s + 2;
				else if (i + 1 < argc)
					it->value = argv[++i];
				else
					return ksk_errinfo_set(ei, KSK_EINVAL, "option '%s' needs a value", s);
			} else if (s[2]) {
				return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s' (see kiseki "
				                                       "--help)", s);
			}
		}
		n_items++;
	}
	/* the command */
	size_t first_arg = 1;
	if (n_pos == 0) {
		for (size_t k = 0; k < n_items; k++)
			if (items[k].d->id == O_HELP)
				a->help = true;
		if (a->help)
			return KSK_OK;
		return ksk_errinfo_set(ei, KSK_EINVAL, "no command (trace, search, logs, services, "
		                                       "deps; see kiseki --help)");
	}
	if (strcmp(pos[0], "help") == 0) {
		a->help = true;
		return KSK_OK;
	}
	for (int c = CLI_CMD_TRACE; c <= CLI_CMD_DEPS; c++)
		if (strcmp(pos[0], cli_cmd_names[c]) == 0)
			a->cmd = (cli_cmd)c;
	if (a->cmd == CLI_CMD_NONE)
		return ksk_errinfo_set(ei, KSK_EINVAL, "unknown command '%s' (trace, search, logs, "
		                                       "services, deps)", pos[0]);
	/* --help anywhere wins over everything else */
	for (size_t k = 0; k < n_items; k++)
		if (items[k].d->id == O_HELP) {
			a->help = true;
			return KSK_OK;
		}
	const char *cmdname = cli_cmd_names[a->cmd];
	if (a->cmd == CLI_CMD_TRACE) {
		if (n_pos < 2)
			return ksk_errinfo_set(ei, KSK_EINVAL, "trace: missing the trace ID");
		if (!cli_trace_id_ok(pos[1]))
			return ksk_errinfo_set(ei, KSK_EINVAL, "trace: '%s' is not a trace ID (1 to 32 "
			                                       "hex digits, not all zero)", pos[1]);
		a->trace_id = pos[1];
		first_arg = 2;
	}
	if (n_pos > first_arg)
		return ksk_errinfo_set(ei, KSK_EINVAL, "%s: unexpected argument '%s'", cmdname,
		                       pos[first_arg]);
	const char *since = NULL, *until = NULL;
	for (size_t k = 0; k < n_items; k++) {
		if (!(items[k].d->cmds & C_(a->cmd)))
			return ksk_errinfo_set(ei, KSK_EINVAL, "option '--%s' does not apply to '%s' "
			                                       "(see kiseki --help)",
			                       items[k].d->name, cmdname);
		KSK_TRY(cli_apply(&items[k], a, &since, &until, ei));
	}
	if (since) {
		if (cli_parse_time(since, now_us, a->utc, &a->since_us) != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "--since '%s': not a duration (15m, 2h) "
			                                       "or a date-time (2026-11-29T10:00:00Z)",
			                       since);
		a->has_since = true;
	}
	if (until) {
		if (cli_parse_time(until, now_us, a->utc, &a->until_us) != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "--until '%s': not a duration (15m, 2h) "
			                                       "or a date-time (2026-11-29T10:00:00Z)",
			                       until);
		a->has_until = true;
	}
	if (a->has_since && a->has_until && a->since_us > a->until_us)
		return ksk_errinfo_set(ei, KSK_EINVAL, "--since is after --until");
	if (a->max_dur_ns && a->min_dur_ns > a->max_dur_ns)
		return ksk_errinfo_set(ei, KSK_EINVAL, "--min-duration is over --max-duration");
	if (a->follow && a->has_until)
		return ksk_errinfo_set(ei, KSK_EINVAL, "--follow and --until do not go together");
	if (strncmp(a->server, "http://", 7) != 0 && strncmp(a->server, "https://", 8) != 0 &&
	    strstr(a->server, "://"))
		return ksk_errinfo_set(ei, KSK_EINVAL, "--server '%s': not an http:// or https:// "
		                                       "URL", a->server);
	return KSK_OK;
}
