/*
 * bench_http_events — publish an NDJSON file through tally-api's
 * POST /v1/events in batches, the HTTP side of bench/produce.sh
 * (docs/benchmarks.md, "Ingestion: kcat, tally produce and POST /v1/events").
 *
 *   bench_http_events [--batch 500] [--connections 2] URL KEY FILE
 *
 * URL is the API's base (http://127.0.0.1:PORT), KEY a bearer key allowed to
 * publish every event of the file (the admin key). The file is mapped and cut
 * into batches of --batch non-blank lines; each batch is sent as one request,
 * `Content-Type: application/cloudevents-batch+json`, body = a JSON array of
 * the lines exactly as they are ("[" line "," line … "]"), built just before
 * it is sent. --connections requests are in flight at once (libcurl multi,
 * one keep-alive connection each, no "Expect: 100-continue"); a connection
 * sends its next batch when the answer to its last one is in. The API answers
 * 202 once Kafka acknowledged the batch, so the last answer means every event
 * is in the topic.
 *
 * Prints one line: RESULT events=… batches=… accepted=… failed=… wall_s=…
 * rate=… (events/s over the requests, from the first sent to the last
 * answered). A batch answered with anything but 202 counts as failed (its
 * status and the start of its body go to stderr, the first few times); exit
 * status 1 when any failed.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_CONN 64

typedef struct {
    CURL *h;
    char *body;
    size_t len, cap, events;
    bench_body reply;
} conn;

typedef struct {
    const char *p, *end; /* the rest of the file */
    size_t batch;
} cutter;

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_http_events: %s: %s\n", what, msg);
    exit(1);
}

static void append(conn *c, const char *s, size_t n) {
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 20;
        while (cap < c->len + n) cap *= 2;
        c->body = realloc(c->body, cap);
        if (!c->body) die("memory", "out of memory");
        c->cap = cap;
    }
    memcpy(c->body + c->len, s, n);
    c->len += n;
}

/* The next batch as a JSON array in c->body; false when the file is done. */
static bool next_batch(cutter *cut, conn *c) {
    c->len = 0;
    c->events = 0;
    append(c, "[", 1);
    while (c->events < cut->batch && cut->p < cut->end) {
        const char *nl = memchr(cut->p, '\n', (size_t)(cut->end - cut->p));
        const char *eol = nl ? nl : cut->end;
        size_t n = (size_t)(eol - cut->p);
        while (n > 0 && cut->p[n - 1] == '\r') n--;
        if (n > 0) {
            if (c->events++) append(c, ",", 1);
            append(c, cut->p, n);
        }
        cut->p = nl ? nl + 1 : cut->end;
    }
    append(c, "]", 1);
    return c->events > 0;
}

static void send_batch(CURLM *multi, conn *c) {
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
    free(c->reply.data);
    c->reply = (bench_body){0};
    curl_multi_add_handle(multi, c->h);
}

static void usage(FILE *out) {
    fprintf(out, "usage: bench_http_events [--batch N] [--connections N] URL KEY FILE\n");
}

int main(int argc, char **argv) {
    long batch = 500, nconn = 2;
    static const struct option opts[] = {{"batch", required_argument, 0, 'b'},
                                         {"connections", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "b:c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 'c': nconn = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 3 || batch < 1 || nconn < 1 || nconn > MAX_CONN) {
        usage(stderr);
        return 2;
    }
    const char *base = argv[optind], *key = argv[optind + 1], *path = argv[optind + 2];

    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) die(path, "cannot open");
    const char *map = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                                 : "";
    if (map == MAP_FAILED) die(path, "cannot map");
    madvise((void *)map, (size_t)sb.st_size, MADV_SEQUENTIAL);
    cutter cut = {.p = map, .end = map + sb.st_size, .batch = (size_t)batch};

    char url[1024], auth[1024];
    snprintf(url, sizeof url, "%s/v1/events", base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/cloudevents-batch+json");
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Expect:");
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, nconn);
    conn conns[MAX_CONN] = {0};
    long long events = 0, batches = 0, accepted = 0, failed = 0;
    int running = 0, reported = 0;
    double t0 = bench_now_ms();
    for (int i = 0; i < nconn; i++) {
        conn *c = &conns[i];
        c->h = curl_easy_init();
        curl_easy_setopt(c->h, CURLOPT_URL, url);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, bench_on_body);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->reply);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
        if (next_batch(&cut, c)) {
            send_batch(multi, c);
            running++;
        }
    }
    while (running > 0) {
        int still;
        curl_multi_perform(multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            conn *c;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(multi, c->h);
            batches++;
            events += (long long)c->events;
            if (res == CURLE_OK && status == 202) {
                accepted += (long long)c->events;
            } else {
                failed += (long long)c->events;
                if (reported++ < 5)
                    fprintf(stderr, "bench_http_events: batch %lld: %s, HTTP %ld: %.200s\n",
                            batches, curl_easy_strerror(res), status,
                            c->reply.data ? c->reply.data : "");
            }
            if (next_batch(&cut, c))
                send_batch(multi, c);
            else
                running--;
        }
        if (running > 0) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double secs = (bench_now_ms() - t0) / 1000.0;
    printf("RESULT events=%lld batches=%lld accepted=%lld failed=%lld wall_s=%.3f rate=%.0f\n",
           events, batches, accepted, failed, secs, secs > 0 ? (double)events / secs : 0.0);
    for (int i = 0; i < nconn; i++) {
        curl_easy_cleanup(conns[i].h);
        free(conns[i].body);
        free(conns[i].reply.data);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    if (sb.st_size) munmap((void *)map, (size_t)sb.st_size);
    close(fd);
    return failed ? 1 : 0;
}
