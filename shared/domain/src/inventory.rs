//! The resources discovered in a customer's cloud account, grouped by type
//! and region, with a status per (type, region) so that one denied or
//! throttled call does not hide everything else.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The resource types discovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Vpcs,
    Subnets,
    SecurityGroups,
    HostedZones,
    IamUsers,
}

impl ResourceType {
    pub const REGIONAL: [ResourceType; 3] = [
        ResourceType::Vpcs,
        ResourceType::Subnets,
        ResourceType::SecurityGroups,
    ];
    pub const GLOBAL: [ResourceType; 2] = [ResourceType::HostedZones, ResourceType::IamUsers];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Vpcs => "vpcs",
            ResourceType::Subnets => "subnets",
            ResourceType::SecurityGroups => "security_groups",
            ResourceType::HostedZones => "hosted_zones",
            ResourceType::IamUsers => "iam_users",
        }
    }
}

/// The key used for global resource types in per-region maps.
pub const GLOBAL: &str = "global";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// The provider's identifier: `vpc-…`, a Google Cloud network's
    /// `projects/P/global/networks/N`, an Azure virtual network's resource id.
    pub id: String,
    /// Empty for networks without a range of their own (Google Cloud).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cidr_block: String,
    pub is_default: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr_block: String,
    /// Empty where subnets are regional (Google Cloud, Azure).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub availability_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZone {
    pub id: String,
    pub name: String,
    pub private: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamUser {
    pub name: String,
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// How fetching one resource type in one region went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    Ok,
    AccessDenied,
    Throttled,
    RegionDisabled,
    /// The provider's API is not enabled for the account (Google Cloud's
    /// SERVICE_DISABLED).
    ApiDisabled,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOutcome {
    pub resource_type: ResourceType,
    /// A region name, or `global`.
    pub region: String,
    pub status: FetchStatus,
    pub count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Resources of each type, keyed by region (`global` for global types).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub vpcs: BTreeMap<String, Vec<Vpc>>,
    #[serde(default)]
    pub subnets: BTreeMap<String, Vec<Subnet>>,
    #[serde(default)]
    pub security_groups: BTreeMap<String, Vec<SecurityGroup>>,
    #[serde(default)]
    pub hosted_zones: Vec<HostedZone>,
    #[serde(default)]
    pub iam_users: Vec<IamUser>,
}

/// A discovery result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub fetched_at: DateTime<Utc>,
    /// The AWS account id, Google Cloud project id or Azure subscription id.
    pub account_id: String,
    pub regions: Vec<String>,
    pub resources: Resources,
    pub outcomes: Vec<FetchOutcome>,
}

/// Counts per type, for summaries and job results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub vpcs: usize,
    pub subnets: usize,
    pub security_groups: usize,
    pub hosted_zones: usize,
    pub iam_users: usize,
    /// (type, region) pairs that did not come back `ok`.
    pub problems: Vec<FetchOutcome>,
}

impl Inventory {
    pub fn summary(&self) -> Summary {
        let r = &self.resources;
        Summary {
            vpcs: r.vpcs.values().map(Vec::len).sum(),
            subnets: r.subnets.values().map(Vec::len).sum(),
            security_groups: r.security_groups.values().map(Vec::len).sum(),
            hosted_zones: r.hosted_zones.len(),
            iam_users: r.iam_users.len(),
            problems: self
                .outcomes
                .iter()
                .filter(|o| o.status != FetchStatus::Ok)
                .cloned()
                .collect(),
        }
    }
}

impl Inventory {
    /// One page of the resources of one type, in `region` only or in every
    /// region, as (region, resource) in a stable order (by region, then as
    /// discovered), with how many there are in all: what
    /// `GET /api/cloud-identities/{id}/resources` answers. Global types have
    /// the region `global`. Only the page is serialised.
    pub fn page_of(
        &self,
        kind: ResourceType,
        region: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> (Vec<(String, serde_json::Value)>, usize) {
        fn regional<T: Serialize>(
            map: &BTreeMap<String, Vec<T>>,
            region: Option<&str>,
            offset: usize,
            limit: usize,
        ) -> (Vec<(String, serde_json::Value)>, usize) {
            let chosen = || {
                map.iter()
                    .filter(move |(r, _)| region.is_none_or(|want| want == r.as_str()))
                    .flat_map(|(r, items)| items.iter().map(move |i| (r, i)))
            };
            let page = chosen()
                .skip(offset)
                .take(limit)
                .map(|(r, i)| (r.clone(), serde_json::to_value(i).unwrap_or_default()))
                .collect();
            (page, chosen().count())
        }
        fn global<T: Serialize>(
            items: &[T],
            region: Option<&str>,
            offset: usize,
            limit: usize,
        ) -> (Vec<(String, serde_json::Value)>, usize) {
            if region.is_some_and(|r| r != GLOBAL) {
                return (Vec::new(), 0);
            }
            let page = items
                .iter()
                .skip(offset)
                .take(limit)
                .map(|i| {
                    (
                        GLOBAL.to_string(),
                        serde_json::to_value(i).unwrap_or_default(),
                    )
                })
                .collect();
            (page, items.len())
        }
        let r = &self.resources;
        match kind {
            ResourceType::Vpcs => regional(&r.vpcs, region, offset, limit),
            ResourceType::Subnets => regional(&r.subnets, region, offset, limit),
            ResourceType::SecurityGroups => regional(&r.security_groups, region, offset, limit),
            ResourceType::HostedZones => global(&r.hosted_zones, region, offset, limit),
            ResourceType::IamUsers => global(&r.iam_users, region, offset, limit),
        }
    }
}

impl ResourceType {
    /// The type named `name` (`vpcs`, `subnets`, …).
    pub fn parse(name: &str) -> Option<ResourceType> {
        [
            ResourceType::Vpcs,
            ResourceType::Subnets,
            ResourceType::SecurityGroups,
            ResourceType::HostedZones,
            ResourceType::IamUsers,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl Summary {
    pub fn total(&self) -> usize {
        self.vpcs + self.subnets + self.security_groups + self.hosted_zones + self.iam_users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_problems() {
        let mut inv = Inventory {
            fetched_at: Utc::now(),
            account_id: "111122223333".into(),
            regions: vec!["us-east-1".into()],
            resources: Resources::default(),
            outcomes: vec![
                FetchOutcome {
                    resource_type: ResourceType::Vpcs,
                    region: "us-east-1".into(),
                    status: FetchStatus::Ok,
                    count: 1,
                    message: None,
                },
                FetchOutcome {
                    resource_type: ResourceType::IamUsers,
                    region: GLOBAL.into(),
                    status: FetchStatus::AccessDenied,
                    count: 0,
                    message: Some("denied".into()),
                },
            ],
        };
        inv.resources.vpcs.insert(
            "us-east-1".into(),
            vec![Vpc {
                id: "vpc-1".into(),
                cidr_block: "10.0.0.0/16".into(),
                is_default: false,
                name: None,
                state: None,
            }],
        );
        let s = inv.summary();
        assert_eq!(s.vpcs, 1);
        assert_eq!(s.total(), 1);
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].status, FetchStatus::AccessDenied);
    }
}
