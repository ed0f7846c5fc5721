//! The Azure Resource Manager reads of discovery: the subscription, its
//! virtual networks and its public and private DNS zones, page by page.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::world::AzureWorld;
use super::{Arm, Azure, arm_error};
use crate::cloud_fakes::{Call, Ctx, Reply};

/// What stays literal in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Azure {
    /// The Resource Manager reads, checked in the order ARM does:
    /// token, api-version, subscription, role, subscription state.
    pub(super) fn arm(
        &mut self,
        world: &AzureWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        sub: &str,
        what: Arm,
    ) -> Reply {
        let Some((tenant, client)) = call.bearer().and_then(|t| self.tokens.get(t)) else {
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
                .header(
                    "www-authenticate",
                    format!(
                        "Bearer authorization_uri=\"{}/common\", error=\"invalid_token\", error_description=\"The access token is invalid.\"",
                        ctx.base
                    ),
                );
        };
        let Some(version) = call.query("api-version").filter(|v| !v.is_empty()) else {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        };
        if !is_api_version(version) {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{version}' is invalid. The supported versions are dates like '2024-05-01' or '2024-05-01-preview'."
                ),
            );
        }
        let Some(s) = world.subscriptions.iter().find(|s| {
            s.subscription_id.eq_ignore_ascii_case(sub) && s.tenant_id.eq_ignore_ascii_case(tenant)
        }) else {
            return arm_error(
                404,
                "SubscriptionNotFound",
                &format!("The subscription '{sub}' could not be found."),
            );
        };
        let id = &s.subscription_id;
        if !s.readers.iter().any(|r| r.eq_ignore_ascii_case(client)) {
            return arm_error(
                403,
                "AuthorizationFailed",
                &format!(
                    "The client '{client}' with object id '{client}' does not have authorization to perform action '{}' over scope '/subscriptions/{id}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                    what.action()
                ),
            );
        }
        if let Arm::Subscription = what {
            // https://learn.microsoft.com/en-us/rest/api/resources/subscriptions/get
            return Reply::json(
                200,
                json!({
                    "id": format!("/subscriptions/{id}"),
                    "subscriptionId": id,
                    "tenantId": s.tenant_id,
                    "displayName": "Azure subscription 1",
                    "state": s.state,
                    "subscriptionPolicies": {
                        "locationPlacementId": "Public_2014-09-01",
                        "quotaId": "PayAsYouGo_2014-09-01",
                        "spendingLimit": "Off",
                    },
                    "authorizationSource": "RoleBased",
                    "managedByTenants": [],
                }),
            );
        }
        if s.state == "Disabled" || s.state == "Deleted" {
            return arm_error(
                409,
                "DisabledSubscription",
                &format!(
                    "The subscription '{id}' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled."
                ),
            );
        }
        // Only the DNS lists document `$top`.
        let top = match (what, call.query("$top")) {
            (Arm::DnsZones | Arm::PrivateDnsZones, Some(v)) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return arm_error(
                        400,
                        "InvalidQueryParameterValue",
                        &format!(
                            "The value '{v}' of the query parameter '$top' is not a positive integer."
                        ),
                    );
                }
            },
            _ => None,
        };
        let total = match what {
            Arm::VirtualNetworks => s.vnets.len(),
            Arm::DnsZones => s.dns_zones.len(),
            _ => s.private_dns_zones.len(),
        };
        let list = format!("{id}/{}", what.kind());
        let skiptoken = call.query("$skiptoken");
        let Some(page) = ctx.page(&list, total, top, skiptoken) else {
            return arm_error(
                400,
                "InvalidSkipToken",
                &format!(
                    "The $skiptoken '{}' is invalid: use the nextLink of the previous page as it is.",
                    skiptoken.unwrap_or("")
                ),
            );
        };
        let prefix = format!("/subscriptions/{id}/resourceGroups");
        let value: Vec<Value> = match what {
            // https://learn.microsoft.com/en-us/rest/api/virtualnetwork/virtual-networks/list-all
            Arm::VirtualNetworks => s.vnets[page.start..page.end]
                .iter()
                .map(|v| {
                    let vnet_id = format!(
                        "{prefix}/{}/providers/Microsoft.Network/virtualNetworks/{}",
                        v.resource_group, v.name
                    );
                    let subnets: Vec<Value> = v
                        .subnets
                        .iter()
                        .map(|(name, prefix)| {
                            json!({
                                "id": format!("{vnet_id}/subnets/{name}"),
                                "name": name,
                                "type": "Microsoft.Network/virtualNetworks/subnets",
                                "properties": {
                                    "addressPrefix": prefix,
                                    "provisioningState": "Succeeded",
                                },
                            })
                        })
                        .collect();
                    json!({
                        "id": vnet_id,
                        "name": v.name,
                        "type": "Microsoft.Network/virtualNetworks",
                        "location": v.location,
                        "properties": {
                            "provisioningState": "Succeeded",
                            "addressSpace": {"addressPrefixes": v.address_prefixes},
                            "subnets": subnets,
                            "virtualNetworkPeerings": [],
                            "enableDdosProtection": false,
                        },
                    })
                })
                .collect(),
            // https://learn.microsoft.com/en-us/rest/api/dns/zones/list
            Arm::DnsZones => s.dns_zones[page.start..page.end]
                .iter()
                .map(|z| {
                    json!({
                        "id": format!("{prefix}/{}/providers/Microsoft.Network/dnszones/{}", z.resource_group, z.name),
                        "name": z.name,
                        "type": "Microsoft.Network/dnszones",
                        "location": "global",
                        "properties": {
                            "numberOfRecordSets": z.record_sets,
                            "maxNumberOfRecordSets": 10000,
                            "zoneType": "Public",
                            "nameServers": [
                                "ns1-01.azure-dns.com.",
                                "ns2-01.azure-dns.net.",
                                "ns3-01.azure-dns.org.",
                                "ns4-01.azure-dns.info.",
                            ],
                        },
                    })
                })
                .collect(),
            // https://learn.microsoft.com/en-us/rest/api/dns/privatednszones/private-zones/list
            _ => s.private_dns_zones[page.start..page.end]
                .iter()
                .map(|z| {
                    json!({
                        "id": format!("{prefix}/{}/providers/Microsoft.Network/privateDnsZones/{}", z.resource_group, z.name),
                        "name": z.name,
                        "type": "Microsoft.Network/privateDnsZones",
                        "location": "global",
                        "properties": {
                            "numberOfRecordSets": z.record_sets,
                            "maxNumberOfRecordSets": 25000,
                            "numberOfVirtualNetworkLinks": 0,
                            "provisioningState": "Succeeded",
                        },
                    })
                })
                .collect(),
        };
        let mut body = json!({ "value": value });
        if let Some(next) = page.next {
            let mut link = format!(
                "{}/subscriptions/{id}/providers/Microsoft.Network/{}?api-version={}",
                ctx.base,
                what.kind(),
                utf8_percent_encode(version, QUERY_VALUE)
            );
            if let Some(top) = top {
                link.push_str(&format!("&$top={top}"));
            }
            link.push_str(&format!("&$skiptoken={next}"));
            body["nextLink"] = link.into();
        }
        Reply::json(200, body)
    }
}

/// `YYYY-MM-DD`, optionally `-preview`: the form of every ARM api-version.
fn is_api_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}
