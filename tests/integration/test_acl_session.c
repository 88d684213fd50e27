/*
 * No other account can take over a service's MQTT session under the
 * shipped broker configuration (hbt_acl: deploy/mosquitto.conf and the
 * ACL deploy/mosquitto-acl writes). mosquitto lets any user connect with
 * any client id, and a client that connects with a persistent session's id
 * takes the session over: what is queued in it is then checked against the
 * newcomer's ACL and dropped. So a service's default client id carries an
 * HMAC of its password (hb_bus_client_id), which no other account can
 * know or read on the bus.
 *
 * The real writer, logged in as writer with its default client id, is
 * stopped with 1,000 points queued for it. Device accounts and the other
 * people's accounts (zigbee2mqtt, homeassistant, cli) read everything
 * their ACL lets them read ($SYS too), then connect, each with a
 * persistent session, as the writer's old predictable id
 * (homebus-writer-<host>) and every writer id they found. The writer
 * restarts and all 1,000 points are in InfluxDB. Then an impostor
 * logging in every half second while 2,000 points stream in neither costs
 * a point nor disconnects the writer.
 */
#include "hbt_acl.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define QUEUED 1000
#define STREAMED 2000
#define STREAM_RATE 500		/* points a second: the stream lasts 4 s */

static const char *const impostors[] = { "zigbee2mqtt", "homeassistant", "cli" };

struct fixture {
	struct hbt_proc broker;
	struct hbt_influx influx;
	struct hbt_service writer;
	struct hbt_user *ingest;
	int port;
	int64_t next_ns;	/* the next point's timestamp */
	long sent;		/* points published so far */
};

/* No bus.client_id: the default is what is under test. */
static void
start_writer(struct fixture *f)
{
	struct hb_buf section = { 0 };

	hb_buf_printf(&section, "\"retry_max_ms\": 2000, \"influx\": "
	    "{\"url\": \"%s\", \"db\": \"homebus\"}", f->influx.url);
	hbt_acl_service_start(&f->writer, "writer", f->port, hbt_free_port(),
	    section.data);
	hb_buf_free(&section);
}

static long long
landed(struct fixture *f, const char *gen)
{
	return hbt_acl_points_landed(&f->influx, "acl", gen);
}

static void
publish_points(struct fixture *f, const char *gen, long first, long n, int per_s)
{
	hbt_acl_publish_points(f->ingest, "acl", gen, first, n, per_s, &f->next_ns);
	f->sent += n;
}

/* The client id the writer logged in with ("bus connected ... client_id=X"). */
static void
writer_client_id(const struct hbt_proc *p, char *out, size_t outlen)
{
	char *text = hb_read_file(p->log, 64 << 20, NULL);
	const char *at = text ? strstr(text, "client_id=") : NULL;
	size_t n = 0;

	HBT_REQUIRE(at != NULL, "the writer logs its client id");
	at += strlen("client_id=");
	while (at[n] && at[n] != ' ' && at[n] != '\n' && n + 1 < outlen)
		n++;
	memcpy(out, at, n);
	out[n] = '\0';
	free(text);
}

/*
 * Logs in as user with client id, persistent (clean start off, an hour),
 * as a thief of a session would, stays a moment, and leaves.
 */
static void
impersonate(struct fixture *f, const char *user, const char *id, int64_t stay_ms)
{
	int refused = 0;
	struct hbt_user *u = hbt_user_connect(f->port, user, NULL, id, 3600, &refused);

	HBT_CHECK(u != NULL, "%s logs in as %s (refused %d)", user, id, refused);
	if (u == NULL)
		return;
	hbt_log("%s as %s: session present %d", user, id, u->session_present);
	HBT_CHECK(hbt_user_subscribe(u, "#") >= 0, "and subscribes");
	hbt_sleep_ms(stay_ms);
	hbt_user_close(u);
}

/*
 * What the impostors can learn on the bus: every topic and payload their
 * ACL lets them read, retained and live, $SYS included. None of it names
 * the writer's client id; every "homebus-writer..." in it is a guess.
 */
static void
learn(struct fixture *f, const char *real_id, char guesses[][160],
    size_t *nguesses, size_t max)
{
	struct hbt_user *u[HB_ARRAY_LEN(impostors)];
	int refused = 0;

	for (size_t i = 0; i < HB_ARRAY_LEN(impostors); i++) {
		u[i] = hbt_user_connect(f->port, impostors[i], NULL, NULL, 0, &refused);
		HBT_REQUIRE(u[i] != NULL, "%s logs in", impostors[i]);
		hbt_user_subscribe(u[i], "#");
		hbt_user_subscribe(u[i], "$SYS/#");
	}
	/* the retained messages, the heartbeats (1 s) and $SYS (10 s) */
	hbt_sleep_ms(11000);
	for (size_t i = 0; i < HB_ARRAY_LEN(impostors); i++) {
		hbt_log("%s read %zu messages", impostors[i], u[i]->nmsgs);
		HBT_CHECK(!hbt_user_saw(u[i], real_id), "nothing %s can read names "
		    "the writer's client id", impostors[i]);
		for (size_t m = 0; m < u[i]->nmsgs; m++) {
			const char *fields[] = { u[i]->msgs[m].topic,
			    u[i]->msgs[m].payload };

			for (size_t k = 0; k < 2; k++) {
				const char *at = strstr(fields[k], "homebus-writer");
				size_t n = 0;

				if (at == NULL || *nguesses == max)
					continue;
				while (at[n] && strchr(" \t\n\",/", at[n]) == NULL &&
				    n < 159)
					n++;
				snprintf(guesses[(*nguesses)++], 160, "%.*s", (int)n, at);
			}
		}
		hbt_user_close(u[i]);
	}
}

/* The writer stopped with 1,000 points queued; impostors; all 1,000 land. */
static void
check_queued(struct fixture *f, const char *predictable, const char *real_id)
{
	char guesses[32][160];
	size_t nguesses = 0;

	HBT_REQUIRE(hbt_proc_stop(&f->writer.proc, SIGTERM, 15000) == 0,
	    "the writer stops");
	publish_points(f, "q", 0, QUEUED, 0);
	hbt_log("%d points queued for the stopped writer", QUEUED);

	snprintf(guesses[nguesses++], 160, "%s", predictable);
	learn(f, real_id, guesses, &nguesses, HB_ARRAY_LEN(guesses));
	for (size_t i = 0; i < HB_ARRAY_LEN(impostors); i++)
		for (size_t g = 0; g < nguesses; g++)
			impersonate(f, impostors[i], guesses[g], 4000 / (int64_t)nguesses);

	HBT_REQUIRE(hbt_proc_restart(&f->writer.proc) == 0, "the writer restarts");
	HBT_CHECK(HBT_WAIT(landed(f, "q") >= QUEUED, 60000), "the %d points queued "
	    "while the writer was away are in InfluxDB: %lld", QUEUED,
	    landed(f, "q"));
	/* once per start it takes over the old id's session, an impostor's now,
	 * and ends it (hb_bus_legacy.c): done before the impostor below */
	HBT_CHECK(HBT_WAIT(hbt_proc_log_count(&f->writer.proc, "session of the old "
	    "client id") >= 1, 20000), "the writer ended the old id's session");
}

struct impostor {
	struct fixture *f;
	const char *id;
	atomic_bool stop;
	int logins;
};

/* Logs in as the writer's old id every half second, each account in turn. */
static void *
impostor_run(void *arg)
{
	struct impostor *im = arg;

	while (!atomic_load(&im->stop)) {
		impersonate(im->f, impostors[(size_t)im->logins++ %
		    HB_ARRAY_LEN(impostors)], im->id, 500);
	}
	return NULL;
}

/* An impostor logs in every half second while points stream in. */
static void
check_stream(struct fixture *f, const char *predictable)
{
	size_t connected = hbt_proc_log_count(&f->writer.proc, "bus connected");
	size_t lost = hbt_proc_log_count(&f->writer.proc, "bus connection lost");
	struct impostor im = { .f = f, .id = predictable };
	pthread_t thread;

	HBT_REQUIRE(pthread_create(&thread, NULL, impostor_run, &im) == 0,
	    "the impostor");
	publish_points(f, "s", 0, STREAMED, STREAM_RATE);
	atomic_store(&im.stop, true);
	pthread_join(thread, NULL);
	hbt_log("the impostor logged in %d times during the stream", im.logins);
	HBT_CHECK(im.logins >= 4, "the impostor was there all through the stream");
	HBT_CHECK(HBT_WAIT(landed(f, "s") >= STREAMED, 60000), "the %d points "
	    "streamed are in InfluxDB: %lld", STREAMED, landed(f, "s"));
	HBT_CHECK(hbt_proc_log_count(&f->writer.proc, "bus connection lost") == lost &&
	    hbt_proc_log_count(&f->writer.proc, "bus connected") == connected,
	    "the writer was never disconnected (its log: %zu connection lost, "
	    "%zu connected, before %zu and %zu)",
	    hbt_proc_log_count(&f->writer.proc, "bus connection lost"),
	    hbt_proc_log_count(&f->writer.proc, "bus connected"), lost, connected);
	HBT_CHECK(landed(f, "q") == QUEUED && landed(f, "s") == STREAMED,
	    "every point once");
}

int
main(void)
{
	struct fixture f = { 0 };
	char dir[600], host[256], predictable[320], real_id[160];
	int refused = 0;

	hbt_init("acl_session");
	snprintf(dir, sizeof(dir), "%s/mosquitto", hbt_dir());
	f.port = hbt_free_port();
	hbt_acl_broker_start(&f.broker, dir, f.port, "hub");
	HBT_REQUIRE(hbt_influx_start(&f.influx, NULL) == 0, "influxd");
	HBT_REQUIRE(hbt_influx_create_db(&f.influx, "homebus") == 0, "database");
	f.ingest = hbt_user_connect(f.port, "ingest", NULL, NULL, 0, &refused);
	HBT_REQUIRE(f.ingest != NULL, "ingest logs in");
	f.next_ns = hb_wall_ms() * 1000000;

	start_writer(&f);
	/* its session and subscription are there once a point gets through */
	HBT_REQUIRE(HBT_WAIT((publish_points(&f, "first", f.sent, 1, 0),
	    landed(&f, "first") >= 1), 30000), "the writer writes");
	writer_client_id(&f.writer.proc, real_id, sizeof(real_id));
	hb_hostname(host, sizeof(host));
	snprintf(predictable, sizeof(predictable), "homebus-writer-%s", host);
	hbt_log("the writer's client id: %s; the old default: %s", real_id,
	    predictable);

	check_queued(&f, predictable, real_id);
	check_stream(&f, predictable);

	HBT_CHECK(hbt_proc_stop(&f.writer.proc, SIGTERM, 15000) == 0, "clean exit");
	hbt_user_close(f.ingest);
	hbt_exit();
}
