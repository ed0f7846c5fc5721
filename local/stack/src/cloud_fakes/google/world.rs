//! What the Google fake knows: the projects, their workload identity
//! pools, service accounts and the resources discovery lists.

/// The AWS account every signed `GetCallerIdentity` is attributed to
/// unless the world says otherwise.
pub const DEFAULT_AWS_CALLER_ACCOUNT: &str = "123456789012";

/// What the fake knows: the projects and who may reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleWorld {
    /// The AWS account the fake attributes every signed
    /// `GetCallerIdentity` to (AWS would know it from the access key).
    pub aws_caller_account: String,
    pub projects: Vec<GcpProject>,
}

impl Default for GoogleWorld {
    fn default() -> Self {
        GoogleWorld {
            aws_caller_account: DEFAULT_AWS_CALLER_ACCOUNT.into(),
            projects: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpProject {
    pub project_id: String,
    pub project_number: String,
    pub pools: Vec<WorkloadPool>,
    pub service_accounts: Vec<ServiceAccount>,
    pub compute_enabled: bool,
    pub dns_enabled: bool,
    /// False: every Compute and DNS read answers 403 PERMISSION_DENIED
    /// (missing permission), not SERVICE_DISABLED.
    pub can_read: bool,
    pub regions: Vec<String>,
    pub networks: Vec<String>,
    pub subnetworks: Vec<GcpSubnetwork>,
    pub managed_zones: Vec<GcpZone>,
}

impl Default for GcpProject {
    /// An empty project with both APIs enabled and reads allowed, so that
    /// `..Default::default()` gives a working project.
    fn default() -> Self {
        GcpProject {
            project_id: String::new(),
            project_number: String::new(),
            pools: Vec::new(),
            service_accounts: Vec::new(),
            compute_enabled: true,
            dns_enabled: true,
            can_read: true,
            regions: Vec::new(),
            networks: Vec::new(),
            subnetworks: Vec::new(),
            managed_zones: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadPool {
    pub pool_id: String,
    pub disabled: bool,
    pub providers: Vec<AwsProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsProvider {
    pub provider_id: String,
    pub aws_account_id: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccount {
    pub email: String,
    /// `roles/iam.workloadIdentityUser` granted to the pool's principals.
    pub federated_users_allowed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpSubnetwork {
    pub region: String,
    /// The network's name.
    pub network: String,
    pub name: String,
    pub cidr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpZone {
    pub name: String,
    /// With the trailing dot, as Cloud DNS writes it: `example.com.`.
    pub dns_name: String,
    pub private: bool,
}

impl GoogleWorld {
    /// One project reachable the way the platform is set up to reach it:
    /// pool `alethia-pool` with provider `aws-platform` trusting account
    /// 123456789012, service account `discovery@{project_id}.iam.
    /// gserviceaccount.com` open to the pool, regions us-central1,
    /// europe-west1 and asia-east1, `n` networks, `n` subnetworks in each
    /// region and `n` managed zones (every second one private).
    pub fn demo(project_id: &str, project_number: &str, n: usize) -> GoogleWorld {
        let regions: Vec<String> = ["us-central1", "europe-west1", "asia-east1"]
            .map(String::from)
            .into();
        let networks: Vec<String> = (0..n).map(|i| format!("net-{i}")).collect();
        let mut subnetworks = Vec::new();
        for (r, region) in regions.iter().enumerate() {
            for (i, network) in networks.iter().enumerate() {
                let k = r * n + i;
                subnetworks.push(GcpSubnetwork {
                    region: region.clone(),
                    network: network.clone(),
                    name: format!("{region}-subnet-{i}"),
                    cidr: format!("10.{}.{}.0/24", k / 256, k % 256),
                });
            }
        }
        GoogleWorld {
            aws_caller_account: DEFAULT_AWS_CALLER_ACCOUNT.into(),
            projects: vec![GcpProject {
                project_id: project_id.into(),
                project_number: project_number.into(),
                pools: vec![WorkloadPool {
                    pool_id: "alethia-pool".into(),
                    disabled: false,
                    providers: vec![AwsProvider {
                        provider_id: "aws-platform".into(),
                        aws_account_id: DEFAULT_AWS_CALLER_ACCOUNT.into(),
                        disabled: false,
                    }],
                }],
                service_accounts: vec![ServiceAccount {
                    email: format!("discovery@{project_id}.iam.gserviceaccount.com"),
                    federated_users_allowed: true,
                }],
                regions,
                networks,
                subnetworks,
                managed_zones: (0..n)
                    .map(|i| GcpZone {
                        name: format!("zone-{i}"),
                        dns_name: format!("zone-{i}.example.com."),
                        private: i % 2 == 1,
                    })
                    .collect(),
                ..GcpProject::default()
            }],
        }
    }

    pub(super) fn project(&self, id_or_number: &str) -> Option<&GcpProject> {
        self.projects
            .iter()
            .find(|p| p.project_id == id_or_number || p.project_number == id_or_number)
    }
}
