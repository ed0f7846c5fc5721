//! The Compute Engine and Cloud DNS reads of discovery: the project, its
//! regions, networks, subnetworks and managed zones, page by page.

use serde_json::{Value, json};

use super::world::{GcpSubnetwork, GoogleWorld};
use super::{
    Api, Google, Holder, Read, errors, insufficient_scopes, invalid_argument, not_found, rpc_error,
    service_disabled, unauthenticated,
};
use crate::cloud_fakes::{Call, Ctx, Page, Reply, numeric_id};

impl Google {
    /// The Compute Engine and Cloud DNS reads, checked in the order Google
    /// does: credentials, scopes, project, API enabled, permission.
    pub(super) fn read(
        &mut self,
        world: &GoogleWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        project: &str,
        what: Read<'_>,
    ) -> Reply {
        let api = what.api();
        let Some(holder) = call.bearer().and_then(|t| self.tokens.get(t)) else {
            return unauthenticated(true);
        };
        if let Holder::ServiceAccount { scopes, .. } = holder
            && !scopes.iter().any(|s| api.scopes().contains(&s.as_str()))
        {
            return insufficient_scopes(api);
        }
        let Some(p) = world.project(project) else {
            let message = match api {
                Api::Compute => format!("The resource 'projects/{project}' was not found"),
                Api::Dns => {
                    format!("The 'parameters.project' resource named '{project}' does not exist.")
                }
            };
            return not_found(&message);
        };
        let enabled = match api {
            Api::Compute => p.compute_enabled,
            Api::Dns => p.dns_enabled,
        };
        if !enabled {
            return service_disabled(api, &p.project_number);
        }
        let foreign = match holder {
            Holder::ServiceAccount { project_id, .. } => *project_id != p.project_id,
            Holder::Federated => false,
        };
        if !p.can_read || foreign {
            let message = format!(
                "Required '{}' permission for 'projects/{project}'",
                what.permission()
            );
            return rpc_error(
                403,
                "PERMISSION_DENIED",
                &message,
                Some(errors(&message, "global", "forbidden")),
                None,
            );
        }
        let base = ctx.base.to_string();
        let project_link = format!("{base}/compute/v1/projects/{}", p.project_id);
        match what {
            // https://cloud.google.com/compute/docs/reference/rest/v1/projects/get
            Read::Project => Reply::json(
                200,
                json!({
                    "kind": "compute#project",
                    "id": p.project_number,
                    "name": p.project_id,
                    "selfLink": project_link,
                    "defaultServiceAccount": format!("{}-compute@developer.gserviceaccount.com", p.project_number),
                    "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
                }),
            ),
            // https://cloud.google.com/compute/docs/reference/rest/v1/regions/list
            Read::Regions => {
                let list = format!("{}/regions", p.project_id);
                let page = match google_page(ctx, call, &list, p.regions.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = p.regions[page.start..page.end]
                    .iter()
                    .map(|r| {
                        let zones =
                            ["a", "b", "c"].map(|z| format!("{project_link}/zones/{r}-{z}"));
                        json!({
                            "kind": "compute#region",
                            "id": numeric_id(&format!("region/{r}")),
                            "name": r,
                            "description": r,
                            "status": "UP",
                            "zones": zones,
                            "selfLink": format!("{project_link}/regions/{r}"),
                        })
                    })
                    .collect();
                compute_list(
                    "compute#regionList",
                    &list,
                    &project_link,
                    "regions",
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/compute/docs/reference/rest/v1/networks/list
            Read::Networks => {
                let list = format!("{}/global/networks", p.project_id);
                let page = match google_page(ctx, call, &list, p.networks.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = p.networks[page.start..page.end]
                    .iter()
                    .map(|n| {
                        let subnetworks: Vec<String> = p
                            .subnetworks
                            .iter()
                            .filter(|s| s.network == *n)
                            .map(|s| {
                                format!(
                                    "{project_link}/regions/{}/subnetworks/{}",
                                    s.region, s.name
                                )
                            })
                            .collect();
                        let mut network = json!({
                            "kind": "compute#network",
                            "id": numeric_id(&format!("{}/networks/{n}", p.project_id)),
                            "name": n,
                            "selfLink": format!("{project_link}/global/networks/{n}"),
                            "autoCreateSubnetworks": false,
                            "routingConfig": {"routingMode": "REGIONAL"},
                        });
                        if !subnetworks.is_empty() {
                            network["subnetworks"] = json!(subnetworks);
                        }
                        network
                    })
                    .collect();
                compute_list(
                    "compute#networkList",
                    &list,
                    &project_link,
                    "global/networks",
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks/list
            Read::Subnetworks(region) => {
                if !p.regions.iter().any(|r| r == region) {
                    return not_found(&format!(
                        "The resource 'projects/{project}/regions/{region}' was not found"
                    ));
                }
                let subnetworks: Vec<&GcpSubnetwork> = p
                    .subnetworks
                    .iter()
                    .filter(|s| s.region == region)
                    .collect();
                let list = format!("{}/regions/{region}/subnetworks", p.project_id);
                let page = match google_page(ctx, call, &list, subnetworks.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = subnetworks[page.start..page.end]
                    .iter()
                    .map(|s| {
                        json!({
                            "kind": "compute#subnetwork",
                            "id": numeric_id(&format!("{}/subnetworks/{}/{}", p.project_id, s.region, s.name)),
                            "name": s.name,
                            "network": format!("{project_link}/global/networks/{}", s.network),
                            "ipCidrRange": s.cidr,
                            "region": format!("{project_link}/regions/{}", s.region),
                            "privateIpGoogleAccess": false,
                            "purpose": "PRIVATE",
                            "stackType": "IPV4_ONLY",
                            "selfLink": format!("{project_link}/regions/{}/subnetworks/{}", s.region, s.name),
                        })
                    })
                    .collect();
                compute_list(
                    "compute#subnetworkList",
                    &list,
                    &project_link,
                    &format!("regions/{region}/subnetworks"),
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/dns/docs/reference/rest/v1/managedZones/list
            Read::ManagedZones => {
                let list = format!("{}/managedZones", p.project_id);
                let page = match google_page(ctx, call, &list, p.managed_zones.len(), false) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let zones: Vec<Value> = p.managed_zones[page.start..page.end]
                    .iter()
                    .map(|z| {
                        let mut zone = json!({
                            "kind": "dns#managedZone",
                            "name": z.name,
                            "dnsName": z.dns_name,
                            "id": numeric_id(&format!("{}/managedZones/{}", p.project_id, z.name)),
                            "visibility": if z.private { "private" } else { "public" },
                            "description": "",
                            "creationTime": "2024-01-01T00:00:00.000Z",
                        });
                        if z.private {
                            zone["nameServers"] = json!(["ns-gcp-private.googledomains.com."]);
                            zone["privateVisibilityConfig"] = json!({
                                "kind": "dns#managedZonePrivateVisibilityConfig",
                                "networks": [],
                            });
                        } else {
                            zone["nameServers"] = json!([
                                "ns-cloud-a1.googledomains.com.",
                                "ns-cloud-a2.googledomains.com.",
                                "ns-cloud-a3.googledomains.com.",
                                "ns-cloud-a4.googledomains.com.",
                            ]);
                        }
                        zone
                    })
                    .collect();
                let mut body = json!({"kind": "dns#managedZonesListResponse"});
                if !zones.is_empty() {
                    body["managedZones"] = Value::Array(zones);
                }
                if let Some(next) = page.next {
                    body["nextPageToken"] = next.into();
                }
                Reply::json(200, body)
            }
        }
    }
}

/// One page of a Compute or DNS list, from `maxResults` and `pageToken`.
/// Compute refuses `maxResults` above 500; 0 means the default there.
fn google_page(
    ctx: &mut Ctx<'_>,
    call: &Call,
    list: &str,
    total: usize,
    compute: bool,
) -> Result<Page, Reply> {
    let asked = match call.query("maxResults") {
        None | Some("") => 500,
        Some(v) => match v.parse::<usize>() {
            Ok(0) => 500,
            Ok(n) if compute && n > 500 => {
                return Err(invalid_argument(
                    &format!(
                        "Invalid value for field 'maxResults': '{v}'. Must be less than or equal to 500"
                    ),
                    true,
                ));
            }
            Ok(n) => n,
            Err(_) => {
                return Err(invalid_argument(
                    &format!("Invalid value for field 'maxResults': '{v}'. Must be a number"),
                    true,
                ));
            }
        },
    };
    let token = call.query("pageToken").filter(|t| !t.is_empty());
    ctx.page(list, total, Some(asked), token).ok_or_else(|| {
        invalid_argument(
            &format!(
                "Invalid value for field 'pageToken': '{}'. Invalid page token.",
                token.unwrap_or("")
            ),
            true,
        )
    })
}

/// A Compute list as Compute answers one: `items` omitted when empty,
/// `nextPageToken` only when more remain.
fn compute_list(
    kind: &str,
    list: &str,
    project_link: &str,
    collection: &str,
    items: Vec<Value>,
    next: Option<String>,
) -> Reply {
    let mut body = json!({
        "kind": kind,
        "id": format!("projects/{list}"),
        "selfLink": format!("{project_link}/{collection}"),
    });
    if !items.is_empty() {
        body["items"] = Value::Array(items);
    }
    if let Some(next) = next {
        body["nextPageToken"] = next.into();
    }
    Reply::json(200, body)
}
