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
 * A finite number as float() reads it: blanks around it, a sign, digits with
 * '_' between two of them, a fraction, an exponent. Refuses hex, "1e", and
 * the words float() reads as nan or inf (see python_nonfinite).
 */
bool python_float(const char *s, size_t n, double *out);

/* True for the text float() reads as nan or an infinity ("NaN", "-inf"). */
bool python_nonfinite(const char *s, size_t n);

/*
 * Appends str(v) for a value decoded from JSON: a string as itself, a float
 * as repr() writes it ("1.0", "1e+16"), True/False/None, and lists and dicts
 * as Python prints them (['a', 1], {'b': 2.5}).
 */
void python_str(struct hb_buf *b, json_t *v);

#endif
