/* mgmtd/routes.c — every route table of mgmtd. A new resource file adds its
 * table here (declare it below, list it in api_route_tables). */
#include "server.h"

extern const struct api_route api_sites_routes[];
extern const struct api_route api_buildings_routes[];
extern const struct api_route api_flats_routes[];
extern const struct api_route api_handsets_routes[];
extern const struct api_route api_numbers_routes[];
extern const struct api_route api_audit_routes[];
extern const struct api_route api_users_routes[];
extern const struct api_route api_pool_blocks_routes[];
extern const struct api_route api_broker_handsets_routes[];
extern const struct api_route api_routes_routes[];
extern const struct api_route api_calls_routes[];
extern const struct api_route api_flat_settings_routes[];
extern const struct api_route api_bans_routes[];

const struct api_route *const api_route_tables[] = {
	api_ops_routes,
	api_session_routes,
	api_broker_routes,
	api_broker_handsets_routes,
	api_sites_routes,
	api_buildings_routes,
	api_flats_routes,
	api_handsets_routes,
	api_numbers_routes,
	api_audit_routes,
	api_users_routes,
	api_pool_blocks_routes,
	api_routes_routes,
	api_calls_routes,
	api_flat_settings_routes,
	api_bans_routes,
	NULL
};
