/*
 * text_output — how a `tally` subcommand writes what it rendered: to a file
 * (created only now that the whole text is ready, so a failed pull never
 * clobbers the previous one) or to stdout, saying on stderr when it cannot.
 */
#ifndef TALLY_TEXT_OUTPUT_H
#define TALLY_TEXT_OUTPUT_H

/* Write text to path (NULL: stdout). Returns 0, or 1 after saying why as
 * "tally <command>: …". */
int tally__write_text(const char *command, const char *path, const char *text);

#endif
