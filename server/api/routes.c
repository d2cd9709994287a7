/* Gathers the route tables of every API area into one table. Each area file
 * defines `kw_api_<area>_routes[]` and `kw_api_<area>_nroutes`. */
#include <pthread.h>
#include <string.h>

#include "api/api.h"
#include "api/areas.h"

#define ROUTES_MAX 256

/* Area tables are added here as areas land. */
static const struct {
    const kw_http_route *routes;
    const size_t *count;
} areas[] = {
    {kw_api_accounts_routes, &kw_api_accounts_nroutes},
    {kw_api_login_routes, &kw_api_login_nroutes},
    {kw_api_sessions_routes, &kw_api_sessions_nroutes},
    {kw_api_approvals_routes, &kw_api_approvals_nroutes},
    {kw_api_totp_routes, &kw_api_totp_nroutes},
    {kw_api_devices_routes, &kw_api_devices_nroutes},
    {kw_api_keychain_routes, &kw_api_keychain_nroutes},
    {kw_api_recovery_routes, &kw_api_recovery_nroutes},
    {kw_api_password_routes, &kw_api_password_nroutes},
    {kw_api_kt_routes, &kw_api_kt_nroutes},
    {kw_api_roster_routes, &kw_api_roster_nroutes},
    {kw_api_web_routes, &kw_api_web_nroutes},
    {kw_api_adp_routes, &kw_api_adp_nroutes},
    {kw_api_records_routes, &kw_api_records_nroutes},
    {kw_api_seckeys_routes, &kw_api_seckeys_nroutes},
    {kw_api_msg_routes, &kw_api_msg_nroutes},
};

static kw_http_route all_routes[ROUTES_MAX];
static size_t all_count;
static pthread_once_t routes_once = PTHREAD_ONCE_INIT;

static void routes_gather(void)
{
    for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++) {
        if (areas[a].routes == NULL)
            continue;
        for (size_t i = 0; i < *areas[a].count && all_count < ROUTES_MAX; i++)
            all_routes[all_count++] = areas[a].routes[i];
    }
}

const kw_http_route *kw_api_routes(size_t *count)
{
    pthread_once(&routes_once, routes_gather);
    *count = all_count;
    return all_routes;
}
