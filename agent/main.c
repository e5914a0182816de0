/*
 * main.c : kiseki-agent. Loads options and the config file, starts the
 * agent, prints the ready line, and handles signals: SIGTERM/SIGINT flush,
 * checkpoint and exit 0; SIGHUP reloads the inputs from --config.
 * Exit status: 0 clean stop, 1 runtime failure, 2 usage error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt_config.h"
#include "agt_server.h"

int main(int argc, char **argv)
{
	agt_config *cfg = calloc(1, sizeof(*cfg));
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (!cfg)
		return 1;
	if (agt_config_load(argc, argv, cfg, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-agent: %s\n\n%s", ei.msg, agt_config_usage());
		agt_config_free(cfg);
		free(cfg);
		return 2;
	}
	if (cfg->help) {
		fputs(agt_config_usage(), stdout);
		agt_config_free(cfg);
		free(cfg);
		return 0;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	agt_server *srv;
	if (agt_server_start(cfg, &srv, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-agent: %s: %s\n", ksk_errname(ei.code), ei.msg);
		agt_config_free(cfg);
		free(cfg);
		return 1;
	}
	fprintf(stderr, "kiseki-agent: spool %s, %u input(s), %u collector(s), intake %s",
	        cfg->spool_dir, cfg->n_inputs, cfg->n_collectors, agt_server_intake_url(srv));
	if (agt_server_otlp_port(srv))
		fprintf(stderr, ", OTLP/HTTP port %u", (unsigned)agt_server_otlp_port(srv));
	if (agt_server_zipkin_port(srv))
		fprintf(stderr, ", Zipkin port %u", (unsigned)agt_server_zipkin_port(srv));
	if (agt_server_metrics_port(srv))
		fprintf(stderr, ", metrics port %u", (unsigned)agt_server_metrics_port(srv));
	fputc('\n', stderr);
	printf("ready kiseki-agent %s\n", agt_server_intake_url(srv));
	fflush(stdout);
	for (;;) {
		int sig = 0;
		sigwait(&set, &sig);
		if (sig != SIGHUP) {
			fprintf(stderr, "kiseki-agent: %s, flushing\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		agt_config *nc = calloc(1, sizeof(*nc));
		if (!nc)
			continue;
		if (agt_config_load(argc, argv, nc, &ei) != KSK_OK ||
		    agt_server_reload(srv, nc, &ei) != KSK_OK) {
			fprintf(stderr, "kiseki-agent: SIGHUP: reload failed, keeping the running inputs: %s\n",
			        ei.msg);
			agt_config_free(nc);
			free(nc);
			continue;
		}
		fprintf(stderr, "kiseki-agent: SIGHUP: %u input(s) reloaded\n", nc->n_inputs);
		agt_config_free(cfg);
		free(cfg);
		cfg = nc;
	}
	agt_server_stop(srv, 5000000000ull);
	agt_config_free(cfg);
	free(cfg);
	fprintf(stderr, "kiseki-agent: stopped\n");
	return 0;
}
