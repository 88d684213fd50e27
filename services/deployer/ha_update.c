/*
 * ha_update: discovery config, state and Install button of the update entity
 * (see ha_update.h). The state carries only the keys of Home Assistant's MQTT
 * update state schema, and never a null where it takes a string: Home
 * Assistant drops a whole state message that breaks its schema.
 */
#include "ha_update.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_restore.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_MAX 255		/* Home Assistant shows no more */
/* Our discovery config put back at most this often (hb_restore). */
#define RESTORE_MAX 60
#define RESTORE_WINDOW_MS 60000

struct ha {
	struct hb_bus *bus;
	char prefix[64];
	char instance[64];
	char node_id[80];
	char discovery_prefix[64];
	bool discovery;
	ha_install_fn on_install;
	void *arg;
	char latest[129];
	/* what the entity shows */
	char installed[129];
	bool in_progress;
	int percent;
	char failure[SUMMARY_MAX + 1];	/* what the last job that failed said */
	char status_url[320];		/* health's status page; "": none */
	char *published;		/* the state last published */
	char *published_attrs;		/* the attributes last published */
	struct hb_restore restore;	/* of our discovery config */
};

static void
topic_state(const struct ha *h, char *out, size_t n)
{
	hb_topic_deploy(out, n, h->prefix, "update", h->instance);
}

/* P/deploy/update/<instance>/attributes: the state takes no other keys */
static void
topic_attributes(const struct ha *h, char *out, size_t n)
{
	char state[HB_TOPIC_MAX];

	topic_state(h, state, sizeof(state));
	snprintf(out, n, "%s/attributes", state);
}

json_t *
ha_discovery_config(const struct ha *h)
{
	char state[HB_TOPIC_MAX], install[HB_TOPIC_MAX], avail[HB_TOPIC_MAX];
	char attrs[HB_TOPIC_MAX], uid[128];
	json_t *c = json_object(), *dev;

	topic_state(h, state, sizeof(state));
	topic_attributes(h, attrs, sizeof(attrs));
	hb_topic_deploy(install, sizeof(install), h->prefix, "install", NULL);
	hb_topic_svc(avail, sizeof(avail), h->prefix, "deployer", h->instance,
	    "status");
	snprintf(uid, sizeof(uid), "%s_deploy", h->node_id);
	json_object_set_new(c, "name", json_string("Deploy"));
	json_object_set_new(c, "unique_id", json_string(uid));
	/* no device_class: "firmware" is a device's, not a software stack's */
	json_object_set_new(c, "title", json_string("homebus"));
	json_object_set_new(c, "state_topic", json_string(state));
	json_object_set_new(c, "json_attributes_topic", json_string(attrs));
	if (h->status_url[0])
		json_object_set_new(c, "release_url", json_string(h->status_url));
	json_object_set_new(c, "command_topic", json_string(install));
	/* several deployers may share a bus: the button names this one */
	json_object_set_new(c, "payload_install", json_string(h->instance));
	json_object_set_new(c, "qos", json_integer(1));
	/* a retained install would deploy again at every reconnect */
	json_object_set_new(c, "retain", json_false());
	json_object_set_new(c, "availability", json_pack("[{s:s,s:s,s:s}]",
	    "topic", avail, "payload_available", "online",
	    "payload_not_available", "offline"));
	dev = json_pack("{s:[s],s:s,s:s,s:s,s:s}", "identifiers", h->node_id,
	    "name", "homebus", "manufacturer", "homebus", "model",
	    "homebus-deployer", "sw_version", HB_VERSION);
	if (h->status_url[0])
		json_object_set_new(dev, "configuration_url",
		    json_string(h->status_url));
	json_object_set_new(c, "device", dev);
	json_object_set_new(c, "origin", json_pack("{s:s,s:s}", "name",
	    "homebus-deployer", "sw_version", HB_VERSION));
	return c;
}

json_t *
ha_state(const struct ha *h)
{
	json_t *s = json_object();
	const char *latest = h->latest[0] ? h->latest : h->installed;
	char summary[SUMMARY_MAX + 1];

	/* a version nobody knows is left out: null is not a string */
	if (h->installed[0])
		json_object_set_new(s, "installed_version", json_string(h->installed));
	if (latest[0])
		json_object_set_new(s, "latest_version", json_string(latest));
	json_object_set_new(s, "title", json_string("homebus"));
	/* what the version is; what failed is an attribute (ha_attributes) */
	if (latest[0] && strcmp(latest, h->installed) != 0)
		snprintf(summary, sizeof(summary), "homebus %s is available; %s "
		    "runs", latest, h->installed[0] ? h->installed : "another");
	else if (latest[0])
		snprintf(summary, sizeof(summary), "homebus %s runs", latest);
	else
		summary[0] = '\0';
	json_object_set_new(s, "release_summary", json_string(summary));
	json_object_set_new(s, "in_progress", json_boolean(h->in_progress));
	json_object_set_new(s, "update_percentage", h->in_progress && h->percent >= 0 ?
	    json_integer(h->percent) : json_null());
	return s;
}

json_t *
ha_attributes(const struct ha *h)
{
	return json_pack("{s:s}", "last_failure", h->failure);
}

/* Publishes j (retained, stolen) on topic unless it is *last already. */
static void
publish_changed(struct ha *h, const char *topic, json_t *j, char **last,
    bool force)
{
	char *text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (text == NULL)
		return;
	if (!force && *last && strcmp(text, *last) == 0) {
		free(text);
		return;
	}
	hb_bus_publish(h->bus, topic, text, strlen(text), 1, true);
	free(*last);
	*last = text;
}

static void
publish_state(struct ha *h, bool force)
{
	char topic[HB_TOPIC_MAX];

	topic_attributes(h, topic, sizeof(topic));
	publish_changed(h, topic, ha_attributes(h), &h->published_attrs, force);
	topic_state(h, topic, sizeof(topic));
	publish_changed(h, topic, ha_state(h), &h->published, force);
}

static int
topic_config(const struct ha *h, char *out, size_t n)
{
	return hb_topic_ha_config(out, n, h->discovery_prefix, "update",
	    h->node_id, "deploy");
}

static void
publish_config(struct ha *h, const json_t *c)
{
	char topic[HB_TOPIC_MAX];

	if (topic_config(h, topic, sizeof(topic)) == 0)
		hb_bus_publish_json(h->bus, topic, c, 1, true);
}

void
ha_announce(struct ha *h)
{
	json_t *c;

	if (!h->discovery)
		return;
	c = ha_discovery_config(h);
	publish_config(h, c);
	json_decref(c);
	publish_state(h, true);
}

/*
 * What is retained on our own discovery topic. Anything but our config
 * (another account's, which could point the Install button elsewhere, an
 * empty one that removes the entity, an older version's) is replaced by
 * ours at once, within RESTORE_MAX a minute.
 */
static void
on_own_config(void *arg, const struct hb_bus_msg *msg)
{
	struct ha *h = arg;
	json_t *mine = ha_discovery_config(h);

	if (!hb_msg_json_equal(msg->payload, msg->len, mine) &&
	    hb_restore_take(&h->restore, "the update entity's discovery config",
	    msg->topic))
		publish_config(h, mine);
	json_decref(mine);
}

/* Cuts s to at most max bytes on a UTF-8 character boundary. */
static void
copy_cut(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

void
ha_update(struct ha *h, const char *installed, bool in_progress, int percent,
    const char *summary)
{
	snprintf(h->installed, sizeof(h->installed), "%s", installed);
	h->in_progress = in_progress;
	h->percent = percent > 100 ? 100 : percent;
	copy_cut(h->failure, sizeof(h->failure), summary, SUMMARY_MAX);
	publish_state(h, false);
}

const char *
ha_latest(const struct ha *h)
{
	return h->latest;
}

static void
on_available(void *arg, const struct hb_bus_msg *msg)
{
	struct ha *h = arg;
	char tag[129], err[160];

	if (msg->len == 0) {
		h->latest[0] = '\0';
	} else if (hb_deploy_available_decode(msg->payload, msg->len, tag,
	    sizeof(tag), err, sizeof(err)) != 0) {
		hb_warn("ignoring deploy/available reason=\"%s\" (expected "
		    "{\"tag\": \"<tag>\"})", err);
		return;
	} else {
		snprintf(h->latest, sizeof(h->latest), "%s", tag);
		hb_info("version available tag=%s", h->latest);
	}
	publish_state(h, false);
}

static void
on_install(void *arg, const struct hb_bus_msg *msg)
{
	struct ha *h = arg;

	/* another deployer's button, or a stray message */
	if (msg->len != strlen(h->instance) ||
	    memcmp(msg->payload, h->instance, msg->len) != 0)
		return;
	hb_info("install pressed in home assistant latest=%s installed=%s",
	    h->latest[0] ? h->latest : "-", h->installed);
	h->on_install(h->latest, h->arg);
}

static void
on_ha_status(void *arg, const struct hb_bus_msg *msg)
{
	/* Home Assistant (re)started: it reads discovery again */
	if (msg->len == 6 && memcmp(msg->payload, "online", 6) == 0)
		ha_announce(arg);
}

struct ha *
ha_new(struct hb_bus *bus, const struct ha_opts *o)
{
	struct ha *h = hb_xcalloc(1, sizeof(*h));
	char *c;

	h->bus = bus;
	snprintf(h->prefix, sizeof(h->prefix), "%s", o->prefix);
	snprintf(h->instance, sizeof(h->instance), "%s", o->instance);
	snprintf(h->discovery_prefix, sizeof(h->discovery_prefix), "%s",
	    o->discovery_prefix);
	/* discovery ids take letters, digits, '_' and '-' only */
	snprintf(h->node_id, sizeof(h->node_id), "homebus_%s", o->instance);
	for (c = h->node_id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			*c = '_';
	snprintf(h->status_url, sizeof(h->status_url), "%s",
	    o->status_url ? o->status_url : "");
	h->discovery = o->discovery;
	h->on_install = o->on_install;
	h->arg = o->arg;
	h->percent = -1;
	hb_restore_init(&h->restore, RESTORE_MAX, RESTORE_WINDOW_MS);
	return h;
}

void
ha_free(struct ha *h)
{
	if (h == NULL)
		return;
	free(h->published);
	free(h->published_attrs);
	hb_restore_free(&h->restore);
	free(h);
}

int
ha_subscribe(struct ha *h)
{
	char topic[HB_TOPIC_MAX];
	int rc = 0;

	hb_topic_deploy(topic, sizeof(topic), h->prefix, "available", NULL);
	rc |= hb_bus_subscribe(h->bus, topic, 1, on_available, h);
	hb_topic_deploy(topic, sizeof(topic), h->prefix, "install", NULL);
	rc |= hb_bus_subscribe(h->bus, topic, 1, on_install, h);
	if (h->discovery) {
		hb_topic_join(topic, sizeof(topic), h->discovery_prefix, "status");
		rc |= hb_bus_subscribe(h->bus, topic, 1, on_ha_status, h);
		if (topic_config(h, topic, sizeof(topic)) == 0)
			rc |= hb_bus_subscribe(h->bus, topic, 1, on_own_config, h);
	}
	return rc;
}
