/*
 * kiseki_dump.c : `kiseki-dump FILE...` prints frame files as text.
 * Exit status: 0 all good, 1 a file held a bad frame (its error printed on
 * stderr after the frames before it), 2 usage or I/O error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

static void usage(FILE *f)
{
	fputs("usage: kiseki-dump [--headers] FILE...\n"
	      "Prints every frame in each FILE (frames back to back, as kiseki-gen\n"
	      "and the agent's spool write them): header fields, then resources,\n"
	      "spans and logs. --headers prints only the frame headers.\n"
	      "Exit: 0 ok, 1 a bad frame (error on stderr), 2 usage or I/O error.\n",
	      f);
}

static int dump_file(const char *path, const ksk_dump_opts *opts)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "kiseki-dump: %s: %s\n", path, strerror(errno));
		return 2;
	}
	size_t cap = 1 << 20, len = 0;
	unsigned char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	int ioerr = ferror(f);
	fclose(f);
	if (!buf || ioerr) {
		fprintf(stderr, "kiseki-dump: %s: read failed\n", path);
		free(buf);
		return 2;
	}
	ksk_errinfo ei;
	size_t frames = 0;
	ksk_err rc = ksk_dump_frames(stdout, buf, len, opts, &frames, &ei);
	free(buf);
	if (rc != KSK_OK) {
		fflush(stdout);
		fprintf(stderr, "kiseki-dump: %s: %s\n", path, ei.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	ksk_dump_opts opts = {false};
	int first = 1, rc = 0;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "--headers") == 0)
			opts.headers_only = true;
		else if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (first == argc) {
		usage(stderr);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		int r = dump_file(argv[i], &opts);
		if (r > rc)
			rc = r;
	}
	return rc;
}
