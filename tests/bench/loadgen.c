/*
 * bench_loadgen: publishes N points of line protocol at a rate (or as fast
 * as the broker takes them), L lines per message, QoS 0 or 1, and prints
 * what it published and what the broker acknowledged. A process of its own
 * on paho's synchronous client, so that the generator neither shares paho's
 * threads with the thing measured nor spends a core on a command queue.
 *
 *   bench_loadgen -p PORT [-t TOPIC] [-m MEASUREMENT] [-g GEN] [-n POINTS]
 *                 [-r POINTS_PER_S] [-l LINES_PER_MSG] [-q QOS] [-c CLIENT_ID]
 *                 [-f lp|z2m] [-u USER -P PASSWORD_FILE]
 *
 * Points (-f lp, the default): <measurement>,gen=<gen> seq=<i>i,v=<i%1000>.5
 * — no timestamp, the writer stamps them. With -f z2m each message is what
 * a zigbee2mqtt sensor sends: {"seq":i,"temperature":..,"humidity":..,
 * "battery":..,"voltage":..,"linkquality":..} (one point a message).
 * Output (one line, key=value): published, acked, seconds, points_per_s.
 */
#include <MQTTClient.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long acked;
static long lines_per_msg = 1;

/* QoS 1: the messages published and acknowledged, and the window between */
static atomic_long sent_msgs, acked_msgs;
static long window = 1000;
static atomic_bool waiting;
static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t window_room = PTHREAD_COND_INITIALIZER;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_delivered(void *ctx, MQTTClient_deliveryToken tok)
{
	(void)ctx;
	(void)tok;
	atomic_fetch_add(&acked, lines_per_msg);
	/* wakes the publisher once half the window is free: one wake-up per
	 * window/2 acknowledgements, not one per acknowledgement */
	if (atomic_load(&sent_msgs) - (atomic_fetch_add(&acked_msgs, 1) + 1) <=
	    window / 2 && atomic_load(&waiting)) {
		pthread_mutex_lock(&window_lock);
		pthread_cond_signal(&window_room);
		pthread_mutex_unlock(&window_lock);
	}
}

/* QoS 1: waits while the window is full, until half of it is free. */
static void
wait_for_window(void)
{
	if (atomic_load(&sent_msgs) - atomic_load(&acked_msgs) < window)
		return;
	pthread_mutex_lock(&window_lock);
	atomic_store(&waiting, true);
	while (atomic_load(&sent_msgs) - atomic_load(&acked_msgs) > window / 2) {
		struct timespec until;

		/* a lost acknowledgement (connection lost) must not hang us */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (pthread_cond_timedwait(&window_room, &window_lock, &until) != 0)
			break;
	}
	atomic_store(&waiting, false);
	pthread_mutex_unlock(&window_lock);
}

static int
on_message(void *ctx, char *topic, int len, MQTTClient_message *m)
{
	(void)ctx;
	(void)len;
	MQTTClient_freeMessage(&m);
	MQTTClient_free(topic);
	return 1;
}

static void
on_lost(void *ctx, char *cause)
{
	(void)ctx;
	fprintf(stderr, "loadgen: connection lost: %s\n", cause ? cause : "?");
}

int
main(int argc, char **argv)
{
	MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
	const char *topic = NULL, *meas = "load", *gen = "g", *id = NULL;
	const char *format = "lp", *user = NULL, *pwfile = NULL;
	char password[256] = "";
	long n = 100000, port = 1883, qos = 0;
	double rate = 0;
	char uri[64], topicbuf[256], idbuf[64];
	char *payload;
	size_t cap;
	MQTTClient client;
	int64_t start, end;
	long seq = 0;
	int c;

	while ((c = getopt(argc, argv, "p:t:m:g:n:r:l:q:c:f:w:u:P:")) != -1) {
		switch (c) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 't': topic = optarg; break;
		case 'm': meas = optarg; break;
		case 'g': gen = optarg; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 'l': lines_per_msg = strtol(optarg, NULL, 10); break;
		case 'q': qos = strtol(optarg, NULL, 10); break;
		case 'c': id = optarg; break;
		case 'f': format = optarg; break;
		case 'w': window = strtol(optarg, NULL, 10); break;
		case 'u': user = optarg; break;
		case 'P': pwfile = optarg; break;
		default:
			fprintf(stderr, "usage: see the header of loadgen.c\n");
			return 2;
		}
	}
	if (pwfile != NULL) {
		FILE *f = fopen(pwfile, "r");
		int got = f != NULL && fgets(password, sizeof(password), f) != NULL;

		if (f != NULL)
			fclose(f);
		if (!got) {
			fprintf(stderr, "loadgen: cannot read %s\n", pwfile);
			return 2;
		}
		password[strcspn(password, "\r\n")] = '\0';
	}
	co.username = user;
	co.password = pwfile != NULL ? password : NULL;
	if (strcmp(format, "z2m") == 0)
		lines_per_msg = 1;
	else if (strcmp(format, "lp") != 0) {
		fprintf(stderr, "loadgen: -f lp or z2m\n");
		return 2;
	}
	if (lines_per_msg < 1)
		lines_per_msg = 1;
	if (window < 2 || window > 60000) {
		fprintf(stderr, "loadgen: -w from 2 to 60000\n");
		return 2;
	}
	if (n % lines_per_msg != 0)
		n += lines_per_msg - n % lines_per_msg;	/* whole messages */
	if (topic == NULL) {
		snprintf(topicbuf, sizeof(topicbuf), "homebus/points/%s", meas);
		topic = topicbuf;
	}
	if (id == NULL) {
		snprintf(idbuf, sizeof(idbuf), "loadgen-%s-%d", gen, getpid());
		id = idbuf;
	}
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%ld", port);
	MQTTClient_setTraceLevel(MQTTCLIENT_TRACE_ERROR);	/* as hb_bus does */
	if (MQTTClient_create(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
	    MQTTCLIENT_SUCCESS)
		return 1;
	if (qos > 0)
		MQTTClient_setCallbacks(client, NULL, on_lost, on_message, on_delivered);
	co.cleansession = 1;
	co.keepAliveInterval = 60;
	co.maxInflightMessages = (int)window + 1;	/* never reached: see the header */
	if (MQTTClient_connect(client, &co) != MQTTCLIENT_SUCCESS) {
		fprintf(stderr, "loadgen: cannot connect to %s\n", uri);
		return 1;
	}
	cap = (size_t)lines_per_msg * (strlen(meas) + strlen(gen) + 64) + 200;
	payload = malloc(cap);
	start = now_us();
	while (seq < n) {
		size_t len = 0;
		int rc;

		if (rate > 0) {
			int64_t due = start + (int64_t)((double)seq * 1e6 / rate);
			int64_t t = now_us();

			if (due > t)
				usleep((useconds_t)(due - t));
		}
		if (*format == 'z')
			len = (size_t)snprintf(payload, cap, "{\"seq\":%ld,\"temperature\":"
			    "%ld.%02ld,\"humidity\":%ld.5,\"battery\":%ld,\"voltage\":%ld,"
			    "\"linkquality\":%ld}", seq, 15 + seq % 10, seq % 100, 40 + seq % 20,
			    100 - seq % 50, 2900 + seq % 100, 50 + seq % 150), seq++;
		else
			for (long i = 0; i < lines_per_msg; i++, seq++)
				len += (size_t)snprintf(payload + len, cap - len,
				    "%s%s,gen=%s seq=%ldi,v=%ld.5", i ? "\n" : "", meas, gen,
				    seq, seq % 1000);
		if (qos > 0)
			wait_for_window();
		while ((rc = MQTTClient_publish(client, topic, (int)len, payload,
		    (int)qos, 0, NULL)) == MQTTCLIENT_MAX_MESSAGES_INFLIGHT)
			usleep(100);
		if (rc != MQTTCLIENT_SUCCESS) {
			fprintf(stderr, "loadgen: publish failed rc=%d at seq %ld\n", rc, seq);
			break;
		}
		if (qos == 0)
			atomic_fetch_add(&acked, lines_per_msg);
		else
			atomic_fetch_add(&sent_msgs, 1);
	}
	/* QoS 1: wait for the last acknowledgements (up to 60 s) */
	for (int i = 0; i < 60000 && atomic_load(&acked) < seq; i++)
		usleep(1000);
	end = now_us();
	printf("published=%ld acked=%ld seconds=%.3f points_per_s=%.0f\n", seq,
	    atomic_load(&acked), (double)(end - start) / 1e6,
	    (double)seq * 1e6 / (double)(end - start));
	fflush(stdout);
	MQTTClient_disconnect(client, 2000);
	MQTTClient_destroy(&client);
	free(payload);
	return atomic_load(&acked) == seq ? 0 : 1;
}
