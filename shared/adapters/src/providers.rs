//! One verifier and one discovery for every provider: each identity goes
//! to the adapter of its provider (AWS, Google Cloud, Azure), so that the
//! steps and state machines are the same for all of them.

use async_trait::async_trait;
use jobs_domain::identity::{CloudIdentity, Provider};
use jobs_domain::inventory::Inventory;
use jobs_domain::ports::{CallerIdentity, IdentityVerifier, PortResult, ResourceDiscovery};

use crate::azure::AzureCloud;
use crate::cloud::AwsCloud;
use crate::gcp::GcpCloud;

pub struct CloudProviders {
    pub aws: AwsCloud,
    pub gcp: GcpCloud,
    pub azure: AzureCloud,
}

#[async_trait]
impl IdentityVerifier for CloudProviders {
    async fn verify(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<CallerIdentity> {
        match identity.provider() {
            Provider::Aws => self.aws.verify(identity, session_name).await,
            Provider::Gcp => self.gcp.verify(identity).await,
            Provider::Azure => self.azure.verify(identity).await,
        }
    }
}

#[async_trait]
impl ResourceDiscovery for CloudProviders {
    async fn discover(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<Inventory> {
        match identity.provider() {
            Provider::Aws => self.aws.discover(identity, session_name).await,
            Provider::Gcp => self.gcp.discover(identity).await,
            Provider::Azure => self.azure.discover(identity).await,
        }
    }
}
