/*
 * tally — the command-line front door. It only dispatches: every subcommand
 * is a file of its own in cli/ (tally_cli.h lists them).
 */
#include <stdio.h>
#include <string.h>

#include "tally_cli.h"
#include "tally_common.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", tally_cmd_generate, "write deterministic, realistic events as NDJSON"},
    {"produce", tally_cmd_produce, "validate NDJSON events and publish them to Kafka"},
    {"migrate", tally_cmd_migrate, "apply the PostgreSQL schema migrations"},
    {"report", tally_cmd_report, "pull a usage report from a Tally API"},
    {"limits", tally_cmd_limits, "show a tenant's limits, their usage and whether it may go on"},
    {"dlq", tally_cmd_dlq, "list the dead letters, or replay them to the events topic"},
    {"retain", tally_cmd_retain, "apply the tenants' retention bounds to the history and users"},
    {"lifecycle", tally_cmd_lifecycle, "list the retention and erasure runs"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally <command> [options]\n\n"
            "Tally meters AI usage per tenant: events in through Kafka, reports out over HTTP.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'tally <command> --help' for a command's options.\n\n%s",
            tally_config_env_help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("tally " TALLY_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tally: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
