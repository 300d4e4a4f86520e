/*
 * tally_backoff — waiting between retries of a store that failed: 100 ms,
 * doubling up to 5 s. A daemon asked to stop keeps retrying for its drain
 * timeout, then gives up (its batch stays uncommitted and is redelivered).
 */
#ifndef TALLY_BACKOFF_H
#define TALLY_BACKOFF_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int delay_ms;         /* the next wait */
    int attempts;         /* failures so far */
    int64_t stop_seen_us; /* when a stop request was first seen, 0 before */
} tally_backoff;

void tally_backoff_init(tally_backoff *b);

/* Count a failure and sleep the current delay. Returns false, without
 * sleeping, once *stop has been set for longer than drain_ms. */
bool tally_backoff_wait(tally_backoff *b, volatile sig_atomic_t *stop, int drain_ms);

#endif
