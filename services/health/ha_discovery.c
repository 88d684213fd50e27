/*
 * ha_discovery: Home Assistant discovery configs, and recognising our own.
 */
#include "ha_discovery.h"
#include "hb_msg.h"
#include "hb_util.h"
#include "target.h"

#include <stdio.h>
#include <string.h>

void
ha_device_id(const char *instance, char *out, size_t outlen)
{
	char id[TARGET_NAME_MAX + 16];

	target_ha_id(instance, id, sizeof(id));
	snprintf(out, outlen, "homebus_health_%s", id);
}

void
ha_node_id(const char *instance, const char *ha_id, char *out, size_t outlen)
{
	char id[TARGET_NAME_MAX + 16];

	target_ha_id(instance, id, sizeof(id));
	snprintf(out, outlen, "homebus_%s_%s", id, ha_id);
}

int
ha_key(char *out, size_t outlen, const char *component, const char *node_id)
{
	int n = snprintf(out, outlen, "%s/%s", component, node_id);

	return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

int
ha_config_topic(char *out, size_t outlen, const char *prefix, const char *key)
{
	int n = snprintf(out, outlen, "%s/%s/health/config", prefix, key);

	return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

/* What every entity of the watcher has: its ids, availability, device. */
static json_t *
entity_new(const struct ha_opts *o, const char *name, const char *node_id,
    const char *state_topic)
{
	json_t *c = json_object();

	json_object_set_new(c, "name", json_string(name));
	json_object_set_new(c, "unique_id", json_string(node_id));
	json_object_set_new(c, "state_topic", json_string(state_topic));
	json_object_set_new(c, "qos", json_integer(1));
	json_object_set_new(c, "availability", json_pack("[{s:s,s:s,s:s}]",
	    "topic", o->availability_topic, "payload_available", "online",
	    "payload_not_available", "offline"));
	json_object_set_new(c, "device", json_pack("{s:[s],s:s,s:s,s:s,s:s}",
	    "identifiers", o->device_id, "name", o->device_name,
	    "manufacturer", "homebus", "model", "homebus-health",
	    "sw_version", HB_VERSION));
	if (o->status_url && o->status_url[0])
		json_object_set_new(json_object_get(c, "device"),
		    "configuration_url", json_string(o->status_url));
	json_object_set_new(c, "origin", json_pack("{s:s,s:s}", "name",
	    "homebus-health", "sw_version", HB_VERSION));
	return c;
}

json_t *
ha_config(const struct ha_opts *o, const char *name, const char *node_id,
    const char *state_topic)
{
	json_t *c = entity_new(o, name, node_id, state_topic);
	/* on = a problem; "None" is Home Assistant's unknown */
	json_object_set_new(c, "value_template", json_string(
	    "{% if value_json.state in ('down', 'degraded') %}ON"
	    "{% elif value_json.state == 'ok' %}OFF{% else %}None{% endif %}"));
	json_object_set_new(c, "payload_on", json_string("ON"));
	json_object_set_new(c, "payload_off", json_string("OFF"));
	json_object_set_new(c, "device_class", json_string("problem"));
	/* attributes that change with the state only: the latency of every
	 * check would write a new state row into the recorder each time */
	json_object_set_new(c, "json_attributes_topic", json_string(state_topic));
	json_object_set_new(c, "json_attributes_template", json_string(
	    "{{ {'state': value_json.state, 'since': value_json.since, "
	    "'reason': value_json.reason} | tojson }}"));
	return c;
}

json_t *
ha_sensor_config(const struct ha_opts *o, const char *name,
    const char *node_id, const char *state_topic, const struct ha_figure *f)
{
	json_t *c = entity_new(o, name, node_id, state_topic);
	char tpl[256];

	/* "None" is Home Assistant's unknown: a figure not measured yet */
	snprintf(tpl, sizeof(tpl), "{{ value_json.%s if value_json.%s is number "
	    "else None }}", f->key, f->key);
	json_object_set_new(c, "value_template", json_string(tpl));
	json_object_set_new(c, "unit_of_measurement", json_string(f->unit));
	if (f->device_class)
		json_object_set_new(c, "device_class", json_string(f->device_class));
	/* charted, and kept as long-term statistics */
	json_object_set_new(c, "state_class", json_string("measurement"));
	return c;
}

json_t *
ha_deploy_sensor_config(const struct ha_opts *o, const char *node_id,
    const char *deploy_state_topic)
{
	json_t *c = entity_new(o, "last deploy", node_id, deploy_state_topic);

	json_object_set_new(c, "value_template",
	    json_string("{{ value_json.phase }}"));
	json_object_set_new(c, "json_attributes_topic",
	    json_string(deploy_state_topic));
	json_object_set_new(c, "json_attributes_template", json_string(
	    "{{ {'action': value_json.action, 'version': value_json.to_tag, "
	    "'from_version': value_json.from_tag, 'when': value_json.updated, "
	    "'error': value_json.error} | tojson }}"));
	json_object_set_new(c, "icon", json_string("mdi:package-up"));
	return c;
}

bool
ha_topic_node(const char *topic, const char *prefix, char *out, size_t outlen)
{
	static const char *const components[] = { HA_BINARY_SENSOR, HA_SENSOR };
	static const char node[] = "homebus_";
	static const char tail[] = "/health/config";
	size_t pl = strlen(prefix), tl = strlen(topic), keylen, cl;
	const char *key, *id;

	if (tl <= pl + 1 + sizeof(tail) - 1 || strncmp(topic, prefix, pl) != 0 ||
	    topic[pl] != '/' || strcmp(topic + tl - (sizeof(tail) - 1), tail) != 0)
		return false;
	key = topic + pl + 1;
	keylen = (size_t)(topic + tl - (sizeof(tail) - 1) - key);
	for (size_t i = 0; i < HB_ARRAY_LEN(components); i++) {
		cl = strlen(components[i]);
		if (keylen <= cl + 1 + sizeof(node) - 1 ||
		    strncmp(key, components[i], cl) != 0 || key[cl] != '/')
			continue;
		id = key + cl + 1;
		if (strncmp(id, node, sizeof(node) - 1) != 0 || keylen >= outlen ||
		    memchr(id, '/', keylen - cl - 1) != NULL)
			return false;
		memcpy(out, key, keylen);
		out[keylen] = '\0';
		return true;
	}
	return false;
}

static bool
has_id(json_t *ids, const char *device_id)
{
	size_t i;
	json_t *v;

	if (json_is_string(ids))
		return strcmp(json_string_value(ids), device_id) == 0;
	if (!json_is_array(ids))
		return false;
	json_array_foreach(ids, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), device_id) == 0)
			return true;
	return false;
}

bool
ha_config_is_ours(const char *payload, size_t len, const char *device_id)
{
	json_t *root, *dev;
	bool ours = false;

	if (len == 0 || len > HB_MSG_MAX)
		return false;
	root = json_loadb(payload, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return false;
	}
	/* Home Assistant accepts the abbreviations too: dev, ids */
	dev = json_object_get(root, "device");
	if (dev == NULL)
		dev = json_object_get(root, "dev");
	if (json_is_object(dev))
		ours = has_id(json_object_get(dev, "identifiers"), device_id) ||
		    has_id(json_object_get(dev, "ids"), device_id);
	json_decref(root);
	return ours;
}
