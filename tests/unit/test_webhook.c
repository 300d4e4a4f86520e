/*
 * Unit tests of alerts/webhook.c: the address guard's classifier, the
 * signature, and real POSTs to HTTP receivers this test runs itself on
 * 127.0.0.1 (a thread each, an ephemeral port): answers, retries, time-outs,
 * closed connections, redirects, refused targets and concurrency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "webhook.h"

/* ---- a local HTTP receiver ---- */

typedef enum {
    ANSWER, /* read the request, answer statuses[i] to the i-th one, close */
    HANG,   /* accept and never answer (until the receiver stops) */
    CLOSE,  /* accept and close at once */
} receiver_mode;

typedef struct {
    receiver_mode mode;
    int statuses[4]; /* ANSWER: the status of each request in turn; the last one repeats */
    size_t n_statuses;
    int port;
    int listen_fd, stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    /* under lock */
    size_t answer_body; /* ANSWER: bytes of answer body ('x's) after the headers */
    int connections;    /* accepted so far */
    char last[16384];   /* the last complete request, headers and body, NUL-terminated */
    size_t last_len;
    int held[8]; /* HANG: connections held open */
    size_t n_held;
} receiver;

/* Read one HTTP request (headers, then Content-Length bytes) into buf; the
 * length read, or 0 when the peer went away or was slow beyond 5 s. */
static size_t read_request(int fd, char *buf, size_t cap) {
    size_t len = 0, want = 0;
    while (len < cap - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1) return 0;
        ssize_t got = recv(fd, buf + len, cap - 1 - len, 0);
        if (got <= 0) return 0;
        len += (size_t)got;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        if (!want) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (len >= want) return len;
    }
    return 0;
}

static void answer(receiver *r, int fd) {
    char buf[sizeof r->last];
    size_t len = read_request(fd, buf, sizeof buf);
    if (!len) return;
    pthread_mutex_lock(&r->lock);
    memcpy(r->last, buf, len + 1);
    r->last_len = len;
    int i = r->connections - 1;
    int status = r->statuses[(size_t)i < r->n_statuses ? (size_t)i : r->n_statuses - 1];
    size_t body = r->answer_body;
    pthread_mutex_unlock(&r->lock);
    char reply[256];
    int n = snprintf(reply, sizeof reply,
                     "HTTP/1.1 %d Whatever\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, status / 100 == 3 ? "Location: http://127.0.0.1:1/elsewhere\r\n" : "",
                     body);
    if (send(fd, reply, (size_t)n, MSG_NOSIGNAL) != n) return;
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (size_t sent = 0; sent < body;) {
        size_t k = body - sent < sizeof chunk ? body - sent : sizeof chunk;
        ssize_t w = send(fd, chunk, k, MSG_NOSIGNAL);
        if (w <= 0) return; /* the sender stopped reading: fine */
        sent += (size_t)w;
    }
}

static void *receiver_main(void *arg) {
    receiver *r = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = r->listen_fd, .events = POLLIN},
                              {.fd = r->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) continue;
        if (p[1].revents) break;
        int fd = accept(r->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&r->lock);
        r->connections++;
        bool hold = r->mode == HANG && r->n_held < sizeof r->held / sizeof r->held[0];
        if (hold) r->held[r->n_held++] = fd;
        pthread_mutex_unlock(&r->lock);
        if (hold) continue;
        if (r->mode == ANSWER) answer(r, fd);
        close(fd);
    }
    return NULL;
}

static void receiver_start(receiver *r, receiver_mode mode, const int *statuses, size_t n) {
    memset(r, 0, sizeof *r);
    r->mode = mode;
    assert_true(n <= sizeof r->statuses / sizeof r->statuses[0]);
    if (n) memcpy(r->statuses, statuses, n * sizeof *statuses);
    r->n_statuses = n;
    pthread_mutex_init(&r->lock, NULL);
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->listen_fd, 16), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&a, &alen), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pipe(r->stop_pipe), 0);
    assert_int_equal(pthread_create(&r->thread, NULL, receiver_main, r), 0);
}

static void receiver_stop(receiver *r) {
    (void)!write(r->stop_pipe[1], "x", 1);
    pthread_join(r->thread, NULL);
    for (size_t i = 0; i < r->n_held; i++) close(r->held[i]);
    close(r->listen_fd);
    close(r->stop_pipe[0]);
    close(r->stop_pipe[1]);
    pthread_mutex_destroy(&r->lock);
}

static int receiver_connections(receiver *r) {
    pthread_mutex_lock(&r->lock);
    int n = r->connections;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* The value of header name in the receiver's last request, or "" when absent. */
static void last_header(receiver *r, const char *name, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\r\n%s:", name);
    out[0] = '\0';
    const char *h = strcasestr(r->last, key);
    const char *end_of_headers = strstr(r->last, "\r\n\r\n");
    if (!h || h >= end_of_headers) return;
    h += strlen(key);
    while (*h == ' ') h++;
    size_t n = strcspn(h, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
}

static const char *last_body(receiver *r) { return strstr(r->last, "\r\n\r\n") + 4; }

static char url_buf[128];
static const char *local_url(const receiver *r) {
    snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%d/hooks/tally", r->port);
    return url_buf;
}

static const char BODY[] =
    "{\"specversion\":\"1.0\",\"id\":\"alert-42\",\"type\":\"tally.alert.budget_exceeded\"}";
static const char SECRET[] = "whsec_tenant_acme";
static const int64_t NOW = 1767225600; /* 2026-01-01T00:00:00Z */

static tally_webhook_request request_to(const char *url) {
    return (tally_webhook_request){.url = url,
                                   .alert_id = "alert-42",
                                   .secret = SECRET,
                                   .body = BODY,
                                   .body_len = strlen(BODY)};
}

static tally_webhook_result post_one(tally_webhook_request req, bool allow_private) {
    tally_webhook_result res;
    tally__webhook_post_many(&req, 1, allow_private, NOW, &res);
    return res;
}

/* ---- (1) the classifier ---- */

static void classifier_table(void **state) {
    (void)state;
    static const struct {
        const char *addr;
        const char *kind; /* NULL: allowed */
    } cases[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "metadata"},
        {"169.254.0.1", "link-local"},
        {"0.0.0.0", "unspecified"},
        {"100.64.0.1", "CGNAT"},
        {"100.127.255.255", "CGNAT"},
        {"224.0.0.1", "multicast or reserved"},
        {"255.255.255.255", "multicast or reserved"},
        {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},
        {"126.255.255.255", NULL},
        {"128.0.0.1", NULL},
        {"11.0.0.1", NULL},
        {"172.15.255.255", NULL},
        {"172.32.0.0", NULL},
        {"192.167.255.255", NULL},
        {"192.169.0.1", NULL},
        {"100.63.255.255", NULL},
        {"100.128.0.0", NULL},
        {"169.253.255.255", NULL},
        {"169.255.0.1", NULL},
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fc00::1", "private"},
        {"fd12:3456::1", "private"},
        {"fd00:ec2::254", "metadata"},
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"ff02::1", "multicast or reserved"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.0.0.1", "private"},
        {"::ffff:172.20.1.1", "private"},
        {"::ffff:192.168.0.10", "private"},
        {"::ffff:169.254.169.254", "metadata"},
        {"::ffff:169.254.1.1", "link-local"},
        {"::ffff:100.64.0.1", "CGNAT"},
        {"::ffff:0.0.0.0", "unspecified"},
        {"64:ff9b::10.0.0.1", "private"},
        {"::127.0.0.1", "loopback"},
        {"2001:4860:4860::8888", NULL},
        {"2606:4700::1111", NULL},
        {"fbff:ffff::1", NULL},
        {"fe00::1", NULL},
        {"::ffff:8.8.8.8", NULL},
        {"64:ff9b::8.8.8.8", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss = {0};
        if (strchr(cases[i].addr, ':')) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &a->sin6_addr), 1);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &a->sin_addr), 1);
        }
        char why[96] = "";
        bool refused = tally__webhook_address_refused((struct sockaddr *)&ss, why, sizeof why);
        if (refused != (cases[i].kind != NULL))
            fail_msg("%s: %s (%s)", cases[i].addr, refused ? "refused" : "allowed", why);
        if (cases[i].kind) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "%s address ", cases[i].kind);
            if (strncmp(why, prefix, strlen(prefix)) != 0)
                fail_msg("%s: why is '%s', expected '%s…'", cases[i].addr, why, prefix);
        }
    }

    /* The reason names the address as written by inet_ntop. */
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.0.0.1", &v4.sin_addr);
    char why[96];
    assert_true(tally__webhook_address_refused((struct sockaddr *)&v4, why, sizeof why));
    assert_string_equal(why, "private address 10.0.0.1");
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
    assert_true(tally__webhook_address_refused((struct sockaddr *)&v6, why, sizeof why));
    assert_string_equal(why, "loopback address ::ffff:127.0.0.1");
    assert_true(tally__webhook_address_refused((struct sockaddr *)&v6, NULL, 0));

    /* Neither IPv4 nor IPv6: refused. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_true(tally__webhook_address_refused((struct sockaddr *)&un, why, sizeof why));
}

/* ---- (2) the signature ---- */

static void signature_known_vectors(void **state) {
    (void)state;
    char sig[TALLY_WEBHOOK_SIGNATURE_MAX];
    /* Expected hex from OpenSSL's command line, independently of this code:
     *   printf '%s' '1767225600.{"specversion":"1.0","id":"alert-42","type":"tally.alert.budget_exceeded"}' \
     *     | openssl dgst -sha256 -hmac 'whsec_tenant_acme' */
    assert_true(tally__webhook_signature(SECRET, NOW, BODY, strlen(BODY), sig));
    assert_string_equal(
        sig, "t=1767225600,v1=d095753b6792aef98f32b2c53a571da8fac3e57eb5ff7e685e0d69f250e7934b");
    /* An empty body signs "<t>.":  printf '%s' '0.' | openssl dgst -sha256 -hmac 'k' */
    assert_true(tally__webhook_signature("k", 0, NULL, 0, sig));
    assert_string_equal(sig,
                        "t=0,v1=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
}

/* Does the Tally-Signature the receiver got verify against the body it got? (HMAC() here, not
 * the sender's code.) */
static void assert_signature_verifies(receiver *r, const char *secret) {
    char sig[128];
    last_header(r, "Tally-Signature", sig, sizeof sig);
    long long t = 0;
    char v1[80] = "";
    assert_int_equal(sscanf(sig, "t=%lld,v1=%79[0-9a-f]", &t, v1), 2);
    assert_int_equal(t, NOW);
    const char *body = last_body(r);
    char signed_text[sizeof r->last + 32];
    int n = snprintf(signed_text, sizeof signed_text, "%lld.%s", t, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signed_text,
                         (size_t)n, mac, &mac_len));
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mac_len; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
    assert_string_equal(v1, hex);
}

/* ---- (3) answers: 500, 500, then 200 ---- */

static void failed_tries_then_delivered(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, ANSWER, (int[]){500, 500, 200}, 3);
    tally_webhook_request req = request_to(local_url(&r));

    for (int i = 0; i < 2; i++) {
        tally_webhook_result res = post_one(req, true);
        assert_false(res.delivered);
        assert_int_equal(res.http_status, 500);
        assert_string_equal(res.status, "500");
    }
    tally_webhook_result res = post_one(req, true);
    assert_true(res.delivered);
    assert_int_equal(res.http_status, 200);
    assert_string_equal(res.status, "200");
    assert_true(res.duration_ms >= 0 && res.duration_ms < 5000);
    assert_int_equal(receiver_connections(&r), 3);

    assert_true(strncmp(r.last, "POST /hooks/tally HTTP/1.1\r\n", 28) == 0);
    char h[128];
    last_header(&r, "Content-Type", h, sizeof h);
    assert_string_equal(h, "application/cloudevents+json");
    last_header(&r, "Tally-Event-Id", h, sizeof h);
    assert_string_equal(h, "alert-42");
    last_header(&r, "Expect", h, sizeof h);
    assert_string_equal(h, "");
    assert_string_equal(last_body(&r), BODY);
    assert_signature_verifies(&r, SECRET);
    receiver_stop(&r);
}

/* A 2xx with a long body is a delivery: the sender stops reading it early. */
static void long_answer_body_still_delivered(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, ANSWER, (int[]){200}, 1);
    pthread_mutex_lock(&r.lock);
    r.answer_body = 8 << 20;
    pthread_mutex_unlock(&r.lock);
    tally_webhook_result res = post_one(request_to(local_url(&r)), true);
    assert_true(res.delivered);
    assert_string_equal(res.status, "200");
    receiver_stop(&r);
}

/* ---- (4) no answer ---- */

static void no_answer_is_a_timeout(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, HANG, NULL, 0);
    tally_webhook_request req = request_to(local_url(&r));
    req.timeout_ms = 1000;
    tally_webhook_result res = post_one(req, true);
    assert_false(res.delivered);
    assert_int_equal(res.http_status, 0);
    assert_string_equal(res.status, "timeout");
    if (res.duration_ms < 900 || res.duration_ms > 5000)
        fail_msg("timed out after %d ms, the limit was 1000", res.duration_ms);
    assert_int_equal(receiver_connections(&r), 1);
    receiver_stop(&r);
}

/* ---- (5) a connection closed at once, and one refused ---- */

static void closed_connection_fails(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, CLOSE, NULL, 0);
    tally_webhook_request req = request_to(local_url(&r));
    req.timeout_ms = 3000;
    tally_webhook_result res = post_one(req, true);
    assert_false(res.delivered);
    assert_int_equal(res.http_status, 0);
    if (strncmp(res.status, "connection failed: ", 19) != 0) fail_msg("status '%s'", res.status);
    receiver_stop(&r);

    /* The port is closed now: nobody listens. */
    res = post_one(req, true);
    assert_false(res.delivered);
    if (strncmp(res.status, "connection failed: ", 19) != 0) fail_msg("status '%s'", res.status);
}

/* ---- (6) the address guard on real requests ---- */

static void private_targets_refused(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, ANSWER, (int[]){200}, 1);
    char evil_url[64], evil_resolve[64];
    snprintf(evil_url, sizeof evil_url, "http://evil.test:%d/hook", r.port);
    snprintf(evil_resolve, sizeof evil_resolve, "evil.test:%d:10.0.0.1", r.port);
    tally_webhook_request reqs[] = {request_to(local_url(&r)),
                                    request_to("http://169.254.169.254/latest"),
                                    request_to(evil_url)};
    reqs[2].resolve = evil_resolve;
    for (size_t i = 0; i < 3; i++) reqs[i].timeout_ms = 3000;
    tally_webhook_result res[3];
    tally__webhook_post_many(reqs, 3, false, NOW, res);
    assert_string_equal(res[0].status, "refused: loopback address 127.0.0.1");
    assert_string_equal(res[1].status, "refused: metadata address 169.254.169.254");
    assert_string_equal(res[2].status, "refused: private address 10.0.0.1");
    for (size_t i = 0; i < 3; i++) {
        assert_false(res[i].delivered);
        assert_int_equal(res[i].http_status, 0);
    }
    assert_int_equal(receiver_connections(&r), 0);

    /* Allowed, the same loopback receiver gets it. */
    tally_webhook_result ok = post_one(reqs[0], true);
    assert_true(ok.delivered);
    assert_string_equal(ok.status, "200");
    assert_int_equal(receiver_connections(&r), 1);
    receiver_stop(&r);
}

static void other_schemes_and_bad_requests(void **state) {
    (void)state;
    tally_webhook_request reqs[] = {request_to("ftp://example.com/x"),
                                    request_to("file:///etc/passwd"), request_to("not a url"),
                                    request_to("http://example.com/"), request_to(NULL)};
    reqs[3].alert_id = "a\r\nX-Forged: 1";
    tally_webhook_result res[5];
    tally__webhook_post_many(reqs, 5, true, NOW, res);
    for (size_t i = 0; i < 3; i++)
        if (strncmp(res[i].status, "bad url: ", 9) != 0)
            fail_msg("%s: status '%s'", reqs[i].url, res[i].status);
    assert_string_equal(res[3].status, "bad request: alert id has control characters");
    assert_string_equal(res[4].status, "bad request: no url");
    for (size_t i = 0; i < 5; i++) assert_false(res[i].delivered);
}

/* ---- (7) redirects are answers, not hops ---- */

static void redirect_not_followed(void **state) {
    (void)state;
    receiver r;
    receiver_start(&r, ANSWER, (int[]){302, 200}, 2);
    tally_webhook_result res = post_one(request_to(local_url(&r)), true);
    assert_false(res.delivered);
    assert_int_equal(res.http_status, 302);
    assert_string_equal(res.status, "302 redirect not followed");
    assert_int_equal(receiver_connections(&r), 1);
    receiver_stop(&r);
}

/* ---- (8) one slow receiver does not hold up another ---- */

static void slow_receiver_does_not_hold_up_others(void **state) {
    (void)state;
    receiver slow, fast;
    receiver_start(&slow, HANG, NULL, 0);
    receiver_start(&fast, ANSWER, (int[]){204}, 1);
    char slow_url[sizeof url_buf];
    snprintf(slow_url, sizeof slow_url, "%s", local_url(&slow));
    tally_webhook_request reqs[] = {request_to(slow_url), request_to(local_url(&fast))};
    const int timeout_ms = 2000;
    reqs[0].timeout_ms = reqs[1].timeout_ms = timeout_ms;
    tally_webhook_result res[2];
    tally__webhook_post_many(reqs, 2, true, NOW, res);

    assert_string_equal(res[0].status, "timeout");
    assert_true(res[0].duration_ms >= timeout_ms - 100);
    assert_true(res[1].delivered);
    assert_string_equal(res[1].status, "204");
    /* Sequential sending would have made the fast one wait out the slow one's limit. */
    if (res[1].duration_ms >= timeout_ms / 2)
        fail_msg("the fast receiver's answer took %d ms", res[1].duration_ms);
    receiver_stop(&slow);
    receiver_stop(&fast);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifier_table),
        cmocka_unit_test(signature_known_vectors),
        cmocka_unit_test(failed_tries_then_delivered),
        cmocka_unit_test(long_answer_body_still_delivered),
        cmocka_unit_test(no_answer_is_a_timeout),
        cmocka_unit_test(closed_connection_fails),
        cmocka_unit_test(private_targets_refused),
        cmocka_unit_test(other_schemes_and_bad_requests),
        cmocka_unit_test(redirect_not_followed),
        cmocka_unit_test(slow_receiver_does_not_hold_up_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
