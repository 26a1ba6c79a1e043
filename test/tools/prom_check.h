/*
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for the tests of
 * `xfrmctl metrics`: it accepts no more than Prometheus does, and less where ikd has no need:
 *   - every line ends in a line feed; no empty line; no comment but # HELP and # TYPE;
 *   - # HELP NAME TEXT (TEXT escapes only \\ and \n) and # TYPE NAME counter|gauge, each at
 *     most once per name and both before the name's first sample;
 *   - a sample is NAME, optionally {LABEL="VALUE",...}, one space, a value, and nothing more
 *     (no timestamp): NAME [a-zA-Z_:][a-zA-Z0-9_:]*, LABEL [a-zA-Z_][a-zA-Z0-9_]* and not
 *     __reserved, no label twice, no trailing comma, VALUE valid UTF-8 without control
 *     characters, escaping only \\, \" and \n; the value a decimal number, NaN, +Inf or -Inf;
 *   - a family's lines are together (HELP, TYPE and samples of one name, then the next);
 *   - a counter's name ends in _total and its values are numbers >= 0;
 *   - no two samples with the same name and labels (in any order).
 */
#ifndef IKD_TEST_PROM_CHECK_H
#define IKD_TEST_PROM_CHECK_H

#include <stddef.h>

/* The number of samples (>= 0), or -1 with err saying "line N: what is wrong". */
long prom_check(const char *text, size_t len, char *err, size_t err_len);

#endif
