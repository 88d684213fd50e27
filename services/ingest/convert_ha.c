/*
 * convert_ha: Home Assistant's mqtt_statestream into the points Home
 * Assistant's own InfluxDB integration (homeassistant/components/influxdb,
 * event_to_json) writes, so that dashboards built on it keep working:
 *  - states "unknown", "unavailable" and "" make no point;
 *  - a state that float() reads gives field value; one that
 *    state_as_number() maps (on, locked, above_horizon, open, home -> 1;
 *    off, unlocked, unknown, below_horizon, closed, not_home -> 0) gives
 *    value and the string field state; anything else gives state only;
 *  - measurement: the unit_of_measurement attribute, else the entity id;
 *  - tags domain and entity_id (the object id, without the domain);
 *  - every other attribute a field: a number as float, else <key>_str as a
 *    string (and <key> as float when the text holds one number, "12.5 kWh").
 * Attributes arrive on their own topics and are kept by entity in the cache
 * until the entity's next state.
 */
#include "formats.h"
#include "python.h"

#include <ctype.h>
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
	char tmp[64];
	size_t k = 0, dots = 0;
	bool pair = false, dot_ok = false;

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
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			continue;
		if (k + 1 >= sizeof(tmp))
			return false;
		tmp[k++] = *p;
	}
	tmp[k] = '\0';
	return python_float(tmp, k, out);
}

/* An attribute whose name the point has already is renamed "<name>_", as
 * HA does ("value" and "state" are the usual ones). */
static void
attribute_field(struct point *p, const char *key, json_t *v)
{
	char name[300], strname[320];
	struct hb_buf text = { 0 };
	double num;

	snprintf(name, sizeof(name), "%s%s", key, point_has_field(p, key) ? "_" : "");
	if (json_is_number(v)) {
		point_float(p, name, json_number_value(v));
		return;
	}
	if (json_is_boolean(v)) {
		point_float(p, name, json_is_true(v) ? 1.0 : 0.0);	/* float(True) */
		return;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (python_float(s, n, &num)) {
			point_float(p, name, num);
			return;
		}
		if (python_nonfinite(s, n))
			return;		/* float() reads it, HA drops it */
	}
	snprintf(strname, sizeof(strname), "%s_str", name);
	python_str(&text, v);
	point_string(p, strname, text.data ? text.data : "", text.len);
	if (json_is_string(v) && digit_tail(json_string_value(v), &num))
		point_float(p, name, num);
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
ha_attribute(struct ha_cache *ha, const struct ha_topic *t,
    const struct convert_in *in, struct convert_out *out)
{
	json_t *attrs = json_object_get(ha->entities, t->entity), *v;

	if (strcmp(t->leaf, "last_changed") == 0 ||
	    strcmp(t->leaf, "last_updated") == 0 ||
	    strcmp(t->leaf, "last_reported") == 0)
		return 0;
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

/* HA's fixed tags come first; the rule's tags are added after them. */
static void
ha_tags(struct point *p, const struct ha_topic *t)
{
	struct hb_buf rule_tags = p->tags;

	memset(&p->tags, 0, sizeof(p->tags));
	point_tag(p, "domain", t->domain, strlen(t->domain), true);
	point_tag(p, "entity_id", t->object, strlen(t->object), true);
	hb_buf_append(&p->tags, rule_tags.data ? rule_tags.data : "", rule_tags.len);
	hb_buf_free(&rule_tags);
}

/* The fields of a state and of the entity's attributes. */
static void
ha_fields(struct point *p, const struct rule *r, const char *state, size_t n,
    json_t *attrs, bool uom_is_meas)
{
	const char *k;
	json_t *v;
	double num;
	int sn;

	if (python_float(state, n, &num)) {
		point_float(p, "value", num);
	} else if ((sn = state_as_number(state)) >= 0) {
		point_string(p, "state", state, n);
		point_float(p, "value", sn);
	} else {
		point_string(p, "state", state, n);
	}
	if (!r->attributes || attrs == NULL)
		return;
	json_object_foreach(attrs, k, v) {
		if (strcmp(k, "unit_of_measurement") == 0 && uom_is_meas)
			continue;
		if (rules_list_has(&r->ignore_attributes, k))
			continue;
		attribute_field(p, k, v);
	}
}

/* A state: the point of the entity. 0 or 1 points, or -1. */
static int
ha_state(struct ha_cache *ha, const struct ha_topic *t,
    const struct convert_in *in, struct convert_out *out)
{
	json_t *attrs = json_object_get(ha->entities, t->entity), *unit;
	struct point p = { 0 };
	const char *meas;
	char state[256];
	int rc;

	if (in->len >= sizeof(state))
		return convert_fail(out, ERR_TOO_LONG, "state longer than 255 "
		    "characters");
	memcpy(state, in->payload, in->len);
	state[in->len] = '\0';
	if (in->len == 0 || strcmp(state, "unknown") == 0 ||
	    strcmp(state, "unavailable") == 0)
		return 0;
	unit = attrs ? json_object_get(attrs, "unit_of_measurement") : NULL;
	meas = json_is_string(unit) && json_string_length(unit) > 0 ?
	    json_string_value(unit) : t->entity;
	if (convert_point_start(&p, in, meas, out) != 0) {
		point_free(&p);
		return -1;
	}
	ha_tags(&p, t);
	ha_fields(&p, in->rule, state, in->len, attrs,
	    meas != t->entity && in->rule->measurement.text == NULL);
	if (p.bad)
		rc = convert_fail(out, ERR_UNENCODABLE, "entity %s cannot be a tag",
		    t->entity);
	else if (!convert_emit(&p, out))
		rc = convert_fail(out, ERR_UNENCODABLE, "entity %s: measurement not "
		    "encodable", t->entity);
	else
		rc = out->points;
	out->skipped_fields += p.skipped;
	point_free(&p);
	return rc;
}

int
convert_ha(struct ha_cache *ha, const struct convert_in *in,
    struct convert_out *out)
{
	struct ha_topic t;

	if (!ha_topic_read(in->topic, &t))
		return convert_fail(out, ERR_WRONG_TYPE, "not <base>/<domain>/"
		    "<object_id>/<leaf>");
	if (strcmp(t.leaf, "state") != 0)
		return ha_attribute(ha, &t, in, out);
	return ha_state(ha, &t, in, out);
}
