/*
 * hbt_ha: Home Assistant's MQTT schemas as tables (see hbt_ha.h).
 *
 * Read in home-assistant/core, homeassistant/components/mqtt/:
 *   schemas.py        c6ca7f5f416326437e8e652a5623aa5eff7b3d00
 *                     MQTT_ENTITY_COMMON_SCHEMA, availability, device, origin
 *   config.py         a5c8209270205b905bb35a9082c39708b0d5f52f
 *                     MQTT_BASE_SCHEMA (qos, encoding), MQTT_RO_SCHEMA
 *                     (state_topic required, value_template)
 *   binary_sensor.py  00ffd2c46be98c20d14b45be64c32a8d459abf5d (PLATFORM_SCHEMA)
 *   sensor.py         the _PLATFORM_SCHEMA_BASE that imports
 *                     MQTT_ENTITY_COMMON_SCHEMA from .schemas (options,
 *                     suggested_display_precision, state_class, name and
 *                     unit_of_measurement that may be null)
 *   update.py         0092b921db79c0e64f351d5ed14dc87e48b1660e
 *                     (PLATFORM_SCHEMA_MODERN), and the later one that adds
 *                     display_precision and lets name and device_class be
 *                     null (taken here: a key either takes), and the state
 *                     handler of the
 *                     release that validates with MQTT_JSON_UPDATE_SCHEMA
 *                     (installed_version, latest_version, title,
 *                     release_summary: cv.string; release_url,
 *                     entity_picture: cv.url; in_progress: cv.boolean;
 *                     update_percentage: 0-100 or None; nothing else)
 *   abbreviations.py  911803bfd294b1ba1f541af01f6d37666ae4e384
 * The device classes are homeassistant/components/{binary_sensor,sensor,
 * update}'s; the units a sensor device class takes are sensor's
 * DEVICE_CLASS_UNITS for the two homebus uses.
 */
#include "hbt_ha.h"
#include "hb_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum kind {
	K_STR,		/* cv.string: a string (a number would be coerced; we
			 * send strings) */
	K_STR_NULL,	/* vol.Any(cv.string, None) */
	K_BOOL,
	K_QOS,		/* 0, 1 or 2 */
	K_POSINT,	/* cv.positive_int */
	K_SUB_TOPIC,	/* valid_subscribe_topic */
	K_PUB_TOPIC,	/* valid_publish_topic: no wildcards */
	K_TEMPLATE,	/* cv.template: a string */
	K_ICON,		/* cv.icon: "prefix:name" */
	K_AVAILABILITY,	/* a list of {topic, payload_*, value_template} */
	K_AVAIL_MODE,	/* all, any, latest */
	K_DEVICE,
	K_ORIGIN,
	K_ENTITY_CATEGORY,
	K_LIST,		/* cv.ensure_list */
	K_BINARY_CLASS,
	K_SENSOR_CLASS,	/* or null */
	K_STATE_CLASS,	/* or null */
	K_UPDATE_CLASS,
};

struct key {
	const char *name;
	enum kind kind;
	bool required;
};

/* schemas.py MQTT_ENTITY_COMMON_SCHEMA and config.py MQTT_BASE_SCHEMA */
static const struct key common_keys[] = {
	{ "availability", K_AVAILABILITY, false },
	{ "availability_mode", K_AVAIL_MODE, false },
	{ "availability_template", K_TEMPLATE, false },
	{ "availability_topic", K_SUB_TOPIC, false },
	{ "payload_available", K_STR, false },
	{ "payload_not_available", K_STR, false },
	{ "device", K_DEVICE, false },
	{ "origin", K_ORIGIN, false },
	{ "enabled_by_default", K_BOOL, false },
	{ "entity_category", K_ENTITY_CATEGORY, false },
	{ "icon", K_ICON, false },
	{ "json_attributes_topic", K_SUB_TOPIC, false },
	{ "json_attributes_template", K_TEMPLATE, false },
	{ "object_id", K_STR, false },
	{ "unique_id", K_STR, false },
	{ "qos", K_QOS, false },
	{ "encoding", K_STR, false },
	{ "state_topic", K_SUB_TOPIC, true },	/* MQTT_RO_SCHEMA */
	{ "value_template", K_TEMPLATE, false },
	{ NULL, 0, false }
};

static const struct key binary_sensor_keys[] = {
	{ "device_class", K_BINARY_CLASS, false },
	{ "expire_after", K_POSINT, false },
	{ "force_update", K_BOOL, false },
	{ "name", K_STR, false },
	{ "off_delay", K_POSINT, false },
	{ "payload_off", K_STR, false },
	{ "payload_on", K_STR, false },
	{ NULL, 0, false }
};

static const struct key sensor_keys[] = {
	{ "device_class", K_SENSOR_CLASS, false },
	{ "expire_after", K_POSINT, false },
	{ "force_update", K_BOOL, false },
	{ "last_reset_value_template", K_TEMPLATE, false },
	{ "name", K_STR_NULL, false },
	{ "options", K_LIST, false },
	{ "suggested_display_precision", K_POSINT, false },
	{ "state_class", K_STATE_CLASS, false },
	{ "unit_of_measurement", K_STR_NULL, false },
	{ NULL, 0, false }
};

static const struct key update_keys[] = {
	{ "command_topic", K_PUB_TOPIC, false },
	{ "device_class", K_UPDATE_CLASS, false },
	{ "display_precision", K_POSINT, false },
	{ "entity_picture", K_STR, false },
	{ "latest_version_template", K_TEMPLATE, false },
	{ "latest_version_topic", K_SUB_TOPIC, false },
	{ "name", K_STR_NULL, false },
	{ "payload_install", K_STR, false },
	{ "release_summary", K_STR, false },
	{ "release_url", K_STR, false },
	{ "retain", K_BOOL, false },
	{ "title", K_STR, false },
	{ NULL, 0, false }
};

/* abbreviations.py ABBREVIATIONS, the keys of the three components */
static const char *const abbreviations[][2] = {
	{ "avty", "availability" }, { "avty_mode", "availability_mode" },
	{ "avty_t", "availability_topic" }, { "avty_tpl", "availability_template" },
	{ "cmd_t", "command_topic" }, { "dev", "device" },
	{ "dev_cla", "device_class" }, { "e", "encoding" },
	{ "en", "enabled_by_default" }, { "ent_cat", "entity_category" },
	{ "exp_aft", "expire_after" }, { "frc_upd", "force_update" },
	{ "ic", "icon" }, { "json_attr_t", "json_attributes_topic" },
	{ "json_attr_tpl", "json_attributes_template" },
	{ "lrst_val_tpl", "last_reset_value_template" }, { "obj_id", "object_id" },
	{ "off_dly", "off_delay" }, { "ops", "options" },
	{ "pl_avail", "payload_available" }, { "pl_not_avail", "payload_not_available" },
	{ "pl_off", "payload_off" }, { "pl_on", "payload_on" }, { "ret", "retain" },
	{ "stat_cla", "state_class" }, { "stat_t", "state_topic" },
	{ "uniq_id", "unique_id" }, { "unit_of_meas", "unit_of_measurement" },
	{ "val_tpl", "value_template" },
};

/* DEVICE_ABBREVIATIONS, and the device block's keys (schemas.py) */
static const char *const device_abbreviations[][2] = {
	{ "cns", "connections" }, { "cu", "configuration_url" },
	{ "ids", "identifiers" }, { "mf", "manufacturer" }, { "mdl", "model" },
	{ "hw", "hw_version" }, { "sw", "sw_version" }, { "sa", "suggested_area" },
};
static const char *const device_strings[] = {
	"manufacturer", "model", "model_id", "name", "hw_version",
	"serial_number", "sw_version", "via_device", "suggested_area", NULL
};

static const char *const binary_classes[] = {
	"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity",
	"door", "garage_door", "gas", "heat", "light", "lock", "moisture",
	"motion", "moving", "occupancy", "opening", "plug", "power", "presence",
	"problem", "running", "safety", "smoke", "sound", "tamper", "update",
	"vibration", "window", NULL
};

/* sensor's device classes homebus may use, with the units each takes */
static const struct {
	const char *name;
	const char *units[24];
} sensor_classes[] = {
	{ "data_size", { "bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB",
	    "TB", "PB", "EB", "ZB", "YB", "KiB", "MiB", "GiB", "TiB", "PiB",
	    "EiB", "ZiB", "YiB", NULL } },
	{ "duration", { "d", "h", "min", "s", "ms", "\xc2\xb5s", NULL } },
	{ "timestamp", { NULL } },
	{ "enum", { NULL } },
};

static const char *const state_classes[] = {
	"measurement", "measurement_angle", "total", "total_increasing", NULL
};

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
in_list(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* valid_subscribe_topic: not empty, '+' and '#' only as whole levels, '#' last */
static bool
sub_topic_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;

	if (n == 0 || n > 65535)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((t[i] == '+' || t[i] == '#') && ((i > 0 && t[i - 1] != '/') ||
		    (i + 1 < n && t[i + 1] != '/')))
			return false;
		if (t[i] == '#' && i + 1 != n)
			return false;
	}
	return true;
}

/* cv.url / cv.configuration_url: http(s):// and a host */
static bool
url_ok(const char *u)
{
	const char *host;

	if (u == NULL)
		return false;
	if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		return strncmp(u, "homeassistant://", 16) == 0;
	return *host && *host != '/' && *host != ':';
}

static bool
string_list_ok(json_t *v)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return true;	/* cv.ensure_list makes it one */
	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return false;
	return true;
}

static const char *
expand(const char *key, const char *const (*table)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, table[i][0]) == 0)
			return table[i][1];
	return key;
}

static bool
device_ok(json_t *dev, char *err, size_t errlen)
{
	const char *key, *name;
	json_t *v, *ids = NULL, *cns = NULL;

	if (!json_is_object(dev))
		return fail(err, errlen, "device: not an object");
	json_object_foreach(dev, key, v) {
		name = expand(key, device_abbreviations,
		    HB_ARRAY_LEN(device_abbreviations));
		if (strcmp(name, "identifiers") == 0) {
			if (!string_list_ok(v))
				return fail(err, errlen, "device.identifiers: strings");
			ids = v;
		} else if (strcmp(name, "connections") == 0) {
			cns = v;
		} else if (strcmp(name, "configuration_url") == 0) {
			if (!url_ok(json_string_value(v)))
				return fail(err, errlen, "device.configuration_url: "
				    "not a URL");
		} else if (in_list(name, device_strings)) {
			if (!json_is_string(v))
				return fail(err, errlen, "device.%s: not a string", key);
		} else {
			return fail(err, errlen, "device.%s: not a key of the device",
			    key);
		}
	}
	if (json_array_size(ids) == 0 && !json_is_string(ids) &&
	    json_array_size(cns) == 0)
		return fail(err, errlen, "device: no identifiers nor connections");
	return true;
}

static bool
availability_ok(json_t *v, char *err, size_t errlen)
{
	size_t i;
	json_t *a, *f;
	const char *key;

	if (json_is_object(v)) {
		json_t *list = json_pack("[O]", v);
		bool ok = availability_ok(list, err, errlen);

		json_decref(list);
		return ok;
	}
	if (!json_is_array(v))
		return fail(err, errlen, "availability: not a list");
	json_array_foreach(v, i, a) {
		if (!json_is_object(a) ||
		    !sub_topic_ok(json_string_value(json_object_get(a, "topic"))))
			return fail(err, errlen, "availability[%zu]: no topic", i);
		json_object_foreach(a, key, f) {
			key = expand(key, abbreviations, HB_ARRAY_LEN(abbreviations));
			if (strcmp(key, "topic") != 0 &&
			    strcmp(key, "payload_available") != 0 &&
			    strcmp(key, "payload_not_available") != 0 &&
			    strcmp(key, "value_template") != 0)
				return fail(err, errlen, "availability[%zu].%s: not a "
				    "key of availability", i, key);
			if (!json_is_string(f))
				return fail(err, errlen, "availability[%zu].%s: not a "
				    "string", i, key);
		}
	}
	return true;
}

static bool
sensor_class_ok(const char *dc, json_t *unit)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(sensor_classes); i++) {
		if (strcmp(dc, sensor_classes[i].name) != 0)
			continue;
		if (sensor_classes[i].units[0] == NULL)
			return json_is_null(unit) || unit == NULL;
		return in_list(json_string_value(unit), sensor_classes[i].units);
	}
	return false;
}

static bool
value_ok(const char *key, enum kind k, json_t *v, json_t *config, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);

	switch (k) {
	case K_STR:
	case K_TEMPLATE:
		if (!json_is_string(v))
			return fail(err, errlen, "%s: not a string", key);
		return true;
	case K_STR_NULL:
		if (!json_is_string(v) && !json_is_null(v))
			return fail(err, errlen, "%s: not a string or null", key);
		return true;
	case K_BOOL:
		return json_is_boolean(v) ? true :
		    fail(err, errlen, "%s: not a boolean", key);
	case K_QOS:
		return json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= 2 ? true :
		    fail(err, errlen, "%s: not 0, 1 or 2", key);
	case K_POSINT:
		return json_is_integer(v) && json_integer_value(v) >= 0 ? true :
		    fail(err, errlen, "%s: not a positive integer", key);
	case K_SUB_TOPIC:
		return sub_topic_ok(s) ? true :
		    fail(err, errlen, "%s: not a topic to subscribe to", key);
	case K_PUB_TOPIC:
		return s && *s && strpbrk(s, "+#") == NULL ? true :
		    fail(err, errlen, "%s: not a topic to publish to", key);
	case K_ICON:
		return s && strchr(s, ':') && s[0] != ':' ? true :
		    fail(err, errlen, "%s: not prefix:name", key);
	case K_AVAILABILITY:
		return availability_ok(v, err, errlen);
	case K_AVAIL_MODE:
		return in_list(s, (const char *const[]){ "all", "any", "latest",
		    NULL }) ? true : fail(err, errlen, "%s: not all/any/latest", key);
	case K_DEVICE:
		return device_ok(v, err, errlen);
	case K_ORIGIN:
		if (!json_is_object(v) ||
		    !json_is_string(json_object_get(v, "name")))
			return fail(err, errlen, "origin: no name");
		return true;
	case K_ENTITY_CATEGORY:
		return in_list(s, (const char *const[]){ "config", "diagnostic",
		    NULL }) ? true : fail(err, errlen, "%s: not config/diagnostic",
		    key);
	case K_LIST:
		return json_is_array(v) && json_array_size(v) > 0 ? true :
		    fail(err, errlen, "%s: not a list", key);
	case K_BINARY_CLASS:
		return in_list(s, binary_classes) ? true :
		    fail(err, errlen, "%s: not a binary_sensor device class", key);
	case K_SENSOR_CLASS:
		if (json_is_null(v))
			return true;
		return s && sensor_class_ok(s, json_object_get(config,
		    "unit_of_measurement")) ? true : fail(err, errlen, "%s: %s is "
		    "not a sensor device class, or not with this unit", key,
		    s ? s : "-");
	case K_STATE_CLASS:
		return json_is_null(v) || in_list(s, state_classes) ? true :
		    fail(err, errlen, "%s: not a state class", key);
	case K_UPDATE_CLASS:
		return json_is_null(v) || (s && strcmp(s, "firmware") == 0) ? true :
		    fail(err, errlen, "%s: not an update device class", key);
	}
	return fail(err, errlen, "%s: unchecked", key);
}

static const struct key *
find_key(const struct key *keys, const char *name)
{
	for (; keys->name; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

bool
hbt_ha_discovery_ok(const char *component, json_t *config, char *err,
    size_t errlen)
{
	const struct key *own, *k;
	const char *key, *name;
	json_t *v, *full;
	bool ok = true;

	if (strcmp(component, "binary_sensor") == 0)
		own = binary_sensor_keys;
	else if (strcmp(component, "sensor") == 0)
		own = sensor_keys;
	else if (strcmp(component, "update") == 0)
		own = update_keys;
	else
		return fail(err, errlen, "no schema for %s", component);
	if (!json_is_object(config))
		return fail(err, errlen, "not a JSON object");
	/* Home Assistant expands the abbreviations first */
	full = json_object();
	json_object_foreach(config, key, v) {
		name = expand(key, abbreviations, HB_ARRAY_LEN(abbreviations));
		if (json_object_get(full, name))
			ok = fail(err, errlen, "%s given twice (%s)", name, key);
		json_object_set(full, name, v);
	}
	json_object_foreach(full, name, v) {
		if (!ok)
			break;
		k = find_key(own, name);
		if (k == NULL)
			k = find_key(common_keys, name);
		if (k == NULL)
			ok = fail(err, errlen, "%s: not a key of %s", name, component);
		else
			ok = value_ok(name, k->kind, v, full, err, errlen);
	}
	for (k = common_keys; ok && k->name; k++)
		if (k->required && json_object_get(full, k->name) == NULL)
			ok = fail(err, errlen, "%s: required", k->name);
	if (ok && json_object_get(full, "availability") &&
	    json_object_get(full, "availability_topic"))
		ok = fail(err, errlen, "availability and availability_topic are "
		    "exclusive");
	json_decref(full);
	return ok;
}

bool
hbt_ha_update_state_ok(json_t *state, char *err, size_t errlen)
{
	static const char *const strings[] = { "installed_version",
		"latest_version", "title", "release_summary", NULL };
	static const char *const urls[] = { "release_url", "entity_picture", NULL };
	const char *key;
	json_t *v;

	if (!json_is_object(state))
		return fail(err, errlen, "not a JSON object");
	json_object_foreach(state, key, v) {
		if (in_list(key, strings)) {
			if (!json_is_string(v))
				return fail(err, errlen, "%s: not a string", key);
		} else if (in_list(key, urls)) {
			if (!url_ok(json_string_value(v)))
				return fail(err, errlen, "%s: not a URL", key);
		} else if (strcmp(key, "in_progress") == 0) {
			if (!json_is_boolean(v))
				return fail(err, errlen, "%s: not a boolean", key);
		} else if (strcmp(key, "update_percentage") == 0) {
			if (!json_is_null(v) && !(json_is_number(v) &&
			    json_number_value(v) >= 0 && json_number_value(v) <= 100))
				return fail(err, errlen, "%s: not 0-100 or null", key);
		} else {
			return fail(err, errlen, "%s: not a key of the update state "
			    "(Home Assistant drops the whole message)", key);
		}
	}
	return true;
}
