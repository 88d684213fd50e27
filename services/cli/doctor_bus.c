/*
 * doctor_bus: what the bus says — the services' retained status, their
 * heartbeats and clocks, health's states of them, and whether the broker
 * keeps a session and its queue for a subscriber that is away.
 */
#include "doctor.h"

#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More than mosquitto's default max_queued_messages (1000). */
#define QUEUE_PROBE 1100

static struct doctor_service *
service(struct doctor *d, const struct hb_bus_msg *msg, bool add)
{
	char svc[64], inst[64];

	if (hb_bus_msg_level(msg, 0, svc, sizeof(svc)) != 0 ||
	    hb_bus_msg_level(msg, 1, inst, sizeof(inst)) != 0)
		return NULL;
	for (size_t i = 0; i < d->nservices; i++)
		if (strcmp(d->services[i].service, svc) == 0 &&
		    strcmp(d->services[i].instance, inst) == 0)
			return &d->services[i];
	if (!add || d->nservices == DOCTOR_SERVICES_MAX)
		return NULL;
	snprintf(d->services[d->nservices].service, 64, "%s", svc);
	snprintf(d->services[d->nservices].instance, 64, "%s", inst);
	return &d->services[d->nservices++];
}

static void
on_status(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct doctor_service *s;

	if (msg->len == 0)
		return;		/* cleared: a service that was removed */
	if ((s = service(c->cmd, msg, true)) != NULL)
		s->online = strcmp(msg->payload, "online") == 0;
}

/* The heartbeat window ends early once every online service was heard. */
static void
close_window_if_heard(struct doctor *d)
{
	if (d->ev_heartbeats == NULL || !evtimer_pending(d->ev_heartbeats, NULL))
		return;
	for (size_t i = 0; i < d->nservices; i++)
		if (d->services[i].online && !d->services[i].heard)
			return;
	evtimer_del(d->ev_heartbeats);
	event_active(d->ev_heartbeats, EV_TIMEOUT, 0);
}

static void
on_heartbeat(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct doctor_service *s = service(c->cmd, msg, true);
	struct hb_heartbeat hb;
	char err[128];

	if (s == NULL || hb_heartbeat_decode(msg->payload, msg->len, &hb, err,
	    sizeof(err)) != 0)
		return;
	s->heard = true;
	s->skew_ms = hb.time_ms > 0 ? hb.time_ms - hb_wall_ms() : 0;
	close_window_if_heard(c->cmd);
}

static void
on_health(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct doctor *d = c->cmd;
	struct hb_health_msg h;
	char err[128];

	if (msg->len == 0 || d->nhealth == HB_ARRAY_LEN(d->health) ||
	    hb_health_decode(msg->payload, msg->len, &h, err, sizeof(err)) != 0)
		return;
	snprintf(d->health[d->nhealth].target, sizeof(d->health[0].target), "%s",
	    h.target);
	snprintf(d->health[d->nhealth++].state, sizeof(d->health[0].state), "%s",
	    hb_health_state_name(h.state));
}

/* health's state of a service: target <service>, or <service>@<instance> */
static void
match_health(struct doctor *d)
{
	char at[140];

	for (size_t i = 0; i < d->nservices; i++) {
		struct doctor_service *s = &d->services[i];

		snprintf(at, sizeof(at), "%s@%s", s->service, s->instance);
		for (size_t k = 0; k < d->nhealth; k++)
			if (strcmp(d->health[k].target, at) == 0 ||
			    (strcmp(d->health[k].target, s->service) == 0 &&
			    strcmp(s->instance, d->c->bus_cfg.instance) == 0))
				snprintf(s->health, sizeof(s->health), "%s",
				    d->health[k].state);
	}
}

int
doctor_heartbeat_window_s(struct cli *c)
{
	int w = c->bus_cfg.heartbeat_s + 2;

	return w < 35 ? w : 35;
}

/* health.expected_services that never announced themselves */
static void
check_expected(struct doctor *d)
{
	struct cli *c = d->c;
	size_t n = hb_cfg_array_len(c->app.cfg, "health.expected_services");
	char key[64], svc[64], inst[64];

	for (size_t i = 0; i < n; i++) {
		const char *e, *slash;
		bool found = false;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		e = hb_cfg_str(c->app.cfg, key, "");
		slash = strchr(e, '/');
		snprintf(svc, sizeof(svc), "%.*s", slash ? (int)(slash - e) :
		    (int)strlen(e), e);
		snprintf(inst, sizeof(inst), "%s", slash ? slash + 1 :
		    c->bus_cfg.instance);
		for (size_t k = 0; k < d->nservices; k++)
			found |= strcmp(d->services[k].service, svc) == 0 &&
			    strcmp(d->services[k].instance, inst) == 0;
		if (!found)
			doctor_say(d, FINDING_FAIL, "services", "%s on %s is expected "
			    "(health.expected_services) but has never announced "
			    "itself on %s/svc/%s/%s/status", svc, inst, c->prefix, svc,
			    inst);
	}
}

static void
on_heartbeat_window(evutil_socket_t fd, short what, void *arg)
{
	struct doctor *d = arg;
	int64_t worst = 0;
	const char *worst_name = "";

	(void)fd;
	(void)what;
	match_health(d);
	check_expected(d);
	if (d->nservices == 0)
		doctor_say(d, FINDING_WARN, "services", "no homebus service has "
		    "announced itself on %s/svc/+/+/status (none running, or another "
		    "bus.prefix?)", d->c->prefix);
	for (size_t i = 0; i < d->nservices; i++) {
		struct doctor_service *s = &d->services[i];
		int64_t skew = s->skew_ms < 0 ? -s->skew_ms : s->skew_ms;

		if (!s->online)
			doctor_say(d, FINDING_FAIL, "services", "%s on %s is offline "
			    "(its last will, or it stopped)", s->service, s->instance);
		else if (!s->heard)
			doctor_say(d, FINDING_WARN, "services", "%s on %s is online but "
			    "sent no heartbeat in %d s (hung, or a broker that does not "
			    "pass its messages?)", s->service, s->instance,
			    doctor_heartbeat_window_s(d->c));
		else if (s->health[0] && strcmp(s->health, "ok") != 0)
			doctor_say(d, FINDING_WARN, "services", "%s on %s is online, "
			    "health says %s (homebus status tells why)", s->service,
			    s->instance, s->health);
		else
			doctor_say(d, FINDING_OK, "services", "%s on %s online, heartbeat "
			    "heard", s->service, s->instance);
		if (s->heard && skew > worst) {
			worst = skew;
			worst_name = s->service;
		}
	}
	if (worst > 30000)
		doctor_say(d, FINDING_FAIL, "clocks", "%s's clock is %.1f s off this "
		    "one: points get the wrong time (is NTP running there?)",
		    worst_name, (double)worst / 1000.0);
	else if (worst > 2000)
		doctor_say(d, FINDING_WARN, "clocks", "%s's clock is %.1f s off this "
		    "one (is NTP running there?)", worst_name, (double)worst / 1000.0);
	else if (d->nservices > 0)
		doctor_say(d, FINDING_OK, "clocks", "every heartbeat's clock within "
		    "%.1f s of this one", (double)worst / 1000.0);
	doctor_end(d);
}

/* ---------------- the queue check ---------------- */

static void probe_step(evutil_socket_t fd, short what, void *arg);

static void
later(struct doctor *d, int ms)
{
	hb_timer_add_ms(d->ev_probe, ms);
}

static void
on_queued(void *arg, const struct hb_bus_msg *msg)
{
	struct doctor *d = arg;

	(void)msg;
	d->queued_got++;
}

static void
on_probe_connection(void *arg, bool up)
{
	struct doctor *d = arg;

	if (up)
		later(d, d->probe_round == 1 ? 0 : 300);
}

static void
on_probe_closed(void *arg)
{
	/* never free a bus from inside its own callback */
	later(arg, 0);
}

static struct hb_bus *
probe_new(struct doctor *d)
{
	struct hb_bus_config bc = d->c->bus_cfg;
	struct hb_bus_opts bo = { 0 };
	struct hb_bus *b;
	char err[256], id[96];

	/* a persistent session of its own, gone a minute after the check */
	snprintf(id, sizeof(id), "homebus-cli-doctor-%.60s-%ld",
	    d->c->app.hostname, (long)getpid());
	hb_bus_client_id(bc.client_id, sizeof(bc.client_id), id, bc.password);
	bc.session_expiry_s = 60;
	bo.service = "cli";
	bo.client = true;
	bo.persistent = true;
	bo.on_connection = on_probe_connection;
	bo.arg = d;
	b = hb_bus_new(d->c->app.base, &bc, &bo, NULL, err, sizeof(err));
	if (b)
		hb_bus_subscribe(b, d->queue_topic, 1, on_queued, d);
	return b;
}

static void
flooded(struct cli *c)
{
	struct doctor *d = c->cmd;

	/* every message is at the broker: the subscriber comes back */
	d->probe_round = 2;
	d->probe = probe_new(d);
}

static void
conclude(struct doctor *d)
{
	if (d->queued_got >= d->queued_sent)
		doctor_say(d, FINDING_OK, "sessions", "the broker kept a session "
		    "and queued %d of %d messages for a subscriber that was away",
		    d->queued_got, d->queued_sent);
	else if (d->queued_got == 0)
		doctor_say(d, FINDING_FAIL, "sessions", "the broker kept nothing for "
		    "a subscriber that was away: points are lost whenever the "
		    "writer restarts (mosquitto.conf: persistent_client_expiration, "
		    "and a listener that allows persistent sessions)");
	else
		doctor_say(d, FINDING_FAIL, "sessions", "the broker queued only %d of "
		    "%d messages for a subscriber that was away and dropped the rest "
		    "(mosquitto.conf: max_queued_messages, whose default of 1000 "
		    "drops points, and max_queued_bytes; deploy/mosquitto.conf has "
		    "the settings homebus needs)", d->queued_got, d->queued_sent);
	if (d->probe)
		hb_bus_shutdown(d->probe, on_probe_closed, d);
	d->probe_round = 3;
	doctor_end(d);
}

static void
probe_step(evutil_socket_t fd, short what, void *arg)
{
	struct doctor *d = arg;

	(void)fd;
	(void)what;
	if (d->probe_round == 1 && d->probe && hb_bus_connected(d->probe)) {
		/* subscribed: now away */
		hb_bus_shutdown(d->probe, on_probe_closed, d);
		d->probe_round = 11;
	} else if (d->probe_round == 11) {
		hb_bus_free(d->probe);
		d->probe = NULL;
		for (int i = 0; i < QUEUE_PROBE; i++) {
			char n[16];

			snprintf(n, sizeof(n), "%d", i);
			hb_bus_publish(d->c->bus, d->queue_topic, n, strlen(n), 1, false);
		}
		d->queued_sent = QUEUE_PROBE;
		cli_sync(d->c, flooded);
	} else if (d->probe_round == 2) {
		/* back: count until all came or nothing more comes for 2 s */
		d->quiet_turns = d->queued_got == d->last_got ? d->quiet_turns + 1 : 0;
		d->last_got = d->queued_got;
		if (d->queued_got >= d->queued_sent || d->quiet_turns >= 7)
			conclude(d);
		else
			later(d, 300);
	} else if (d->probe_round == 3) {
		hb_bus_free(d->probe);
		d->probe = NULL;
	}
}

static void
after_sync(struct cli *c)
{
	struct doctor *d = c->cmd;

	d->ev_heartbeats = evtimer_new(c->app.base, on_heartbeat_window, d);
	hb_timer_add_ms(d->ev_heartbeats, doctor_heartbeat_window_s(c) * 1000LL);
	doctor_begin(d);	/* the heartbeat window */
	close_window_if_heard(d);
	d->ev_probe = evtimer_new(c->app.base, probe_step, d);
	d->probe_round = 1;
	d->probe = probe_new(d);
	if (d->probe == NULL)
		doctor_say(d, FINDING_FAIL, "sessions", "cannot make a second "
		    "connection to check the broker's queues");
	else
		doctor_begin(d);	/* the queue check */
	doctor_end(d);		/* the bus checks are under way */
}

void
doctor_bus_checks(struct doctor *d)
{
	struct cli *c = d->c;
	char filter[HB_TOPIC_MAX];

	d->bus_over = true;
	snprintf(d->queue_topic, sizeof(d->queue_topic), "%s/cli/%s/queue",
	    c->prefix, c->bus_cfg.client_id);
	hb_topic_svc(filter, sizeof(filter), c->prefix, "+", "+", "status");
	cli_subscribe(c, filter, on_status);
	hb_topic_svc(filter, sizeof(filter), c->prefix, "+", "+", "heartbeat");
	cli_subscribe(c, filter, on_heartbeat);
	hb_topic_health(filter, sizeof(filter), c->prefix, "+");
	cli_subscribe(c, filter, on_health);
	cli_sync(c, after_sync);
}

void
doctor_free(struct doctor *d)
{
	hb_bus_free(d->probe);
	if (d->ev_probe)
		event_free(d->ev_probe);
	if (d->ev_heartbeats)
		event_free(d->ev_heartbeats);
	hb_http_client_free(d->http);
	free(d);
}
