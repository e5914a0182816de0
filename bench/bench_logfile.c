/*
 * bench_logfile.c : writes the agent benchmark's log file (the same bytes
 * bench_agent writes: tools/gen.c log lines, seed 11, 8 services, 1 ms
 * apart) so other tools can be measured on it (scripts/bench_rsyslog.sh).
 *
 * Usage: bench_logfile FILE MIB. Prints "<bytes> <lines>" on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_logfile FILE MIB\n");
		return 2;
	}
	uint64_t mib = strtoull(argv[2], NULL, 10);
	ksk_gen *g;
	if (ksk_gen_create(11, 8, &g) != KSK_OK)
		return 1;
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	static char buf[1 << 20];
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	uint64_t bytes = 0, lines = 0, t = 1764000000000000000ull;
	char line[512];
	while (bytes < mib << 20) {
		size_t n = ksk_gen_log_line(g, t, line, sizeof(line) - 1);
		line[n++] = '\n';
		if (fwrite(line, 1, n, f) != n) {
			perror(argv[1]);
			return 1;
		}
		bytes += n;
		lines++;
		t += 1000000;
	}
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	ksk_gen_destroy(g);
	printf("%llu %llu\n", (unsigned long long)bytes, (unsigned long long)lines);
	return 0;
}
