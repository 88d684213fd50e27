/*
 * rules: ingest.sources, one rule per kind of device message — an MQTT topic
 * filter, a format, and how topic levels and payload keys map to the
 * measurement, tags and fields of a point.
 */
#ifndef INGEST_RULES_H
#define INGEST_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "hb_config.h"
#include "hb_metrics.h"

struct ha_influx;

enum rule_format {
	FMT_JSON,		/* zigbee2mqtt, Tasmota, Shelly, ESPHome */
	FMT_VALUE,		/* a bare number, ON/OFF/true/false, or a string */
	FMT_HA_STATESTREAM,	/* Home Assistant mqtt_statestream */
	FMT_INFLUX,		/* line protocol, validated and passed on */
};

enum rule_strings { STR_FIELD, STR_TAG, STR_DROP };
enum rule_arrays { ARR_SKIP, ARR_STRING };

/*
 * "{1}" is the first '+' level of the topic, "{2}" the second, ... Templates
 * name what a point is about: its measurement, tag values and, for the value
 * format, the field. Options that name keys of the payload take none.
 */
struct rule_template {
	char *text;
};

struct rule_tag {
	char *key;
	struct rule_template value;
};

struct rule_list {
	char **items;
	size_t n;
};

/* Why a message was refused, for the per-rule counters. */
enum rule_error {
	ERR_NOT_JSON,
	ERR_WRONG_TYPE,
	ERR_TOO_LONG,
	ERR_BAD_UTF8,
	ERR_UNENCODABLE,	/* a name or value line protocol cannot carry */
	ERR_NO_FIELDS,
	ERR_BAD_LINE,		/* influx format: invalid line protocol */
	ERR_COUNT,
};

struct rule {
	char name[64];
	char topic[256];
	enum rule_format format;
	int qos;
	bool retained;		/* take retained messages as new readings */
	struct rule_template measurement;	/* text NULL: the format's default */
	struct rule_tag *tags;
	size_t ntags;
	struct rule_list include, exclude;	/* fnmatch patterns on field names */
	struct rule_list integers;		/* fields written as integers */
	struct rule_list tag_keys;		/* string keys that become tags */
	enum rule_strings strings;
	char *string_suffix;	/* text fields are named <name><suffix> */
	enum rule_arrays arrays;
	char *timestamp_key;
	bool timestamp_local;	/* ISO 8601 without an offset is local time */
	struct rule_template field;	/* value format: the field's name */
	char separator;		/* flattening nested objects */
	bool attributes;	/* ha_statestream: attributes as fields, as HA does */
	struct rule_list ignore_attributes;
	struct ha_influx *influxdb;	/* ha_statestream: HA's own options, or NULL */
	struct rule_list ignore_topics;		/* filters of topics this rule skips */

	/* counters, per rule */
	struct hb_counter *m_messages;
	struct hb_counter *m_points;
	struct hb_counter *m_errors[ERR_COUNT];
	struct hb_counter *m_retained;
	struct hb_counter *m_ignored;
};

struct rule_set {
	struct rule *rules;
	size_t n;
	size_t max_payload;
};

/*
 * ingest.c calls the four functions below and rule_ignores() and
 * rule_error_name() by these names; the rest of the module is rules_*.
 */

/* Reads ingest.sources; errors go to cfg with the rule's path. */
void rules_read(struct rule_set *rs, struct hb_config *cfg);
void rules_metrics(struct rule_set *rs, struct hb_metrics *m);
void rules_free(struct rule_set *rs);
/* The first rule whose filter matches topic, or NULL. */
struct rule *rules_match(struct rule_set *rs, const char *topic,
    const char **caps, size_t *caplen, size_t *ncaps);

/* True when one of the rule's ignore_topics filters matches topic. */
bool rule_ignores(const struct rule *r, const char *topic);
const char *rule_error_name(enum rule_error e);
bool rules_list_has(const struct rule_list *l, const char *s);
bool rules_list_match(const struct rule_list *l, const char *s);

/*
 * Expands a template with the captured topic levels into out (appended).
 * Returns -1 if it names a level the topic does not have.
 */
int rules_expand(const struct rule_template *t, const char **caps,
    const size_t *caplen, size_t ncaps, struct hb_buf *out);

#endif
