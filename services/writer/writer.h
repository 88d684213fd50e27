/*
 * writer: points from the bus into InfluxDB. Takes line protocol off
 * P/points/# (shared subscription, QoS 1, persistent session), validates and
 * time-stamps each line, group-commits batches into the spool and sends them
 * oldest first, one or two at a time, until InfluxDB has taken them.
 */
#ifndef WRITER_H
#define WRITER_H

#include "hb_service.h"

extern const struct hb_service_def writer_service;

#endif
