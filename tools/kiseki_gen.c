/*
 * kiseki_gen.c : `kiseki-gen` writes synthetic frames (tools/gen.h) to a
 * file, back to back: sample data for kiseki-dump, the demo, fuzz seeds and
 * load tests. Deterministic for a given --seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_client.h"
#include "gen.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"

static void usage(FILE *f)
{
	fputs("usage: kiseki-gen (--out FILE | --send URL) [--frames N] [--spans N]\n"
	      "                  [--logs N] [--services N] [--seed N] [--time NS] [--plain]\n"
	      "Makes N frames (default 1), each with --spans spans (default 100)\n"
	      "and --logs logs (default 50) from --services services (default 5),\n"
	      "zstd-compressed unless --plain. --time sets the first span's start\n"
	      "in ns since the epoch (default: now). --out writes them to FILE back\n"
	      "to back; --send sends each to a collector's intake URL and prints\n"
	      "its ack (exit 1 unless every ack is stored or duplicate).\n",
	      f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *url = NULL;
	uint64_t frames = 1, spans = 100, logs = 50, services = 5, seed = 1;
	uint64_t t0 = ksk_clock_wall(ksk_clock_system());
	int plain = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *dst = NULL;
		if (strcmp(a, "--out") == 0 && i + 1 < argc) {
			path = argv[++i];
			continue;
		} else if (strcmp(a, "--send") == 0 && i + 1 < argc) {
			url = argv[++i];
			continue;
		} else if (strcmp(a, "--plain") == 0) {
			plain = 1;
			continue;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--frames") == 0)
			dst = &frames;
		else if (strcmp(a, "--spans") == 0)
			dst = &spans;
		else if (strcmp(a, "--logs") == 0)
			dst = &logs;
		else if (strcmp(a, "--services") == 0)
			dst = &services;
		else if (strcmp(a, "--seed") == 0)
			dst = &seed;
		else if (strcmp(a, "--time") == 0)
			dst = &t0;
		if (!dst || i + 1 >= argc || parse_u64(argv[++i], dst) != 0) {
			fprintf(stderr, "kiseki-gen: bad argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if ((!path == !url) || services < 1 || services > 64 || spans > 1000000 ||
	    logs > 1000000) {
		usage(stderr);
		return 2;
	}
	FILE *f = NULL;
	col_client *cl = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (path && !(f = fopen(path, "wb"))) {
		fprintf(stderr, "kiseki-gen: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (url && col_client_open(url, 10000, &cl, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-gen: %s\n", ei.msg);
		return 2;
	}
	ksk_gen *g = NULL;
	ksk_wire_enc *we = NULL;
	ksk_frame_enc *fe = NULL;
	ksk_err rc = ksk_gen_create(seed, (uint32_t)services, &g);
	if (rc == KSK_OK)
		rc = ksk_wire_enc_create(NULL, NULL, 0, &we);
	if (rc == KSK_OK)
		rc = ksk_frame_enc_create(NULL, 1, &fe);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < KSK_AGENT_ID_LEN; i++)
		m.agent_id[i] = (uint8_t)(seed >> (8 * (i % 8))) ^ (uint8_t)(0x5a + i);
	m.compress = !plain;
	for (uint64_t k = 0; rc == KSK_OK && k < frames; k++) {
		rc = ksk_gen_batch(g, we, (uint32_t)spans, (uint32_t)logs,
		                   t0 + k * 1000000000ull);
		if (rc != KSK_OK)
			break;
		size_t plen;
		const uint8_t *p = ksk_wire_enc_data(we, &plen);
		m.seq = k + 1;
		m.created_ns = t0 + k * 1000000000ull;
		m.record_count = ksk_wire_enc_count(we);
		m.restore = ksk_wire_enc_restore(we);
		const uint8_t *out;
		size_t olen;
		rc = ksk_frame_encode(fe, &m, p, plen, &out, &olen, &ei);
		if (rc == KSK_OK && f && fwrite(out, 1, olen, f) != olen)
			rc = ksk_errinfo_sys(&ei, KSK_EIO, errno, "write %s", path);
		if (rc == KSK_OK && cl) {
			ksk_ack ack;
			rc = col_client_send_frame(cl, out, olen, &ack, &ei);
			if (rc == KSK_OK) {
				printf("frame seq %llu: %u records, %zu bytes: %s%s%s\n",
				       (unsigned long long)m.seq, m.record_count, olen,
				       ksk_ack_outcome_name(ack.outcome), ack.msg[0] ? ": " : "",
				       ack.msg);
				if (ack.outcome != KSK_ACK_STORED && ack.outcome != KSK_ACK_DUPLICATE)
					rc = ksk_errinfo_set(&ei, ack.code, "frame seq %llu not stored",
					                     (unsigned long long)m.seq);
			}
		}
	}
	if (f && fclose(f) != 0 && rc == KSK_OK)
		rc = ksk_errinfo_sys(&ei, KSK_EIO, errno, "close %s", path);
	col_client_close(cl);
	ksk_frame_enc_destroy(fe);
	ksk_wire_enc_destroy(we);
	ksk_gen_destroy(g);
	if (rc != KSK_OK) {
		fprintf(stderr, "kiseki-gen: %s: %s\n", ksk_errname(rc),
		        ei.msg[0] ? ei.msg : ksk_strerror(rc));
		return 1;
	}
	return 0;
}
