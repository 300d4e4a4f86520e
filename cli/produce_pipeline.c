/*
 * produce_pipeline — read, cut into chunks, decode in parallel, hand back in
 * input order (produce_pipeline.h).
 *
 * Threads: one reader (read(2) on the input, so a slow pipe is handed on as
 * soon as a line is whole), `threads` workers, and the caller. Chunk `seq`
 * lives in slot seq % nslots; the reader may run at most nslots chunks ahead
 * of the caller. One mutex guards the counters; it is taken a few times per
 * chunk (~1 MiB, ~1200 events), never per line.

 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "produce_pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tally_stream.h"

#define CHUNK_BYTES (1u << 20)

struct produce_pipeline {
    int fd;
    volatile sig_atomic_t *stop;
    int nthreads, nslots;
    produce_chunk *slots;
    pthread_t reader, *workers;
    int started; /* workers started */
    bool reader_started;
    pthread_mutex_t mu;
    pthread_cond_t work, done, room;
    long long next_read, next_work, next_pub; /* chunk sequence numbers */
    bool reader_done, stopping, read_error;
};

/* -- growing buffers --------------------------------------------------------- */

static bool reserve(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *b = realloc(*buf, n * elem);
    if (!b) return false;
    *buf = b;
    *cap = n;
    return true;
}

/* Append s (len bytes) and a NUL to the chunk's text; its offset in *off. */
static bool add_text(produce_chunk *c, const char *s, size_t len, uint32_t *off) {
    if (!reserve((void **)&c->text, &c->text_cap, c->text_len + len + 1, 1)) return false;
    memcpy(c->text + c->text_len, s, len);
    c->text[c->text_len + len] = '\0';
    *off = (uint32_t)c->text_len;
    c->text_len += len + 1;
    return true;
}

/* -- workers ----------------------------------------------------------------- */

static void decode_line(produce_chunk *c, produce_line *l) {
    const char *s = c->buf + l->off;
    tally_event ev;
    tally_err err;
    if (tally_event_decode(s, l->len, &ev, &err) == TALLY_OK) {
        const char *key = tally_event_key(&ev);
        l->state = PRODUCE_LINE_VALID;
        l->text_len = (uint32_t)strlen(key);
        bool ok = add_text(c, key, l->text_len, &l->text);
        tally_event_free(&ev);
        if (ok) return;
        snprintf(err.msg, sizeof err.msg, "out of memory");
    }
    l->state = PRODUCE_LINE_INVALID;
    l->text_len = (uint32_t)strlen(err.msg);
    if (!add_text(c, err.msg, l->text_len, &l->text)) {
        l->text = 0; /* the reason is lost; the line still counts as invalid */
        l->text_len = 0;
    }
}

/* Split the chunk into lines (the last one may lack its "\n") and decode them. */
static void decode_chunk(produce_chunk *c) {
    c->nlines = 0;
    c->text_len = 0;
    size_t pos = 0;
    while (pos < c->len) {
        const char *nl = memchr(c->buf + pos, '\n', c->len - pos);
        size_t end = nl ? (size_t)(nl - c->buf) : c->len, n = end - pos;
        while (n > 0 && (c->buf[pos + n - 1] == '\r' || c->buf[pos + n - 1] == '\n')) n--;
        if (!reserve((void **)&c->lines, &c->lines_cap, c->nlines + 1, sizeof *c->lines)) break;
        produce_line *l = &c->lines[c->nlines++];
        *l = (produce_line){.off = (uint32_t)pos, .len = (uint32_t)n, .state = PRODUCE_LINE_BLANK};
        if (n > 0) decode_line(c, l);
        pos = end + 1;
    }
}

static void *worker_main(void *arg) {
    produce_pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && p->next_work == p->next_read && !p->reader_done)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stopping || p->next_work == p->next_read) break;
        produce_chunk *c = &p->slots[p->next_work++ % p->nslots];
        pthread_mutex_unlock(&p->mu);
        decode_chunk(c);
        pthread_mutex_lock(&p->mu);
        c->done = true;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* -- reader ------------------------------------------------------------------ */

/* read(2) what is there, retrying EINTR; 0 at the end, -1 on an error. */
static ssize_t read_some(int fd, char *buf, size_t n) {
    for (;;) {
        ssize_t got = read(fd, buf, n);
        if (got >= 0 || errno != EINTR) return got;
    }
}

static void *reader_main(void *arg) {
    produce_pipeline *p = arg;
    char *carry = NULL;
    size_t carry_len = 0, carry_cap = 0;
    bool eof = false;
    for (long long seq = 0; !eof || carry_len > 0; seq++) {
        pthread_mutex_lock(&p->mu);
        while (!p->stopping && seq - p->next_pub >= p->nslots) pthread_cond_wait(&p->room, &p->mu);
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (stopping) break;

        produce_chunk *c = &p->slots[seq % p->nslots];
        c->done = false;
        c->len = 0;
        if (!reserve((void **)&c->buf, &c->cap, carry_len + CHUNK_BYTES, 1)) {
            p->read_error = true;
            break;
        }
        if (carry_len) memcpy(c->buf, carry, carry_len);
        c->len = carry_len;
        carry_len = 0;
        /* Read until the chunk holds a whole line (or the input ends). */
        const char *last = NULL;
        while (!eof) {
            if (c->len == c->cap && !reserve((void **)&c->buf, &c->cap, c->cap + CHUNK_BYTES, 1)) {
                p->read_error = eof = true;
                break;
            }
            ssize_t got = read_some(p->fd, c->buf + c->len, c->cap - c->len);
            if (got <= 0) {
                if (got < 0) p->read_error = true;
                eof = true;
                break;
            }
            c->len += (size_t)got;
            last = memrchr(c->buf, '\n', c->len);
            if (last && (c->len == c->cap || c->len >= CHUNK_BYTES / 4)) break;
            if (last && got < 65536) break; /* a slow pipe: hand on what is whole */
        }
        if (!eof && last) {
            size_t keep = (size_t)(last - c->buf) + 1;
            carry_len = c->len - keep;
            if (!reserve((void **)&carry, &carry_cap, carry_len, 1)) {
                p->read_error = true;
                break;
            }
            if (carry_len) memcpy(carry, c->buf + keep, carry_len);
            c->len = keep;
        }
        if (c->len == 0) break;
        pthread_mutex_lock(&p->mu);
        p->next_read = seq + 1;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    free(carry);
    pthread_mutex_lock(&p->mu);
    p->reader_done = true;
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* -- the caller's side -------------------------------------------------------- */

int tally__produce_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

produce_pipeline *tally__produce_pipeline_start(FILE *in, int threads,
                                                volatile sig_atomic_t *stop) {
    produce_pipeline *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->fd = fileno(in);
    p->stop = stop;
    p->nthreads = threads < 1 ? 1 : threads;
    p->nslots = 2 * p->nthreads + 2;
    p->slots = calloc((size_t)p->nslots, sizeof *p->slots);
    p->workers = calloc((size_t)p->nthreads, sizeof *p->workers);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_cond_init(&p->room, NULL);
    if (!p->slots || !p->workers) {
        tally__produce_pipeline_finish(p);
        return NULL;
    }
    /* SIGINT and SIGTERM go to the caller's thread, which watches *stop. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    bool ok = pthread_create(&p->reader, NULL, reader_main, p) == 0;
    p->reader_started = ok;
    for (int i = 0; ok && i < p->nthreads; i++) {
        ok = pthread_create(&p->workers[i], NULL, worker_main, p) == 0;
        if (ok) p->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        tally__produce_pipeline_finish(p);
        return NULL;
    }
    return p;
}

produce_chunk *tally__produce_pipeline_next(produce_pipeline *p) {
    produce_chunk *c = NULL;
    pthread_mutex_lock(&p->mu);
    while (!(p->stop && *p->stop)) {
        if (p->next_pub < p->next_read && p->slots[p->next_pub % p->nslots].done) {
            c = &p->slots[p->next_pub % p->nslots];
            break;
        }
        if (p->reader_done && p->next_pub == p->next_read) break;
        /* Wake up now and then to see *stop, which a signal handler sets. */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 200 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->done, &p->mu, &t);
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

void tally__produce_pipeline_release(produce_pipeline *p, produce_chunk *c) {
    (void)c;
    pthread_mutex_lock(&p->mu);
    p->next_pub++;
    pthread_cond_signal(&p->room);
    pthread_mutex_unlock(&p->mu);
}

bool tally__produce_pipeline_finish(produce_pipeline *p) {
    if (!p) return true;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    if (p->reader_started) pthread_join(p->reader, NULL);
    bool ok = !p->read_error;
    for (int i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].buf);
        free(p->slots[i].lines);
        free(p->slots[i].text);
    }
    free(p->slots);
    free(p->workers);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->room);
    free(p);
    return ok;
}
