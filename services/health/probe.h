/*
 * probe: the mqtt targets' round trip. A probe is published on the
 * watcher's own P/svc/health/<instance>/probe topic and timed until the
 * broker hands it back; no echo within the target's timeout is a failure.
 */
#ifndef PROBE_H
#define PROBE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checks.h"
#include "hb_bus.h"
#include "hb_topic.h"
#include "target.h"

struct probe {
	struct event_base *base;
	struct hb_bus *bus;
	struct target_list *targets;	/* where an echo finds its target */
	char topic[HB_TOPIC_MAX];	/* P/svc/health/<instance>/probe */
	const char *host;		/* the broker, for a reason */
	int port;
	bool connected;
	check_done_fn done;		/* every result, as for the other checks */
	void *arg;
};

/*
 * Sets p up; the strings (and targets) must outlive it. The caller
 * subscribes to p->topic and hands each message to probe_echo().
 */
void probe_init(struct probe *p, struct event_base *base, struct hb_bus *bus,
    struct target_list *targets, const char *prefix, const char *instance,
    const char *host, int port, check_done_fn done, void *arg);

/*
 * Sends a probe for the mqtt target t. The result comes through done:
 * at once when there is no connection or the probe cannot be sent, else
 * on its echo or at t's timeout.
 */
void probe_start(struct probe *p, struct target *t);
/* A message on p->topic: the echo of a probe in flight, or ignored. */
void probe_echo(struct probe *p, const char *payload, size_t len);
/* Forgets t's probe in flight (lost with a connection, or the watcher stops). */
void probe_forget(struct target *t);

/*
 * The probe's payload: "<seq> <sent, monotonic us> <target name>".
 * probe_decode accepts any bytes and returns 0 only for a well-formed probe.
 */
int probe_encode(char *out, size_t outlen, uint64_t seq, int64_t sent_us,
    const char *name);
int probe_decode(const char *payload, size_t len, uint64_t *seq,
    int64_t *sent_us, char *name, size_t namelen);

#endif
