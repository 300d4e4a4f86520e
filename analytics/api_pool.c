/*
 * api_pool — PostgreSQL handles for the worker threads. A tally_pg handle is
 * one libpq connection and is not thread-safe, so a request takes one for
 * its duration and gives it back. The pool is as large as the thread pool,
 * so a taker waits only when something else (a /metrics scrape) holds one.
 *
 * Handles are opened on first use, not at start: the service comes up while
 * PostgreSQL is down and /healthz says so. A handle that saw a store error is
 * closed when given back; the next taker connects afresh.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"

#define POOL_WAIT_MS 5000 /* longest wait for a free handle */

typedef struct {
    tally_pg *pg; /* NULL: not connected yet, or closed after an error */
    bool busy;
} pool_slot;

struct api_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *url;
    int size;
    pool_slot *slot;
};

api_pool *tally__api_pool_new(const char *url, int size) {
    api_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->url = strdup(url);
    p->size = size < 1 ? 1 : size;
    p->slot = calloc((size_t)p->size, sizeof *p->slot);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!p->url || !p->slot || pthread_mutex_init(&p->mu, NULL) ||
        pthread_cond_init(&p->freed, &ca)) {
        pthread_condattr_destroy(&ca);
        free(p->url);
        free(p->slot);
        free(p);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    return p;
}

void tally__api_pool_free(api_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->size; i++) tally_pg_close(p->slot[i].pg);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p->slot);
    free(p->url);
    free(p);
}

/* A free slot, preferring one already connected; -1 when all are busy. */
static int free_slot(const api_pool *p) {
    int found = -1;
    for (int i = 0; i < p->size; i++) {
        if (p->slot[i].busy) continue;
        if (p->slot[i].pg) return i;
        if (found < 0) found = i;
    }
    return found;
}

tally_pg *tally__api_pool_get(api_pool *p, tally_err *err) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&p->mu);
    int i;
    while ((i = free_slot(p)) < 0) {
        if (pthread_cond_timedwait(&p->freed, &p->mu, &deadline) == ETIMEDOUT &&
            (i = free_slot(p)) < 0) {
            pthread_mutex_unlock(&p->mu);
            tally_err_set(err, TALLY_ESTORE, "postgresql: no connection came free in %d ms",
                          POOL_WAIT_MS);
            return NULL;
        }
    }
    p->slot[i].busy = true;
    tally_pg *pg = p->slot[i].pg;
    pthread_mutex_unlock(&p->mu);
    if (pg) return pg;

    pg = tally_pg_open(p->url, err); /* outside the lock: connecting takes time */
    pthread_mutex_lock(&p->mu);
    p->slot[i].pg = pg;
    if (!pg) {
        p->slot[i].busy = false;
        pthread_cond_signal(&p->freed);
    }
    pthread_mutex_unlock(&p->mu);
    return pg;
}

void tally__api_pool_put(api_pool *p, tally_pg *pg, bool broken) {
    if (!pg) return;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++) {
        if (p->slot[i].pg != pg) continue;
        if (broken) p->slot[i].pg = NULL;
        p->slot[i].busy = false;
        break;
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (broken) tally_pg_close(pg); /* outside the lock */
}
