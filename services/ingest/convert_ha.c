/*
 * convert_ha: Home Assistant's mqtt_statestream into the points Home
 * Assistant's own InfluxDB integration writes (homeassistant/components/
 * influxdb, event_to_json), with the options it takes (an ha_statestream
 * rule's "influxdb" object, ha_influx.h), so that dashboards built on it
 * keep working:
 *  - states "unknown", "unavailable" and "" make no point, nor do entities
 *    the include/exclude filter leaves out;
 *  - a state that float() reads gives field value; one that
 *    state_as_number() maps (on, locked, above_horizon, open, home -> 1;
 *    off, unlocked, unknown, below_horizon, closed, not_home -> 0) gives
 *    value and the string field state; anything else gives state only;
 *  - measurement: component_config's override_measurement, else the global
 *    one, else the measurement_attr (the unit by default; the unit then is
 *    not a field), else default_measurement, else the entity id;
 *  - tags domain and entity_id (the object id), tags_attributes, then the
 *    static tags over them;
 *  - every other attribute a field: what float() reads as a float, else
 *    <key>_str as str() writes it, and <key> as float when that text holds
 *    one number ("12.5 kWh"); a name the point has already gets a '_'.
 * Fields and tags are built as Home Assistant builds its dicts — a later
 * assignment replaces an earlier one — and written once complete.
 * Attributes arrive on their own topics and are kept by entity in the cache
 * until the entity's next state.
 *
 * The time of a point is when Home Assistant changed the state. With
 * mqtt_statestream's publish_timestamps, last_updated comes on its own
 * topic just after the state: once an entity has sent one, its points wait
 * for it (one point per entity at most) and take its time; anything else
 * about the entity that comes first lets the point go with its arrival time.
 */
#include "formats.h"
#include "ha_influx.h"
#include "python.h"
#include "timestamp.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entity a topic <base>/<domain>/<object_id>/<leaf> is about. */
struct ha_topic {
	char domain[128];
	char object[160];
	char leaf[128];
	char entity[300];	/* domain.object_id */
};

/* A point as event_to_json builds it, before it is written. */
struct ha_point {
	struct hb_buf measurement;
	bool include_uom;	/* unit_of_measurement stays a field */
	bool include_dc;	/* device_class stays a field */
	json_t *tags;		/* name -> text, in order */
	json_t *required;	/* tags a point cannot be written without */
	json_t *fields;		/* name -> real or string, in order */
};

/* Home Assistant's state_as_number(): 1, 0, or -1 when it has no number. */
static int
state_as_number(const char *s)
{
	static const char *const one[] = { "on", "locked", "above_horizon", "open",
	    "home" };
	static const char *const zero[] = { "off", "unlocked", "unknown",
	    "below_horizon", "closed", "not_home" };

	for (size_t i = 0; i < HB_ARRAY_LEN(one); i++)
		if (strcmp(s, one[i]) == 0)
			return 1;
	for (size_t i = 0; i < HB_ARRAY_LEN(zero); i++)
		if (strcmp(s, zero[i]) == 0)
			return 0;
	return -1;
}

/*
 * HA's RE_DIGIT_TAIL, ^[^.]*\d+\.?\d+[^.]*$: two digits in a row, or digits
 * on both sides of the only dot. Then the value is the text with everything
 * but digits and dots removed (RE_DECIMAL), read by float().
 */
static bool
digit_tail(const char *s, double *out)
{
	struct hb_buf kept = { 0 };
	size_t dots = 0;
	bool pair = false, dot_ok = false, ok;

	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			dots++;
			dot_ok = p > s && isdigit((unsigned char)p[-1]) &&
			    isdigit((unsigned char)p[1]);
		}
		if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]))
			pair = true;
	}
	if (dots > 1 || (dots == 1 && !dot_ok) || (dots == 0 && !pair))
		return false;
	for (const char *p = s; *p; p++)
		if (isdigit((unsigned char)*p) || *p == '.')
			hb_buf_putc(&kept, *p);
	ok = python_float(kept.data, kept.len, out);
	hb_buf_free(&kept);
	return ok;
}

/* float(v) for an attribute decoded from JSON; false where it raises. */
static bool
attribute_float(json_t *v, double *out)
{
	if (json_is_number(v))
		*out = json_number_value(v);
	else if (json_is_boolean(v))
		*out = json_is_true(v) ? 1.0 : 0.0;
	else if (json_is_string(v))
		return python_float(json_string_value(v), json_string_length(v), out);
	else
		return false;
	return true;
}

/* fields[name] = v; a value InfluxDB cannot hold is deleted, as HA does. */
static void
field_set_float(json_t *fields, const char *name, double v)
{
	if (isfinite(v))
		json_object_set_new(fields, name, json_real(v));
	else
		json_object_del(fields, name);
}

/* One attribute into the fields, the way event_to_json's loop does it. */
static void
attribute_field(json_t *fields, const char *key, json_t *v)
{
	struct hb_buf name = { 0 }, strname = { 0 }, text = { 0 };
	double num;

	hb_buf_puts(&name, key);
	if (json_object_get(fields, key))
		hb_buf_putc(&name, '_');
	if (attribute_float(v, &num)) {
		field_set_float(fields, name.data, num);
		goto done;
	}
	hb_buf_printf(&strname, "%s_str", name.data);
	python_str(&text, v);
	json_object_set_new(fields, strname.data, json_stringn(text.data ?
	    text.data : "", text.len));
	if (digit_tail(text.data ? text.data : "", &num))
		field_set_float(fields, name.data, num);
done:
	hb_buf_free(&name);
	hb_buf_free(&strname);
	hb_buf_free(&text);
}

/* Copies the topic level [s, s + n) into dst; false if empty or too long. */
static bool
level_copy(char *dst, size_t size, const char *s, size_t n)
{
	if (n == 0 || n >= size)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* Reads the last three levels of the topic; false if it has fewer. */
static bool
ha_topic_read(const char *topic, struct ha_topic *t)
{
	const char *levels[3] = { NULL };
	size_t lens[3] = { 0 }, nlev = 0;
	const char *q = topic + strlen(topic);

	while (nlev < 3) {
		const char *slash = q > topic ? memrchr(topic, '/',
		    (size_t)(q - topic)) : NULL;
		const char *start = slash ? slash + 1 : topic;

		levels[nlev] = start;
		lens[nlev] = (size_t)(q - start);
		nlev++;
		if (slash == NULL)
			break;
		q = slash;
	}
	if (nlev < 3 || !level_copy(t->leaf, sizeof(t->leaf), levels[0], lens[0]) ||
	    !level_copy(t->object, sizeof(t->object), levels[1], lens[1]) ||
	    !level_copy(t->domain, sizeof(t->domain), levels[2], lens[2]))
		return false;
	snprintf(t->entity, sizeof(t->entity), "%s.%s", t->domain, t->object);
	return true;
}

/*
 * An attribute, JSON-encoded, into the cache; times are not attributes to
 * HA's InfluxDB integration. 0, or -1 through convert_fail().
 */
static int
ha_attribute(struct convert_state *ha, const struct ha_topic *t,
    const struct convert_in *in, struct convert_out *out)
{
	json_t *attrs = json_object_get(ha->entities, t->entity), *v;

	if (strcmp(t->leaf, "last_changed") == 0 ||
	    strcmp(t->leaf, "last_updated") == 0 ||
	    strcmp(t->leaf, "last_reported") == 0)
		return 0;
	if (!ha_influx_pass(in->rule->influxdb, t->entity, t->domain))
		return 0;	/* never written: not worth remembering */
	v = json_loadb(in->payload, in->len, JSON_DECODE_ANY, NULL);
	if (v == NULL)
		v = json_stringn(in->payload, in->len);
	if (v == NULL)
		return convert_fail(out, ERR_BAD_UTF8, "attribute %s is not text",
		    t->leaf);
	if (attrs == NULL) {
		if (json_object_size(ha->entities) >= ha->max) {
			json_decref(v);
			return convert_fail(out, ERR_TOO_LONG, "more than %zu entities",
			    ha->max);
		}
		attrs = json_object();
		json_object_set_new(ha->entities, t->entity, attrs);
	}
	json_object_set_new(attrs, t->leaf, v);
	return 0;
}

/* An attribute's value as measurement or tag text: str(), None as nothing. */
static void
attribute_text(struct hb_buf *b, json_t *v)
{
	if (v && !json_is_null(v))
		python_str(b, v);
}

/* measurement_attr, then default_measurement, then the entity id. */
static void
ha_measurement_by_attr(struct ha_point *hp, const struct ha_influx *o,
    const struct ha_topic *t, json_t *attrs)
{
	enum ha_measurement_attr by = o ? o->measurement_attr : HA_MEAS_UNIT;
	json_t *dc;

	if (by == HA_MEAS_ENTITY_ID)
		hb_buf_puts(&hp->measurement, t->entity);
	else if (by == HA_MEAS_DOMAIN_DEVICE_CLASS) {
		dc = attrs ? json_object_get(attrs, "device_class") : NULL;
		hb_buf_puts(&hp->measurement, t->domain);
		if (dc && !json_is_null(dc)) {
			hb_buf_puts(&hp->measurement, "__");
			python_str(&hp->measurement, dc);
			hp->include_dc = false;
		}
	} else
		attribute_text(&hp->measurement, attrs ?
		    json_object_get(attrs, "unit_of_measurement") : NULL);
	if (hp->measurement.len == 0)
		hb_buf_puts(&hp->measurement, o && o->default_measurement &&
		    *o->default_measurement ? o->default_measurement : t->entity);
	else
		hp->include_uom = by != HA_MEAS_UNIT;
}

/*
 * The measurement: the entity's override, the rule's (influxdb's
 * override_measurement, or the rule's measurement template), else by
 * attribute. 0, or -1 through convert_fail().
 */
static int
ha_measurement(struct ha_point *hp, const struct convert_in *in,
    const struct ha_topic *t, json_t *attrs, const char *entity_override,
    struct convert_out *out)
{
	const struct rule *r = in->rule;
	const struct ha_influx *o = r->influxdb;

	hp->include_uom = hp->include_dc = true;
	if (entity_override && *entity_override)
		hb_buf_puts(&hp->measurement, entity_override);
	else if (o && o->override_measurement && *o->override_measurement)
		hb_buf_puts(&hp->measurement, o->override_measurement);
	else if (r->measurement.text) {
		if (rules_expand(&r->measurement, in->caps, in->caplen, in->ncaps,
		    &hp->measurement) != 0)
			return convert_fail(out, ERR_UNENCODABLE, "measurement template");
	} else
		ha_measurement_by_attr(hp, o, t, attrs);
	if (hp->measurement.len == 0)
		return convert_fail(out, ERR_UNENCODABLE, "empty measurement");
	return 0;
}

/* A state's fields; false when float() reads it as nan or inf, which
 * InfluxDB refuses (HA's write of it fails). */
static bool
ha_state_fields(struct ha_point *hp, const char *state, size_t n)
{
	double num;
	int sn;

	if (python_float(state, n, &num)) {
		if (!isfinite(num))
			return false;
		json_object_set_new(hp->fields, "value", json_real(num));
	} else if ((sn = state_as_number(state)) >= 0) {
		json_object_set_new(hp->fields, "state", json_stringn(state, n));
		json_object_set_new(hp->fields, "value", json_real(sn));
	} else
		json_object_set_new(hp->fields, "state", json_stringn(state, n));
	return true;
}

/* The entity's attributes into tags (tags_attributes) and fields. */
static void
ha_attributes(struct ha_point *hp, const struct rule *r, json_t *attrs,
    const struct rule_list *entity_ignore)
{
	const struct ha_influx *o = r->influxdb;
	const char *k;
	json_t *v;

	json_object_foreach(attrs, k, v) {
		if (o && rules_list_has(&o->tags_attributes, k)) {
			struct hb_buf text = { 0 };

			attribute_text(&text, v);
			json_object_set_new(hp->tags, k, json_stringn(text.data ?
			    text.data : "", text.len));
			hb_buf_free(&text);
			continue;
		}
		if (!r->attributes ||
		    (strcmp(k, "unit_of_measurement") == 0 && !hp->include_uom) ||
		    (strcmp(k, "device_class") == 0 && !hp->include_dc) ||
		    rules_list_has(&r->ignore_attributes, k) ||
		    (o && rules_list_has(&o->ignore_attributes, k)) ||
		    (entity_ignore && rules_list_has(entity_ignore, k)))
			continue;
		attribute_field(hp->fields, k, v);
	}
}

static void
tag_set(struct ha_point *hp, const char *k, const char *v, size_t n,
    bool required)
{
	json_object_set_new(hp->tags, k, json_stringn(v, n));
	if (required)
		json_object_set_new(hp->required, k, json_true());
	else
		json_object_del(hp->required, k);
}

/* The static tags over the others: influxdb's, then the rule's own. */
static void
ha_static_tags(struct ha_point *hp, const struct convert_in *in)
{
	const struct rule *r = in->rule;
	const struct ha_influx *o = r->influxdb;

	for (size_t i = 0; o && i < o->ntags; i++)
		tag_set(hp, o->tags[i].key, o->tags[i].value, strlen(o->tags[i].value),
		    false);
	for (size_t i = 0; i < r->ntags; i++) {
		struct hb_buf v = { 0 };

		if (rules_expand(&r->tags[i].value, in->caps, in->caplen, in->ncaps,
		    &v) == 0 && v.len > 0)
			tag_set(hp, r->tags[i].key, v.data, v.len, true);
		hb_buf_free(&v);	/* an empty topic level: no tag */
	}
}

/*
 * Appends a held line (without its time) to out with time t, and counts it.
 */
static void
emit_held(struct convert_out *out, json_t *held, int64_t t)
{
	json_t *line = json_array_get(held, 0), *meas = json_array_get(held, 2);

	hb_buf_append(&out->lines, json_string_value(line), json_string_length(line));
	hb_buf_putc(&out->lines, ' ');
	hb_buf_put_i64(&out->lines, t);
	hb_buf_putc(&out->lines, '\n');
	convert_point_add(out, json_string_value(meas), json_string_length(meas));
}

/*
 * The entity's held point goes out: with its last_updated when this is
 * one (its arrival time if that cannot be read), else with its arrival
 * time. Returns 1 if there was one, else 0.
 */
static int
ha_release(struct convert_state *ha, const struct ha_topic *t,
    const struct convert_in *in, struct convert_out *out)
{
	json_t *held = json_object_get(ha->held, t->entity);
	int64_t at;
	char text[64];
	size_t n = in->len;
	const char *p = in->payload;

	if (held == NULL)
		return 0;
	at = (int64_t)json_integer_value(json_array_get(held, 1));
	if (strcmp(t->leaf, "last_updated") == 0) {
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;	/* JSON-encoded, as an attribute would be */
			n -= 2;
		}
		snprintf(text, sizeof(text), "%.*s", (int)(n < sizeof(text) ? n : 0), p);
		if (timestamp_parse(text, false) > 0)
			at = timestamp_parse(text, false);
		else
			out->skipped_fields++;	/* unreadable: the arrival time */
	}
	emit_held(out, held, at);
	json_object_del(ha->held, t->entity);
	return 1;
}

int
convert_ha_flush(struct convert_state *ha, struct convert_out *out)
{
	const char *k;
	json_t *held;
	int n = 0;

	json_object_foreach(ha->held, k, held) {
		emit_held(out, held, (int64_t)json_integer_value(json_array_get(held, 1)));
		n++;
	}
	json_object_clear(ha->held);
	return n;
}

/*
 * Holds a finished line for its entity's last_updated when the entity sends
 * one, keeping its measurement and the line without its time. False when
 * the line goes out now.
 */
static bool
ha_hold(struct convert_state *ha, const struct ha_topic *t, const struct hb_buf *line,
    const struct hb_buf *meas, int64_t now)
{
	const char *space;

	if (json_object_get(ha->stamped, t->entity) == NULL ||
	    json_object_size(ha->held) >= ha->max)
		return false;
	space = memrchr(line->data, ' ', line->len);
	json_object_set_new(ha->held, t->entity, json_pack("[s%,I,s%]",
	    line->data, (size_t)(space - line->data), (json_int_t)now,
	    meas->data ? meas->data : "", meas->len));
	return true;
}

/* The finished point into the point builder, then out (or held). */
static int
ha_emit(struct convert_state *ha, struct ha_point *hp, const struct convert_in *in,
    const struct ha_topic *t, struct convert_out *out)
{
	struct point p = { 0 };
	struct hb_buf line = { 0 };
	const char *k;
	json_t *v;
	int rc = 0;

	hb_buf_append(&p.meas, hp->measurement.data, hp->measurement.len);
	p.time_ns = in->now_ns;
	json_object_foreach(hp->tags, k, v)
		if (json_string_length(v) > 0)	/* HA's client drops empty tags */
			point_tag(&p, k, json_string_value(v), json_string_length(v),
			    json_object_get(hp->required, k) != NULL);
	json_object_foreach(hp->fields, k, v) {
		if (json_is_real(v))
			point_float(&p, k, json_real_value(v));
		else
			point_string(&p, k, json_string_value(v), json_string_length(v));
	}
	if (p.bad)
		rc = convert_fail(out, ERR_UNENCODABLE, "entity %s cannot be a tag",
		    t->entity);
	else if (!point_emit(&p, &line))
		rc = convert_fail(out, ERR_UNENCODABLE, "entity %s: measurement not "
		    "encodable", t->entity);
	else if (!ha_hold(ha, t, &line, &p.meas, in->now_ns)) {
		hb_buf_append(&out->lines, line.data, line.len);
		convert_point_add(out, p.meas.data, p.meas.len);
	}
	out->skipped_fields += p.skipped;
	hb_buf_free(&line);
	point_free(&p);
	return rc;
}

/* A state: the point of the entity. 0 or 1 points, or -1. */
static int
ha_state(struct convert_state *ha, const struct ha_topic *t,
    const struct convert_in *in, struct convert_out *out)
{
	const struct ha_influx *o = in->rule->influxdb;
	json_t *attrs = json_object_get(ha->entities, t->entity);
	struct ha_point hp = { { 0 }, true, true, json_object(), json_object(),
	    json_object() };
	const struct rule_list *entity_ignore;
	const char *entity_override;
	char state[256];
	int rc = 0;

	if (in->len >= sizeof(state))
		return convert_fail(out, ERR_TOO_LONG, "state longer than 255 "
		    "characters");
	memcpy(state, in->payload, in->len);
	state[in->len] = '\0';
	if (in->len == 0 || strcmp(state, "unknown") == 0 ||
	    strcmp(state, "unavailable") == 0 ||
	    !ha_influx_pass(o, t->entity, t->domain))
		goto done;
	ha_influx_entity(o, t->entity, t->domain, &entity_override, &entity_ignore);
	if (ha_measurement(&hp, in, t, attrs, entity_override, out) != 0) {
		rc = -1;
		goto done;
	}
	if (!ha_state_fields(&hp, state, in->len)) {
		out->skipped_fields++;
		goto done;
	}
	tag_set(&hp, "domain", t->domain, strlen(t->domain), true);
	tag_set(&hp, "entity_id", t->object, strlen(t->object), true);
	if (attrs)
		ha_attributes(&hp, in->rule, attrs, entity_ignore);
	ha_static_tags(&hp, in);
	rc = ha_emit(ha, &hp, in, t, out);
done:
	hb_buf_free(&hp.measurement);
	json_decref(hp.tags);
	json_decref(hp.required);
	json_decref(hp.fields);
	return rc;
}

/* An entity sends last_updated: from now on its points wait for it. */
static void
ha_mark_stamped(struct convert_state *ha, const struct ha_topic *t,
    const struct convert_in *in)
{
	if (strcmp(t->leaf, "last_updated") != 0 ||
	    json_object_get(ha->stamped, t->entity) != NULL ||
	    json_object_size(ha->stamped) >= ha->max ||
	    !ha_influx_pass(in->rule->influxdb, t->entity, t->domain))
		return;
	json_object_set_new(ha->stamped, t->entity, json_true());
}

int
convert_ha(struct convert_state *ha, const struct convert_in *in,
    struct convert_out *out)
{
	struct ha_topic t;
	int released, rc;

	if (!ha_topic_read(in->topic, &t))
		return convert_fail(out, ERR_WRONG_TYPE, "not <base>/<domain>/"
		    "<object_id>/<leaf>");
	released = ha_release(ha, &t, in, out);
	ha_mark_stamped(ha, &t, in);
	if (strcmp(t.leaf, "state") != 0)
		rc = ha_attribute(ha, &t, in, out);
	else
		rc = ha_state(ha, &t, in, out);
	if (rc < 0 && released) {
		/* a point that went out is not taken back: this message's
		 * trouble is counted instead of refusing it */
		out->skipped_fields++;
		return out->points;
	}
	return rc < 0 ? rc : out->points;
}
