/*
 * hbt_ha: Home Assistant's MQTT discovery schemas (binary_sensor, sensor,
 * update) and its update state schema, as keys and types, to hold every
 * payload homebus publishes for Home Assistant against. Transcribed from
 * home-assistant/core (see hbt_ha.c for the files and commits read).
 */
#ifndef HBT_HA_H
#define HBT_HA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * True when config is a discovery config Home Assistant takes for
 * component ("binary_sensor", "sensor", "update"): every key one it knows
 * (abbreviations expanded; a key it does not know is dropped by Home
 * Assistant, so it is refused here: we would believe it does something),
 * each of its type, the required ones there. Else false, with why in err.
 */
bool hbt_ha_discovery_ok(const char *component, json_t *config, char *err,
    size_t errlen);

/*
 * True when state is a JSON state Home Assistant's MQTT update entity
 * takes (MQTT_JSON_UPDATE_SCHEMA: no other key, no null where a string
 * goes, update_percentage 0-100 or null). A state that breaks it is
 * dropped whole by Home Assistant.
 */
bool hbt_ha_update_state_ok(json_t *state, char *err, size_t errlen);

#endif
