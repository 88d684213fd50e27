/*
 * ha_influx: the options of Home Assistant's InfluxDB integration, as an
 * ha_statestream rule's "influxdb" object takes them — the same names, the
 * same meaning — so that moving over is copying them. Read and checked here;
 * convert_ha.c applies them the way homeassistant/components/influxdb's
 * event_to_json does.
 */
#ifndef INGEST_HA_INFLUX_H
#define INGEST_HA_INFLUX_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hb_config.h"
#include "rules.h"

/* Where the measurement comes from (measurement_attr). */
enum ha_measurement_attr {
	HA_MEAS_UNIT,			/* unit_of_measurement, the default */
	HA_MEAS_DOMAIN_DEVICE_CLASS,	/* <domain>__<device_class>, or <domain> */
	HA_MEAS_ENTITY_ID,		/* domain.object_id */
};

/* include or exclude: entity ids, fnmatch globs on them, domains. */
struct ha_filter {
	struct rule_list entities, globs, domains;
};

/* One key of component_config, _domain or _glob: what it sets. */
struct ha_entity_values {
	char *key;			/* an entity id, a domain or a glob */
	char *override_measurement;	/* NULL: not set */
	bool has_ignore;		/* ignore_attributes set (even empty) */
	struct rule_list ignore_attributes;
};

struct ha_static_tag {
	char *key, *value;
};

struct ha_influx {
	enum ha_measurement_attr measurement_attr;
	char *default_measurement;	/* NULL: not set */
	char *override_measurement;
	struct ha_static_tag *tags;
	size_t ntags;
	struct rule_list tags_attributes, ignore_attributes;
	struct ha_filter include, exclude;
	struct ha_entity_values *by_entity, *by_domain, *by_glob;
	size_t nby_entity, nby_domain, nby_glob;
};

/*
 * Reads the object at path ("ingest.sources[N].influxdb"), checking types,
 * allowed values and keys; every error goes to cfg with its JSON path.
 * Returns the options (free with ha_influx_free), or NULL when absent.
 */
struct ha_influx *ha_influx_read(struct hb_config *cfg, const char *path);
void ha_influx_free(struct ha_influx *o);

/*
 * Home Assistant's include/exclude filter (convert_include_exclude_filter,
 * with the entity filter's rules when both are given): true when the
 * entity's states are written.
 */
bool ha_influx_pass(const struct ha_influx *o, const char *entity_id,
    const char *domain);

/*
 * What component_config, _domain and _glob say about one entity, as Home
 * Assistant's EntityValues merges them: the domain's values, then each
 * matching glob's in order, then the entity's own, a later one replacing
 * what an earlier one set. Each out is NULL when nothing sets it.
 */
void ha_influx_entity(const struct ha_influx *o, const char *entity_id,
    const char *domain, const char **override_measurement,
    const struct rule_list **ignore_attributes);

#endif
