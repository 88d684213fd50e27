/*
 * doctor: the state of one `homebus doctor` run, shared by its checks
 * (doctor_bus.c: what the bus says; doctor_local.c: InfluxDB, the writer's
 * spool, the disks, Telegram). Each check says what it found with
 * doctor_say(); a check that waits for something brackets the wait with
 * doctor_begin()/doctor_end(), and the findings are printed when none
 * waits any more.
 */
#ifndef CLI_DOCTOR_H
#define CLI_DOCTOR_H

#include <stdarg.h>
#include <stdbool.h>

#include "cli.h"

enum finding_level { FINDING_OK, FINDING_WARN, FINDING_FAIL };

struct finding {
	enum finding_level level;
	char check[24];
	char text[480];
};

#define DOCTOR_FINDINGS_MAX 96
#define DOCTOR_SERVICES_MAX 64

struct doctor_service {
	char service[64];
	char instance[64];
	bool online;
	bool heard;		/* a heartbeat arrived during the run */
	int64_t skew_ms;	/* its clock minus ours, from that heartbeat */
	char health[16];	/* its health target's state, "" if none */
};

struct hb_http_client;

struct doctor {
	struct cli *c;
	struct hb_http_client *http;
	struct finding findings[DOCTOR_FINDINGS_MAX];
	size_t nfindings;
	int pending;		/* checks still waiting */
	bool started;
	bool bus_over;		/* the bus checks ended (or never began) */

	/* doctor_bus.c */
	struct doctor_service services[DOCTOR_SERVICES_MAX];
	size_t nservices;
	struct hb_bus *probe;	/* the absent subscriber of the queue check */
	int probe_round;
	int queued_sent, queued_got;
	int last_got, quiet_turns;
	/* health's states, matched to the services at the end */
	struct {
		char target[128];
		char state[16];
	} health[DOCTOR_SERVICES_MAX * 2];
	size_t nhealth;
	struct event *ev_probe;
	struct event *ev_heartbeats;
	char queue_topic[256];

	/* doctor_local.c */
	long long spool_points;	/* first reading, -1 before it */
};

void doctor_say(struct doctor *d, enum finding_level level, const char *check,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void doctor_begin(struct doctor *d);
void doctor_end(struct doctor *d);

/* doctor_bus.c: connected; the bus checks, which end with doctor_end() */
void doctor_bus_checks(struct doctor *d);
int doctor_heartbeat_window_s(struct cli *c);
/* doctor_local.c: started at once, each with its own begin/end */
void doctor_local_checks(struct doctor *d);
void doctor_free(struct doctor *d);

#endif
