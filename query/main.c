/*
 * main.c : kiseki-query. Parses options, connects the fan-out backend,
 * the API and the HTTP server, prints the ready line, and stops on
 * SIGTERM/SIGINT. Exit status: 0 clean stop, 1 runtime failure, 2 usage.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "qry_api.h"
#include "qry_config.h"
#include "qry_fetch.h"
#include "qry_http.h"

int main(int argc, char **argv)
{
	qry_config cfg;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (qry_config_parse(argc, argv, &cfg, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-query: %s\n\n%s", ei.msg, qry_config_usage());
		qry_config_free(&cfg);
		return 2;
	}
	if (cfg.help) {
		fputs(qry_config_usage(), stdout);
		qry_config_free(&cfg);
		return 0;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	qry_backend *b = NULL;
	qry_api *api = NULL;
	qry_http *http = NULL;
	qry_backend_opts bo = {.urls = cfg.collectors, .n_urls = cfg.n_collectors,
	                       .timeout_ms = (int)(cfg.timeout_ns / 1000000ull)};
	qry_api_opts ao = {.max_skew_ns = cfg.max_skew_ns};
	qry_http_opts ho = {.listen = cfg.listen, .ui_dir = cfg.ui_dir,
	                    .auth_token = cfg.auth_token, .threads = cfg.threads};
	ksk_err rc = qry_backend_create(&bo, &b, &ei);
	if (rc == KSK_OK) {
		ao.backend = b;
		rc = qry_api_create(&ao, &api, &ei);
	}
	if (rc == KSK_OK)
		rc = qry_http_start(&ho, api, &http, &ei);
	if (rc != KSK_OK) {
		fprintf(stderr, "kiseki-query: %s: %s\n", ksk_errname(ei.code), ei.msg);
		qry_api_destroy(api);
		qry_backend_destroy(b);
		qry_config_free(&cfg);
		return 1;
	}
	fprintf(stderr, "kiseki-query: %u collector(s), UI %s, auth %s\n", cfg.n_collectors,
	        cfg.ui_dir ? cfg.ui_dir : "off", cfg.auth_token ? "bearer token" : "off");
	printf("ready kiseki-query http://127.0.0.1:%u\n", (unsigned)qry_http_port(http));
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "kiseki-query: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	qry_http_stop(http);
	qry_api_destroy(api);
	qry_backend_destroy(b);
	qry_config_free(&cfg);
	fprintf(stderr, "kiseki-query: stopped\n");
	return 0;
}
