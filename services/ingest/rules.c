/*
 * rules: reading ingest.sources and matching topics against them.
 */
#include "rules.h"
#include "ha_influx.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const error_names[ERR_COUNT] = {
	"not_json", "wrong_type", "too_long", "bad_utf8", "unencodable",
	"no_fields", "bad_line",
};

const char *
rule_error_name(enum rule_error e)
{
	return (size_t)e < ERR_COUNT ? error_names[e] : "other";
}

static void
read_list(struct hb_config *cfg, const char *path, struct rule_list *l)
{
	size_t n = hb_cfg_array_len(cfg, path);
	char key[320];

	l->items = n ? hb_xcalloc(n, sizeof(char *)) : NULL;
	l->n = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(key, sizeof(key), "%s[%zu]", path, i);
		s = hb_cfg_str(cfg, key, NULL);
		if (s == NULL || *s == '\0') {
			hb_cfg_error(cfg, key, "expected a non-empty string");
			continue;
		}
		l->items[l->n++] = hb_xstrdup(s);
	}
}

static void
free_list(struct rule_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

bool
rules_list_has(const struct rule_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

bool
rules_list_match(const struct rule_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (fnmatch(l->items[i], s, 0) == 0)
			return true;
	return false;
}

/* Checks that a template only names levels the filter has. */
static void
check_template(struct hb_config *cfg, const char *path, const char *t,
    size_t nplus)
{
	for (const char *p = t; (p = strchr(p, '{')) != NULL; p++) {
		char *end;
		long n = strtol(p + 1, &end, 10);

		if (*end != '}' || n < 1) {
			hb_cfg_error(cfg, path, "\"%s\": use {1}, {2}, ... for the topic "
			    "levels matched by '+'", t);
			return;
		}
		if ((size_t)n > nplus) {
			hb_cfg_error(cfg, path, "\"%s\" names {%ld} but the topic filter "
			    "has %zu '+' level%s", t, n, nplus, nplus == 1 ? "" : "s");
			return;
		}
	}
}

/* True when t holds a template reference, "{<digits>}". */
static bool
has_template(const char *t)
{
	for (const char *p = t; (p = strchr(p, '{')) != NULL; p++) {
		size_t n = strspn(p + 1, "0123456789");

		if (n > 0 && p[1 + n] == '}')
			return true;
	}
	return false;
}

/* An option that names keys of the payload, or the rule: no template. */
static void
refuse_template(struct hb_config *cfg, const char *path, const char *s)
{
	if (has_template(s))
		hb_cfg_error(cfg, path, "\"%s\": a topic template ({1}, {2}, ...) "
		    "is taken in measurement, tags' values and field only; this option "
		    "names keys of the payload as they are", s);
}

static void
refuse_templates(struct hb_config *cfg, const char *path,
    const struct rule_list *l)
{
	char key[320];

	for (size_t i = 0; i < l->n; i++) {
		snprintf(key, sizeof(key), "%s[%zu]", path, i);
		refuse_template(cfg, key, l->items[i]);
	}
}

static size_t
count_plus(const char *filter)
{
	size_t n = 0;

	for (const char *p = filter; *p; p++)
		if (*p == '+')
			n++;
	return n;
}

/* The rule's name (a Prometheus label), topic filter and format. */
static void
read_rule_source(struct hb_config *cfg, const char *p, size_t i, struct rule *r)
{
	static const char *const formats[] = { "json", "value", "ha_statestream",
	    "influx", NULL };
	char key[200], err[128];
	const char *s;

	snprintf(key, sizeof(key), "%s.name", p);
	snprintf(r->name, sizeof(r->name), "%s", hb_cfg_str(cfg, key, ""));
	if (r->name[0] == '\0')
		snprintf(r->name, sizeof(r->name), "rule%zu", i + 1);
	for (char *c = r->name; *c; c++)
		if (*c == '"' || *c == '\\' || *c == '\n')
			*c = '_';	/* it is a Prometheus label value */

	snprintf(key, sizeof(key), "%s.topic", p);
	s = hb_cfg_str(cfg, key, NULL);
	if (s == NULL)
		hb_cfg_error(cfg, key, "every source needs a topic filter");
	else if (!hb_topic_filter_ok(s, err, sizeof(err)))
		hb_cfg_error(cfg, key, "\"%s\": %s", s, err);
	else if (strlen(s) >= sizeof(r->topic))
		hb_cfg_error(cfg, key, "longer than %zu characters", sizeof(r->topic) - 1);
	snprintf(r->topic, sizeof(r->topic), "%s", s ? s : "");

	snprintf(key, sizeof(key), "%s.format", p);
	if (!hb_cfg_has(cfg, key))
		hb_cfg_error(cfg, key, "every source needs a format (json, value, "
		    "ha_statestream or influx)");
	r->format = (enum rule_format)hb_cfg_enum(cfg, key, formats, 0);
	if (r->format == FMT_HA_STATESTREAM && count_plus(r->topic) < 3 &&
	    strstr(r->topic, "#") == NULL)
		hb_cfg_error(cfg, key, "ha_statestream reads <base>/<domain>/<object_id>/"
		    "<state or attribute>: use a filter like \"homeassistant_statestream/"
		    "+/+/+\"");

	snprintf(key, sizeof(key), "%s.qos", p);
	r->qos = (int)hb_cfg_int(cfg, key, 1, 0, 1);
	snprintf(key, sizeof(key), "%s.retained", p);
	r->retained = hb_cfg_bool(cfg, key, false);
}

/* The measurement and the tags, templates of the topic's '+' levels. */
static void
read_rule_series(struct hb_config *cfg, const char *p, struct rule *r)
{
	size_t nplus = count_plus(r->topic);
	char key[200];
	const char *s;
	json_t *tags;

	snprintf(key, sizeof(key), "%s.measurement", p);
	s = hb_cfg_str(cfg, key, NULL);
	if (s) {
		if (*s == '\0')
			hb_cfg_error(cfg, key, "must not be empty");
		check_template(cfg, key, s, nplus);
		r->measurement.text = hb_xstrdup(s);
	} else if (r->format == FMT_JSON || r->format == FMT_VALUE)
		hb_cfg_error(cfg, key, "json and value sources need a measurement "
		    "(a name, or a template like \"{1}\")");

	snprintf(key, sizeof(key), "%s.tags", p);
	tags = hb_cfg_json(cfg, key, JSON_OBJECT, true);
	if (tags) {
		const char *k;
		json_t *v;

		r->tags = hb_xcalloc(json_object_size(tags) + 1, sizeof(*r->tags));
		json_object_foreach(tags, k, v) {
			char tkey[300];

			snprintf(tkey, sizeof(tkey), "%s.%s", key, k);
			s = hb_cfg_str(cfg, tkey, NULL);
			if (s == NULL || *s == '\0' || *k == '\0') {
				hb_cfg_error(cfg, tkey, "a tag needs a name and a non-empty "
				    "value (text, or a template like \"{1}\")");
				continue;
			}
			check_template(cfg, tkey, s, nplus);
			refuse_template(cfg, tkey, k);
			r->tags[r->ntags].key = hb_xstrdup(k);
			r->tags[r->ntags].value.text = hb_xstrdup(s);
			r->ntags++;
		}
	}
}

/*
 * InfluxDB fixes a field's type with its first value in a shard: text where
 * numbers go ("unavailable", "nan") would turn every later number away. A
 * value rule's text therefore always has a field of its own; a json rule's
 * keys mostly keep one type, and keep their names unless told.
 */
static void
read_string_suffix(struct hb_config *cfg, const char *p, struct rule *r)
{
	char key[200];
	const char *s;

	snprintf(key, sizeof(key), "%s.string_suffix", p);
	s = hb_cfg_str(cfg, key, r->format == FMT_VALUE ? "_str" : "");
	if (r->format == FMT_VALUE && *s == '\0')
		hb_cfg_error(cfg, key, "must not be empty: numbers and text would share "
		    "the field, and InfluxDB keeps only the type that came first");
	refuse_template(cfg, key, s);
	r->string_suffix = hb_xstrdup(s);
}

/* What to take from a payload, and how: lists, choices and names. */
static void
read_rule_payload(struct hb_config *cfg, const char *p, struct rule *r)
{
	static const char *const strings[] = { "field", "tag", "drop", NULL };
	static const char *const arrays[] = { "skip", "string", NULL };
	char key[200];
	const char *s;

	snprintf(key, sizeof(key), "%s.include", p);
	read_list(cfg, key, &r->include);
	refuse_templates(cfg, key, &r->include);
	snprintf(key, sizeof(key), "%s.exclude", p);
	read_list(cfg, key, &r->exclude);
	refuse_templates(cfg, key, &r->exclude);
	snprintf(key, sizeof(key), "%s.integer_fields", p);
	read_list(cfg, key, &r->integers);
	/* a value rule's integer_fields may name its field by its template */
	if (r->format != FMT_VALUE)
		refuse_templates(cfg, key, &r->integers);
	snprintf(key, sizeof(key), "%s.tag_keys", p);
	read_list(cfg, key, &r->tag_keys);
	refuse_templates(cfg, key, &r->tag_keys);
	snprintf(key, sizeof(key), "%s.strings", p);
	r->strings = (enum rule_strings)hb_cfg_enum(cfg, key, strings, STR_FIELD);
	if (r->format == FMT_VALUE && r->strings == STR_TAG)
		hb_cfg_error(cfg, key, "a value rule has one field: its text can be a "
		    "field (\"field\", named <field><string_suffix>) or dropped "
		    "(\"drop\"), not a tag");
	read_string_suffix(cfg, p, r);
	snprintf(key, sizeof(key), "%s.arrays", p);
	r->arrays = (enum rule_arrays)hb_cfg_enum(cfg, key, arrays, ARR_SKIP);
	snprintf(key, sizeof(key), "%s.timestamp_key", p);
	s = hb_cfg_str(cfg, key, NULL);
	if (s)
		refuse_template(cfg, key, s);
	r->timestamp_key = s && *s ? hb_xstrdup(s) : NULL;
	snprintf(key, sizeof(key), "%s.timestamp_local", p);
	r->timestamp_local = hb_cfg_bool(cfg, key, true);
	snprintf(key, sizeof(key), "%s.field", p);
	s = hb_cfg_str(cfg, key, "value");
	check_template(cfg, key, s, count_plus(r->topic));
	r->field.text = hb_xstrdup(*s ? s : "value");
	snprintf(key, sizeof(key), "%s.separator", p);
	s = hb_cfg_str(cfg, key, "_");
	if (strlen(s) != 1)
		hb_cfg_error(cfg, key, "must be one character");
	r->separator = *s ? *s : '_';
}

/* Home Assistant's InfluxDB options, which only ha_statestream takes. */
static void
read_rule_influxdb(struct hb_config *cfg, const char *p, struct rule *r)
{
	char key[200];

	snprintf(key, sizeof(key), "%s.influxdb", p);
	if (r->format != FMT_HA_STATESTREAM) {
		if (hb_cfg_json(cfg, key, JSON_OBJECT, false) != NULL)
			hb_cfg_error(cfg, key, "Home Assistant's influxdb options are for "
			    "ha_statestream sources only");
		return;
	}
	r->influxdb = ha_influx_read(cfg, key);
	if (r->influxdb && r->influxdb->override_measurement &&
	    r->measurement.text) {
		snprintf(key, sizeof(key), "%s.measurement", p);
		hb_cfg_error(cfg, key, "and influxdb.override_measurement both name "
		    "the measurement of every entity: keep one");
	}
}

/* Home Assistant's attributes, and the topics the rule leaves alone. */
static void
read_rule_skips(struct hb_config *cfg, const char *p, struct rule *r)
{
	char key[200], err[128];

	snprintf(key, sizeof(key), "%s.attributes", p);
	r->attributes = hb_cfg_bool(cfg, key, true);
	snprintf(key, sizeof(key), "%s.ignore_attributes", p);
	read_list(cfg, key, &r->ignore_attributes);
	refuse_templates(cfg, key, &r->ignore_attributes);
	read_rule_influxdb(cfg, p, r);
	snprintf(key, sizeof(key), "%s.ignore_topics", p);
	read_list(cfg, key, &r->ignore_topics);
	for (size_t k = 0; k < r->ignore_topics.n; k++) {
		char ikey[240];

		snprintf(ikey, sizeof(ikey), "%s[%zu]", key, k);
		if (!hb_topic_filter_ok(r->ignore_topics.items[k], err, sizeof(err)))
			hb_cfg_error(cfg, ikey, "\"%s\": %s", r->ignore_topics.items[k], err);
	}
}

static void
read_rule(struct hb_config *cfg, size_t i, struct rule *r)
{
	char p[128];

	snprintf(p, sizeof(p), "ingest.sources[%zu]", i);
	read_rule_source(cfg, p, i, r);
	read_rule_series(cfg, p, r);
	read_rule_payload(cfg, p, r);
	read_rule_skips(cfg, p, r);
}

bool
rule_ignores(const struct rule *r, const char *topic)
{
	const char *caps[HB_TOPIC_MAX_LEVELS];
	size_t caplen[HB_TOPIC_MAX_LEVELS], ncaps;

	for (size_t i = 0; i < r->ignore_topics.n; i++)
		if (hb_topic_match(r->ignore_topics.items[i], topic, caps, caplen, &ncaps))
			return true;
	return false;
}

void
rules_read(struct rule_set *rs, struct hb_config *cfg)
{
	size_t n = hb_cfg_array_len(cfg, "ingest.sources");

	memset(rs, 0, sizeof(*rs));
	rs->max_payload = (size_t)hb_cfg_int(cfg, "ingest.max_payload_bytes", 65536,
	    64, 16 << 20);
	rs->rules = hb_xcalloc(n ? n : 1, sizeof(*rs->rules));
	rs->n = n;
	for (size_t i = 0; i < n; i++)
		read_rule(cfg, i, &rs->rules[i]);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(rs->rules[i].name, rs->rules[k].name) == 0) {
				char key[64];

				snprintf(key, sizeof(key), "ingest.sources[%zu].name", i);
				hb_cfg_error(cfg, key, "\"%s\" is the name of source %zu too",
				    rs->rules[i].name, k + 1);
			}
}

void
rules_metrics(struct rule_set *rs, struct hb_metrics *m)
{
	char labels[160];

	for (size_t i = 0; i < rs->n; i++) {
		struct rule *r = &rs->rules[i];

		snprintf(labels, sizeof(labels), "rule=\"%s\"", r->name);
		r->m_messages = hb_metrics_counter(m, "messages_total",
		    "Messages taken by a source rule.", labels);
		r->m_points = hb_metrics_counter(m, "points_total",
		    "Points made by a source rule.", labels);
		r->m_retained = hb_metrics_counter(m, "retained_skipped_total",
		    "Retained messages not taken as new readings.", labels);
		r->m_ignored = hb_metrics_counter(m, "ignored_total",
		    "Messages on a rule's ignore_topics.", labels);
		for (int e = 0; e < ERR_COUNT; e++) {
			snprintf(labels, sizeof(labels), "rule=\"%s\",reason=\"%s\"",
			    r->name, error_names[e]);
			r->m_errors[e] = hb_metrics_counter(m, "bad_input_total",
			    "Messages or values refused, by rule and reason.", labels);
		}
	}
}

void
rules_free(struct rule_set *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct rule *r = &rs->rules[i];

		free(r->measurement.text);
		for (size_t k = 0; k < r->ntags; k++) {
			free(r->tags[k].key);
			free(r->tags[k].value.text);
		}
		free(r->tags);
		free_list(&r->include);
		free_list(&r->exclude);
		free_list(&r->integers);
		free_list(&r->tag_keys);
		free_list(&r->ignore_attributes);
		free_list(&r->ignore_topics);
		ha_influx_free(r->influxdb);
		free(r->timestamp_key);
		free(r->field.text);
		free(r->string_suffix);
	}
	free(rs->rules);
	memset(rs, 0, sizeof(*rs));
}

struct rule *
rules_match(struct rule_set *rs, const char *topic, const char **caps,
    size_t *caplen, size_t *ncaps)
{
	for (size_t i = 0; i < rs->n; i++)
		if (hb_topic_match(rs->rules[i].topic, topic, caps, caplen, ncaps))
			return &rs->rules[i];
	return NULL;
}

int
rules_expand(const struct rule_template *t, const char **caps,
    const size_t *caplen, size_t ncaps, struct hb_buf *out)
{
	const char *p = t->text;

	while (*p) {
		const char *open = strchr(p, '{');
		char *end;
		long n;

		if (open == NULL) {
			hb_buf_puts(out, p);
			break;
		}
		hb_buf_append(out, p, (size_t)(open - p));
		n = strtol(open + 1, &end, 10);
		if (*end != '}' || n < 1 || (size_t)n > ncaps)
			return -1;
		hb_buf_append(out, caps[n - 1], caplen[n - 1]);
		p = end + 1;
	}
	return 0;
}
