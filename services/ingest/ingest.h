/*
 * ingest: device and Home Assistant messages in, typed points out. Each
 * message is matched against ingest.sources, converted to line protocol,
 * and points that arrive close together are packed into one message on
 * P/points/<measurement> (QoS 1) for the writer.
 */
#ifndef INGEST_H
#define INGEST_H

#include "hb_app.h"

struct ingest;

/* Reads the ingest options from app->cfg (errors are recorded there). */
struct ingest *hb_ingest_new(struct hb_app *app);
/* Connects to the bus and subscribes. 0, or -1 (logged). */
int hb_ingest_start(struct ingest *in);
void hb_ingest_free(struct ingest *in);

#endif
