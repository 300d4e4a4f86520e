/*
 * Webhooks end to end: tally-alerts publishes the outbox and POSTs each alert
 * of a budget with a webhook_url to a receiver this test runs on loopback
 * (TALLY_WEBHOOK_ALLOW_PRIVATE=1), which fails the first two tries of every
 * alert. Every alert ends with exactly one successful delivery after three
 * tries 1 s and 2 s apart, every try carries a signature that verifies with
 * the tenant's secret (made through the admin route), the body is the very
 * event on the topic, GET /alerts lists the tries, and /metrics counts them.
 * A tenant without a secret gets no POST: "no secret", never retried.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cmocka.h>

#include "alerts_itest.h"

#define ADMIN_KEY "itest-admin-key-alerts-webhook"
#define N_HOOKED 5
#define FAILS_FIRST 2

/* ---- the receiver ------------------------------------------------------------ */

typedef struct {
    char id[256];
    int tries, delivered, bad_signature;
    char *body; /* of the delivered try */
} hook_seen;

static struct {
    pthread_mutex_t mu;
    char secret[128];
    hook_seen seen[16];
    int n_seen, unknown;
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct {
    char *data;
    size_t len;
} upload;

static bool signature_ok(const char *header, const char *body, size_t len) {
    long long t;
    char v1[80];
    if (!header || sscanf(header, "t=%lld,v1=%64s", &t, v1) != 2) return false;
    /* The signed text: "<t>.<body>". */
    size_t n = 32 + len;
    unsigned char *msg = malloc(n);
    int pl = snprintf((char *)msg, n, "%lld.", t);
    memcpy(msg + pl, body, len);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), rx.secret, (int)strlen(rx.secret), msg, (size_t)pl + len, mac, &mac_len);
    free(msg);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return strlen(v1) == 64 && CRYPTO_memcmp(hex, v1, 64) == 0;
}

static enum MHD_Result on_hook(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
    (void)cls, (void)url, (void)method, (void)version;
    upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof(upload));
        return MHD_YES;
    }
    if (*data_size) {
        u->data = realloc(u->data, u->len + *data_size + 1);
        memcpy(u->data + u->len, data, *data_size);
        u->len += *data_size;
        u->data[u->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Tally-Event-Id");
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Tally-Signature");
    unsigned status = 400;
    pthread_mutex_lock(&rx.mu);
    hook_seen *s = NULL;
    for (int i = 0; id && i < rx.n_seen && !s; i++)
        if (!strcmp(rx.seen[i].id, id)) s = &rx.seen[i];
    if (id && !s && rx.n_seen < 16) {
        s = &rx.seen[rx.n_seen++];
        snprintf(s->id, sizeof s->id, "%s", id);
    }
    if (s) {
        s->tries++;
        if (!signature_ok(sig, u->data ? u->data : "", u->len)) s->bad_signature++;
        status = s->tries <= FAILS_FIRST ? 500 : 200;
        if (status == 200) {
            s->delivered++;
            free(s->body);
            s->body = strndup(u->data ? u->data : "", u->len);
        }
    } else {
        rx.unknown++;
    }
    pthread_mutex_unlock(&rx.mu);
    struct MHD_Response *res = MHD_create_response_from_buffer(2, (void *)"ok",
                                                               MHD_RESPMEM_PERSISTENT);
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    upload *u = *con_cls;
    if (u) free(u->data);
    free(u);
    *con_cls = NULL;
}

/* ---- the topic ------------------------------------------------------------------ */

typedef struct {
    char *id[16], *value[16];
    int n;
} topic_seen;

static void on_message(const rd_kafka_message_t *m, void *arg) {
    topic_seen *t = arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    if (t->n < 16) {
        t->id[t->n] = strdup(json_string_value(json_object_get(j, "id")));
        t->value[t->n++] = strndup(m->payload, m->len);
    }
    json_decref(j);
}

static const char *topic_value(const topic_seen *t, const char *id) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->id[i], id)) return t->value[i];
    return NULL;
}

/* ---- the test -------------------------------------------------------------------- */

static bool all_settled(const itest_ctx *ctx, void *arg) {
    (void)arg;
    return itest_pg_scalar(ctx, "SELECT count(*) FROM webhook_deliveries"
                                " WHERE delivered_at IS NOT NULL OR given_up_at IS NOT NULL") ==
           N_HOOKED + 2;
}

static long long metric(const char *text, const char *name) {
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *p = strstr(text, needle);
    return p ? atoll(p + strlen(needle)) : -1;
}

static void webhooks_end_to_end(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_ctx ctx;
    itest_setup(&ctx, "alerts_hook", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('acme', 'Acme', 'active', 'America/Sao_Paulo', now(), 0)");

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_hook,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
                                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_END);
    assert_non_null(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char hook_url[128];
    snprintf(hook_url, sizeof hook_url, "http://127.0.0.1:%d/hooks/tally?src=itest", port);

    char api_log[512], base[64];
    snprintf(api_log, sizeof api_log, "%s/tests/%s.api.log", TALLY_BIN_DIR, ctx.name);
    pid_t api = api_start(&ctx, ADMIN_KEY, api_log, base, sizeof base);
    /* Two secrets: the second replaces the first, and signs. */
    char first[128] = "";
    for (int i = 0; i < 2; i++) {
        api_http r = api_http_do(base, "POST", "/v1/admin/tenants/acme/webhook-secret", ADMIN_KEY,
                                 NULL, NULL);
        assert_int_equal(r.status, 201);
        json_t *j = api_http_json(&r);
        const char *secret = json_string_value(json_object_get(j, "secret"));
        assert_non_null(secret);
        assert_int_equal(strlen(secret), 6 + 64);
        assert_int_equal(strncmp(secret, "whsec_", 6), 0);
        assert_int_equal(strspn(secret + 6, "0123456789abcdef"), 64);
        if (i == 0)
            snprintf(first, sizeof first, "%s", secret);
        else
            assert_string_not_equal(secret, first);
        pthread_mutex_lock(&rx.mu);
        snprintf(rx.secret, sizeof rx.secret, "%s", secret);
        pthread_mutex_unlock(&rx.mu);
        json_decref(j);
        api_http_free(&r);
    }

    char ids[N_HOOKED + 3][128];
    for (int i = 0; i < N_HOOKED; i++) {
        snprintf(ids[i], sizeof ids[i], "acme/budget:b1:tokens/_/2026-03-01T03:00:00Z/%d",
                 i == N_HOOKED - 1 ? 100 : 80 + i);
        char at[40];
        snprintf(at, sizeof at, "2026-03-1%dT12:00:00Z", i);
        alerts_insert(&ctx,
                      &(alerts_row){ids[i], "acme", "budget:b1:tokens", NULL, "tokens",
                                    i == N_HOOKED - 1 ? 100 : 80 + i, "1000", "950", at, hook_url});
    }
    /* One without a webhook, two of a tenant without a secret. */
    snprintf(ids[N_HOOKED], 128, "acme/plan:p1:requests/u1/2026-03-01T03:00:00Z/90");
    alerts_insert(&ctx, &(alerts_row){ids[N_HOOKED], "acme", "plan:p1:requests", "u1", "requests",
                                      90, "100", "90", "2026-03-20T12:00:00Z", NULL});
    for (int i = 0; i < 2; i++) {
        snprintf(ids[N_HOOKED + 1 + i], 128, "quiet/budget:q:brl/_/2026-03-01T03:00:00Z/%d",
                 80 + 10 * i);
        alerts_insert(&ctx,
                      &(alerts_row){ids[N_HOOKED + 1 + i], "quiet", "budget:q:brl", NULL, "brl",
                                    80 + 10 * i, "10.5", "8.4", "2026-03-21T12:00:00Z", hook_url});
    }

    setenv("TALLY_WEBHOOK_ALLOW_PRIVATE", "1", 1);
    char log[512];
    snprintf(log, sizeof log, "%s/tests/%s.alerts.log", TALLY_BIN_DIR, ctx.name);
    const char *args[] = {"--topic", ctx.alerts, "--webhook-timeout", "3000", "--stats-interval",
                          "1",       NULL};
    pid_t alerts = itest_spawn_logged(&ctx, "alerts/tally-alerts", args, log);
    unsetenv("TALLY_WEBHOOK_ALLOW_PRIVATE");
    assert_true(itest_wait_until(all_settled, &ctx, NULL, 60000));
    assert_int_equal(itest_stop(alerts, SIGTERM, 30000), 0);

    topic_seen t = {0};
    assert_int_equal(itest_consume_all(&ctx, ctx.alerts, on_message, &t, N_HOOKED + 4, 10000),
                     N_HOOKED + 3);
    pthread_mutex_lock(&rx.mu);
    printf("  receiver: %d alerts, %d unknown requests\n", rx.n_seen, rx.unknown);
    assert_int_equal(rx.n_seen, N_HOOKED);
    assert_int_equal(rx.unknown, 0);
    for (int i = 0; i < rx.n_seen; i++) {
        hook_seen *s = &rx.seen[i];
        assert_int_equal(s->tries, FAILS_FIRST + 1);
        assert_int_equal(s->delivered, 1);
        assert_int_equal(s->bad_signature, 0);
        const char *value = topic_value(&t, s->id);
        assert_non_null(value);
        assert_string_equal(s->body,
                            value); /* the webhook body is the topic's event, byte for byte */
        assert_null(strstr(s->id, "quiet/"));
    }
    pthread_mutex_unlock(&rx.mu);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM webhook_attempts"),
                     N_HOOKED * (FAILS_FIRST + 1));
    assert_int_equal(
        itest_pg_scalar(&ctx, "SELECT count(*) FROM webhook_attempts WHERE status = '500'"),
        N_HOOKED * FAILS_FIRST);
    /* Backoff: the third try at least 1 s + 2 s after the first. */
    assert_true(itest_pg_scalar(&ctx,
                                "SELECT min(extract(epoch FROM b.at - a.at) * 1000)::bigint"
                                " FROM webhook_attempts a JOIN webhook_attempts b"
                                " USING (alert_id) WHERE a.attempt = 1 AND b.attempt = 3") >= 2900);

    /* The API lists the tries. */
    json_t *page = api_get_json(base, "/v1/tenants/acme/alerts", ADMIN_KEY);
    json_t *items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), N_HOOKED + 1);
    assert_true(json_is_null(json_object_get(page, "next_cursor")));
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *dl = json_object_get(it, "deliveries");
        /* Without "deliveries", the item is the event on the topic. */
        json_t *ev = json_deep_copy(it);
        json_object_del(ev, "deliveries");
        json_t *on_topic = json_loads(topic_value(&t, id), 0, NULL);
        assert_true(json_equal(ev, on_topic));
        json_decref(ev);
        json_decref(on_topic);
        if (!strcmp(id, ids[N_HOOKED])) {
            assert_int_equal(json_array_size(dl), 0);
            continue;
        }
        assert_int_equal(json_array_size(dl), 1);
        json_t *d0 = json_array_get(dl, 0);
        assert_string_equal(json_string_value(json_object_get(d0, "url")), hook_url);
        assert_int_equal(json_integer_value(json_object_get(d0, "attempts")), FAILS_FIRST + 1);
        assert_string_equal(json_string_value(json_object_get(d0, "last_status")), "200");
        assert_true(json_is_string(json_object_get(d0, "last_attempt_at")));
        assert_true(json_is_string(json_object_get(d0, "delivered_at")));
    }
    json_decref(page);
    page = api_get_json(base, "/v1/tenants/quiet/alerts", ADMIN_KEY);
    items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 2);
    json_array_foreach(items, i, it) {
        json_t *d0 = json_array_get(json_object_get(it, "deliveries"), 0);
        assert_string_equal(json_string_value(json_object_get(d0, "last_status")), "no secret");
        assert_int_equal(json_integer_value(json_object_get(d0, "attempts")), 0);
        assert_true(json_is_null(json_object_get(d0, "delivered_at")));
    }
    json_decref(page);

    api_http m = api_http_do(base, "GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal(m.status, 200);
    assert_int_equal(metric(m.body, "tally_alerts_raised_total"), N_HOOKED + 3);
    assert_int_equal(metric(m.body, "tally_alerts_published_total"), N_HOOKED + 3);
    assert_int_equal(metric(m.body, "tally_alerts_outbox_backlog"), 0);
    assert_int_equal(metric(m.body, "tally_webhook_attempts_total"), N_HOOKED * (FAILS_FIRST + 1));
    assert_int_equal(metric(m.body, "tally_webhook_failures_total"), N_HOOKED * FAILS_FIRST);
    api_http_free(&m);

    for (int k = 0; k < t.n; k++) free(t.id[k]), free(t.value[k]);
    itest_stop(api, SIGTERM, 10000);
    MHD_stop_daemon(d);
    itest_teardown(&ctx);
    curl_global_cleanup();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(webhooks_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
