/*
 * deployer: deploys, rollbacks and backups of the stack, taken from the bus
 * (P/deploy/command: Home Assistant, Telegram through the notifier, the
 * CLI), verified by the health watcher, rolled back by itself to the
 * version that ran before, recorded in a journal (docs/deployer.md).
 */
#ifndef DEPLOYER_H
#define DEPLOYER_H

#include "hb_service.h"

extern const struct hb_service_def deployer_service;

#endif
