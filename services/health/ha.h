/*
 * ha: Home Assistant MQTT discovery for the targets. One binary_sensor of
 * device class "problem" per target (on: down or degraded, off: ok, None:
 * unknown), all under one device, available while the watcher's own
 * status topic says "online". Node ids and unique ids carry the watcher's
 * instance, so that two watchers' entities never overwrite each other.
 */
#ifndef HA_H
#define HA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ha_opts {
	const char *prefix;		/* discovery prefix: "homeassistant" */
	const char *device_id;		/* from ha_device_id */
	const char *device_name;	/* "homebus health" */
	const char *availability_topic;	/* P/svc/health/<instance>/status */
};

/* "homebus_health_<instance as an id>". */
void ha_device_id(const char *instance, char *out, size_t outlen);

/*
 * The node id of a target of the watcher on `instance`, also its
 * unique_id: "homebus_<instance as an id>_<ha_id>".
 */
void ha_node_id(const char *instance, const char *ha_id, char *out,
    size_t outlen);

/* <prefix>/binary_sensor/<node_id>/health/config. 0, or -1 if too long. */
int ha_config_topic(char *out, size_t outlen, const char *prefix,
    const char *node_id);

/*
 * The discovery config of one target whose state is retained on
 * state_topic (P/health/<target>); name is what Home Assistant shows,
 * node_id its unique_id. The caller decrefs it.
 */
json_t *ha_config(const struct ha_opts *o, const char *name,
    const char *node_id, const char *state_topic);

/*
 * For a topic found under <prefix>/binary_sensor/+/health/config: writes
 * the node id (starting "homebus_") and returns true, or returns false
 * when it is not a homebus topic.
 */
bool ha_topic_node(const char *topic, const char *prefix, char *out,
    size_t outlen);

/*
 * True when a retained discovery config (any bytes) is one this watcher
 * published: a JSON object whose device identifiers include device_id.
 */
bool ha_config_is_ours(const char *payload, size_t len, const char *device_id);

#endif
