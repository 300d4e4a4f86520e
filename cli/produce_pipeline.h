/*
 * produce_pipeline — the input side of `tally produce`: one reader thread cuts
 * the input into chunks of whole lines, worker threads decode and validate
 * the lines of different chunks at the same time, and the caller takes the
 * chunks back strictly in input order (so it publishes in input order, and
 * every key's events stay in input order).
 *
 * Memory is bounded: at most 2 × threads + 2 chunks (~1 MiB each, more for a
 * longer line) are in flight; a chunk is reused once the caller releases it.
 */
#ifndef TALLY_PRODUCE_PIPELINE_H
#define TALLY_PRODUCE_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    PRODUCE_LINE_BLANK,   /* empty (or only "\r"): not an event */
    PRODUCE_LINE_VALID,   /* decoded and valid: key = its subject or _global */
    PRODUCE_LINE_INVALID, /* rejected: text = the decoder's reason */
} produce_line_state;

typedef struct {
    uint32_t off, len;       /* the line in chunk->buf, without "\n" or trailing "\r" */
    uint32_t text, text_len; /* VALID: the key; INVALID: the reason (in chunk->text) */
    uint8_t state;           /* produce_line_state */
} produce_line;

typedef struct {
    char *buf; /* the chunk's bytes: whole lines */
    size_t len, cap;
    produce_line *lines; /* every line, blank ones included, in order */
    size_t nlines, lines_cap;
    char *text; /* keys and reasons, each NUL-terminated */
    size_t text_len, text_cap;
    bool done; /* decoded */
} produce_chunk;

typedef struct produce_pipeline produce_pipeline;

/* Start reading `in` with `threads` decoding workers. `stop` (may be NULL)
 * is polled: once non-zero, tally__produce_pipeline_next returns NULL. NULL when a
 * thread cannot be started or memory runs out. */
produce_pipeline *tally__produce_pipeline_start(FILE *in, int threads, volatile sig_atomic_t *stop);

/* The next chunk in input order, decoded; NULL at the end of the input, on
 * *stop or after a read error. Give it back with tally__produce_pipeline_release
 * before asking for the next one. */
produce_chunk *tally__produce_pipeline_next(produce_pipeline *p);
void tally__produce_pipeline_release(produce_pipeline *p, produce_chunk *c);

/* Stop reading, wait for the threads and free everything. Returns false when
 * reading the input failed. */
bool tally__produce_pipeline_finish(produce_pipeline *p);

/* Number of online cores (at least 1): the default number of workers. */
int tally__produce_default_threads(void);

#endif
