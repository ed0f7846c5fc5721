//! A customer's cloud account in memory: who the platform is once in
//! (verification) and what it finds there (discovery), or the error the
//! real adapter would report (a denied AssumeRole, a throttled API). It
//! records the session names used, which name the job in the customer's
//! CloudTrail.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use jobs_domain::identity::{CloudAccount, CloudIdentity};
use jobs_domain::inventory::Inventory;
use jobs_domain::ports::{CallerIdentity, IdentityVerifier, PortResult, ResourceDiscovery};

use crate::{Faults, lock};

#[derive(Debug)]
pub struct MemoryCloud {
    inventory: Mutex<Inventory>,
    sessions: Mutex<Vec<String>>,
    pub faults: Faults,
}

impl Default for MemoryCloud {
    fn default() -> Self {
        MemoryCloud {
            inventory: Mutex::new(Inventory {
                fetched_at: Utc::now(),
                account_id: String::new(),
                regions: Vec::new(),
                resources: Default::default(),
                outcomes: Vec::new(),
            }),
            sessions: Mutex::new(Vec::new()),
            faults: Faults::default(),
        }
    }
}

impl MemoryCloud {
    pub fn new() -> Self {
        Self::default()
    }

    /// What discovery answers from now on (its account is the caller's).
    pub fn set_inventory(&self, inventory: Inventory) {
        *lock(&self.inventory) = inventory;
    }

    /// The session names verification and discovery were called with.
    pub fn sessions(&self) -> Vec<String> {
        lock(&self.sessions).clone()
    }

    /// The AWS account id of the role, the Google project or the Azure
    /// subscription.
    fn account_of(identity: &CloudIdentity) -> String {
        match &identity.account {
            CloudAccount::Aws(a) => a.role_arn.split(':').nth(4).unwrap_or_default().to_string(),
            CloudAccount::Gcp(g) => g.project_id.clone(),
            CloudAccount::Azure(a) => a.subscription_id.clone(),
        }
    }
}

#[async_trait]
impl IdentityVerifier for MemoryCloud {
    async fn verify(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<CallerIdentity> {
        self.faults.check("verify")?;
        lock(&self.sessions).push(session_name.to_string());
        let account = Self::account_of(identity);
        let role = match &identity.account {
            CloudAccount::Aws(a) => a.role_arn.rsplit('/').next().unwrap_or_default(),
            _ => identity.provider().as_str(),
        };
        Ok(CallerIdentity {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}"),
            user_id: format!("AROAEXAMPLE:{session_name}"),
            account,
        })
    }
}

#[async_trait]
impl ResourceDiscovery for MemoryCloud {
    async fn discover(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<Inventory> {
        self.faults.check("discover")?;
        lock(&self.sessions).push(session_name.to_string());
        let mut inventory = lock(&self.inventory).clone();
        inventory.account_id = Self::account_of(identity);
        Ok(inventory)
    }
}
