/*
 * publish: what the watcher says on the bus about its targets — each one's
 * retained state on P/health/<target>, the overall state on P/health/_all,
 * Home Assistant discovery configs, and the emptying of what belongs to a
 * target that is gone. Nothing is published while the publisher is closed
 * (not connected, not settled yet, or stopping).
 */
#ifndef PUBLISH_H
#define PUBLISH_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "ha_discovery.h"
#include "hb_bus.h"
#include "hb_config.h"
#include "hb_restore.h"
#include "hb_topic.h"
#include "target.h"

struct publisher {
	/* options */
	int64_t state_refresh_ms;
	bool ha_enabled;
	char ha_prefix[128];
	char ha_status_topic[256];	/* where Home Assistant says "online" */
	char ha_device_name[128];
	char status_url[320];		/* the status page (http.public_url) */

	struct hb_bus *bus;
	struct target_list *targets;
	const char *prefix;		/* bus.prefix */
	const char *instance;		/* bus.instance */
	char own_status_topic[HB_TOPIC_MAX];	/* the entities' availability */
	char device_id[TARGET_NAME_MAX + 32];
	struct ha_opts ha;
	struct hb_restore ha_restore;	/* our discovery configs put back */
	bool open;			/* set by the watcher: publishing allowed */

	enum hb_health_state overall;
	int64_t overall_since_ms;	/* wall clock */
	char *overall_published;	/* the last _all states, to skip repeats */
	int64_t overall_sent_ms;	/* monotonic, the last _all published */
	struct event *ev_overall;	/* the next _all, when one was held back */
};

/* Our discovery configs put back at most this many times a minute. */
#define PUBLISH_RESTORE_MAX 60

/* P/health/_all at most this often, however many targets change. */
#define PUBLISH_OVERALL_MS 1000

/* Reads health.state_refresh_s and health.homeassistant.* (errors into cfg). */
void publish_read(struct publisher *p, struct hb_config *cfg);
/* Ready to publish through bus (closed until p->open is set); strings and
 * targets must outlive p. */
void publish_start(struct publisher *p, struct event_base *base,
    struct hb_bus *bus, struct target_list *targets, const char *prefix,
    const char *instance);
/* Nothing more is published later (SIGTERM). */
void publish_stop(struct publisher *p);
void publish_free(struct publisher *p);

/*
 * t's state, when it or its reason changed since it was last published, or
 * state_refresh_s after that, or when forced (after connecting).
 */
void publish_state(struct publisher *p, struct target *t, bool force);
/*
 * P/health/_all: the worst state, the counts, every target's state; only
 * when a target's state changed, unless forced, and at most once every
 * PUBLISH_OVERALL_MS (what changes meanwhile goes out together at its end:
 * a thousand services appearing at once are not a thousand payloads that
 * each list them all).
 */
void publish_overall(struct publisher *p, bool force);
/*
 * The discovery configs of t: its binary sensor and a sensor per figure
 * (figures.h); for t NULL, the overall state's and the last deploy's.
 */
void publish_ha_config(struct publisher *p, const struct target *t);
/* Empties the configs of t's figures' sensors (before publish_clear). */
void publish_ha_clear_figures(struct publisher *p, const struct target *t);
/*
 * A discovery config found retained on the topic of the entity key (ha.h):
 * when it is one of ours and the config is not what we publish (another account's, or
 * cleared), ours is published again (hb_restore).
 */
void publish_ha_config_found(struct publisher *p, const char *key,
    const char *payload, size_t len);
/* Every discovery config (Home Assistant came online). */
void publish_ha_all(struct publisher *p);
/* Every state, the overall state and the discovery configs. */
void publish_everything(struct publisher *p);

/*
 * Empties the retained messages of a target that is gone: its discovery
 * config (the entity key, if not NULL) first, then its state (name, if not NULL),
 * or Home Assistant renders its template against an empty state. Published
 * whenever connected, settled or not.
 */
void publish_clear(struct publisher *p, const char *name, const char *key);
/* The key of the binary sensor of a target of ours, from its ha_id. */
void publish_ha_node(const struct publisher *p, const char *ha_id, char *out,
    size_t outlen);
/* True when key is an entity's of one of the targets or of _all. */
bool publish_ha_node_in_use(const struct publisher *p, const char *key);

#endif
