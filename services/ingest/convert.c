/*
 * convert: the entry of the converters — checks what every format needs,
 * picks the format's converter (convert_<format>.c), and leaves nothing
 * behind when it refuses a message.
 */
#include "formats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct convert_state *
convert_state_new(size_t max_entities)
{
	struct convert_state *c = hb_xcalloc(1, sizeof(*c));

	c->entities = json_object();
	c->stamped = json_object();
	c->held = json_object();
	c->max = max_entities;
	return c;
}

void
convert_state_free(struct convert_state *c)
{
	if (c == NULL)
		return;
	json_decref(c->entities);
	json_decref(c->stamped);
	json_decref(c->held);
	free(c);
}

size_t
convert_state_size(const struct convert_state *c)
{
	return json_object_size(c->entities);
}

int
convert_fail(struct convert_out *out, enum rule_error e, const char *fmt, ...)
{
	va_list ap;

	out->error = e;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	return -1;
}

int
convert_point_start(struct point *p, const struct convert_in *in,
    const char *def_meas, struct convert_out *out)
{
	const struct rule *r = in->rule;

	p->time_ns = in->now_ns;
	if (r->measurement.text) {
		if (rules_expand(&r->measurement, in->caps, in->caplen, in->ncaps,
		    &p->meas) != 0)
			return convert_fail(out, ERR_UNENCODABLE, "measurement template");
	} else if (def_meas)
		hb_buf_puts(&p->meas, def_meas);
	if (p->meas.len == 0)
		return convert_fail(out, ERR_UNENCODABLE, "empty measurement");
	for (size_t i = 0; i < r->ntags; i++) {
		struct hb_buf v = { 0 };

		if (rules_expand(&r->tags[i].value, in->caps, in->caplen, in->ncaps,
		    &v) != 0 || v.len == 0) {
			hb_buf_free(&v);
			continue;	/* an empty topic level: no tag */
		}
		point_tag(p, r->tags[i].key, v.data, v.len, true);
		hb_buf_free(&v);
	}
	return 0;
}

bool
convert_emit(struct point *p, struct convert_out *out)
{
	if (!point_emit(p, &out->lines))
		return false;
	convert_point_add(out, p->meas.data, p->meas.len);
	return true;
}

void
convert_point_add(struct convert_out *out, const char *meas, size_t len)
{
	struct convert_point *cp;

	if (out->npoint == out->point_max) {
		out->point_max = out->point_max ? 2 * out->point_max : 16;
		out->point = hb_xrealloc(out->point,
		    out->point_max * sizeof(*out->point));
	}
	cp = &out->point[out->npoint++];
	cp->end = out->lines.len;
	cp->meas = out->names.len;
	cp->meas_len = len;
	hb_buf_append(&out->names, meas ? meas : "", len);
	out->points++;
}

void
convert_out_reset(struct convert_out *out)
{
	hb_buf_reset(&out->lines);
	hb_buf_reset(&out->names);
	out->npoint = 0;
	out->points = 0;
	out->skipped_fields = 0;
}

void
convert_out_free(struct convert_out *out)
{
	hb_buf_free(&out->lines);
	hb_buf_free(&out->names);
	free(out->point);
	out->point = NULL;
	out->npoint = out->point_max = 0;
}

int
convert_flush(struct convert_state *ha, struct convert_out *out)
{
	return ha ? convert_ha_flush(ha, out) : 0;
}

int
convert_message(struct convert_state *ha, const struct convert_in *in,
    struct convert_out *out)
{
	size_t mark = out->lines.len, names_mark = out->names.len;
	size_t npoint_before = out->npoint;
	int points_before = out->points;
	int rc;

	out->points = 0;
	out->why[0] = '\0';
	if (!hb_utf8_valid(in->payload, in->len))
		rc = convert_fail(out, ERR_BAD_UTF8, "payload is not UTF-8 text");
	else {
		switch (in->rule->format) {
		case FMT_JSON:
			rc = convert_json(in, out);
			break;
		case FMT_VALUE:
			rc = convert_value(in, out);
			break;
		case FMT_HA_STATESTREAM:
			rc = convert_ha(ha, in, out);
			break;
		case FMT_INFLUX:
		default:
			rc = convert_influx(ha, in, out);
			break;
		}
	}
	if (rc < 0) {
		buf_cut(&out->lines, mark);
		buf_cut(&out->names, names_mark);
		out->npoint = npoint_before;
		out->points = points_before;
		return -1;
	}
	out->points += points_before;
	return rc;
}
