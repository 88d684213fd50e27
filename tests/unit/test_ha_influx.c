/*
 * An ha_statestream rule with Home Assistant's own influxdb options (issue
 * 16): the same statestream messages must give the points Home Assistant's
 * InfluxDB integration writes. Each expected line below was written by hand
 * from homeassistant/components/influxdb/__init__.py (event_to_json),
 * helpers/entityfilter.py and helpers/entity_values.py — not from what
 * homebus printed — in the form HA's InfluxDB client sends it: tags and
 * fields sorted by name, floats as Python's repr (21.5, 1.0). Lines are
 * compared as sets of tags and typed fields, so that order does not count.
 */
#include "hbt.h"
#include "convert.h"
#include "hb_lp.h"
#include "hb_topic.h"
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1700000000000000000LL
#define T " 1700000000000000000"

struct env {
	struct hb_config *cfg;
	struct rule_set rules;
	struct hb_metrics *metrics;
	struct convert_state *ha;
	struct convert_out out;
	int64_t now;
	int rc;
};

/* One ha_statestream rule on "ha/+/+/+" with the given influxdb object. */
static void
env_init(struct env *e, const char *influxdb)
{
	struct hb_buf text = { 0 };
	char err[256];

	memset(e, 0, sizeof(*e));
	hb_buf_printf(&text, "{\"ingest\": {\"sources\": [{\"topic\": \"ha/+/+/+\", "
	    "\"format\": \"ha_statestream\"%s%s}]}}", influxdb ? ", \"influxdb\": " :
	    "", influxdb ? influxdb : "");
	e->cfg = hb_config_parse(text.data, text.len, "test.json", err, sizeof(err));
	HBT_REQUIRE(e->cfg != NULL, "config parses: %s", err);
	rules_read(&e->rules, e->cfg);
	if (hb_config_error_count(e->cfg))
		hb_config_print_errors(e->cfg, stderr);
	HBT_REQUIRE(hb_config_error_count(e->cfg) == 0, "rules are valid");
	e->metrics = hb_metrics_new("t_");
	rules_metrics(&e->rules, e->metrics);
	e->ha = convert_state_new(100);
	e->now = NOW;
	hb_buf_free(&text);
}

static void
env_free(struct env *e)
{
	convert_out_free(&e->out);
	convert_state_free(e->ha);
	rules_free(&e->rules);
	hb_metrics_free(e->metrics);
	hb_config_free(e->cfg);
}

/* Converts one message on ha/<topic>; the lines (owned by e), or NULL. */
static const char *
conv(struct env *e, const char *topic, const char *payload)
{
	const char *caps[HB_TOPIC_MAX_LEVELS];
	size_t caplen[HB_TOPIC_MAX_LEVELS], ncaps = 0;
	struct convert_in in = { 0 };
	char full[256];

	snprintf(full, sizeof(full), "ha/%s", topic);
	convert_out_reset(&e->out);
	in.rule = rules_match(&e->rules, full, caps, caplen, &ncaps);
	HBT_REQUIRE(in.rule != NULL, "the rule matches %s", full);
	in.topic = full;
	in.caps = caps;
	in.caplen = caplen;
	in.ncaps = ncaps;
	in.payload = payload;
	in.len = strlen(payload);
	in.now_ns = e->now;
	e->rc = convert_message(e->ha, &in, &e->out);
	if (e->rc < 0)
		return NULL;
	return e->out.lines.data ? e->out.lines.data : "";
}

/* Splits s[0..n) at unescaped `sep`s; each part unescaped as kind. */
static void
split(const char *s, size_t n, char sep, char kind, json_t *parts)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		struct hb_buf un = { 0 };

		if (i < n && s[i] == '\\') {
			i++;
			continue;
		}
		if (i < n && s[i] != sep)
			continue;
		hb_lp_unescape(s + start, i - start, kind, &un);
		json_array_append_new(parts, json_string(un.data ? un.data : ""));
		hb_buf_free(&un);
		start = i + 1;
	}
}

/* The tags of a parsed line, "k=v" each, unescaped. */
static void
tags_of(const struct hb_lp_line *l, json_t *out)
{
	const char *p = l->measurement + l->measurement_len;
	const char *end = l->fields[0].key - 1;	/* the space before the fields */
	json_t *pairs = json_array();
	size_t i;
	json_t *pair;

	if (p < end && *p == ',')
		split(p + 1, (size_t)(end - p - 1), ',', 'k', pairs);
	json_array_foreach(pairs, i, pair)
		json_array_append(out, pair);
	json_decref(pairs);
}

/* A field as "name:TYPE:value", floats by value so that 21 == 21.0. */
static char *
field_of(const struct hb_lp_field *f)
{
	struct hb_buf b = { 0 }, un = { 0 };

	hb_lp_unescape(f->key, f->key_len, 'k', &un);
	hb_buf_printf(&b, "%s:", un.data);
	if (f->type == HB_LP_FLOAT) {
		char num[64];

		snprintf(num, sizeof(num), "%.*s", (int)f->value_len, f->value);
		hb_buf_printf(&b, "float:%.17g", strtod(num, NULL));
	} else if (f->type == HB_LP_STRING) {
		hb_buf_puts(&b, "string:");
		for (size_t i = 1; i + 1 < f->value_len; i++) {
			if (f->value[i] == '\\' && i + 2 < f->value_len)
				i++;
			hb_buf_putc(&b, f->value[i]);
		}
	} else
		hb_buf_printf(&b, "%d:%.*s", (int)f->type, (int)f->value_len, f->value);
	hb_buf_free(&un);
	return hb_buf_steal(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A line as "measurement | sorted tags | sorted typed fields | time". */
static char *
canonical(const char *line)
{
	struct hb_lp_line *l = hb_xmalloc(sizeof(*l));
	struct hb_buf b = { 0 }, un = { 0 };
	json_t *tags = json_array(), *v;
	char *items[HB_LP_MAX_FIELDS + 64], err[160];
	size_t pos = 0, n = 0, i;

	if (hb_lp_next(line, strlen(line), &pos, NULL, l, err, sizeof(err)) !=
	    HB_LP_OK) {
		hb_buf_printf(&b, "(not line protocol: %s)", err);
		goto done;
	}
	hb_lp_unescape(l->measurement, l->measurement_len, 'm', &un);
	hb_buf_printf(&b, "%s |", un.data);
	tags_of(l, tags);
	json_array_foreach(tags, i, v)
		items[n++] = hb_xstrdup(json_string_value(v));
	qsort(items, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++) {
		hb_buf_printf(&b, " %s", items[i]);
		free(items[i]);
	}
	hb_buf_puts(&b, " |");
	for (n = 0; n < l->nfields; n++)
		items[n] = field_of(&l->fields[n]);
	qsort(items, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++) {
		hb_buf_printf(&b, " %s", items[i]);
		free(items[i]);
	}
	hb_buf_printf(&b, " | %lld", (long long)l->time);
done:
	json_decref(tags);
	hb_buf_free(&un);
	free(l);
	return hb_buf_steal(&b);
}

/* The state message gives exactly the one point `want`. */
static void
expect(struct env *e, const char *topic, const char *state, const char *want)
{
	const char *got = conv(e, topic, state);
	char *g = NULL, *w = canonical(want);

	if (got && e->out.points == 1)
		g = canonical(got);
	HBT_CHECK(g && strcmp(g, w) == 0, "%s %s\n   got: %s\n  want: %s", topic,
	    state, g ? g : got ? got : "(error)", w);
	free(g);
	free(w);
}

/* The state message is taken and makes no point. */
static void
expect_none(struct env *e, const char *topic, const char *state)
{
	const char *got = conv(e, topic, state);

	HBT_CHECK(got != NULL && e->out.points == 0, "%s %s: no point (%s)", topic,
	    state, got ? got : "an error");
}

/* The attributes of the entities the tests write, as statestream sends them. */
static void
attributes(struct env *e)
{
	static const char *const attrs[][2] = {
		{ "sensor/outside_temp/unit_of_measurement", "\"\\u00b0C\"" },
		{ "sensor/outside_temp/device_class", "\"temperature\"" },
		{ "sensor/outside_temp/friendly_name", "\"Outside\"" },
		{ "sensor/outside_temp/state_class", "\"measurement\"" },
		{ "sensor/power_meter/unit_of_measurement", "\"W\"" },
		{ "sensor/power_meter/friendly_name", "\"Power\"" },
		{ "sensor/power_meter/floor", "2" },
		{ "sensor/power_meter/room", "null" },
		{ "light/hall/friendly_name", "\"Hall\"" },
		{ "light/hall/brightness", "255" },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(attrs); i++)
		HBT_CHECK(conv(e, attrs[i][0], attrs[i][1]) != NULL && e->out.points == 0,
		    "attribute %s", attrs[i][0]);
}

/* measurement_attr, default_measurement, override_measurement. */
static void
test_measurement(void)
{
	struct env e;

	/* entity_id: the measurement is the entity; the unit stays a field */
	env_init(&e, "{\"measurement_attr\": \"entity_id\"}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "sensor.outside_temp,"
	    "domain=sensor,entity_id=outside_temp device_class_str=\"temperature\","
	    "friendly_name_str=\"Outside\",state_class_str=\"measurement\","
	    "unit_of_measurement_str=\"°C\",value=21.5" T);
	env_free(&e);

	/* domain__device_class: the device class is in the name, not a field;
	 * without one the domain alone, and the unit stays a field either way */
	env_init(&e, "{\"measurement_attr\": \"domain__device_class\"}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "sensor__temperature,"
	    "domain=sensor,entity_id=outside_temp friendly_name_str=\"Outside\","
	    "state_class_str=\"measurement\",unit_of_measurement_str=\"°C\","
	    "value=21.5" T);
	expect(&e, "sensor/power_meter/state", "1200", "sensor,domain=sensor,"
	    "entity_id=power_meter floor=2.0,friendly_name_str=\"Power\","
	    "room_str=\"None\",unit_of_measurement_str=\"W\",value=1200.0" T);
	expect(&e, "light/hall/state", "on", "light,domain=light,entity_id=hall "
	    "brightness=255.0,friendly_name_str=\"Hall\",state=\"on\",value=1.0" T);
	env_free(&e);

	/* default_measurement: for the entities without a unit only */
	env_init(&e, "{\"default_measurement\": \"state\"}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "°C,domain=sensor,"
	    "entity_id=outside_temp device_class_str=\"temperature\","
	    "friendly_name_str=\"Outside\",state_class_str=\"measurement\","
	    "value=21.5" T);
	expect(&e, "light/hall/state", "off", "state,domain=light,entity_id=hall "
	    "brightness=255.0,friendly_name_str=\"Hall\",state=\"off\",value=0.0" T);
	env_free(&e);

	/* override_measurement: every entity; the unit is then a field */
	env_init(&e, "{\"override_measurement\": \"home\"}");
	attributes(&e);
	expect(&e, "sensor/power_meter/state", "1200", "home,domain=sensor,"
	    "entity_id=power_meter floor=2.0,friendly_name_str=\"Power\","
	    "room_str=\"None\",unit_of_measurement_str=\"W\",value=1200.0" T);
	expect(&e, "light/hall/state", "heat", "home,domain=light,entity_id=hall "
	    "brightness=255.0,friendly_name_str=\"Hall\",state=\"heat\"" T);
	env_free(&e);
}

/* tags, tags_attributes, ignore_attributes. */
static void
test_tags_and_attributes(void)
{
	struct env e;

	/* static tags go over HA's own (json[tags].update(tags) comes last) */
	env_init(&e, "{\"tags\": {\"source\": \"hass\", \"domain\": \"mine\", "
	    "\"floor\": 3}}");
	attributes(&e);
	expect(&e, "light/hall/state", "on", "light.hall,domain=mine,entity_id=hall,"
	    "floor=3,source=hass brightness=255.0,friendly_name_str=\"Hall\","
	    "state=\"on\",value=1.0" T);
	env_free(&e);

	/* tags_attributes: tags instead of fields — even the unit that names the
	 * measurement; str() of a number; None is no tag (the client drops it) */
	env_init(&e, "{\"tags_attributes\": [\"friendly_name\", \"floor\", \"room\", "
	    "\"unit_of_measurement\"]}");
	attributes(&e);
	expect(&e, "sensor/power_meter/state", "1200", "W,domain=sensor,"
	    "entity_id=power_meter,floor=2,friendly_name=Power,"
	    "unit_of_measurement=W value=1200.0" T);
	expect(&e, "light/hall/state", "on", "light.hall,domain=light,entity_id=hall,"
	    "friendly_name=Hall brightness=255.0,state=\"on\",value=1.0" T);
	env_free(&e);

	/* ignore_attributes (one name alone is a list, as cv.ensure_list
	 * reads it) */
	env_init(&e, "{\"ignore_attributes\": \"friendly_name\"}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "°C,domain=sensor,"
	    "entity_id=outside_temp device_class_str=\"temperature\","
	    "state_class_str=\"measurement\",value=21.5" T);
	env_free(&e);
}

/* component_config, _domain and _glob, with EntityValues' precedence. */
static void
test_component_config(void)
{
	struct env e;

	/* the entity's override beats the global one; its ignore_attributes
	 * adds to the global list */
	env_init(&e, "{\"override_measurement\": \"home\", \"ignore_attributes\": "
	    "[\"friendly_name\"], \"component_config\": {\"sensor.outside_temp\": "
	    "{\"override_measurement\": \"outdoor\", \"ignore_attributes\": "
	    "[\"state_class\"]}}}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "outdoor,domain=sensor,"
	    "entity_id=outside_temp device_class_str=\"temperature\","
	    "unit_of_measurement_str=\"°C\",value=21.5" T);
	expect(&e, "sensor/power_meter/state", "5", "home,domain=sensor,"
	    "entity_id=power_meter floor=2.0,room_str=\"None\","
	    "unit_of_measurement_str=\"W\",value=5.0" T);
	env_free(&e);

	/* domain, then globs, then the entity: each later one replaces what an
	 * earlier one set, key by key (dict.update) */
	env_init(&e, "{\"component_config_domain\": {\"sensor\": "
	    "{\"override_measurement\": \"sensors\", \"ignore_attributes\": "
	    "[\"friendly_name\"]}}, \"component_config_glob\": {\"sensor.*_temp\": "
	    "{\"override_measurement\": \"temps\"}, \"*.outside_*\": "
	    "{\"ignore_attributes\": [\"device_class\"]}}}");
	attributes(&e);
	/* domain's override replaced by the first glob's, domain's ignore by the
	 * second glob's */
	expect(&e, "sensor/outside_temp/state", "21.5", "temps,domain=sensor,"
	    "entity_id=outside_temp friendly_name_str=\"Outside\","
	    "state_class_str=\"measurement\",unit_of_measurement_str=\"°C\","
	    "value=21.5" T);
	/* the domain's alone */
	expect(&e, "sensor/power_meter/state", "5", "sensors,domain=sensor,"
	    "entity_id=power_meter floor=2.0,room_str=\"None\","
	    "unit_of_measurement_str=\"W\",value=5.0" T);
	/* nothing for lights */
	expect(&e, "light/hall/state", "on", "light.hall,domain=light,entity_id=hall "
	    "brightness=255.0,friendly_name_str=\"Hall\",state=\"on\",value=1.0" T);
	env_free(&e);

	/* the entity's own over a glob's; an empty override is no override */
	env_init(&e, "{\"component_config_glob\": {\"sensor.*\": "
	    "{\"override_measurement\": \"temps\"}}, \"component_config\": "
	    "{\"sensor.outside_temp\": {\"override_measurement\": \"outdoor\"}, "
	    "\"Sensor.Power_Meter\": {\"override_measurement\": \"\"}}}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "1", "outdoor,domain=sensor,"
	    "entity_id=outside_temp device_class_str=\"temperature\","
	    "friendly_name_str=\"Outside\",state_class_str=\"measurement\","
	    "unit_of_measurement_str=\"°C\",value=1.0" T);
	expect(&e, "sensor/power_meter/state", "5", "W,domain=sensor,"
	    "entity_id=power_meter floor=2.0,friendly_name_str=\"Power\","
	    "room_str=\"None\",value=5.0" T);
	env_free(&e);
}

/*
 * include and exclude: the six cases of Home Assistant's entity filter.
 * Each entity's state is sent; `pass` lists those written.
 */
static void
filter_case(const char *influxdb, const char *const *pass)
{
	static const char *const entities[] = { "sensor/outside_temp",
	    "sensor/power_meter", "light/hall", "light/attic", "switch/pump",
	    "binary_sensor/door" };
	struct env e;

	env_init(&e, influxdb);
	for (size_t i = 0; i < HB_ARRAY_LEN(entities); i++) {
		char topic[80];
		bool want = false;
		const char *got;

		for (size_t k = 0; pass[k]; k++)
			want |= strcmp(pass[k], entities[i]) == 0;
		snprintf(topic, sizeof(topic), "%s/state", entities[i]);
		got = conv(&e, topic, "7");
		HBT_CHECK(got && e.out.points == (want ? 1 : 0), "%s: %s is %s", influxdb,
		    entities[i], want ? "written" : "left out");
	}
	env_free(&e);
}

static void
test_filter(void)
{
	/* 1: no filter, every entity */
	filter_case("{}", (const char *const[]){ "sensor/outside_temp",
	    "sensor/power_meter", "light/hall", "light/attic", "switch/pump",
	    "binary_sensor/door", NULL });
	/* 2: include only: listed by id, domain or glob */
	filter_case("{\"include\": {\"domains\": [\"light\"], \"entities\": "
	    "[\"sensor.power_meter\"], \"entity_globs\": [\"binary_*\"]}}",
	    (const char *const[]){ "sensor/power_meter", "light/hall", "light/attic",
	    "binary_sensor/door", NULL });
	/* 3: exclude only: all but those listed */
	filter_case("{\"exclude\": {\"domains\": [\"light\"], \"entities\": "
	    "\"sensor.power_meter\", \"entity_globs\": [\"*_temp\"]}}",
	    (const char *const[]){ "switch/pump", "binary_sensor/door", NULL });
	/* 4: a domain included: an included id passes, an excluded id does not,
	 * an excluded glob takes entities out of an included domain, and the
	 * excluded domain counts for nothing */
	filter_case("{\"include\": {\"domains\": [\"sensor\", \"light\"], \"entities\": "
	    "[\"switch.pump\"]}, \"exclude\": {\"entities\": [\"light.attic\"], "
	    "\"entity_globs\": [\"sensor.*_temp\"], \"domains\": [\"light\"]}}",
	    (const char *const[]){ "sensor/power_meter", "light/hall", "switch/pump",
	    NULL });
	/* 4, a glob included: it beats an excluded glob, not an excluded id */
	filter_case("{\"include\": {\"entity_globs\": [\"sensor.*\", \"light.*\"]}, "
	    "\"exclude\": {\"entity_globs\": [\"sensor.*_temp\"], \"entities\": "
	    "[\"light.attic\"]}}", (const char *const[]){ "sensor/outside_temp",
	    "sensor/power_meter", "light/hall", NULL });
	/* 5: only ids included, a domain excluded: the ids are the exceptions,
	 * everything else not excluded passes */
	filter_case("{\"include\": {\"entities\": [\"light.attic\"]}, \"exclude\": "
	    "{\"domains\": [\"light\"], \"entities\": [\"switch.pump\"]}}",
	    (const char *const[]){ "sensor/outside_temp", "sensor/power_meter",
	    "light/attic", "binary_sensor/door", NULL });
	/* 6: ids on both sides: only the included ids */
	filter_case("{\"include\": {\"entities\": [\"light.hall\"]}, \"exclude\": "
	    "{\"entities\": [\"switch.pump\"]}}",
	    (const char *const[]){ "light/hall", NULL });
}

/* Fields the way event_to_json names and types them. */
static void
test_fields(void)
{
	struct env e;

	env_init(&e, NULL);
	/* "1e400" is inf to float(): set, then deleted as not finite; a list
	 * is str()'d; an attribute "value" beside a text state keeps its name */
	conv(&e, "climate/lr/value", "\"idle\"");
	conv(&e, "climate/lr/temperature", "21");
	conv(&e, "climate/lr/preset", "\"1e400\"");
	conv(&e, "climate/lr/hvac_modes", "[\"off\", \"heat\"]");
	expect(&e, "climate/lr/state", "heat", "climate.lr,domain=climate,"
	    "entity_id=lr hvac_modes_str=\"['off', 'heat']\",state=\"heat\","
	    "temperature=21.0,value_str=\"idle\"" T);
	/* beside a number it is renamed value_, and its text value__str */
	expect(&e, "climate/lr/state", "19.5", "climate.lr,domain=climate,"
	    "entity_id=lr hvac_modes_str=\"['off', 'heat']\",temperature=21.0,"
	    "value=19.5,value__str=\"idle\"" T);
	/* float() reads "nan" but InfluxDB refuses it: HA's write fails */
	expect_none(&e, "sensor/x/state", "nan");
	HBT_CHECK(e.out.skipped_fields == 1, "and it is counted");
	expect_none(&e, "sensor/x/state", "unavailable");
	expect_none(&e, "sensor/x/state", "");
	env_free(&e);
}

/*
 * publish_timestamps: mqtt_statestream sends last_updated just after the
 * state, and Home Assistant stamps the point with the event's time; once an
 * entity has sent one, its point waits for it. The arrival time is the
 * fallback.
 */
static void
test_timestamps(void)
{
	struct env e;
	char *got, *want;

	env_init(&e, NULL);
	/* no last_updated seen yet: the arrival time */
	expect(&e, "sensor/t/state", "20", "sensor.t,domain=sensor,entity_id=t "
	    "value=20.0 1700000000000000000");
	e.now = NOW + 5;
	expect_none(&e, "sensor/t/last_updated", "2025-12-03T22:13:20.123456+00:00");
	expect_none(&e, "sensor/t/last_changed", "2025-12-03T22:13:20.123456+00:00");
	/* now the state waits, and takes last_updated's time, to the us */
	e.now = NOW + 10;
	expect_none(&e, "sensor/t/state", "21");
	e.now = NOW + 11;
	expect(&e, "sensor/t/last_updated", "2025-12-03T22:13:25.5+00:00",
	    "sensor.t,domain=sensor,entity_id=t value=21.0 1764800005500000000");
	/* JSON-encoded, as an older Home Assistant sent it */
	expect_none(&e, "sensor/t/state", "21.25");
	expect(&e, "sensor/t/last_updated", "\"2025-12-03T22:13:30.000001Z\"",
	    "sensor.t,domain=sensor,entity_id=t value=21.25 1764800010000001000");

	/* no last_updated after it: the next state lets it go with its arrival
	 * time, and waits in its place */
	e.now = NOW + 20;
	expect_none(&e, "sensor/t/state", "22");
	e.now = NOW + 30;
	expect(&e, "sensor/t/state", "23", "sensor.t,domain=sensor,entity_id=t "
	    "value=22.0 1700000000000000020");
	/* so does anything else about the entity */
	e.now = NOW + 40;
	expect(&e, "sensor/t/friendly_name", "\"T\"", "sensor.t,domain=sensor,"
	    "entity_id=t value=23.0 1700000000000000030");
	/* a last_updated that cannot be read: the arrival time, counted */
	e.now = NOW + 50;
	expect_none(&e, "sensor/t/state", "24");
	expect(&e, "sensor/t/last_updated", "yesterday", "sensor.t,domain=sensor,"
	    "entity_id=t friendly_name_str=\"T\",value=24.0 1700000000000000050");
	HBT_CHECK(e.out.skipped_fields == 1, "the unreadable time is counted");
	/* a state that makes no point still lets the waiting one go */
	e.now = NOW + 60;
	expect_none(&e, "sensor/t/state", "25");
	expect(&e, "sensor/t/state", "unavailable", "sensor.t,domain=sensor,"
	    "entity_id=t friendly_name_str=\"T\",value=25.0 1700000000000000060");

	/* at a stop, what waits goes out with its arrival time */
	e.now = NOW + 70;
	expect_none(&e, "sensor/t/state", "26");
	expect_none(&e, "light/l/last_updated", "2025-12-03T22:13:20Z");
	expect_none(&e, "light/l/state", "on");
	convert_out_reset(&e.out);
	HBT_CHECK(convert_flush(e.ha, &e.out) == 2 && e.out.points == 2,
	    "two points were waiting");
	got = e.out.lines.data ? strstr(e.out.lines.data, "sensor.t,") : NULL;
	got = canonical(got ? got : "");
	want = canonical("sensor.t,domain=sensor,entity_id=t friendly_name_str=\"T\","
	    "value=26.0 1700000000000000070");
	HBT_CHECK(strcmp(got, want) == 0, "flushed\n   got: %s\n  want: %s", got,
	    want);
	free(got);
	free(want);
	HBT_CHECK(convert_flush(e.ha, &e.out) == 0, "and nothing waits any more");
	env_free(&e);

	/* an entity the filter leaves out is not held */
	env_init(&e, "{\"exclude\": {\"domains\": [\"sensor\"]}}");
	expect_none(&e, "sensor/t/last_updated", "2025-12-03T22:13:20Z");
	expect_none(&e, "sensor/t/state", "1");
	HBT_CHECK(convert_flush(e.ha, &e.out) == 0, "nothing held for it");
	env_free(&e);
}

/* --check-config: the influxdb object is checked like any section. */
static void
test_check_config(void)
{
	static const struct {
		const char *rule, *key, *text;
	} cases[] = {
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"measurement_attr\": "
		    "\"device_class\"}", "ingest.sources[0].influxdb.measurement_attr",
		    "not one of" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"tags\": {\"a\": [1]}}",
		    "ingest.sources[0].influxdb.tags.a", "expected a string" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"override_measurement\": "
		    "5}", "ingest.sources[0].influxdb.override_measurement",
		    "expected a string" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"tag_attributes\": []}",
		    "ingest.sources[0].influxdb.tag_attributes", "unknown key" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"host\": \"nas\"}",
		    "ingest.sources[0].influxdb.host", "writer.influx" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"include\": "
		    "{\"entity\": [\"a.b\"]}}", "ingest.sources[0].influxdb.include.entity",
		    "unknown key" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"exclude\": "
		    "{\"entities\": [\"sensor\"]}}",
		    "ingest.sources[0].influxdb.exclude.entities[0]", "not an entity id" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"include\": "
		    "{\"domains\": 3}}", "ingest.sources[0].influxdb.include.domains",
		    "expected a list" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"component_config\": "
		    "{\"sensor.x\": {\"override\": \"m\"}}}",
		    "ingest.sources[0].influxdb.component_config.sensor.x.override",
		    "unknown key" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"component_config\": "
		    "{\"sensor__x\": {}}}",
		    "ingest.sources[0].influxdb.component_config.sensor__x",
		    "not an entity id" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": {\"component_config_glob\":"
		    " {\"sensor.*\": {\"ignore_attributes\": {}}}}",
		    "ingest.sources[0].influxdb.component_config_glob.sensor.*."
		    "ignore_attributes", "expected a list" },
		{ "\"format\": \"ha_statestream\", \"influxdb\": []",
		    "ingest.sources[0].influxdb", "expected an object" },
		{ "\"format\": \"ha_statestream\", \"measurement\": \"m\", \"influxdb\": "
		    "{\"override_measurement\": \"n\"}", "ingest.sources[0].measurement",
		    "keep one" },
		{ "\"format\": \"json\", \"measurement\": \"m\", \"influxdb\": {}",
		    "ingest.sources[0].influxdb", "ha_statestream sources only" },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		static const char *const sections[] = { "ingest", NULL };
		struct hb_buf text = { 0 };
		struct rule_set rs;
		struct hb_config *cfg;
		char err[256], *out = NULL;
		size_t outlen = 0;
		FILE *f;

		hb_buf_printf(&text, "{\"ingest\": {\"sources\": [{\"topic\": "
		    "\"ha/+/+/+\", %s}]}}", cases[i].rule);
		cfg = hb_config_parse(text.data, text.len, "t.json", err, sizeof(err));
		HBT_REQUIRE(cfg != NULL, "case %zu parses", i);
		rules_read(&rs, cfg);
		hb_config_finish(cfg, sections);
		f = open_memstream(&out, &outlen);
		hb_config_print_errors(cfg, f);
		fclose(f);
		HBT_CHECK(strstr(out, cases[i].key) && strstr(out, cases[i].text),
		    "case %zu names %s (%s): %s", i, cases[i].key, cases[i].text, out);
		HBT_CHECK(strstr(out, "t.json:1:") != NULL, "with its line: %s", out);
		free(out);
		rules_free(&rs);
		hb_config_free(cfg);
		hb_buf_free(&text);
	}
}

/* A whole block as a user copies it from configuration.yaml: no error. */
static void
test_full_block(void)
{
	struct env e;

	env_init(&e, "{\"measurement_attr\": \"unit_of_measurement\", "
	    "\"override_measurement\": null, \"//\": \"a comment\", "
	    "\"default_measurement\": \"state\", \"tags\": {\"instance\": \"prod\"}, "
	    "\"tags_attributes\": [\"friendly_name\"], \"ignore_attributes\": "
	    "[\"icon\"], \"include\": {\"domains\": [\"sensor\"], \"entity_globs\": "
	    "[\"binary_sensor.*_door\"], \"entities\": [\"light.hall\"]}, "
	    "\"exclude\": {\"entities\": [\"sensor.power_meter\"]}, "
	    "\"component_config\": {\"sensor.outside_temp\": {\"override_measurement\": "
	    "\"outdoor\"}}, \"component_config_domain\": {\"binary_sensor\": "
	    "{\"ignore_attributes\": [\"device_class\"]}}, \"component_config_glob\": "
	    "{\"light.*\": {\"ignore_attributes\": [\"brightness\"]}}}");
	attributes(&e);
	expect(&e, "sensor/outside_temp/state", "21.5", "outdoor,domain=sensor,"
	    "entity_id=outside_temp,friendly_name=Outside,instance=prod "
	    "device_class_str=\"temperature\",state_class_str=\"measurement\","
	    "unit_of_measurement_str=\"°C\",value=21.5" T);
	expect_none(&e, "sensor/power_meter/state", "5");
	expect(&e, "light/hall/state", "off", "state,domain=light,entity_id=hall,"
	    "friendly_name=Hall,instance=prod state=\"off\",value=0.0" T);
	expect_none(&e, "light/attic/state", "on");
	env_free(&e);
}

int
main(void)
{
	hbt_init("ha_influx");
	test_measurement();
	test_tags_and_attributes();
	test_component_config();
	test_filter();
	test_fields();
	test_timestamps();
	test_check_config();
	test_full_block();
	hbt_exit();
}
