/*
 * tally retain — apply the tenants' retention bounds now (docs/operations.md,
 * "Retention"): the content of interactions older than content_retention_days
 * leaves the history, users idle past user_retention_days lose name and
 * email. The pass itself is the one tally-alerts runs every day
 * (alerts/retention.c); this file parses flags, shows progress — a line
 * rewritten in place on a terminal, a log line per tenant and step otherwise
 * — and prints the summary.
 *
 * Exit codes: 0 done, 1 a store failed (the run is recorded as unfinished;
 * run it again to finish), 2 bad usage, 3 --tenant names an unknown tenant.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tally_alerts.h"
#include "tally_cli.h"
#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"

#define PROG "tally retain"

typedef struct {
    const char *pg_url, *mongo_url, *tenant;
    int batch, pause_ms;
    bool dry_run;
} options;

typedef struct {
    bool tty;
    bool line_open; /* a progress line is on the terminal, not yet ended */
    bool dry_run;
} progress_state;

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally retain [--tenant T] [--dry-run] [--batch-size N] [--pg-url URL]\n"
            "                    [--mongo-url URL]\n\n"
            "Apply the tenants' retention bounds (tenant.upserted content_retention_days and\n"
            "user_retention_days) now: the question, answer, attachments, params and metadata\n"
            "of interactions older than the content bound are removed from the history, and\n"
            "users with no interaction for the user bound lose their name and email. Ids,\n"
            "times, tokens, models, costs and every report stay as they were. tally-alerts\n"
            "runs the same pass once a day.\n\n"
            "Each run is recorded (tally lifecycle); a run that is interrupted is finished by\n"
            "the next one. Progress goes to stderr, the summary to stdout.\n\n"
            "Options:\n"
            "      --tenant T        only this tenant (default: every tenant with a bound)\n"
            "  -n, --dry-run         count what would be removed; change and record nothing\n"
            "      --batch-size N    documents (and users) changed per batch (default 1000)\n"
            "      --pause-ms MS     wait after each batch (default 0; for tests)\n"
            "      --pg-url URL      PostgreSQL (default $TALLY_PG_URL)\n"
            "      --mongo-url URL   MongoDB (default $TALLY_MONGO_URL)\n"
            "  -h, --help            this text\n\n"
            "Exit status: 0 done, 1 a store failed (run again to finish), 2 bad usage,\n"
            "3 unknown tenant.\n");
}

/* -1 to go on, else the exit code. */
static int parse_flags(int argc, char **argv, options *o) {
    enum { O_TENANT = 256, O_BATCH, O_PAUSE, O_PG, O_MONGO };
    static const struct option flags[] = {{"tenant", required_argument, 0, O_TENANT},
                                          {"dry-run", no_argument, 0, 'n'},
                                          {"batch-size", required_argument, 0, O_BATCH},
                                          {"pause-ms", required_argument, 0, O_PAUSE},
                                          {"pg-url", required_argument, 0, O_PG},
                                          {"mongo-url", required_argument, 0, O_MONGO},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "nh", flags, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_TENANT: o->tenant = optarg; break;
        case 'n': o->dry_run = true; break;
        case O_BATCH:
            ok = tally_parse_flag_int_capped(PROG, "--batch-size", optarg, 1, 100000, &o->batch);
            break;
        case O_PAUSE:
            ok = tally_parse_flag_int_capped(PROG, "--pause-ms", optarg, 0, 60000, &o->pause_ms);
            break;
        case O_PG: o->pg_url = optarg; break;
        case O_MONGO: o->mongo_url = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) return 2;
    }
    if (o->tenant && tally_text_id_problem(o->tenant, strlen(o->tenant))) {
        fprintf(stderr, PROG ": --tenant: %s\n",
                tally_text_id_problem(o->tenant, strlen(o->tenant)));
        return 2;
    }
    return tally_flags_no_operands(PROG, argc, argv, optind) ? -1 : 2;
}

static void on_progress(void *arg, const tally_alerts_retention_tenant *t, const char *step,
                        bool step_done) {
    progress_state *ps = arg;
    int64_t n = strcmp(step, "users") == 0 ? t->users : t->documents;
    const char *what = strcmp(step, "users") == 0 ? "users anonymised" : "interactions stripped";
    if (ps->dry_run)
        what = strcmp(step, "users") == 0 ? "users to anonymise" : "interactions to strip";
    if (ps->tty) {
        fprintf(stderr, "\r\033[K" PROG ": %.128s: %lld %s%s", t->tenant_id, (long long)n, what,
                step_done ? "\n" : "");
        ps->line_open = !step_done;
        fflush(stderr);
    } else if (step_done) {
        char tenant[300];
        tally_text_quote(t->tenant_id, strlen(t->tenant_id), tenant, sizeof tenant, true);
        tally_info("retention step done", "tenant=\"%s\" step=%s %s=%lld dry_run=%s", tenant, step,
                   strcmp(step, "users") == 0 ? "users" : "documents", (long long)n,
                   ps->dry_run ? "true" : "false");
    }
}

static void print_summary(const options *o, const tally_alerts_retention_result *r) {
    char started[40];
    tally_time_format_utc(r->started_at, started, sizeof started);
    if (o->dry_run)
        printf("dry run at %s: nothing changed\n", started);
    else
        printf("retention run %lld started %s: %s\n", (long long)r->run_id, started,
               r->finished ? "finished" : "NOT finished (run again to finish)");
    if (r->n_tenants == 0) printf("no tenant has a retention bound\n");
    for (size_t i = 0; i < r->n_tenants; i++) {
        const tally_alerts_retention_tenant *t = &r->tenants[i];
        char tenant[300];
        tally_text_quote(t->tenant_id, strlen(t->tenant_id), tenant, sizeof tenant, false);
        printf("  %s:", tenant);
        if (t->content_days.set)
            printf(" %lld documents %s (content older than %lld days)", (long long)t->documents,
                   o->dry_run ? "to strip" : "stripped", (long long)t->content_days.v);
        if (t->user_days.set)
            printf("%s %lld users %s (idle %lld days)", t->content_days.set ? "," : "",
                   (long long)t->users, o->dry_run ? "to anonymise" : "anonymised",
                   (long long)t->user_days.v);
        if (!t->content_days.set && !t->user_days.set) printf(" no retention bound: kept");
        printf("\n");
    }
}

int tally_cmd_retain(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    options o = {.pg_url = cfg.pg_url, .mongo_url = cfg.mongo_url, .batch = 1000};
    int status = parse_flags(argc, argv, &o);
    if (status >= 0) return status;
    tally_log_init("retain", tally_log_level_parse(cfg.log_level));

    tally_err err = {0};
    tally_pg *pg = tally_pg_open(o.pg_url, &err);
    if (!pg) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }
    tally_docs *docs = tally_docs_open(o.mongo_url, &err);
    if (!docs) {
        fprintf(stderr, PROG ": --mongo-url: %s\n", err.msg);
        tally_pg_close(pg);
        return 2;
    }
    progress_state ps = {.tty = isatty(STDERR_FILENO) == 1, .dry_run = o.dry_run};
    tally_alerts_retention_options ro = {.only_tenant = o.tenant,
                                         .requested_by = "tally retain",
                                         .batch = o.batch,
                                         .pause_ms = o.pause_ms,
                                         .dry_run = o.dry_run,
                                         .progress = on_progress,
                                         .progress_arg = &ps};
    tally_alerts_retention_result r;
    tally_code rc = tally_alerts_retention_run(pg, docs, &ro, &r, &err);
    if (ps.line_open) fputc('\n', stderr);
    if (rc == TALLY_ENOTFOUND) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        status = 3;
    } else {
        print_summary(&o, &r);
        status = 0;
        if (rc != TALLY_OK) {
            fprintf(stderr, PROG ": %s%s\n", err.msg,
                    strstr(err.msg, "does not exist") ? " (run tally migrate)" : "");
            if (r.run_id)
                fprintf(stderr, PROG ": run %lld is recorded as unfinished; run again to finish\n",
                        (long long)r.run_id);
            status = 1;
        }
    }
    tally_alerts_retention_result_free(&r);
    tally_docs_close(docs);
    tally_pg_close(pg);
    return status;
}
