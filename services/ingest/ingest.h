/*
 * ingest: device and Home Assistant messages in, typed points out. Each
 * message is matched against ingest.sources, converted to line protocol,
 * and points that arrive close together are packed into one message on
 * P/points/<measurement> (QoS 1) for the writer.
 */
#ifndef INGEST_H
#define INGEST_H

#include "hb_service.h"

extern const struct hb_service_def ingest_service;

#endif
