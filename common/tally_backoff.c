#include "tally_common.h"

#include <time.h>


enum { FIRST_DELAY_MS = 100, MAX_DELAY_MS = 5000 };

void tally_backoff_init(tally_backoff *b) {
    b->delay_ms = FIRST_DELAY_MS;
    b->attempts = 0;
    b->stop_seen_us = 0;
}

bool tally_backoff_wait(tally_backoff *b, volatile sig_atomic_t *stop, int drain_ms) {
    b->attempts++;
    if (*stop) {
        int64_t now = tally_time_monotonic_us();
        if (!b->stop_seen_us) b->stop_seen_us = now;
        if (now - b->stop_seen_us > (int64_t)drain_ms * 1000) return false;
    }
    struct timespec ts = {b->delay_ms / 1000, (long)(b->delay_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    b->delay_ms = b->delay_ms * 2 > MAX_DELAY_MS ? MAX_DELAY_MS : b->delay_ms * 2;
    return true;
}
