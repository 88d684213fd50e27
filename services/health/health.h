/*
 * health: the health watcher. Checks every target on its own timer,
 * watches the services on the bus (retained status, last will, heartbeat),
 * publishes each target's state retained on P/health/<target> and the
 * overall one on P/health/_all, raises a notification on every transition,
 * announces the targets to Home Assistant (MQTT discovery), and serves the
 * status page on GET /.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include "hb_app.h"

struct health;

/* Reads the health options from app->cfg (errors are recorded there). */
struct health *hb_health_new(struct hb_app *app);
/* Connects to the bus and starts the checks. 0, or -1 (logged). */
int hb_health_start(struct health *h);
void hb_health_free(struct health *h);

#endif
