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

#include "hb_service.h"

extern const struct hb_service_def health_service;

#endif
