/*
 * tally_common — the ground floor: errors, time, logs, configuration, buffers,
 * backoff, the event types as C data and the text rules. Every other layer
 * includes this header and no other file of common/.
 */
#ifndef TALLY_COMMON_H
#define TALLY_COMMON_H

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * tally_err — an error as a code and a human message, written into a buffer
 * the caller owns (the librdkafka way). Functions that can fail return a
 * tally_code and, on failure, fill the tally_err they were given (if any).
 */


typedef enum {
    TALLY_OK = 0,
    TALLY_EINVAL, /* the input breaks the contract: reject it, move on */
    TALLY_ESTORE, /* a store (PostgreSQL, MongoDB, Kafka) failed: retry later */
    TALLY_ENOMEM,
    TALLY_EIO,
    TALLY_ENOTFOUND, /* no such thing (or not yours to see): HTTP 404 */
} tally_code;

typedef struct {
    tally_code code;
    char msg[512];
} tally_err;

/* Out of memory, the one policy (CONTRIBUTING.md, "Memory"):
 *   - an allocation sized by the input (a batch, a request, a report, a JSON
 *     tree) is checked and fails that unit of work with TALLY_ENOMEM: a
 *     daemon retries the batch with backoff, the API answers 500, a command
 *     exits 1 — and the process goes on;
 *   - a small working buffer that only grows (tally_buf, the generator's
 *     output) calls tally_oom(): it logs and aborts, because nothing useful
 *     can follow, and at-least-once delivery makes a crash safe (nothing
 *     uncommitted is lost, the batch is redelivered). */
__attribute__((noreturn)) void tally_oom(const char *what);

/* Fill err (when non-NULL) and return code. */
tally_code tally_err_set(tally_err *err, tally_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void tally_err_clear(tally_err *err);

/*
 * tally_time — RFC 3339 instants as int64 microseconds since the Unix epoch
 * (UTC). Time-zone arithmetic for reports is done by PostgreSQL, which owns
 * the IANA database; C code only parses and prints instants.
 */


typedef int64_t tally_usec;

/* Parse "2026-03-14T12:00:00.123-03:00" (also 'Z', lower-case 't'/'z',
 * a space for 'T', fractions up to nanoseconds; digits past microseconds are
 * truncated). Returns false on anything else, including impossible dates. */
bool tally_time_parse_rfc3339(const char *s, tally_usec *out);

/* Write "2026-03-14T15:00:00.123000Z" into buf (at least 32 bytes). */
void tally_time_format_utc(tally_usec t, char *buf, size_t len);

/* The wall clock in microseconds since the epoch. */
tally_usec tally_time_now_us(void);

/* Sleep ms milliseconds (an interrupted sleep ends early). */
void tally_sleep_ms(int ms);

/* Monotonic clock in microseconds, for durations and timeouts. */
int64_t tally_time_monotonic_us(void);

/*
 * tally_log — structured log lines on stderr, one event per line:
 *   2026-03-14T12:00:00.123Z level=info comp=ingest msg="batch stored" n=500
 * The caller passes the key=value tail already formatted; the message is quoted.
 */

typedef enum { TALLY_LOG_DEBUG, TALLY_LOG_INFO, TALLY_LOG_WARN, TALLY_LOG_ERROR } tally_log_level;

/* Set once at start (from TALLY_LOG_LEVEL or a flag) and the component name. */
void tally_log_init(const char *component, tally_log_level min_level);
tally_log_level tally_log_level_parse(const char *s);

void tally_log(tally_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tally_info(msg, ...) tally_log(TALLY_LOG_INFO, msg, __VA_ARGS__)
#define tally_warn(msg, ...) tally_log(TALLY_LOG_WARN, msg, __VA_ARGS__)
#define tally_error(msg, ...) tally_log(TALLY_LOG_ERROR, msg, __VA_ARGS__)
#define tally_debug(msg, ...) tally_log(TALLY_LOG_DEBUG, msg, __VA_ARGS__)

/*
 * tally_config — the settings of CONTRACT.md §4, read once from the
 * environment at start; command-line flags may override fields afterwards.
 * The strings are borrowed from the environment or are static defaults.
 */

typedef struct {
    const char *kafka_brokers; /* TALLY_KAFKA_BROKERS */
    const char *pg_url;        /* TALLY_PG_URL */
    const char *mongo_url;     /* TALLY_MONGO_URL */
    const char *http_addr;     /* TALLY_HTTP_ADDR */
    const char *admin_key;     /* TALLY_ADMIN_KEY, NULL when unset */
    const char *topic_events;  /* TALLY_TOPIC_EVENTS */
    const char *topic_dlq;     /* TALLY_TOPIC_DLQ */
    const char *topic_alerts;  /* TALLY_TOPIC_ALERTS */
    const char *log_level;     /* TALLY_LOG_LEVEL: debug|info|warn|error */
    const char *instance;      /* TALLY_INSTANCE, NULL when unset */
    const char *cors_origins;  /* TALLY_CORS_ORIGINS, NULL when unset (no CORS) */
    /* TALLY_PSEUDONYM_SECRET: the key of erased users' pseudonyms, NULL when
     * unset; TALLY_PSEUDONYM_SECRET_PREVIOUS: the one before a rotation, still
     * used to recognise the erasure records it made (docs/operations.md). */
    const char *pseudonym_secret, *pseudonym_secret_previous;
} tally_config;

void tally_config_from_env(tally_config *cfg);

/* Parse a command-line integer flag value >= min; on a bad one print
 * "<prog>: <flag>: expected an integer >= <min>, got '<s>'" and return false. */
bool tally_parse_flag_int(const char *prog, const char *flag, const char *s, long long min,
                          long long *out);
/* The same for an int flag: values above max are capped at max. */
bool tally_parse_flag_int_capped(const char *prog, const char *flag, const char *s, long long min,
                                 long long max, int *out);
/* After the flags: true when no argument is left (argv[first..argc)), else
 * false after printing "<prog>: unexpected argument '<arg>'". */
bool tally_flags_no_operands(const char *prog, int argc, char **argv, int first);

/* The help text block that lists the variables and their defaults. */
extern const char tally_config_env_help[];

/*
 * tally_buf — a growable byte buffer, always NUL-terminated. The buffer owns
 * `data`; tally_buf_free releases it. Appends call tally_oom() when memory
 * runs out (see the policy above), so callers need no error paths.
 */


typedef struct {
    char *data;
    size_t len, cap;
} tally_buf;

void tally_buf_append(tally_buf *b, const char *s, size_t n);
void tally_buf_puts(tally_buf *b, const char *s);
void tally_buf_putc(tally_buf *b, char c);
void tally_buf_printf(tally_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tally_buf_free(tally_buf *b);

/* Append one element of a PostgreSQL array literal: NULL, or the string
 * double-quoted with '"' and '\' escaped. A ',' is written before every
 * element but the first (the caller writes the braces). */
void tally_buf_pg_array_elem(tally_buf *b, const char *s, int first);

/*
 * tally_backoff — waiting between retries of a store that failed: 100 ms,
 * doubling up to 5 s. A daemon asked to stop keeps retrying for its drain
 * timeout, then gives up (its batch stays uncommitted and is redelivered).
 */


/* The next offset to read of one Kafka partition (stream/ computes them,
 * relational/ stores them with the rollups). */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t next_offset;
} tally_partition_offset;

typedef struct {
    int delay_ms;         /* the next wait */
    int attempts;         /* failures so far */
    int64_t stop_seen_us; /* when a stop request was first seen, 0 before */
} tally_backoff;

void tally_backoff_init(tally_backoff *b);

/* Count a failure and sleep the current delay. Returns false, without
 * sleeping, once *stop has been set for longer than drain_ms. */
bool tally_backoff_wait(tally_backoff *b, volatile sig_atomic_t *stop, int drain_ms);

/*
 * tally_json — a fast reader of one JSON text, for the event decoder's hot
 * path (tally produce, POST /v1/events, both consumers). It accepts what
 * jansson's json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts
 * (RFC 8259, valid UTF-8, no "\u0000", no duplicate key in an object,
 * integers that fit in long long, finite reals, at most 2048 values deep)
 * and gives the same values in the same order, with one exception on
 * purpose: a NUL byte anywhere is refused (jansson skips one right after a
 * number or a literal). tests/unit/test_json.c holds it to that, input by
 * input, against jansson.
 *
 * Why not jansson: it builds a tree of separately allocated nodes with a hash
 * table per object and reads a byte at a time through a stream, about 48 MB/s
 * here; validating an 840-byte event cost ~18 µs, most of the CPU of every
 * path that publishes events. This reader makes two allocations per text (a
 * flat array of nodes and one block for every unescaped string) and looks
 * members up by a linear scan, which for the ~20 members of an event is
 * faster than hashing.
 *
 * A document owns its nodes and strings; every pointer handed out lives until
 * tally_json_free(). Strings are NUL-terminated copies (unescaped).
 */

typedef enum {
    TALLY_JSON_NULL,
    TALLY_JSON_FALSE,
    TALLY_JSON_TRUE,
    TALLY_JSON_INTEGER,
    TALLY_JSON_REAL,
    TALLY_JSON_STRING,
    TALLY_JSON_ARRAY,
    TALLY_JSON_OBJECT,
} tally_json_type;

/* One value. Read it through the functions below. */
typedef struct tally_json tally_json;
typedef struct tally_json_doc tally_json_doc;

/* Where and why a text was refused. line and column count from 1; position
 * is the byte offset of the fault. `invalid_utf8` tells the UTF-8 faults
 * apart (the decoder words them differently). */
typedef struct {
    int line, column;
    size_t position;
    bool invalid_utf8;
    char text[160];
} tally_json_error;

#define TALLY_JSON_MAX_DEPTH 2048

/* Parse len bytes. NULL on a refused text (err filled when non-NULL) or when
 * memory runs out (err->text says so). */
tally_json_doc *tally_json_parse(const char *buf, size_t len, tally_json_error *err);
void tally_json_free(tally_json_doc *doc);
const tally_json *tally_json_root(const tally_json_doc *doc);

tally_json_type tally_json_typeof(const tally_json *v);
/* The tests below are false for a NULL v. */
bool tally_json_is_null(const tally_json *v);
bool tally_json_is_bool(const tally_json *v);
bool tally_json_is_integer(const tally_json *v);
bool tally_json_is_real(const tally_json *v);
bool tally_json_is_string(const tally_json *v);
bool tally_json_is_array(const tally_json *v);
bool tally_json_is_object(const tally_json *v);

/* Values; 0, 0.0 or NULL when v is not of that type. */
bool tally_json_bool(const tally_json *v);
long long tally_json_integer(const tally_json *v);
double tally_json_real(const tally_json *v);
const char *tally_json_string(const tally_json *v);
size_t tally_json_string_length(const tally_json *v); /* bytes, without the NUL */

/* Containers: members of an object / elements of an array, in text order. */
size_t tally_json_size(const tally_json *container);
/* The member called key (NUL-terminated), or NULL (also when obj is not an
 * object). */
const tally_json *tally_json_get(const tally_json *obj, const char *key);
/* The first child of a container, and the one after child; NULL at the end. */
const tally_json *tally_json_first(const tally_json *container);
const tally_json *tally_json_next(const tally_json *container, const tally_json *child);
/* The key of an object's member (a child from first/next), or NULL. */
const char *tally_json_key(const tally_json *member);
size_t tally_json_key_length(const tally_json *member);

/*
 * tally_event_types — the events of CONTRACT.md §1 as C data: the type enum
 * and one plain struct per type. They are shared by every layer (the decoder
 * in ingest/ fills them; relational/ and documents/ store them), so they live
 * here at the bottom. Every string is borrowed from the event's parsed JSON
 * (see ingest/event.h for ownership).
 */


/* The one id rule (the event id, the subject, every *_id, the API's paths):
 * 1 to TALLY_ID_MAX_LEN characters (Unicode code points, not bytes), no
 * control character; tally_text_id_problem() checks it. UTF-8 takes at most
 * 4 bytes a character, so TALLY_ID_MAX_BYTES holds any valid id. */
#define TALLY_ID_MAX_LEN 128
#define TALLY_ID_MAX_BYTES (4 * TALLY_ID_MAX_LEN)
/* A number macro as a string literal: "at most " TALLY_STR(TALLY_ID_MAX_LEN). */
#define TALLY_STR(x) TALLY_STR_(x)
#define TALLY_STR_(x) #x
#define TALLY_MAX_THRESHOLDS 16

typedef enum {
    TALLY_EV_TENANT_UPSERTED,
    TALLY_EV_USER_UPSERTED,
    TALLY_EV_PLAN_UPSERTED,
    TALLY_EV_SUBSCRIPTION_UPSERTED,
    TALLY_EV_MODEL_PRICED,
    TALLY_EV_FX_RATE_SET,
    TALLY_EV_BUDGET_SET,
    TALLY_EV_INTERACTION_RECORDED,
    TALLY_EV_FEEDBACK_RECORDED,
    TALLY_EV_USER_ERASED,
    TALLY_EV__COUNT
} tally_event_type;

/* "tenant.upserted" etc.; NULL for an out-of-range value. */
const char *tally_event_type_name(tally_event_type t);
/* Returns false when name is not a type of the contract. */
bool tally_event_type_parse(const char *name, tally_event_type *out);

/* An exact decimal as canonical text that PostgreSQL's numeric accepts.
 * JSON numbers are read as doubles and written back with 15
 * significant digits, which round-trips every decimal of up to 15 digits;
 * a JSON string ("0.000150") is kept exactly as sent. */
typedef struct {
    bool set;
    char text[48];
} tally_decimal;

typedef struct {
    bool set;
    int64_t v;
} tally_opt_i64;

typedef struct {
    const char *tenant_id, *name, *slug, *contact;
    const char *status;   /* "active" (default) | "suspended" */
    const char *timezone; /* IANA name, default "America/Sao_Paulo" */
    /* Retention bounds in days (docs/arithmetic.md, "Retention and erasure"):
     * 1..TALLY_RETENTION_DAYS_MAX, unset = keep. */
    tally_opt_i64 content_retention_days, user_retention_days;
} tally_tenant;

/* The largest retention bound a tenant may set, in days (PostgreSQL integer). */
#define TALLY_RETENTION_DAYS_MAX 2147483647

typedef struct {
    const char *tenant_id, *user_id, *name, *email;
    const char *role; /* "admin" | "member" (default) | "student" | "tutor" */
    int active;       /* 1, 0, or -1 when absent */
} tally_user;

typedef struct {
    const char *plan_id, *tenant_id /* NULL = global */, *name, *description;
    tally_opt_i64 monthly_request_limit, monthly_token_limit; /* unset = unlimited */
} tally_plan;

typedef struct {
    const char *subscription_id, *tenant_id, *user_id /* NULL = whole tenant */, *plan_id;
    const char *status; /* "active" (default) | "trial" | "suspended" | "cancelled" */
    tally_usec starts_at;
    bool has_ends_at;
    tally_usec ends_at;
} tally_subscription;

typedef struct {
    const char *model_id, *provider, *tenant_id /* NULL = global price */;
    tally_decimal input_usd_per_1m, output_usd_per_1m;
    tally_decimal cached_input_usd_per_1m;             /* default: the input price */
    tally_decimal minutes_saved_per_100_output_tokens; /* default: 0 */
    tally_usec effective_from;
} tally_price;

typedef struct {
    const char *currency; /* three upper-case letters, e.g. "BRL" */
    tally_decimal per_usd;
    tally_usec effective_from;
} tally_fx;

typedef struct {
    const char *tenant_id, *budget_id, *webhook_url;
    const char *kind;   /* "tokens" | "brl" | "both" */
    const char *period; /* "daily" | "weekly" | "monthly" */
    tally_opt_i64 token_limit;
    tally_decimal brl_limit;
    int thresholds[TALLY_MAX_THRESHOLDS]; /* percents, default 80, 90, 100 */
    int n_thresholds;
    bool pause_at_limit;
} tally_budget;

typedef struct {
    const char *tenant_id, *user_id, *model_id;
    const char *kind;   /* "chat" (default) | "embedding" | "tts" | "stt" */
    const char *status; /* "ok" (default) | "error" */
    const char *conversation_id, *agent_id, *channel, *intent;
    int64_t input_tokens, output_tokens, cached_tokens; /* default 0 */
    tally_decimal audio_seconds;                        /* unset = 0 */
    tally_opt_i64 latency_ms;
    bool was_cached, was_fallback;
    tally_decimal cost_usd;           /* set: wins over the computed cost */
    tally_decimal time_saved_minutes; /* set: wins over the model's rate */
} tally_interaction;

typedef struct {
    const char *tenant_id, *interaction_id, *user_id;
    bool like; /* rating: true = "like", false = "dislike" */
} tally_feedback;

/* user.erased: everything of (tenant, user) before the event's time becomes
 * anonymous (docs/arithmetic.md, "Retention and erasure"). */
typedef struct {
    const char *tenant_id, *user_id;
} tally_user_erased;

typedef struct {
    tally_json_doc *doc;    /* owned: the parsed text */
    const tally_json *root; /* the event object */
    const tally_json *data; /* root["data"], always an object */
    const char *id, *source, *subject, *time_text;
    tally_event_type type;
    tally_usec time; /* the envelope's time, UTC microseconds */
    union {
        tally_tenant tenant;
        tally_user user;
        tally_plan plan;
        tally_subscription subscription;
        tally_price price;
        tally_fx fx;
        tally_budget budget;
        tally_interaction interaction;
        tally_feedback feedback;
        tally_user_erased erased;
    } u;
} tally_event;

/*
 * tally_text — the rules untrusted text must follow (valid UTF-8, no control
 * characters; ids also 1..TALLY_ID_MAX_LEN characters) and a safe way to
 * quote such text in a message or a log line. Shared by the event decoder
 * and the HTTP API, which both name bad input back to whoever sent it.
 */


/* Bytes of the valid UTF-8 sequence at p (avail > 0 bytes left) and its
 * code point, or 0 when it is not one (bad lead or continuation, cut short,
 * overlong forms, surrogates, above U+10FFFF). */
size_t tally_utf8_next(const unsigned char *p, size_t avail, unsigned *cp);

/* NULL when s is valid UTF-8 without control characters, else the rule it
 * breaks ("must be valid UTF-8", "must not contain control characters"). */
const char *tally_text_problem(const char *s, size_t len);

/* As tally_text_problem, and 1 to TALLY_ID_MAX_LEN characters long. */
const char *tally_text_id_problem(const char *s, size_t len);

/* s made safe to show: invalid UTF-8 and control characters become '?',
 * with `escape` '"' and '\' get a backslash (for text inside double
 * quotes), and what does not fit in out_len (>= 4) ends in "...". Always
 * NUL-terminated. */
void tally_text_quote(const char *s, size_t len, char *out, size_t out_len, bool escape);

/* ---- decimals (tally_decimal.c) ---- */

/* Round a plain decimal ("12.3456785", "-0.5", "1200") half-even to `places`
 * digits after the point and write it without trailing zeros ("12.345678",
 * "1200"): how money is written in reports and alerts. False when `in` is
 * not such a number or out is too small. */
bool tally_decimal_round(const char *in, int places, char *out, size_t out_len);

/* That rounding as a JSON real (printed with 15 significant digits, every
 * 6-place amount below 10^9 comes out exactly as rounded); null for NULL or
 * text that is no number. */
json_t *tally_decimal_json(const char *in, int places);

#endif
