/*
 * influx_answer: how the writer reads InfluxDB's answers, kept apart from
 * the requests so that the unit tests link it alone: a status and body become
 * a verdict, and an error text names the lines InfluxDB refused.
 */
#include "influx_answer.h"
#include "hb_lp.h"
#include "hb_util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The error text of an answer: v1 {"error": ...}, v2 {"message": ...}, else the body. */
static void
error_text(const char *body, char *out, size_t outlen)
{
	json_t *root = json_loads(body, 0, NULL);
	const char *s = NULL;

	if (root) {
		s = json_string_value(json_object_get(root, "error"));
		if (s == NULL)
			s = json_string_value(json_object_get(root, "message"));
	}
	snprintf(out, outlen, "%s", s ? s : body);
	json_decref(root);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

void
influx_classify(long status, int client_code, const char *client_error,
    const char *body, long retry_after_s, struct influx_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = status;
	out->retry_after_s = retry_after_s;
	if (client_code != 0) {
		out->verdict = INFLUX_RETRY;
		snprintf(out->reason, sizeof(out->reason), "%s",
		    client_error ? client_error : "network error");
		return;
	}
	if (status >= 200 && status < 300) {
		out->verdict = INFLUX_OK;
		return;
	}
	error_text(body ? body : "", out->reason, sizeof(out->reason));
	if (out->reason[0] == '\0')
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld", status);
	switch (status) {
	case 413:
		out->verdict = INFLUX_TOO_LARGE;
		break;
	case 400:
	case 422:
		out->verdict = INFLUX_BAD_POINTS;
		break;
	case 401:
	case 403:
	case 404:
		out->verdict = INFLUX_REFUSED;
		break;
	default:
		out->verdict = INFLUX_RETRY;
	}
}

void
influx_classify_query(long status, int client_code, const char *client_error,
    const char *body, long retry_after_s, struct influx_result *out)
{
	json_t *root, *results;
	size_t i;
	json_t *r;

	influx_classify(status, client_code, client_error, body, retry_after_s,
	    out);
	if (out->verdict != INFLUX_OK || body == NULL)
		return;
	root = json_loads(body, 0, NULL);
	results = json_object_get(root, "results");
	json_array_foreach(results, i, r) {
		const char *e = json_string_value(json_object_get(r, "error"));

		if (e) {
			out->verdict = INFLUX_REFUSED;
			snprintf(out->reason, sizeof(out->reason), "%s", e);
			break;
		}
	}
	json_decref(root);
}

/* "unable to parse '<line>': reason" -> mark lines equal to <line>. */
static size_t
mark_unparsable(const char *error, const char *body, size_t len, bool *bad,
    size_t nlines)
{
	const char *tag = "unable to parse '";
	const char *p = error;
	size_t marked = 0;

	while ((p = strstr(p, tag)) != NULL) {
		const char *start = p + strlen(tag);
		const char *end = strstr(start, "': ");
		size_t pos = 0, idx = 0;

		if (end == NULL)
			break;
		while (idx < nlines) {
			struct hb_lp_line line;
			char err[128];
			enum hb_lp_result r = hb_lp_next(body, len, &pos, NULL, &line,
			    err, sizeof(err));

			if (r == HB_LP_END)
				break;
			if (r == HB_LP_SKIP)
				continue;
			if (r == HB_LP_OK && line.len == (size_t)(end - start) &&
			    memcmp(line.start, start, line.len) == 0 && !bad[idx]) {
				bad[idx] = true;
				marked++;
			}
			idx++;
		}
		p = end;
	}
	return marked;
}

static int
type_from_name(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum hb_lp_type type;
	} names[] = {
		{ "float", HB_LP_FLOAT }, { "integer", HB_LP_INT },
		{ "unsigned", HB_LP_UINT }, { "string", HB_LP_STRING },
		{ "boolean", HB_LP_BOOL },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0)
			return (int)names[i].type;
	return -1;
}

/* Reads a "quoted" name that may contain \" escapes; returns past it. */
static const char *
read_quoted(const char *p, struct hb_buf *out)
{
	if (*p != '"')
		return NULL;
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		hb_buf_putc(out, *p);
	}
	return *p == '"' ? p + 1 : NULL;
}

static size_t
mark_conflicts(const char *error, const char *body, size_t len, bool *bad,
    size_t nlines)
{
	const char *tag = "field type conflict: input field ";
	const char *p = error;
	size_t marked = 0;

	while ((p = strstr(p, tag)) != NULL) {
		struct hb_buf field = { 0 }, meas = { 0 }, tmp = { 0 };
		const char *q = read_quoted(p + strlen(tag), &field);
		size_t pos = 0, idx = 0, tn;
		int type;

		p += strlen(tag);
		if (q == NULL || strncmp(q, " on measurement ", 16) != 0)
			goto next;
		q = read_quoted(q + 16, &meas);
		if (q == NULL || strncmp(q, " is type ", 9) != 0)
			goto next;
		q += 9;
		tn = strcspn(q, ", ");
		if ((type = type_from_name(q, tn)) < 0)
			goto next;
		while (idx < nlines) {
			struct hb_lp_line line;
			char err[128];
			enum hb_lp_result r = hb_lp_next(body, len, &pos, NULL, &line,
			    err, sizeof(err));

			if (r == HB_LP_END)
				break;
			if (r != HB_LP_OK) {
				if (r == HB_LP_ERROR)
					idx++;
				continue;
			}
			hb_buf_reset(&tmp);
			hb_lp_unescape(line.measurement, line.measurement_len, 'm', &tmp);
			if (strcmp(tmp.data, meas.data ? meas.data : "") == 0) {
				for (size_t f = 0; f < line.nfields; f++) {
					hb_buf_reset(&tmp);
					hb_lp_unescape(line.fields[f].key, line.fields[f].key_len,
					    'k', &tmp);
					if (strcmp(tmp.data, field.data ? field.data : "") == 0 &&
					    (int)line.fields[f].type == type && !bad[idx]) {
						bad[idx] = true;
						marked++;
					}
				}
			}
			idx++;
		}
next:
		hb_buf_free(&field);
		hb_buf_free(&meas);
		hb_buf_free(&tmp);
	}
	return marked;
}

size_t
influx_bad_lines(const char *error, const char *body, size_t len, bool *bad,
    size_t nlines)
{
	return mark_unparsable(error, body, len, bad, nlines) +
	    mark_conflicts(error, body, len, bad, nlines);
}
