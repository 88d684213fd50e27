/*
 * python: what Python's float() and str() make of a value, for the formats
 * that must write what a Python program would (Home Assistant's InfluxDB
 * integration reads attributes with float() and falls back to str()), and
 * for plain values, which are read the way a person writes a number.
 */
#ifndef INGEST_PYTHON_H
#define INGEST_PYTHON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hb_util.h"

/*
 * What float() reads: blanks around it, a sign, digits with '_' between two
 * of them, a fraction, an exponent, or the words "nan", "inf" and
 * "infinity" in any case. True with the value in *out — which may be nan or
 * an infinity ("1e400" too), as in Python — or false where float() raises
 * ValueError (hex, "1e", "12 kWh", "").
 */
bool python_float(const char *s, size_t n, double *out);

/*
 * fnmatch.fnmatchcase(name, pattern): '*' any run of characters (dots and
 * slashes too), '?' one, "[seq]" one of seq ("[!seq]" one not in it, a-z
 * ranges), everything else itself; a '[' without its ']' is itself.
 * Home Assistant matches its entity globs so.
 */
bool python_fnmatch(const char *pattern, const char *name);

/*
 * Appends str(v) for a value decoded from JSON: a string as itself, a float
 * as repr() writes it ("1.0", "1e+16"), True/False/None, and lists and dicts
 * as Python prints them (['a', 1], {'b': 2.5}).
 */
void python_str(struct hb_buf *b, json_t *v);

#endif
