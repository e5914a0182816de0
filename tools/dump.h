/*
 * dump.h : readable text for frames (the core of kiseki-dump).
 *
 * Exports ksk_dump_frames(): walks a buffer holding one or more frames back
 * to back (a frame file, or later a spool file), checks and decodes each,
 * and prints its header and every record. Testable in-process: output goes
 * to a caller's FILE*.
 * Ownership: the caller keeps the buffer and the stream.
 */
#ifndef KSK_DUMP_H
#define KSK_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiseki/err.h"

typedef struct ksk_dump_opts {
	bool headers_only; /* print frame headers, not records */
} ksk_dump_opts;

/*! ksk_dump_frames() : prints every frame in buf[0..len).
 *  @frames : out (may be NULL), frames printed.
 *  @ei     : on error, the code and message, prefixed with the frame's
 *            index and byte offset.
 *  @return : KSK_OK when every byte was a good frame; the first frame's
 *            error otherwise (frames before it are printed). */
ksk_err ksk_dump_frames(FILE *out, const uint8_t *buf, size_t len,
                        const ksk_dump_opts *opts, size_t *frames,
                        ksk_errinfo *ei);

#endif /* KSK_DUMP_H */
