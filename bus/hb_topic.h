/*
 * hb_topic: the topic names of the bus (DESIGN.md, "The bus") and MQTT
 * topic-filter matching with the '+' levels captured, for ingestion rules.
 */
#ifndef HB_TOPIC_H
#define HB_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define HB_TOPIC_MAX 512
#define HB_TOPIC_MAX_LEVELS 16

/* P/points/<measurement> */
int hb_topic_points(char *out, size_t n, const char *prefix, const char *measurement);
/* P/svc/<service>/<instance>/<leaf>, leaf "status" or "heartbeat" */
int hb_topic_svc(char *out, size_t n, const char *prefix, const char *service,
    const char *instance, const char *leaf);
/* P/health/<target> */
int hb_topic_health(char *out, size_t n, const char *prefix, const char *target);
/* P/notify/<severity> */
int hb_topic_notify(char *out, size_t n, const char *prefix, const char *severity);
/*
 * P/deploy/<leaf>, or P/deploy/<leaf>/<instance> when instance is not NULL:
 * leaf "command", "state", "available", "install" or "update" (the Home
 * Assistant entity's state of one deployer).
 */
int hb_topic_deploy(char *out, size_t n, const char *prefix, const char *leaf,
    const char *instance);
/*
 * Home Assistant discovery: <discovery_prefix>/<component>/<node_id>/<object_id>/config
 * ("homeassistant/update/homebus_nuc/deploy/config").
 */
int hb_topic_ha_config(char *out, size_t n, const char *discovery_prefix,
    const char *component, const char *node_id, const char *object_id);
/* P/<suffix>, e.g. "deploy/command" */
int hb_topic_join(char *out, size_t n, const char *prefix, const char *suffix);
/* $share/<group>/<filter>: one of a group of subscribers takes each message. */
int hb_topic_share(char *out, size_t n, const char *group, const char *filter);

/*
 * Every builder above also makes subscription filters: a level given as "+"
 * or a last level "#" is a wildcard (hb_topic_health(.., prefix, "+")).
 * Each returns 0, or -1 when the result did not fit in out.
 */

/* True when s can be one topic level (not empty, no '/', '+', '#'). */
bool hb_topic_level_ok(const char *s);
/* Replaces with '_' what cannot be in a topic level, and anything not ASCII. */
void hb_topic_level_sanitize(char *s);

/*
 * Matches topic against an MQTT filter. On a match, caps[i] / caplen[i]
 * point into `topic` at the level matched by the i-th '+', and *ncaps says how
 * many. Returns true on a match. A '#' captures nothing.
 */
bool hb_topic_match(const char *filter, const char *topic,
    const char **caps, size_t *caplen, size_t *ncaps);
/*
 * For a filter ending in '#' and a topic it matches, the part of the topic
 * the '#' stands for ("a/#" and "a/b/c": "b/c"); "" otherwise.
 */
const char *hb_topic_rest(const char *filter, const char *topic);
/* Validates a subscription filter; false with a reason in err. */
bool hb_topic_filter_ok(const char *filter, char *err, size_t errlen);

#endif
