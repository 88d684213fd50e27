/*
 * Home Assistant MQTT discovery, checked the way Home Assistant reads it:
 * a retained binary_sensor config per target (and one for the overall
 * state) with the keys Home Assistant needs, node ids and unique ids that
 * carry the watcher's instance and do not repeat, a device block,
 * availability on the watcher's own status topic; sent again when Home
 * Assistant announces itself on homeassistant/status; removed (an empty
 * retained config, before the state is emptied) when a target leaves the
 * configuration or the bus, and the configs of an older release (node ids
 * without the instance) too, while a restart neither repeats notifications
 * nor touches configs that are not the watcher's. A second watcher on the
 * broker leaves the first one's entities alone, and is told about.
 */
#include "health_fixture.h"

#include <ctype.h>
#include <signal.h>
#include <string.h>

#define HA "homeassistant/binary_sensor/"

static const char *const names[] = { "data", "broken", "job", "ingest",
	"broker", "_all" };

static bool
id_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return n > 0;
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Checks one discovery config against what Home Assistant requires. */
static void
check_config(const struct hbt_mqtt_msg *m, const char *name, json_t *uids)
{
	char state_topic[160], node[160];
	const char *node_start = m->topic + strlen(HA), *node_end;
	json_t *c = json_loads(m->payload, 0, NULL), *dev, *avail, *a0, *ids;
	const char *v;

	node_end = strchr(node_start, '/');
	HBT_CHECK(node_end && strcmp(node_end, "/health/config") == 0,
	    "topic %s: <prefix>/binary_sensor/<node>/<object>/config", m->topic);
	if (node_end) {
		snprintf(node, sizeof(node), "%.*s", (int)(node_end - node_start),
		    node_start);
		HBT_CHECK(strncmp(node, "homebus_hub_", 12) == 0 &&
		    id_ok(node, strlen(node)), "node id %s: homebus_<instance>_ and "
		    "[a-zA-Z0-9_-] only", node);
	}
	HBT_REQUIRE(json_is_object(c), "%s: a JSON object: %s", name, m->payload);
	snprintf(state_topic, sizeof(state_topic), "homebus/health/%s", name);
	v = jstr(c, "name");
	HBT_CHECK(v && strcmp(v, strcmp(name, "_all") == 0 ? "overall" : name) == 0,
	    "%s: name %s", name, v ? v : "-");
	v = jstr(c, "state_topic");
	HBT_CHECK(v && strcmp(v, state_topic) == 0, "%s: state_topic %s", name,
	    v ? v : "-");
	v = jstr(c, "unique_id");
	HBT_CHECK(v && *v && id_ok(v, strlen(v)) && strcmp(v, node) == 0,
	    "%s: unique_id %s, the node id", name, v ? v : "-");
	if (v) {
		HBT_CHECK(json_object_get(uids, v) == NULL, "%s: unique_id %s repeats",
		    name, v);
		json_object_set_new(uids, v, json_true());
	}
	v = jstr(c, "device_class");
	HBT_CHECK(v && (strcmp(v, "problem") == 0 || strcmp(v, "connectivity") == 0),
	    "%s: a binary_sensor device class: %s", name, v ? v : "-");
	HBT_CHECK(jstr(c, "payload_on") && jstr(c, "payload_off") &&
	    strcmp(jstr(c, "payload_on"), jstr(c, "payload_off")) != 0,
	    "%s: payload_on/off", name);
	v = jstr(c, "value_template");
	HBT_CHECK(v && strstr(v, "value_json.state") && strstr(v, jstr(c, "payload_on")) &&
	    strstr(v, jstr(c, "payload_off")) && strstr(v, "None"),
	    "%s: the template maps the state to on/off/unknown: %s", name, v ? v : "-");
	dev = json_object_get(c, "device");
	ids = json_object_get(dev, "identifiers");
	HBT_CHECK(json_is_object(dev) && json_is_array(ids) && json_array_size(ids) > 0 &&
	    jstr(dev, "name"), "%s: a device block with identifiers and a name", name);
	HBT_CHECK(json_is_string(json_array_get(ids, 0)) &&
	    strcmp(json_string_value(json_array_get(ids, 0)), "homebus_health_hub") == 0,
	    "%s: one device for the watcher", name);
	avail = json_object_get(c, "availability");
	a0 = json_array_get(avail, 0);
	v = jstr(a0, "topic");
	HBT_CHECK(json_is_array(avail) && v &&
	    strcmp(v, "homebus/svc/health/hub/status") == 0 &&
	    jstr(a0, "payload_available") && strcmp(jstr(a0, "payload_available"),
	    "online") == 0 && jstr(a0, "payload_not_available") &&
	    strcmp(jstr(a0, "payload_not_available"), "offline") == 0,
	    "%s: available while the watcher's status says online", name);
	HBT_CHECK(json_object_get(c, "availability_topic") == NULL,
	    "%s: availability and availability_topic never together", name);
	json_decref(c);
}

static char *
config_topic(const char *name, char *buf, size_t n)
{
	snprintf(buf, n, HA "homebus_hub_%s/health/config", name);
	return buf;
}

/* True when the config on topic was emptied before the state on state_topic. */
static bool
config_cleared_first(struct hbt_mqtt *m, const char *topic, const char *state_topic)
{
	long config = hbt_mqtt_index_empty(m, topic);
	long state = hbt_mqtt_index_empty(m, state_topic);

	hbt_log("cleared: config at %ld, state at %ld", config, state);
	return config >= 0 && state >= 0 && config < state;
}

int
main(void)
{
	struct hfix f;
	struct hbt_service second;
	struct hbt_mqtt *ha, *notes, *late;
	struct hbt_mqtt_msg *m;
	struct hb_buf cfg = { 0 };
	json_t *uids = json_object();
	int sport = hbt_free_port();
	char topic[200], url[128];
	struct hb_buf body = { 0 };
	const char *foreign = "{\"name\":\"x\",\"state_topic\":\"y\",\"device\":"
	    "{\"identifiers\":[\"somebody_else\"],\"name\":\"other\"}}";
	/* what an older release (node ids without the instance) left retained */
	const char *old_release = "{\"name\":\"data\",\"unique_id\":\"homebus_data\","
	    "\"state_topic\":\"homebus/health/data\",\"device\":"
	    "{\"identifiers\":[\"homebus_health_hub\"],\"name\":\"homebus health\"}}";
	const char *targets_v1 = "\"interval_s\": 1, \"fail_after\": 1, \"targets\": ["
	    "{\"name\": \"data\", \"type\": \"disk\", \"path\": \"/\", \"min_free_mb\": 1},"
	    "{\"name\": \"broken\", \"type\": \"exec\", \"argv\": [\"false\"]},"
	    "{\"name\": \"job\", \"type\": \"exec\", \"argv\": [\"true\"]}]";
	const char *targets_v2 = "\"interval_s\": 1, \"fail_after\": 1, \"targets\": ["
	    "{\"name\": \"data\", \"type\": \"disk\", \"path\": \"/\", \"min_free_mb\": 1},"
	    "{\"name\": \"broken\", \"type\": \"exec\", \"argv\": [\"false\"]}]";

	hfix_init(&f, "health_discovery");
	/* one client sees both the configs and the states, in order */
	ha = f.states;
	notes = f.notes;
	/* somebody else's entity that happens to sit where ours would */
	hbt_mqtt_publish(ha, HA "homebus_foreign/health/config", foreign,
	    strlen(foreign), 1, true);
	hbt_mqtt_publish(ha, HA "homebus_data/health/config", old_release,
	    strlen(old_release), 1, true);
	hbt_mqtt_subscribe(ha, "homeassistant/#", 1);
	hbt_mqtt_clear(ha);

	hfix_start_ingest(&f);
	hfix_start_health(&f, targets_v1);

	/* one config per target, and what Home Assistant needs in each */
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		m = hbt_mqtt_wait(ha, config_topic(names[i], topic, sizeof(topic)), NULL,
		    20000);
		HBT_CHECK(m != NULL, "a discovery config for %s", names[i]);
		if (m)
			check_config(m, names[i], uids);
		hbt_mqtt_msg_free(m);
	}
	HBT_CHECK(HBT_WAIT(hfix_notifications(&f, "health/broken/down") == 1, 10000),
	    "broken is told once");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_index_empty(ha, HA "homebus_data/health/config") >=
	    0, 10000), "the config of the older release (no instance in its node "
	    "id) is removed");

	/* retained: what Home Assistant finds when it (re)subscribes */
	late = hbt_mqtt_connect(f.broker.port, "test-late");
	HBT_REQUIRE(late != NULL, "a late client");
	hbt_mqtt_subscribe(late, "homeassistant/#", 1);
	hbt_mqtt_subscribe(late, "homebus/svc/health/hub/status", 1);
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		m = hbt_mqtt_wait(late, config_topic(names[i], topic, sizeof(topic)),
		    NULL, 10000);
		HBT_CHECK(m && m->retained && m->len > 0, "%s: retained", names[i]);
		hbt_mqtt_msg_free(m);
	}
	m = hbt_mqtt_wait(late, "homebus/svc/health/hub/status", NULL, 10000);
	HBT_CHECK(m && m->retained && strcmp(m->payload, "online") == 0,
	    "the availability topic says online (retained)");
	hbt_mqtt_msg_free(m);
	hbt_mqtt_close(late);

	/* Home Assistant restarts and announces itself: everything again */
	hbt_mqtt_clear(ha);
	hbt_mqtt_publish(ha, "homeassistant/status", "online", 6, 1, false);
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		m = hbt_mqtt_wait(ha, config_topic(names[i], topic, sizeof(topic)), NULL,
		    10000);
		HBT_CHECK(m && m->len > 0, "%s sent again after homeassistant/status "
		    "online", names[i]);
		hbt_mqtt_msg_free(m);
	}
	/* "offline" is not a reason to send anything */
	hbt_sleep_ms(500);
	hbt_mqtt_clear(ha);
	hbt_mqtt_publish(ha, "homeassistant/status", "offline", 7, 1, false);
	hbt_sleep_ms(1500);
	HBT_CHECK(hbt_mqtt_count(ha, HA "#") == 0, "nothing sent on offline: %zu",
	    hbt_mqtt_count(ha, HA "#"));

	/* the job leaves the configuration: its entity goes, the rest stays */
	HBT_CHECK(hbt_proc_stop(&f.health.proc, SIGTERM, 10000) == 0, "stopped");
	hbt_mqtt_clear(ha);
	hfix_start_health(&f, targets_v2);
	m = hbt_mqtt_wait(ha, config_topic("job", topic, sizeof(topic)), NULL, 20000);
	HBT_CHECK(m && m->len == 0, "the job's config is emptied: %s",
	    m ? m->payload : "(nothing)");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_index_empty(ha, "homebus/health/job") >= 0, 10000) &&
	    config_cleared_first(ha, topic, "homebus/health/job"),
	    "the job's config is emptied before its state (or Home Assistant "
	    "renders its template against nothing)");
	m = hbt_mqtt_wait(ha, config_topic("data", topic, sizeof(topic)), NULL, 20000);
	HBT_CHECK(m && m->len > 0, "data's config is published again");
	hbt_mqtt_msg_free(m);
	late = hbt_mqtt_connect(f.broker.port, "test-late2");
	HBT_REQUIRE(late != NULL, "a late client");
	hbt_mqtt_subscribe(late, "homeassistant/#", 1);
	hbt_mqtt_subscribe(late, "homebus/health/#", 1);
	hbt_sleep_ms(1500);
	HBT_CHECK(hbt_mqtt_count(late, config_topic("job", topic, sizeof(topic))) == 0,
	    "no retained config for the job any more");
	HBT_CHECK(hbt_mqtt_count(late, "homebus/health/job") == 0,
	    "nor a retained state");
	HBT_CHECK(hbt_mqtt_count_with(late, HA "homebus_foreign/health/config",
	    "somebody_else") == 1, "somebody else's config is left alone");
	HBT_CHECK(hbt_mqtt_count(late, config_topic("ingest", topic, sizeof(topic))) == 1,
	    "the service found on the bus keeps its entity");
	hbt_mqtt_close(late);

	/* a restart does not tell again what was told before it */
	hbt_sleep_ms(3000);
	HBT_CHECK(hfix_notifications(&f, "health/broken/down") == 1,
	    "broken, down before and after the restart, told once: %zu",
	    hfix_notifications(&f, "health/broken/down"));

	/* a service leaves the bus (its retained status is cleared): the same
	 * order, config first */
	hbt_mqtt_clear(ha);
	hbt_mqtt_publish(notes, "homebus/svc/ingest/hub/status", "", 0, 1, true);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_index_empty(ha, "homebus/health/ingest") >= 0,
	    10000) && config_cleared_first(ha, config_topic("ingest", topic,
	    sizeof(topic)), "homebus/health/ingest"),
	    "a service that left the bus: its config is emptied before its state");

	/* a second watcher on the same broker: its entities are its own, the
	 * first one's stay; each is told about the other */
	hbt_health_config(&cfg, "second", f.broker.port, "hub2", sport,
	    "\"interval_s\": 1");
	HBT_REQUIRE(hbt_service_start(&second, "health", "second", cfg.data, sport) == 0,
	    "a second watcher");
	m = hbt_mqtt_wait(ha, HA "homebus_hub2__all/health/config", NULL, 20000);
	HBT_CHECK(m && strstr(m->payload, "\"unique_id\":\"homebus_hub2__all\"") &&
	    strstr(m->payload, "homebus_health_hub2"), "the second watcher's "
	    "entities have node and unique ids of their own");
	hbt_mqtt_msg_free(m);
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(notes, "homebus/notify/warning",
	    "\"key\":\"health/_watchers/hub2\"") == 1 &&
	    hbt_mqtt_count_with(notes, "homebus/notify/warning",
	    "\"key\":\"health/_watchers/hub\"") == 1, 10000),
	    "each watcher warns of the other, once");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f.health_port);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "\"other_watcher\":\"hub2\""), "/health names it: %s",
	    body.data ? body.data : "");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.health_port);
	hb_buf_reset(&body);
	HBT_CHECK(hbt_http("GET", url, NULL, &body) == 200 && body.data &&
	    strstr(body.data, "Another health watcher (hub2)"), "so does the page");
	late = hbt_mqtt_connect(f.broker.port, "test-late3");
	HBT_REQUIRE(late != NULL, "a late client");
	hbt_mqtt_subscribe(late, "homeassistant/#", 1);
	hbt_sleep_ms(1500);
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		if (strcmp(names[i], "job") == 0 || strcmp(names[i], "ingest") == 0)
			continue;	/* gone above */
		HBT_CHECK(hbt_mqtt_count_with(late, config_topic(names[i], topic,
		    sizeof(topic)), "homebus_health_hub\"") == 1,
		    "%s: the first watcher's entity is still its own", names[i]);
	}
	hbt_mqtt_close(late);
	HBT_CHECK(hbt_proc_stop(&second.proc, SIGTERM, 10000) == 0, "second stopped");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", f.health_port);
	HBT_CHECK(HBT_WAIT((hb_buf_reset(&body), hbt_http("GET", url, NULL, &body)) ==
	    200 && body.data && strstr(body.data, "other_watcher") == NULL, 10000),
	    "gone from /health once it stopped");

	json_decref(uids);
	hb_buf_free(&cfg);
	hb_buf_free(&body);
	hfix_finish(&f);
}
