//! The customer accounts the demo and the tests reach in Google Cloud and
//! Azure: one project and one subscription, `n` of every resource type,
//! served `page_size` at a time.

use jobs_adapters::azure::AzureEndpoints;
use jobs_adapters::gcp::GcpEndpoints;
use serde_json::{Value, json};

use super::{AzureFake, AzureWorld, GoogleFake, GoogleWorld};
use crate::Result;

pub const GCP_PROJECT: &str = "acme-gcp-prod";
pub const GCP_PROJECT_NUMBER: &str = "424242424242";
pub const AZURE_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const AZURE_CLIENT: &str = "0c1a5d2e-1111-4222-8333-444444444444";
pub const AZURE_SUBSCRIPTION: &str = "5b7c9d1e-aaaa-4bbb-8ccc-dddddddddddd";
/// What an Azure client secret's value looks like (40 characters).
pub const AZURE_SECRET: &str = "Qx8Q~demo.client-secret_value0123456789ab";

pub async fn start(n: usize, page_size: usize) -> Result<(GoogleFake, AzureFake)> {
    let google = GoogleFake::start(GoogleWorld::demo(GCP_PROJECT, GCP_PROJECT_NUMBER, n)).await?;
    let azure = AzureFake::start(AzureWorld::demo(
        AZURE_TENANT,
        AZURE_CLIENT,
        AZURE_SECRET,
        AZURE_SUBSCRIPTION,
        n,
    ))
    .await?;
    google.set_page_size(page_size);
    azure.set_page_size(page_size);
    Ok((google, azure))
}

/// Every Google API at the fake.
pub fn gcp_endpoints(google: &GoogleFake) -> GcpEndpoints {
    let url = google.url();
    GcpEndpoints {
        sts: url.clone(),
        iam_credentials: url.clone(),
        compute: url.clone(),
        dns: url,
    }
}

pub fn azure_endpoints(azure: &AzureFake) -> AzureEndpoints {
    AzureEndpoints {
        authority: azure.url(),
        resource_manager: azure.url(),
    }
}

/// `PUT /api/cloud-identities/{id}` bodies for the demo accounts.
pub fn gcp_identity() -> Value {
    json!({
        "provider": "gcp",
        "project_id": GCP_PROJECT,
        "project_number": GCP_PROJECT_NUMBER,
        "workload_identity_pool_id": "alethia-pool",
        "workload_identity_provider_id": "aws-platform",
        "service_account": format!("discovery@{GCP_PROJECT}.iam.gserviceaccount.com"),
        "regions": "all"
    })
}

pub fn azure_identity() -> Value {
    json!({
        "provider": "azure",
        "tenant_id": AZURE_TENANT,
        "client_id": AZURE_CLIENT,
        "subscription_id": AZURE_SUBSCRIPTION,
        "client_secret": AZURE_SECRET
    })
}
