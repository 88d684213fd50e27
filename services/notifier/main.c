/*
 * homebus-notifier: notifications to Telegram, safe Telegram commands back.
 */
#include "notifier.h"

int
main(int argc, char **argv)
{
	return hb_service_main(&notifier_service, argc, argv);
}
