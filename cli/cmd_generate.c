/*
 * tally generate — write deterministic, realistic events as NDJSON on stdout:
 *     tally generate --events 100000 --duplicates 2 | tally produce
 * The options map one to one onto tally_gen_opts (generate.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tally_cli.h"
#include "tally_gen.h"

static void usage(FILE *out) {
    fprintf(out, "usage: tally generate [options] > events.ndjson\n\n"
                 "Write realistic usage traffic of five platform shapes (school course agents,\n"
                 "a tutoring marketplace, IXCsoft distributors, WhatsApp bots with budgets and\n"
                 "TTS, a support bot) as CloudEvents NDJSON: first the entity events (tenants,\n"
                 "users, plans, subscriptions, prices, BRL rates, budgets), then the interactions\n"
                 "in time order with feedback and re-sent duplicates merged in. The same options\n"
                 "always give the same bytes.\n\n"
                 "Options:\n"
                 "  -s, --seed N              random seed (default 42)\n"
                 "  -n, --events N            interaction events (default 1000)\n"
                 "  -t, --tenants N           tenants, cycling the five shapes (default 5)\n"
                 "  -u, --users-per-tenant N  users of each tenant (default 20)\n"
                 "  -d, --days N              days the interactions spread over (default 31)\n"
                 "      --start YYYY-MM-DD    the first day (default 2026-03-01)\n"
                 "      --duplicates PCT      share of interactions sent again, same id, later\n"
                 "                            in the stream (default 0)\n"
                 "      --feedback PCT        share of interactions that get a feedback.recorded\n"
                 "                            (default 5; a few ratings are revised later)\n"
                 "      --no-entities         no entity events: interactions (and their\n"
                 "                            feedback and duplicates) only\n"
                 "      --erasures N          after the window, erase the first N users of the\n"
                 "                            last tenant (user.erased; default 0)\n"
                 "      --stats               print what was written on stderr\n"
                 "  -h, --help                this text\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || *s < '0' || *s > '9') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return false;
    *out = v;
    return true;
}

static bool parse_pct(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0 && v <= 100)) return false;
    *out = v;
    return true;
}

static bool parse_date(const char *s, tally_usec *out) {
    char buf[32];
    if (!s || strlen(s) != 10) return false;
    snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
    return tally_time_parse_rfc3339(buf, out);
}

static int write_all(void *ctx, const char *buf, size_t len) {
    int fd = *(int *)ctx;
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int tally_cmd_generate(int argc, char **argv) {
    enum {
        OPT_START = 256,
        OPT_DUPLICATES,
        OPT_FEEDBACK,
        OPT_NO_ENTITIES,
        OPT_ERASURES,
        OPT_STATS
    };
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'n'},
        {"tenants", required_argument, NULL, 't'},
        {"users-per-tenant", required_argument, NULL, 'u'},
        {"days", required_argument, NULL, 'd'},
        {"start", required_argument, NULL, OPT_START},
        {"duplicates", required_argument, NULL, OPT_DUPLICATES},
        {"feedback", required_argument, NULL, OPT_FEEDBACK},
        {"no-entities", no_argument, NULL, OPT_NO_ENTITIES},
        {"erasures", required_argument, NULL, OPT_ERASURES},
        {"stats", no_argument, NULL, OPT_STATS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tally_gen_opts o;
    tally_gen_opts_default(&o);
    bool stats = false;
    uint64_t v = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:n:t:u:d:h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 's': ok = parse_u64(optarg, UINT64_MAX, &o.seed); break;
        case 'n': ok = parse_u64(optarg, 1000000000000ULL, &o.events); break;
        case 't':
            ok = parse_u64(optarg, 100000, &v) && v >= 1;
            o.tenants = (uint32_t)v;
            break;
        case 'u':
            ok = parse_u64(optarg, 10000000, &v) && v >= 1;
            o.users_per_tenant = (uint32_t)v;
            break;
        case 'd':
            ok = parse_u64(optarg, 3660, &v) && v >= 1;
            o.days = (uint32_t)v;
            break;
        case OPT_START: ok = parse_date(optarg, &o.start); break;
        case OPT_DUPLICATES: ok = parse_pct(optarg, &o.duplicates_pct); break;
        case OPT_FEEDBACK: ok = parse_pct(optarg, &o.feedback_pct); break;
        case OPT_NO_ENTITIES: o.entities = false; break;
        case OPT_ERASURES:
            ok = parse_u64(optarg, 10000000, &v);
            o.erasures = (uint32_t)v;
            break;
        case OPT_STATS: stats = true; break;
        case 'h': usage(stdout); return 0;
        case ':': fprintf(stderr, "tally generate: %s needs a value\n", argv[optind - 1]); return 2;
        default:
            fprintf(stderr, "tally generate: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            const char *name = "?";
            for (const struct option *lo = longopts; lo->name; lo++)
                if (lo->val == c) name = lo->name;
            fprintf(stderr, "tally generate: bad value '%s' for --%s\n", optarg, name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tally generate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    tally_err err;
    if (tally_gen_opts_check(&o, &err) != TALLY_OK) {
        fprintf(stderr, "tally generate: %s\n", err.msg);
        return 2;
    }
    int fd = STDOUT_FILENO;
    tally_gen_stats st;
    tally_code rc = tally_gen_run(&o, write_all, &fd, &st, &err);
    if (rc != TALLY_OK) {
        fprintf(stderr, "tally generate: %s\n", err.msg);
        return 1;
    }
    if (stats)
        fprintf(stderr,
                "tally generate: %llu lines, %llu bytes: %llu entities, %llu interactions, "
                "%llu duplicates, %llu feedback\n",
                (unsigned long long)st.lines, (unsigned long long)st.bytes,
                (unsigned long long)st.entities, (unsigned long long)st.interactions,
                (unsigned long long)st.duplicates, (unsigned long long)st.feedback);
    return 0;
}
