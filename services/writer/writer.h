/*
 * writer: points from the bus into InfluxDB. Takes line protocol off
 * P/points/# (shared subscription, QoS 1, persistent session), validates and
 * time-stamps each line, group-commits batches into the spool and sends them
 * oldest first, one or two at a time, until InfluxDB has taken them.
 */
#ifndef WRITER_H
#define WRITER_H

#include "hb_app.h"

struct writer;

/*
 * Reads the writer's options from app->cfg (errors are recorded there).
 * Returns the writer, not yet started.
 */
struct writer *hb_writer_new(struct hb_app *app);
/* Opens the spool, connects to the bus. 0, or -1 (logged). */
int hb_writer_start(struct writer *w);
void hb_writer_free(struct writer *w);

#endif
