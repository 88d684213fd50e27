/*
 * health_fixture: the setup the health watcher's integration tests share —
 * a mosquitto, a test client on homebus/health/# ("states") and one on
 * homebus/notify/# ("notes"), a bus-only service "ingest" and the watcher
 * "health", both on bus instance "hub", and the waits every such test
 * makes. Linked into each test_health_* that uses it.
 */
#ifndef HEALTH_FIXTURE_H
#define HEALTH_FIXTURE_H

#include "hbt.h"

struct hfix {
	struct hbt_broker broker;
	struct hbt_mqtt *states;	/* homebus/health/# */
	struct hbt_mqtt *notes;		/* homebus/notify/# */
	struct hbt_service health;
	struct hbt_service ingest;
	int health_port;
	int ingest_port;
	struct hb_buf cfg;		/* the last configuration written */
};

/*
 * hbt_init(name), the broker and the two clients, subscribed; the test
 * ends here if one of them cannot be had.
 */
void hfix_init(struct hfix *f, const char *name);
/* Starts the bus-only service "ingest" (homebus-ingest, no sources) on hub. */
void hfix_start_ingest(struct hfix *f);
/*
 * Starts (or starts again) the watcher "health" on hub on f->health_port,
 * with health_extra spliced into its health section.
 */
void hfix_start_health(struct hfix *f, const char *health_extra);

/*
 * Waits for a message on homebus/health/<target> whose payload contains a
 * (and b, if not NULL); a copy to free, or NULL.
 */
struct hbt_mqtt_msg *hfix_wait_state(struct hfix *f, const char *target,
    const char *a, const char *b, int64_t timeout_ms);
/* Checks that a state `state` of target comes, with reason in it if not NULL. */
void hfix_expect_state(struct hfix *f, const char *target, const char *state,
    const char *reason);
/* Notifications received of one transition kind: key "health/<target>/<state>". */
size_t hfix_notifications(struct hfix *f, const char *key);

/* Closes the clients and ends the test. */
__attribute__((noreturn)) void hfix_finish(struct hfix *f);

#endif
