/*
 * point: the point builder; see point.h.
 */
#include "point.h"
#include "hb_lp.h"

#include <math.h>
#include <string.h>

/* The writer's parser refuses longer lines. */
#define POINT_MAX_LINE 65536

void
point_free(struct point *p)
{
	hb_buf_free(&p->meas);
	hb_buf_free(&p->tags);
	hb_buf_free(&p->fields);
	json_decref(p->names);
	p->names = NULL;
}

bool
point_has_field(const struct point *p, const char *k)
{
	return p->names && json_object_get(p->names, k) != NULL;
}

void
point_tag(struct point *p, const char *k, const char *v, size_t vlen,
    bool required)
{
	size_t mark = p->tags.len;

	hb_buf_putc(&p->tags, ',');
	if (hb_lp_put_key(&p->tags, k, strlen(k)) != 0 ||
	    (hb_buf_putc(&p->tags, '='), hb_lp_put_key(&p->tags, v, vlen)) != 0) {
		buf_cut(&p->tags, mark);
		if (required)
			p->bad = true;
		else
			p->skipped++;
	}
}

/*
 * Starts a field "k=". False, with nothing written, when k cannot be encoded,
 * when the point has a field of that name already (flattening {"a_b":1,
 * "a":{"b":2}} makes two: InfluxDB would keep only one of them anyway), or
 * when it has as many fields as the writer's parser takes: a line with more
 * would be refused whole, so the first ones are kept.
 */
static bool
field_key(struct point *p, const char *k)
{
	size_t mark = p->fields.len;

	if (p->nfields >= HB_LP_MAX_FIELDS) {
		p->skipped++;
		return false;
	}
	if (p->names == NULL)
		p->names = json_object();
	if (point_has_field(p, k)) {
		p->skipped++;
		return false;
	}
	json_object_set_new(p->names, k, json_true());
	if (p->nfields)
		hb_buf_putc(&p->fields, ',');
	if (hb_lp_put_key(&p->fields, k, strlen(k)) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return false;
	}
	hb_buf_putc(&p->fields, '=');
	return true;
}

void
point_float(struct point *p, const char *k, double v)
{
	size_t mark = p->fields.len;

	if (!isfinite(v)) {
		p->skipped++;
		return;
	}
	if (!field_key(p, k))
		return;
	if (hb_lp_put_float(&p->fields, v) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return;
	}
	p->nfields++;
}

void
point_int(struct point *p, const char *k, double v)
{
	if (!isfinite(v) || v > 9.2e18 || v < -9.2e18) {
		p->skipped++;
		return;
	}
	if (!field_key(p, k))
		return;
	hb_lp_put_int(&p->fields, (int64_t)llround(v));
	p->nfields++;
}

void
point_bool(struct point *p, const char *k, bool v)
{
	if (!field_key(p, k))
		return;
	hb_buf_puts(&p->fields, v ? "true" : "false");
	p->nfields++;
}

void
point_string(struct point *p, const char *k, const char *v, size_t n)
{
	size_t mark = p->fields.len;

	if (!field_key(p, k))
		return;
	if (hb_lp_put_string(&p->fields, v, n) != 0) {
		buf_cut(&p->fields, mark);
		p->skipped++;
		return;
	}
	p->nfields++;
}

bool
point_emit(struct point *p, struct hb_buf *out)
{
	size_t mark = out->len;

	if (p->bad || p->nfields == 0)
		return false;
	if (hb_lp_put_measurement(out, p->meas.data ? p->meas.data : "",
	    p->meas.len) != 0)
		return false;
	hb_buf_append(out, p->tags.data ? p->tags.data : "", p->tags.len);
	hb_buf_putc(out, ' ');
	hb_buf_append(out, p->fields.data, p->fields.len);
	hb_buf_putc(out, ' ');
	hb_buf_put_i64(out, p->time_ns);
	hb_buf_putc(out, '\n');
	if (out->len - mark > POINT_MAX_LINE) {
		buf_cut(out, mark);
		return false;
	}
	return true;
}
