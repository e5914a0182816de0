/*
 * main.c : kiseki-collector. Parses options, starts the collector, prints
 * the ready line, waits for SIGTERM or SIGINT, stops cleanly.
 * Exit status: 0 clean stop, 1 runtime failure, 2 usage error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "col_config.h"
#include "col_server.h"

int main(int argc, char **argv)
{
	col_config cfg;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (col_config_parse(argc, argv, &cfg, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-collector: %s\n\n%s", ei.msg, col_config_usage());
		return 2;
	}
	if (cfg.help) {
		fputs(col_config_usage(), stdout);
		return 0;
	}
	/* signals are taken synchronously by this thread only */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	col_server *srv;
	if (col_server_start(&cfg, &srv, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-collector: %s: %s\n", ksk_errname(ei.code), ei.msg);
		return 1;
	}
	fprintf(stderr, "kiseki-collector: data %s, intake %s, query %s", cfg.data_dir,
	        col_server_ingest_url(srv), col_server_query_url(srv));
	if (col_server_metrics_port(srv))
		fprintf(stderr, ", metrics http://%s (port %u)", cfg.metrics_listen,
		        (unsigned)col_server_metrics_port(srv));
	fputc('\n', stderr);
	printf("ready kiseki-collector %s\n", col_server_ingest_url(srv));
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "kiseki-collector: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	col_server_stop(srv);
	fprintf(stderr, "kiseki-collector: stopped\n");
	return 0;
}
