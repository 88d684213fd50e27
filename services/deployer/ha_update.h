/*
 * ha_update: the deployer as a Home Assistant `update` entity, through MQTT
 * discovery (device "homebus"). Its state (installed and latest version,
 * in progress, percentage, what the version is) is retained on
 * P/deploy/update/<instance>, what the last failed job said on
 * P/deploy/update/<instance>/attributes (the entity's attributes); the latest version is the tag retained on
 * P/deploy/available; the entity's Install button publishes its
 * payload_install (this deployer's instance) on P/deploy/install, which is
 * handed to the deployer as a deploy of the latest version.
 */
#ifndef DEPLOYER_HA_UPDATE_H
#define DEPLOYER_HA_UPDATE_H

#include <stdbool.h>

#include "hb_bus.h"

struct ha;

/* Install pressed in Home Assistant: deploy `tag` (the latest version). */
typedef void (*ha_install_fn)(const char *tag, void *arg);

struct ha_opts {
	const char *prefix;		/* bus.prefix */
	const char *instance;		/* bus.instance */
	const char *discovery_prefix;	/* "homeassistant" */
	bool discovery;			/* announce the entity */
	const char *status_url;		/* health's status page: the release
					 * and configuration URL; NULL: none */
	ha_install_fn on_install;
	void *arg;
};

/* The bus is borrowed; the options are copied. */
struct ha *ha_new(struct hb_bus *bus, const struct ha_opts *o);
void ha_free(struct ha *h);
/*
 * P/deploy/available, P/deploy/install, homeassistant/status and the
 * entity's own discovery topic, whose config is put back when another
 * account replaced it.
 */
int ha_subscribe(struct ha *h);
/* (Re)announces the entity and its state (on connect, when HA restarts). */
void ha_announce(struct ha *h);

/*
 * What the entity shows; published (retained) when it changed. percent < 0:
 * none; summary: what the last job failed of ("" after one that worked),
 * the entity's `last_failure` attribute.
 */
void ha_update(struct ha *h, const char *installed, bool in_progress,
    int percent, const char *summary);

/* The version on P/deploy/available ("" until one came). */
const char *ha_latest(const struct ha *h);

/*
 * The discovery config and the state, as published: for tests and docs.
 * The caller decrefs them.
 */
json_t *ha_discovery_config(const struct ha *h);
json_t *ha_state(const struct ha *h);
json_t *ha_attributes(const struct ha *h);

#endif
