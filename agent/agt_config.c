/*
 * agt_config.c : kiseki-agent's options and config file (agt_config.h).
 *
 * Data in: argv and the text of the --config file. Data out: agt_config,
 * whose strings live in its arena.
 * File grammar (INI): blank lines and lines starting with '#' or ';' are
 * ignored; `[agent]`, `[input NAME]`, `[spans NAME]` open sections;
 * `key = value` sets a key (repeatable keys append); a value may be
 * double-quoted, with \" and \\ escapes, to keep leading/trailing spaces.
 * Invariants: every error names FILE:LINE or the option; unknown keys and
 * sections are errors (a typo must not silently do nothing); options on
 * the command line override [agent] keys from the file.
 */
#include "agt_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/parse.h"

const char *agt_config_usage(void)
{
	return "usage: kiseki-agent --spool-dir DIR --collector URL [options]\n"
	       "\n"
	       "Tails log and span files, receives spans, and ships everything to\n"
	       "kiseki-collector without losing any of it (disk spool, acks, retries).\n"
	       "Prints 'ready kiseki-agent <intake URL>' on stdout when serving; logs\n"
	       "to stderr; SIGTERM: flush, checkpoint, exit 0; SIGHUP: reload --config.\n"
	       "\n"
	       "  --collector URL          collector intake (repeatable), e.g. tcp://127.0.0.1:14250\n"
	       "  --spool-dir DIR          spool, checkpoints and agent ID (required)\n"
	       "  --spool-max SIZE         spool bound (default 1GiB); when full, reading pauses\n"
	       "  --config FILE            INI file with [agent], [input NAME], [spans NAME]\n"
	       "  --tail GLOB=SERVICE      tail log files, auto parser (repeatable)\n"
	       "  --span-file GLOB         tail OTLP JSON span files (repeatable)\n"
	       "  --intake URL             native span intake, NNG PULL\n"
	       "                           (default ipc://SPOOL-DIR/intake.sock)\n"
	       "  --otlp-listen HOST:PORT  OTLP/HTTP receiver (default 127.0.0.1:4318, 'off')\n"
	       "  --zipkin-listen HOST:PORT  Zipkin v2 receiver (default 127.0.0.1:9411, 'off')\n"
	       "  --metrics-listen HOST:PORT  /metrics and /health (default off)\n"
	       "  --host NAME              host.name of records (default: this host's name)\n"
	       "  --batch-max-bytes SIZE   frame payload size (default 1MiB)\n"
	       "  --batch-max-age DUR      frame age (default 200ms)\n"
	       "  --compress-threads N     threads compressing frames (default 2, 1..16)\n"
	       "  --flush-timeout DUR      partial last line wait (default 5s)\n"
	       "  --scan-interval DUR      file discovery fallback scan (default 1s)\n"
	       "  --help                   this text\n"
	       "\n"
	       "DUR: 500ms, 30s, 10m. SIZE: 4096, 64KiB, 256MiB. docs/AGENT.md lists\n"
	       "every config file key with an example.\n";
}

ksk_err agt_config_init(agt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (ksk_arena_create(NULL, 16384, 64u << 20, &cfg->arena) != KSK_OK)
		return KSK_ENOMEM;
	cfg->spool_max = 1ull << 30;
	cfg->otlp_listen = "127.0.0.1:4318";
	cfg->zipkin_listen = "127.0.0.1:9411";
	cfg->batch_max_bytes = 1u << 20;
	cfg->batch_max_age_ns = 200000000ull;
	cfg->compress_threads = 2;
	cfg->flush_timeout_ns = 5000000000ull;
	cfg->scan_interval_ns = 1000000000ull;
	return KSK_OK;
}

void agt_config_free(agt_config *cfg)
{
	ksk_arena_destroy(cfg->arena);
	cfg->arena = NULL;
}

static const char *agt_dup(agt_config *cfg, const char *s, size_t n)
{
	return ksk_arena_memdup(cfg->arena, s, n);
}

static agt_input_cfg *agt_new_input(agt_config *cfg, agt_input_kind kind, const char *name)
{
	if (cfg->n_inputs == AGT_MAX_INPUTS)
		return NULL;
	agt_input_cfg *in = &cfg->inputs[cfg->n_inputs++];
	memset(in, 0, sizeof(*in));
	in->kind = kind;
	in->name = name;
	in->start_at_head = true;
	in->max_line = 64u << 10;
	in->multiline_timeout_ns = 2000000000ull;
	in->parser = "auto";
	return in;
}

/* rate_limit = "N lines/s" | "SIZE/s" */
static ksk_err agt_parse_rate(const char *v, agt_input_cfg *in)
{
	const char *slash = strstr(v, "/s");
	if (!slash || slash[2] != '\0')
		return KSK_EINVAL;
	char num[64];
	size_t n = (size_t)(slash - v);
	if (n == 0 || n >= sizeof(num))
		return KSK_EINVAL;
	memcpy(num, v, n);
	num[n] = '\0';
	char *lines = strstr(num, "lines");
	if (lines) {
		*lines = '\0';
		char *end;
		errno = 0;
		unsigned long long x = strtoull(num, &end, 10);
		while (*end == ' ')
			end++;
		if (errno || end == num || *end || x == 0)
			return KSK_EINVAL;
		in->rate_lines = x;
		return KSK_OK;
	}
	return ksk_parse_size(num, &in->rate_bytes) == KSK_OK && in->rate_bytes ? KSK_OK
	                                                                          : KSK_EINVAL;
}

static ksk_err agt_set_input(agt_config *cfg, agt_input_cfg *in, const char *k, const char *v)
{
	if (strcmp(k, "path") == 0) {
		if (in->n_globs == AGT_MAX_GLOBS)
			return KSK_ELIMIT;
		in->globs[in->n_globs++] = v;
	} else if (strcmp(k, "exclude") == 0) {
		if (in->n_excludes == AGT_MAX_GLOBS)
			return KSK_ELIMIT;
		in->excludes[in->n_excludes++] = v;
	} else if (strcmp(k, "service") == 0)
		in->service = v;
	else if (strcmp(k, "parser") == 0 && in->kind == AGT_INPUT_LOGS) {
		static const char *const names[] = {"auto", "json", "logfmt", "regex", "text"};
		int found = -1;
		for (int i = 0; i < 5; i++)
			if (strcmp(v, names[i]) == 0)
				found = i;
		if (found < 0)
			return KSK_EINVAL;
		in->parser = names[found];
	} else if (strcmp(k, "regex") == 0 && in->kind == AGT_INPUT_LOGS)
		in->regex = v;
	else if (strcmp(k, "time_format") == 0 && in->kind == AGT_INPUT_LOGS)
		in->time_format = v;
	else if (strcmp(k, "trace_group") == 0 && in->kind == AGT_INPUT_LOGS)
		in->trace_group = v;
	else if (strcmp(k, "multiline_start") == 0 && in->kind == AGT_INPUT_LOGS)
		in->multiline_start = v;
	else if (strcmp(k, "multiline_continue") == 0 && in->kind == AGT_INPUT_LOGS)
		in->multiline_continue = v;
	else if (strcmp(k, "multiline_timeout") == 0 && in->kind == AGT_INPUT_LOGS)
		return ksk_parse_duration(v, &in->multiline_timeout_ns);
	else if (strcmp(k, "start_at") == 0) {
		if (strcmp(v, "head") == 0)
			in->start_at_head = true;
		else if (strcmp(v, "tail") == 0)
			in->start_at_head = false;
		else
			return KSK_EINVAL;
	} else if (strcmp(k, "max_line") == 0) {
		KSK_TRY(ksk_parse_size(v, &in->max_line));
		if (in->max_line < 256 || in->max_line > (16u << 20))
			return KSK_EINVAL;
	} else if (strcmp(k, "rate_limit") == 0)
		return agt_parse_rate(v, in);
	else if (strncmp(k, "attr.", 5) == 0 && k[5]) {
		if (in->n_attrs == AGT_MAX_STATIC_ATTRS)
			return KSK_ELIMIT;
		in->attrs[in->n_attrs].key = agt_dup(cfg, k + 5, strlen(k + 5));
		in->attrs[in->n_attrs].value = v;
		in->n_attrs++;
	} else
		return KSK_ENOTFOUND;
	return KSK_OK;
}

/* The [agent] keys and the long options share names ('-' vs '_'). */
static ksk_err agt_set_global(agt_config *cfg, const char *k, const char *v)
{
	if (strcmp(k, "collector") == 0) {
		if (cfg->n_collectors == AGT_MAX_COLLECTORS)
			return KSK_ELIMIT;
		cfg->collectors[cfg->n_collectors++] = v;
	} else if (strcmp(k, "spool_dir") == 0)
		cfg->spool_dir = v;
	else if (strcmp(k, "spool_max") == 0)
		return ksk_parse_size(v, &cfg->spool_max);
	else if (strcmp(k, "intake") == 0)
		cfg->intake = v;
	else if (strcmp(k, "otlp_listen") == 0)
		cfg->otlp_listen = v;
	else if (strcmp(k, "zipkin_listen") == 0)
		cfg->zipkin_listen = v;
	else if (strcmp(k, "metrics_listen") == 0)
		cfg->metrics_listen = v;
	else if (strcmp(k, "host") == 0)
		cfg->host = v;
	else if (strcmp(k, "batch_max_bytes") == 0) {
		KSK_TRY(ksk_parse_size(v, &cfg->batch_max_bytes));
		if (cfg->batch_max_bytes < 1024 || cfg->batch_max_bytes > (8u << 20))
			return KSK_EINVAL;
	} else if (strcmp(k, "compress_threads") == 0) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-' || n < 1 || n > 16)
			return KSK_EINVAL;
		cfg->compress_threads = (uint32_t)n;
	} else if (strcmp(k, "batch_max_age") == 0)
		return ksk_parse_duration(v, &cfg->batch_max_age_ns);
	else if (strcmp(k, "flush_timeout") == 0)
		return ksk_parse_duration(v, &cfg->flush_timeout_ns);
	else if (strcmp(k, "scan_interval") == 0)
		return ksk_parse_duration(v, &cfg->scan_interval_ns);
	else
		return KSK_ENOTFOUND;
	return KSK_OK;
}

static char *agt_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Unquotes a value in place; returns NULL on a bad quote. */
static char *agt_unquote(char *v)
{
	size_t n = strlen(v);
	if (n == 0 || v[0] != '"')
		return v;
	if (n < 2 || v[n - 1] != '"')
		return NULL;
	char *o = v;
	for (size_t i = 1; i < n - 1; i++) {
		if (v[i] == '\\' && i + 1 < n - 1 && (v[i + 1] == '"' || v[i + 1] == '\\'))
			i++;
		else if (v[i] == '"')
			return NULL;
		*o++ = v[i];
	}
	*o = '\0';
	return v;
}

ksk_err agt_config_parse_text(agt_config *cfg, const char *name, const char *text,
                              ksk_errinfo *ei)
{
	char *copy = (char *)agt_dup(cfg, text, strlen(text));
	if (!copy)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "%s: no memory", name);
	agt_input_cfg *cur = NULL;
	bool in_agent = false;
	int lineno = 0;
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *s = agt_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || agt_trim(close + 1)[0])
				return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: bad section line", name, lineno);
			*close = '\0';
			char *sec = agt_trim(s + 1);
			char *sp = strpbrk(sec, " \t.");
			char *sname = NULL;
			if (sp) {
				*sp = '\0';
				sname = agt_trim(sp + 1);
				sname = agt_unquote(sname);
				if (!sname || !*sname)
					return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: bad section name", name, lineno);
			}
			in_agent = false;
			cur = NULL;
			if (strcmp(sec, "agent") == 0 && !sname)
				in_agent = true;
			else if ((strcmp(sec, "input") == 0 || strcmp(sec, "spans") == 0) && sname) {
				cur = agt_new_input(cfg, sec[0] == 'i' ? AGT_INPUT_LOGS : AGT_INPUT_SPANS, sname);
				if (!cur)
					return ksk_errinfo_set(ei, KSK_ELIMIT, "%s:%d: more than %d inputs", name,
					                       lineno, AGT_MAX_INPUTS);
			} else
				return ksk_errinfo_set(ei, KSK_EINVAL,
				                       "%s:%d: unknown section [%s%s%s] (want [agent], [input NAME], [spans NAME])",
				                       name, lineno, sec, sname ? " " : "", sname ? sname : "");
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: expected key = value", name, lineno);
		*eq = '\0';
		char *k = agt_trim(s), *v = agt_unquote(agt_trim(eq + 1));
		if (!v)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: bad quoting in the value of '%s'",
			                       name, lineno, k);
		if (!in_agent && !cur)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: '%s' outside a section", name, lineno, k);
		ksk_err rc = in_agent ? agt_set_global(cfg, k, v) : agt_set_input(cfg, cur, k, v);
		if (rc == KSK_ENOTFOUND)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: unknown key '%s' in [%s]", name,
			                       lineno, k, in_agent ? "agent" : cur->name);
		if (rc != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s:%d: bad value '%s' for '%s'", name,
			                       lineno, v, k);
	}
	return KSK_OK;
}

static ksk_err agt_read_file(agt_config *cfg, const char *path, ksk_errinfo *ei)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "--config %s", path);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			if (cap >= (16u << 20)) {
				free(buf);
				fclose(f);
				return ksk_errinfo_set(ei, KSK_ELIMIT, "--config %s: larger than 16 MiB", path);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "--config %s: no memory", path);
	buf[len] = '\0';
	ksk_err rc = agt_config_parse_text(cfg, path, buf, ei);
	free(buf);
	return rc;
}

ksk_err agt_config_load(int argc, char **argv, agt_config *cfg, ksk_errinfo *ei)
{
	if (agt_config_init(cfg) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "no memory");
	/* the file first, so that options override it */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cfg->help = true;
			return KSK_OK;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			cfg->config_file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			cfg->config_file = argv[i] + 9;
	}
	if (cfg->config_file)
		KSK_TRY(agt_read_file(cfg, cfg->config_file, ei));
	bool cli_collectors = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0)
			return ksk_errinfo_set(ei, KSK_EINVAL, "unexpected argument '%s'", arg);
		char key[64];
		const char *val;
		const char *eq = strchr(arg, '=');
		/* --tail takes GLOB=SERVICE, so only the first '=' after the
		 * option name counts when the form is --tail=GLOB=SERVICE */
		size_t kl = eq ? (size_t)(eq - arg) : strlen(arg);
		if (kl - 2 >= sizeof(key))
			return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '%s'", arg);
		for (size_t j = 2; j < kl; j++)
			key[j - 2] = arg[j] == '-' ? '_' : arg[j];
		key[kl - 2] = '\0';
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return ksk_errinfo_set(ei, KSK_EINVAL, "%s needs a value", arg);
		if (strcmp(key, "config") == 0)
			continue;
		if (strcmp(key, "tail") == 0) {
			const char *sep = strrchr(val, '=');
			if (!sep || sep == val || !sep[1])
				return ksk_errinfo_set(ei, KSK_EINVAL, "--tail wants GLOB=SERVICE, got '%s'", val);
			agt_input_cfg *in = agt_new_input(cfg, AGT_INPUT_LOGS,
			                                  agt_dup(cfg, val, (size_t)(sep - val)));
			if (!in)
				return ksk_errinfo_set(ei, KSK_ELIMIT, "too many inputs");
			in->globs[in->n_globs++] = in->name;
			in->service = sep + 1;
			continue;
		}
		if (strcmp(key, "span_file") == 0) {
			agt_input_cfg *in = agt_new_input(cfg, AGT_INPUT_SPANS, val);
			if (!in)
				return ksk_errinfo_set(ei, KSK_ELIMIT, "too many inputs");
			in->globs[in->n_globs++] = val;
			continue;
		}
		if (strcmp(key, "collector") == 0 && !cli_collectors) {
			/* collectors on the command line replace the file's */
			cli_collectors = true;
			cfg->n_collectors = 0;
		}
		ksk_err rc = agt_set_global(cfg, key, val);
		if (rc == KSK_ENOTFOUND)
			return ksk_errinfo_set(ei, KSK_EINVAL, "unknown option '--%.*s'", (int)(kl - 2), arg + 2);
		if (rc != KSK_OK)
			return ksk_errinfo_set(ei, KSK_EINVAL, "bad value '%s' for --%.*s", val,
			                       (int)(kl - 2), arg + 2);
	}
	if (!cfg->spool_dir)
		return ksk_errinfo_set(ei, KSK_EINVAL, "--spool-dir is required");
	if (cfg->n_collectors == 0)
		return ksk_errinfo_set(ei, KSK_EINVAL, "at least one --collector is required");
	for (uint32_t i = 0; i < cfg->n_inputs; i++)
		if (cfg->inputs[i].n_globs == 0)
			return ksk_errinfo_set(ei, KSK_EINVAL, "input '%s' has no path", cfg->inputs[i].name);
	return KSK_OK;
}
