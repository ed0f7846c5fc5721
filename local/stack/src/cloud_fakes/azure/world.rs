//! What the Azure fake knows: the directories with their app
//! registrations, and the subscriptions with what discovery lists.

use uuid::Uuid;

/// What the fake knows: directories with their apps, and subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureWorld {
    pub tenants: Vec<AzureTenant>,
    pub subscriptions: Vec<AzureSubscription>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureTenant {
    pub tenant_id: String,
    pub apps: Vec<AzureApp>,
}

/// An app registration (its service principal signs in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureApp {
    pub client_id: String,
    pub secrets: Vec<AppSecret>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSecret {
    /// A GUID: the secret's id, which the portal shows beside the value and
    /// which users paste by mistake.
    pub id: String,
    pub value: String,
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSubscription {
    pub subscription_id: String,
    pub tenant_id: String,
    /// `Enabled`, `Disabled`, `Warned`, `PastDue` or `Deleted`.
    pub state: String,
    /// Client ids holding Reader on the subscription.
    pub readers: Vec<String>,
    pub vnets: Vec<AzureVnet>,
    pub dns_zones: Vec<AzureZone>,
    pub private_dns_zones: Vec<AzureZone>,
}

impl Default for AzureSubscription {
    fn default() -> Self {
        AzureSubscription {
            subscription_id: String::new(),
            tenant_id: String::new(),
            state: "Enabled".into(),
            readers: Vec::new(),
            vnets: Vec::new(),
            dns_zones: Vec::new(),
            private_dns_zones: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureVnet {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub address_prefixes: Vec<String>,
    /// (name, address prefix).
    pub subnets: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureZone {
    pub resource_group: String,
    pub name: String,
    pub record_sets: i64,
}

impl AzureWorld {
    /// One tenant with one app (one valid secret, `secret_value`, with a
    /// random id) holding Reader on one enabled subscription with `n`
    /// virtual networks of two subnets each, alternately in westeurope and
    /// eastus, `n` public and `n` private DNS zones.
    pub fn demo(
        tenant_id: &str,
        client_id: &str,
        secret_value: &str,
        subscription_id: &str,
        n: usize,
    ) -> AzureWorld {
        let zone = |i: usize, suffix: &str| AzureZone {
            resource_group: format!("rg-dns-{}", i % 2),
            name: format!("zone{i}.{suffix}"),
            record_sets: 2 + i as i64,
        };
        AzureWorld {
            tenants: vec![AzureTenant {
                tenant_id: tenant_id.into(),
                apps: vec![AzureApp {
                    client_id: client_id.into(),
                    secrets: vec![AppSecret {
                        id: Uuid::new_v4().to_string(),
                        value: secret_value.into(),
                        expired: false,
                    }],
                }],
            }],
            subscriptions: vec![AzureSubscription {
                subscription_id: subscription_id.into(),
                tenant_id: tenant_id.into(),
                state: "Enabled".into(),
                readers: vec![client_id.into()],
                vnets: (0..n)
                    .map(|i| {
                        let net = format!("10.{}.{}", i / 256, i % 256);
                        AzureVnet {
                            resource_group: format!("rg-net-{}", i % 3),
                            name: format!("vnet-{i}"),
                            location: if i % 2 == 0 { "westeurope" } else { "eastus" }.into(),
                            address_prefixes: vec![format!("{net}.0/24")],
                            subnets: vec![
                                ("default".into(), format!("{net}.0/25")),
                                ("apps".into(), format!("{net}.128/25")),
                            ],
                        }
                    })
                    .collect(),
                dns_zones: (0..n).map(|i| zone(i, "example.com")).collect(),
                private_dns_zones: (0..n).map(|i| zone(i, "internal.example")).collect(),
            }],
        }
    }
}
