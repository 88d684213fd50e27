/*
 * alerts: notifications on P/notify/<severity>. Every target whose state
 * differs from the state last told is told, at most notify.max_per_minute
 * messages a minute; past it, what waits goes out as one summary when the
 * minute is over. Also the one warning about another watcher on the bus
 * prefix. Nothing is told while closed (not connected or not settled), so
 * that a broker that flaps leaves no backlog.
 */
#ifndef ALERTS_H
#define ALERTS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_bus.h"
#include "hb_config.h"
#include "hb_metrics.h"
#include "target.h"

struct alerts {
	/* options */
	bool enabled;
	int sev_down, sev_degraded, sev_recovered;	/* ALERTS_OFF: none */
	int per_minute;

	struct hb_bus *bus;
	struct target_list *targets;
	const char *prefix;		/* bus.prefix */
	const char *instance;		/* bus.instance */
	bool open;			/* set by the watcher: telling allowed */
	struct event *ev_window;	/* the end of a full window */
	int64_t window_ms;		/* start of the window, monotonic */
	int64_t window_wall_ms;		/* the same, wall clock (summary keys) */
	int sent_in_window;
	char watcher[64];		/* another watcher on our prefix, or "" */
	bool watcher_told;
	struct hb_counter *m_notify[4];
	struct hb_counter *m_folded;
};

#define ALERTS_OFF 4		/* a severity option's "off" */

/* Reads health.notify.* (errors into cfg). */
void alerts_read(struct alerts *a, struct hb_config *cfg);
/* Ready to tell through bus (closed until a->open is set); strings and
 * targets must outlive a. */
void alerts_start(struct alerts *a, struct event_base *base, struct hb_bus *bus,
    struct hb_metrics *metrics, struct target_list *targets, const char *prefix,
    const char *instance);
void alerts_stop(struct alerts *a);
void alerts_free(struct alerts *a);

/* Tells what changed since it was last told, as far as the window allows. */
void alerts_flush(struct alerts *a);
/*
 * Another watcher (instance) is online on our prefix, or none is (NULL):
 * told once per watcher seen.
 */
void alerts_other_watcher(struct alerts *a, const char *instance);

#endif
