/*
 * How the writer tells what its spool dropped (services/writer/drops.c,
 * the bus and the spool stubbed): the first drop at once on
 * P/notify/warning, then at most one notification per window, sent when
 * the window ends with the total since the last one and each cause named;
 * nothing once the bus is closed. Time is each call's "now".
 */
#include "hbt.h"
#include "drops.h"

#include <string.h>

static struct {
	int published;
	char topic[128];
	char text[1024];
	char key[128];
} bus;

/* stubs: the bus */
int
hb_bus_publish_json(struct hb_bus *b, const char *topic, const json_t *obj,
    int qos, bool retain)
{
	(void)b;
	(void)qos;
	(void)retain;
	bus.published++;
	snprintf(bus.topic, sizeof(bus.topic), "%s", topic);
	snprintf(bus.text, sizeof(bus.text), "%s",
	    json_string_value(json_object_get(obj, "text")));
	snprintf(bus.key, sizeof(bus.key), "%s",
	    json_string_value(json_object_get(obj, "key")));
	return 0;
}

const char *
hb_bus_prefix(const struct hb_bus *b)
{
	(void)b;
	return "homebus";
}

const char *
hb_bus_instance(const struct hb_bus *b)
{
	(void)b;
	return "nuc";
}

/* and the spool's state: its disk is full */
void
spool_state(const struct spool *sp, struct spool_state *out)
{
	(void)sp;
	memset(out, 0, sizeof(*out));
	out->failing = true;
	out->error = "database or disk is full";
}

static const struct spool_drops none;

static void
setup(struct drops *d, struct event_base *base, struct retry *r)
{
	memset(&bus, 0, sizeof(bus));
	memset(r, 0, sizeof(*r));
	snprintf(r->reason, sizeof(r->reason), "HTTP 503");
	drops_init(d, base, NULL, r, 512 << 20, 16 << 20, 60000);
	d->bus = (struct hb_bus *)&bus;	/* only handed to the stubs */
}

static void
test_window(struct event_base *base)
{
	struct drops d;
	struct retry r;
	const struct spool_drops five = { .batches = 1, .points = 5 };
	const struct spool_drops two = { .batches = 1, .points = 2 };

	setup(&d, base, &r);
	drops_note(&d, &five, &none, 1000);
	HBT_CHECK(bus.published == 1 && strcmp(bus.topic,
	    "homebus/notify/warning") == 0 && strcmp(bus.key,
	    "writer-spool-full-nuc") == 0, "the first drop is told at once "
	    "(%d, %s)", bus.published, bus.topic);
	HBT_CHECK(strstr(bus.text, "dropped 5 points") &&
	    strstr(bus.text, "writer.spool.max_mb (512 MB)") &&
	    strstr(bus.text, "HTTP 503"), "with the count, the cap and "
	    "InfluxDB's reason: %s", bus.text);
	drops_note(&d, &two, &none, 2000);
	drops_note(&d, &none, &two, 3000);
	HBT_CHECK(bus.published == 1 && evtimer_pending(d.ev_window, NULL),
	    "the next ones wait for the window's end");
	drops_tell(&d, 61000);	/* what the window's timer does */
	HBT_CHECK(bus.published == 2 && strstr(bus.text, "dropped 4 points"),
	    "then one notification with the total: %s", bus.text);
	HBT_CHECK(strstr(bus.text, "2 points (1 batches) because the spool "
	    "reached") && strstr(bus.text, "2 points (1 batches) because the "
	    "spool could not write (database or disk is full)") &&
	    strstr(bus.text, "memory_max_mb (16 MB)"), "each cause named: %s",
	    bus.text);
	drops_tell(&d, 121000);
	HBT_CHECK(bus.published == 2, "a window without drops says nothing");
	drops_note(&d, &two, &none, 200000);
	HBT_CHECK(bus.published == 3, "a drop after a quiet window: at once");
	drops_free(&d);
}

static void
test_closed(struct event_base *base)
{
	struct drops d;
	struct retry r;
	const struct spool_drops one = { .batches = 1, .points = 1 };

	setup(&d, base, &r);
	d.closed = true;
	drops_note(&d, &one, &none, 1000);
	HBT_CHECK(bus.published == 0, "nothing is told once the bus is closed");
	drops_free(&d);
}

int
main(void)
{
	struct event_base *base;

	hbt_init("drops");
	base = event_base_new();
	HBT_REQUIRE(base != NULL, "event_base_new");
	test_window(base);
	test_closed(base);
	event_base_free(base);
	hbt_exit();
}
