/*
 * tally lifecycle — list the data lifecycle runs (lifecycle_runs: retention
 * passes and erasures), newest first: when, who asked, which kind, tenant and
 * subject, what each touched, and whether it finished. An unfinished run
 * that is not running any more was interrupted; the next run of its kind
 * finishes its work. Read-only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_cli.h"
#include "tally_common.h"
#include "tally_pg.h"
#include "text_table.h"

#define PROG "tally lifecycle"

static const char *const COLUMNS[] = {"run",          "started_at", "finished_at", "kind",
                                      "requested_by", "tenant",     "subject",     "touched"};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

typedef struct {
    const char *pg_url, *kind, *tenant;
    int limit;
    bool json;
} options;

static void usage(FILE *out) {
    fprintf(out, "usage: tally lifecycle [--kind retention|erasure] [--tenant T] [--limit N]\n"
                 "                       [-f table|json] [--pg-url URL]\n\n"
                 "List the data lifecycle runs, newest first: retention passes (tally retain, the\n"
                 "daily schedule of tally-alerts) and erasures. finished_at '-' (json: null) is a\n"
                 "run that was interrupted, or is still running; the next run finishes its work.\n"
                 "touched counts what each run changed, per table and tenant.\n\n"
                 "Options:\n"
                 "      --kind K          retention or erasure (default both)\n"
                 "      --tenant T        runs of this tenant, and runs over every tenant that\n"
                 "                        touched it\n"
                 "      --limit N         at most N runs (default 100)\n"
                 "  -f, --format F        table (default) or json (an array)\n"
                 "      --pg-url URL      PostgreSQL (default $TALLY_PG_URL)\n"
                 "  -h, --help            this text\n");
}

/* -1 to go on, else the exit code. */
static int parse_flags(int argc, char **argv, options *o) {
    enum { O_KIND = 256, O_TENANT, O_LIMIT, O_PG };
    static const struct option flags[] = {{"kind", required_argument, 0, O_KIND},
                                          {"tenant", required_argument, 0, O_TENANT},
                                          {"limit", required_argument, 0, O_LIMIT},
                                          {"format", required_argument, 0, 'f'},
                                          {"pg-url", required_argument, 0, O_PG},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", flags, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_KIND:
            if (strcmp(optarg, TALLY_LIFECYCLE_RETENTION) &&
                strcmp(optarg, TALLY_LIFECYCLE_ERASURE)) {
                fprintf(stderr, PROG ": --kind: expected retention or erasure, got '%s'\n", optarg);
                return 2;
            }
            o->kind = optarg;
            break;
        case O_TENANT: o->tenant = optarg; break;
        case O_LIMIT:
            ok = tally_parse_flag_int_capped(PROG, "--limit", optarg, 1, 100000, &o->limit);
            break;
        case 'f':
            if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
                fprintf(stderr, PROG ": --format: expected table or json, got '%s'\n", optarg);
                return 2;
            }
            o->json = !strcmp(optarg, "json");
            break;
        case O_PG: o->pg_url = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) return 2;
    }
    return tally_flags_no_operands(PROG, argc, argv, optind) ? -1 : 2;
}

static char *text_or_dash(const json_t *v) {
    const char *s = json_string_value(v);
    return tally__clean_text(s && *s ? s : "-");
}

static int print_table(const json_t *runs) {
    size_t n = json_array_size(runs);
    text_table t;
    if (!tally__table_init(&t, n + 1, N_COLUMNS)) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    t.right[0] = true;
    for (size_t c = 0; c < N_COLUMNS; c++) tally__table_put(&t, 0, c, strdup(COLUMNS[c]));
    size_t i;
    const json_t *run;
    json_array_foreach(runs, i, run) {
        size_t r = i + 1;
        char *touched = json_dumps(json_object_get(run, "touched"), JSON_COMPACT | JSON_SORT_KEYS);
        tally__table_put(&t, r, 0,
                         tally__dupf("%" JSON_INTEGER_FORMAT,
                                     json_integer_value(json_object_get(run, "run_id"))));
        tally__table_put(&t, r, 1, text_or_dash(json_object_get(run, "started_at")));
        tally__table_put(&t, r, 2, text_or_dash(json_object_get(run, "finished_at")));
        tally__table_put(&t, r, 3, text_or_dash(json_object_get(run, "kind")));
        tally__table_put(&t, r, 4, text_or_dash(json_object_get(run, "requested_by")));
        tally__table_put(&t, r, 5, text_or_dash(json_object_get(run, "tenant_id")));
        tally__table_put(&t, r, 6, text_or_dash(json_object_get(run, "subject")));
        tally__table_put(&t, r, 7, tally__clean_text(touched ? touched : "?"));
        free(touched);
    }
    if (t.oom) {
        tally__table_free(&t);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    tally__table_measure(&t);
    tally__table_emit_line(stdout, &t, 0);
    tally__table_emit_rule(stdout, &t);
    for (size_t r = 1; r <= n; r++) tally__table_emit_line(stdout, &t, r);
    tally__table_free(&t);
    if (n == 0) printf("(no lifecycle runs)\n");
    return 0;
}

int tally_cmd_lifecycle(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    options o = {.pg_url = cfg.pg_url, .limit = 100};
    int status = parse_flags(argc, argv, &o);
    if (status >= 0) return status;
    tally_err err = {0};
    tally_pg *pg = tally_pg_open(o.pg_url, &err);
    if (!pg) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }
    tally_pg_lifecycle_query q = {.kind = o.kind, .tenant_id = o.tenant, .limit = o.limit};
    json_t *runs = NULL;
    tally_code rc = tally_pg_lifecycle_list(pg, &q, &runs, &err);
    tally_pg_close(pg);
    if (rc != TALLY_OK) {
        fprintf(stderr, PROG ": %s%s\n", err.msg,
                strstr(err.msg, "does not exist") ? " (run tally migrate)" : "");
        return 1;
    }
    if (o.json) {
        char *text = json_dumps(runs, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        status = text ? 0 : 1;
        free(text);
    } else {
        status = print_table(runs);
    }
    json_decref(runs);
    return status;
}
