/*
 * homebus-deployer: pull, back up, up, verify, record; roll back by itself.
 */
#include "deployer.h"

int
main(int argc, char **argv)
{
	return hb_service_main(&deployer_service, argc, argv);
}
