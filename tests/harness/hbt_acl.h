/*
 * hbt_acl: mosquitto as shipped (deploy/mosquitto.conf, and the ACL that
 * deploy/mosquitto-acl writes from deploy/mosquitto.acl), with a password
 * for every user it names, and MQTT v5 clients logged in as those users
 * that record what they receive and the reason code of each operation.
 */
#ifndef HBT_ACL_H
#define HBT_ACL_H

#include "hbt.h"

#include <MQTTAsync.h>
#include <pthread.h>

#define HBT_NOT_AUTHORIZED 135	/* MQTT v5 reason code */

/* Every user of the shipped ACL, NULL-terminated; user U's password is "pw-U". */
extern const char *const hbt_acl_users[];

/*
 * Starts mosquitto with deploy/mosquitto.conf line by line, only the
 * password file, the store, the listener's port and the ACL's path being
 * the test's (in dir), and the ACL written by deploy/mosquitto-acl for
 * instance. Ends the test if it does not run.
 */
void hbt_acl_broker_start(struct hbt_proc *p, const char *dir, int port,
    const char *instance);

/*
 * Starts homebus-<service> logged in as user <service> (its password in a
 * file of its own), instance hub, heartbeats every second, quick
 * reconnects, the default client id, data_dir <test dir>/<service>, its
 * http_port, and `section` spliced into its own section ("\"interval_s\":
 * 1", may be NULL). Ends the test if it does not start.
 */
void hbt_acl_service_start(struct hbt_service *s, const char *service,
    int port, int http_port, const char *section);
/* ... with bus_extra spliced into its bus section (may be NULL). */
void hbt_acl_service_start_bus(struct hbt_service *s, const char *service,
    int port, int http_port, const char *bus_extra, const char *section);

struct hbt_user {
	MQTTAsync client;
	char name[32];
	char client_id[160];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;			/* reason code of the last operation; -1: failed */
	bool session_present;	/* of the last CONNACK */
	struct hbt_mqtt_msg *msgs;
	size_t nmsgs, cap;
};

/*
 * Connects as user name (NULL: anonymous) with password "pw-<name>", or
 * `password` if not NULL, as client_id (NULL: "test-<name>-<random>"). With
 * session_expiry_s > 0 the session is persistent (clean start off, that
 * expiry), else clean. Returns the client (hbt_user_close it), or NULL
 * with the reason code of the refusal in *refused.
 */
struct hbt_user *hbt_user_connect(int port, const char *name,
    const char *password, const char *client_id, int session_expiry_s,
    int *refused);
void hbt_user_close(struct hbt_user *u);
/* Subscribes at QoS 1: the SUBACK's reason code (1: granted QoS 1). */
int hbt_user_subscribe(struct hbt_user *u, const char *filter);
/* Publishes; at QoS 1 the PUBACK's reason code (0: accepted), else 0 once sent. */
int hbt_user_publish(struct hbt_user *u, const char *topic, const char *payload,
    int qos, bool retained);
/* Messages received on topics matching filter whose payload has `has` (NULL: any). */
size_t hbt_user_received(struct hbt_user *u, const char *filter, const char *has);
/* The last payload received on exactly topic (a copy to free), or NULL. */
char *hbt_user_last(struct hbt_user *u, const char *topic);
/* True when some topic or payload received so far contains s. */
bool hbt_user_saw(struct hbt_user *u, const char *s);

/*
 * Publishes, as u at QoS 1, points first..first+n-1 of generator gen on
 * homebus/points/<measurement> ("<measurement>,gen=<gen> seq=<i>i <ns>"),
 * per_s a second (0: as fast as the broker takes them). *next_ns is the
 * next point's timestamp, advanced by one per point: no two points share
 * a series and a time, so InfluxDB keeps each once.
 */
void hbt_acl_publish_points(struct hbt_user *u, const char *measurement,
    const char *gen, long first, long n, int per_s, int64_t *next_ns);
/* How many points of gen InfluxDB's database homebus holds in measurement. */
long long hbt_acl_points_landed(struct hbt_influx *influx,
    const char *measurement, const char *gen);

#endif
