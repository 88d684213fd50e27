/*
 * ha_discovery: Home Assistant MQTT discovery for the targets. One binary_sensor of
 * device class "problem" per target (on: down or degraded, off: ok, None:
 * unknown), a sensor per figure a target has (free space, round trip,
 * points/s, ...) and one of the last deploy, all under one device,
 * available while the watcher's own status topic says "online". Node ids
 * and unique ids carry the watcher's instance, so that two watchers'
 * entities never overwrite each other. An entity is named by its key,
 * "<component>/<node id>": its discovery topic is
 * <prefix>/<key>/health/config.
 */
#ifndef HA_DISCOVERY_H
#define HA_DISCOVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ha_opts {
	const char *prefix;		/* discovery prefix: "homeassistant" */
	const char *device_id;		/* from ha_device_id */
	const char *device_name;	/* "homebus health" */
	const char *availability_topic;	/* P/svc/health/<instance>/status */
	const char *status_url;		/* the device's configuration_url, or
					 * NULL (no http.public_url) */
};

#define HA_BINARY_SENSOR "binary_sensor"
#define HA_SENSOR "sensor"

/* A number charted in Home Assistant: a field of a target's state. */
struct ha_figure {
	const char *key;		/* the state's field: "free_mb" */
	const char *name;		/* after the target's: "free MB" */
	const char *unit;		/* "MB" */
	const char *device_class;	/* Home Assistant's, or NULL */
};

/* "homebus_health_<instance as an id>". */
void ha_device_id(const char *instance, char *out, size_t outlen);

/*
 * The node id of a target of the watcher on `instance`, also its
 * unique_id: "homebus_<instance as an id>_<ha_id>".
 */
void ha_node_id(const char *instance, const char *ha_id, char *out,
    size_t outlen);

/* The key "<component>/<node_id>". 0, or -1 if too long. */
int ha_key(char *out, size_t outlen, const char *component,
    const char *node_id);
/* <prefix>/<key>/health/config. 0, or -1 if too long. */
int ha_config_topic(char *out, size_t outlen, const char *prefix,
    const char *key);

/*
 * The discovery config of one target whose state is retained on
 * state_topic (P/health/<target>); name is what Home Assistant shows,
 * node_id its unique_id. The caller decrefs it.
 */
json_t *ha_config(const struct ha_opts *o, const char *name,
    const char *node_id, const char *state_topic);
/*
 * The sensor of figure f of a target whose state is on state_topic: a
 * measurement with its unit (None while the state has no number there).
 * The caller decrefs it.
 */
json_t *ha_sensor_config(const struct ha_opts *o, const char *name,
    const char *node_id, const char *state_topic, const struct ha_figure *f);
/*
 * The sensor of the last deploy: the phase on P/deploy/state (the
 * deployer's retained state), its version and time as attributes. The
 * caller decrefs it.
 */
json_t *ha_deploy_sensor_config(const struct ha_opts *o, const char *node_id,
    const char *deploy_state_topic);

/*
 * For a topic found under <prefix>/binary_sensor/+/health/config or
 * <prefix>/sensor/+/health/config: writes the key (the node id starting
 * "homebus_") and returns true, or returns false when it is not a homebus
 * topic.
 */
bool ha_topic_node(const char *topic, const char *prefix, char *out,
    size_t outlen);

/*
 * True when a retained discovery config (any bytes) is one this watcher
 * published: a JSON object whose device identifiers include device_id.
 */
bool ha_config_is_ours(const char *payload, size_t len, const char *device_id);

#endif
