/*
 * main.c : `kiseki`, the command-line client of kiseki-query. Parses the
 * command line (cli_opts), decides the terminal settings (width: --width,
 * COLUMNS, the terminal's, else 100; colour: --color, else a terminal and
 * no NO_COLOR; glyphs: UTF-8 locale unless --ascii), connects libcurl and
 * runs the command (cli_cmd). Exit status: cli_opts.h (0 ok, 1 not found,
 * 2 usage, 3 server).
 */
#include <curl/curl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli_cmd.h"

static volatile sig_atomic_t cli_stop_flag;

static void cli_on_signal(int sig)
{
	(void)sig;
	cli_stop_flag = 1;
}

static unsigned cli_width(const cli_args *a, bool tty)
{
	if (a->width)
		return a->width;
	const char *c = getenv("COLUMNS");
	if (c && *c) {
		char *end;
		long v = strtol(c, &end, 10);
		if (!*end && v >= 20 && v <= 10000)
			return (unsigned)v;
	}
	struct winsize ws;
	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 100;
}

int main(int argc, char **argv)
{
	cli_args a;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	const ksk_clock *clock = ksk_clock_system();
	if (cli_args_parse(argc, argv, getenv("KISEKI_SERVER"), ksk_clock_wall(clock) / 1000u, &a,
	                   &ei) != KSK_OK) {
		fprintf(stderr, "kiseki: %s\n", ei.msg);
		return CLI_EXIT_USAGE;
	}
	if (a.help) {
		fputs(cli_usage(), stdout);
		return CLI_EXIT_OK;
	}
	char token[4096];
	if (a.token_file && cli_read_token(a.token_file, token, sizeof(token), &ei) != KSK_OK) {
		fprintf(stderr, "kiseki: %s\n", ei.msg);
		return CLI_EXIT_USAGE;
	}
	bool tty = isatty(STDOUT_FILENO) == 1;
	setlocale(LC_CTYPE, "");
	const char *cs = nl_langinfo(CODESET);
	bool utf8 = cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
	const char *nc = getenv("NO_COLOR");
	cli_env env;
	memset(&env, 0, sizeof(env));
	env.out = stdout;
	env.err = stderr;
	env.clock = clock;
	env.stop = &cli_stop_flag;
	env.fmt.width = cli_width(&a, tty);
	env.fmt.color = a.color == CLI_COLOR_ALWAYS ||
	                (a.color == CLI_COLOR_AUTO && tty && !(nc && *nc));
	env.fmt.ascii = a.ascii || !utf8;
	env.fmt.utc = a.utc;
	/* piped output keeps every byte of free text; a terminal gets it cut */
	env.fmt.wide = a.wide || !tty;
	if (a.follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = cli_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "kiseki: libcurl: cannot initialise\n");
		return CLI_EXIT_SERVER;
	}
	int rc = cli_http_create(a.server, a.token_file ? token : NULL, (long)a.timeout_ms,
	                         &env.http, &ei) == KSK_OK
	             ? cli_run(&a, &env)
	             : (fprintf(stderr, "kiseki: %s\n", ei.msg), CLI_EXIT_USAGE);
	cli_http_destroy(env.http);
	curl_global_cleanup();
	return rc;
}
